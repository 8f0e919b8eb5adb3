"""The one text-table layout of every command's output (tabulate's ``simple`` format)."""

from __future__ import annotations

from tabulate import tabulate


def text_table(headers: list[str], rows: list[list], align: str | None = None,
               indent: str = "  ") -> list[str]:
    """Lines of a fixed-width table; ``align`` has one ``<``/``>`` per column (default: left).
    Cells are printed as given (no number parsing: ``<8,7>`` and ``1e-3`` stay as typed)."""
    colalign = tuple("right" if a == ">" else "left" for a in (align or "<" * len(headers)))
    text = tabulate([[str(c) for c in r] for r in rows], headers=headers, tablefmt="simple",
                    disable_numparse=True, colalign=colalign)
    return [(indent + line).rstrip() for line in text.splitlines()]
