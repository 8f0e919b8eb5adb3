"""Plain fixed-width text report of a run (no third-party dependencies)."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from hostsw.report.run import PRECISION_KINDS, RunRecord, epoch_rows
from hostsw.report.table import text_table

# Summary keys the report renders in dedicated sections; anything else is listed under "other".
_KNOWN_SUMMARY_KEYS = {
    "test_accuracy", "best_test_accuracy", "epochs", "steps", "controller", "model", "dataset",
    "seed", "wall_time_s", "final_precision", "cost", "sparsity", "prt",
}


# -- small formatters -------------------------------------------------------------------------
def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _fmt(value: Any, spec: str, suffix: str = "") -> str:
    """Format a number with ``spec``; ``-`` for missing/non-numeric, ``nan``/``inf`` as is."""
    x = _num(value)
    if x is None:
        return "-"
    if not math.isfinite(x):
        return str(x)
    return format(x, spec) + suffix


def _pct(value: Any, digits: int = 2) -> str:
    """A fraction in 0..1 as a percentage: 0.9876 -> ``98.76%``."""
    x = _num(value)
    if x is None:
        return "-"
    if not math.isfinite(x):
        return str(x)
    return f"{100.0 * x:.{digits}f}%"


def _ratio(value: Any) -> str:
    """A ratio vs fp32, e.g. ``0.0625x``."""
    x = _num(value)
    if x is None or not math.isfinite(x):
        return "-" if x is None else str(x)
    return f"{x:.4f}x" if abs(x) >= 0.01 else f"{x:.3g}x"


def _size(bits: Any) -> str:
    x = _num(bits)
    if x is None or not math.isfinite(x):
        return "-"
    b = x / 8.0
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(b) < 1024.0 or unit == "GiB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1024.0
    return f"{b:.1f} GiB"  # pragma: no cover


def fmt_precision(entry: Any) -> str:
    """``[bits, frac]`` as ``<bits,frac>``; null / null bits -> ``fp32``; null frac -> ``auto``."""
    if entry is None:
        return "fp32"
    if isinstance(entry, dict):
        bits, frac = entry.get("bits"), entry.get("frac")
    elif isinstance(entry, (list, tuple)):
        bits = entry[0] if len(entry) > 0 else None
        frac = entry[1] if len(entry) > 1 else None
    else:
        return str(entry)
    if bits is None:
        return "fp32"
    return f"<{bits},{'auto' if frac is None else frac}>"


# -- sections ---------------------------------------------------------------------------------
def _epochs_done(run: RunRecord) -> str:
    """Completed epochs; ``done/planned`` while a run without summary.json is short of its plan."""
    done, planned = run.epochs, run.config.get("epochs")
    if done is None:
        return "-"
    if run.summary is None and isinstance(planned, int) and run.metrics and done != planned:
        return f"{done}/{planned}"
    return str(done)


def _header(run: RunRecord) -> list[str]:
    s = run.summary or {}
    title = f"hostsw run report: {run.path}"
    lines = [title, "=" * len(title)]
    first = [
        f"model: {run.model or '-'}",
        f"dataset: {run.dataset or '-'}",
        f"controller: {run.controller or '-'}",
        f"epochs: {_epochs_done(run)}",
        f"seed: {run.seed if run.seed is not None else '-'}",
    ]
    if run.name:
        first.insert(0, f"name: {run.name}")
    lines.append("  ".join(first))

    rows = epoch_rows(run.metrics)
    final_acc = s.get("test_accuracy", rows[-1].get("test_accuracy") if rows else None)
    best = s.get("best_test_accuracy")
    if best is None and rows:
        accs = [r["test_accuracy"] for r in rows if _num(r.get("test_accuracy")) is not None]
        best = max(accs, default=None)
    steps = s.get("steps", run.last_step if (rows or run.precision) else None)
    wall = s.get("wall_time_s", rows[-1].get("wall_time_s") if rows else None)
    lines.append(
        f"final test accuracy: {_pct(final_acc)}  best: {_pct(best)}  "
        f"steps: {steps if steps is not None else '-'}  wall time: {_fmt(wall, '.1f', ' s')}"
    )
    if run.summary is None:
        lines.append("(no summary.json: the run is in progress or was interrupted)")
    return lines


def _epoch_table(run: RunRecord) -> list[str]:
    rows = epoch_rows(run.metrics)
    lines = ["", "Per-epoch metrics"]
    if not rows:
        return lines + ["  (metrics.jsonl is empty)"]
    accs = [(_num(r.get("test_accuracy")), r["epoch"]) for r in rows]
    accs = [(a, e) for a, e in accs if a is not None and math.isfinite(a)]
    best_epoch = max(accs)[1] if accs else None
    table = []
    for r in rows:
        table.append([
            str(r["epoch"]) + ("*" if r["epoch"] == best_epoch and len(rows) > 1 else " "),
            _fmt(r.get("step"), ".0f"),
            _fmt(r.get("train_loss"), ".4f"),
            _pct(r.get("train_accuracy")),
            _fmt(r.get("test_loss"), ".4f"),
            _pct(r.get("test_accuracy")),
            _fmt(r.get("lr"), ".3g"),
            _fmt(r.get("epoch_time_s"), ".1f"),
        ])
    lines += text_table(
        ["epoch", "step", "train loss", "train acc", "test loss", "test acc", "lr", "time (s)"],
        table, ">>>>>>>>",
    )
    if best_epoch is not None and len(rows) > 1:
        lines.append("  * best test accuracy")
    return lines


def final_precision(run: RunRecord) -> dict[str, dict[str, Any]]:
    """``{layer: {kind: [bits, frac] | None}}`` from summary.json, else the last precision rows."""
    if run.summary and isinstance(run.summary.get("final_precision"), dict):
        return {str(k): (v if isinstance(v, dict) else {}) for k, v in
                run.summary["final_precision"].items()}
    out: dict[str, dict[str, Any]] = {}
    for row in sorted(enumerate(run.precision), key=lambda t: (t[1].get("step", 0), t[0])):
        r = row[1]
        bits = r.get("bits")
        out.setdefault(str(r["layer"]), {})[str(r["kind"])] = (
            None if bits is None else [bits, r.get("frac")]
        )
    return out


def _precision_table(run: RunRecord) -> list[str]:
    fp = final_precision(run)
    source = "summary.json" if run.summary and "final_precision" in run.summary else "precision.jsonl"
    lines = ["", f"Final precision per layer (<bits,frac>; auto = frac chosen per step; from {source})"]
    if not fp:
        return lines + ["  (no precision recorded)"]
    cost = (run.summary or {}).get("cost") or {}
    avg = cost.get("avg_bits") if isinstance(cost.get("avg_bits"), dict) else {}
    sparsity = (run.summary or {}).get("sparsity")
    sparsity = sparsity if isinstance(sparsity, dict) else None
    changes = Counter(str(r["layer"]) for r in run.precision if r.get("reason") != "init")

    headers = ["layer", "weight", "act", "grad"]
    align = "<<<<"
    if avg:
        headers += ["avg W", "avg A", "avg G"]
        align += ">>>"
    if sparsity is not None:
        headers.append("sparsity")
        align += ">"
    headers.append("changes")
    align += ">"

    layers = list(fp) + [l for l in (avg or {}) if l not in fp]
    rows = []
    for layer in layers:
        entry = fp.get(layer, {})
        row = [layer] + [fmt_precision(entry.get(k)) if k in entry else "-" for k in PRECISION_KINDS]
        if avg:
            a = avg.get(layer) or {}
            row += [_fmt(a.get("weight"), ".2f"), _fmt(a.get("act"), ".2f"), _fmt(a.get("grad"), ".2f")]
        if sparsity is not None:
            row.append(_pct(sparsity.get(layer), 1))
        row.append(str(changes.get(layer, 0)))
        rows.append(row)
    lines += text_table(headers, rows, align)
    if avg:
        lines.append("  avg W/A/G: time-averaged word length over training (fp32 counts as 32)")
    if run.precision:
        reasons = Counter(str(r.get("reason", "?")) for r in run.precision if r.get("reason") != "init")
        if reasons:
            detail = ", ".join(f"{k} {v}" for k, v in reasons.most_common())
            lines.append(f"  precision changes after init: {sum(reasons.values())} ({detail})")
        else:
            lines.append("  precision changes after init: none")
    return lines


def _cost_lines(run: RunRecord) -> list[str]:
    cost = (run.summary or {}).get("cost")
    if not isinstance(cost, dict) or not cost:
        return []
    lines = ["", "Cost estimates (relative to float32 training)"]
    items: list[tuple[str, str]] = []
    if "bitops_rel_fp32" in cost:
        x = _num(cost["bitops_rel_fp32"])
        fewer = f"  ({1.0 / x:.2f}x fewer)" if x and math.isfinite(x) and 0 < x < 1 else ""
        items.append(("BitOPs vs fp32:", f"{_ratio(cost['bitops_rel_fp32'])}{fewer}"))
    if "wl_cost_rel_fp32" in cost or "adapt_speedup" in cost:
        val = _ratio(cost.get("wl_cost_rel_fp32"))
        if cost.get("adapt_speedup") is not None:
            val += f"  (speedup {_fmt(cost['adapt_speedup'], '.2f', 'x')})"
        items.append(("word-length model vs fp32:", val))
    if "energy_rel_fp32" in cost:
        items.append(("energy vs fp32:", f"{_ratio(cost['energy_rel_fp32'])}  (ASIC 45nm estimate, "
                                          "not an FPGA measurement)"))
    ms = cost.get("model_size")
    if isinstance(ms, dict) and ms:
        val = f"{_size(ms.get('bits'))} = {_ratio(ms.get('rel_fp32'))} of fp32 dense {_size(ms.get('bits_fp32'))}"
        items.append(("model size:", val))
        if any(k in ms for k in ("sparse_bits", "sparse_rel_fp32", "density")):
            items.append((
                "model size, sparse:",
                f"{_size(ms.get('sparse_bits'))} = {_ratio(ms.get('sparse_rel_fp32'))} of fp32 dense"
                f"  (weight density {_pct(ms.get('density'), 1)})",
            ))
    width = max(len(k) for k, _ in items) if items else 0
    lines += [f"  {k:<{width}}  {v}" for k, v in items]
    return lines


def _prt_lines(run: RunRecord) -> list[str]:
    prt = run.prt
    if prt is None:
        return []
    lines = ["", f"Precision range test (PRT): q_min = {prt.get('q_min', '-')} bits"]
    trials = prt.get("trials")
    if isinstance(trials, list) and trials:
        rows = []
        for t in trials:
            if not isinstance(t, dict):
                continue
            chosen = " <- q_min" if t.get("bits") == prt.get("q_min") else ""
            rows.append([str(t.get("bits", "-")), _pct(t.get("train_accuracy")) + chosen])
        lines += text_table(["bits", "train acc"], rows, "><")
    extra = {k: v for k, v in prt.items() if k not in ("q_min", "trials")}
    for k, v in extra.items():
        lines.append(f"  {k}: {_compact(v)}")
    return lines


def _compact(value: Any, limit: int = 100) -> str:
    text = json.dumps(value, separators=(", ", ": "), default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _other_lines(run: RunRecord) -> list[str]:
    s = run.summary or {}
    extra = {k: v for k, v in s.items() if k not in _KNOWN_SUMMARY_KEYS}
    if not extra:
        return []
    width = max(len(k) for k in extra) + 1
    return ["", "Other summary fields"] + [f"  {k + ':':<{width}} {_compact(v)}" for k, v in extra.items()]


def _hardware_lines(run: RunRecord) -> list[str]:
    """Export / HLS / C-simulation results, when `hostsw csim` has run on this run directory."""
    path = Path(run.path) / "csim.json"
    if not path.is_file():
        return []
    try:
        c = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return ["", f"Hardware: {path} is not readable JSON"]
    compiler = (c.get("compiler") or "C++").split()[0]  # e.g. "clang++ -std=c++17 -O2 ..."
    lines = ["", f"Hardware (hls4ml ap_fixed project, {compiler} C simulation)"]
    lines.append(f"  C simulation:      {c.get('samples')} test samples, bit-exact "
                 f"{_pct(c.get('exact_match_rate'))} vs the exact reference, argmax agreement "
                 f"{_pct(c.get('argmax_agreement'))} with the software model")
    if c.get("csim_accuracy") is not None:
        lines.append(f"  accuracy:          C sim {_pct(c.get('csim_accuracy'))}, software "
                     f"{_pct(c.get('software_accuracy'))} (same samples)")
    lines.append(f"  HLS project:       {c.get('project')} ({c.get('hls_backend')}, "
                 f"{c.get('hls_io_type')})")
    lines.append(f"  QONNX model:       {c.get('onnx')}")
    speed = c.get("samples_per_s")
    if speed is not None:
        build = "cached build" if c.get("compile_cached") else f"built in {c.get('compile_s')} s"
        lines.append(f"  C-sim speed:       {speed} samples/s ({build})")
    return lines


def render_text(run: RunRecord) -> str:
    """The report as plain fixed-width text (ends with a newline)."""
    lines = (
        _header(run) + _epoch_table(run) + _precision_table(run) + _prt_lines(run)
        + _cost_lines(run) + _hardware_lines(run) + _other_lines(run)
    )
    return "\n".join(lines) + "\n"
