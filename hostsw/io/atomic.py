"""Write to a temporary file in the same directory, fsync, then rename over the target."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from hostsw.errors import ConfigError, OutputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic(path: Path, write: Callable[[Any], None], mode: str) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    _atomic(path, lambda f: f.write(text), "w")


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def atomic_torch_save(path: Path, obj: Any) -> None:
    import torch
    _atomic(path, lambda f: torch.save(obj, f), "wb")


def append_jsonl(path: Path, row: dict) -> None:
    """Append one JSON line. A kill mid-write leaves at most a partial last line, which
    ``read_jsonl`` ignores and ``truncate_jsonl`` removes on resume."""
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()


def read_jsonl(path: Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines):  # partial last line from a killed run
                break
            raise ConfigError(f"{path}:{i} is not valid JSON: fix or delete the line")
    return rows


def truncate_jsonl(path: Path, keep: Callable[[dict], bool]) -> None:
    """Rewrite ``path`` keeping only rows for which ``keep`` is true (used when resuming)."""
    rows = [r for r in read_jsonl(path) if keep(r)]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


def ensure_writable_dir(path: Path, fix: str = "choose another --out") -> Path:
    """Create ``path`` (and parents) and check it is writable, with a one-line error (ending in
    ``fix``, which must exist for the command at hand) if not."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-", delete=True)
        probe.close()
    except OSError as e:
        raise OutputError(f"cannot write to output directory {path}: {e.strerror or e}; "
                          f"{fix}") from None
    return path
