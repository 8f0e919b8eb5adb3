#!/usr/bin/env python
"""AdaPT vs float32 vs static 8-bit on LeNet-5 (the paper's protocol: 15 epochs, batch 256).

Same seed, same data, same optimizer for all three controllers; for each: test accuracy, training
cost relative to fp32 by both cost models (BitOPs and AdaPT's word-length model, with its PD/PU
overhead), average bits per layer, model size relative to fp32 and wall time. Writes a section of
docs/BENCHMARKS.md. Runs are kept in --workdir and resumed/reused, so an interrupted benchmark
continues where it stopped.

    python scripts/bench_adapt.py [--datasets mnist fashion-mnist] [--epochs 15]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hostsw.io import read_jsonl  # noqa: E402
from hostsw.train import TrainOptions, load_config, resume, train  # noqa: E402
from scripts.benchmarks_md import update_section  # noqa: E402

PRESETS = {"mnist": "lenet5-mnist", "fashion-mnist": "lenet5-fashion"}
CONTROLLERS = ("fp32", "static8", "adapt")
PAPER = "paper (LeNet-5/MNIST): 1.31x training speedup by its model, inference size 0.52 of fp32"


def run_config(cfg, out: Path) -> dict:
    """Train ``cfg`` into ``out``, or reuse a finished run of the same length, or resume it."""
    if (out / "summary.json").exists():
        summary = json.loads((out / "summary.json").read_text())
        if summary["epochs"] == cfg.epochs:
            print(f"[bench] reusing {out}", file=sys.stderr)
            return summary
    opts = TrainOptions(progress=False)
    if (out / "checkpoint.pt").exists():
        return resume(out, opts, epochs=cfg.epochs)
    return train(cfg, out, opts)


def add_common_args(ap: argparse.ArgumentParser, epochs: int, workdir: str) -> None:
    """The options the AdaPT benchmark scripts share (datasets, length, run and output places)."""
    ap.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"],
                    choices=sorted(PRESETS))
    ap.add_argument("--epochs", type=int, default=epochs)
    ap.add_argument("--workdir", default=str(ROOT / "runs" / workdir))
    ap.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    ap.add_argument("--machine", default=None, help="extra words for the machine line (load)")
    ap.add_argument("--notes", default=None, help="a file of analysis appended to the section")


def run_one(preset: str, epochs: int, workdir: Path) -> dict:
    cfg = load_config(preset)
    cfg.epochs = epochs
    return run_config(cfg, workdir / preset)


def bits_per_epoch(run_dir: Path, summary: dict) -> dict[str, list[float]]:
    """Time-averaged weight word length of each layer in each epoch (from precision.jsonl: each
    row holds from its step until the layer's next change)."""
    rows = sorted((r for r in read_jsonl(run_dir / "precision.jsonl")
                   if r["kind"] == "weight" and r["bits"] is not None), key=lambda r: r["step"])
    total, epochs = summary["steps"], summary["epochs"]
    per_epoch = total / epochs
    out: dict[str, list[float]] = {}
    for layer in summary["final_precision"]:
        changes = [(r["step"], r["bits"]) for r in rows if r["layer"] == layer]
        if not changes:
            continue
        sums = [0.0] * epochs
        bounds = [s for s, _ in changes[1:]] + [total]
        for (start, bits), stop in zip(changes, bounds):
            for e in range(epochs):
                lo, hi = max(start, e * per_epoch), min(stop, (e + 1) * per_epoch)
                if hi > lo:
                    sums[e] += bits * (hi - lo)
        out[layer] = [v / per_epoch for v in sums]
    return out


def bits_table(run_dir: Path, summary: dict) -> list[str]:
    table = bits_per_epoch(run_dir, summary)
    epochs = summary["epochs"]
    lines = ["| layer | " + " | ".join(str(e + 1) for e in range(epochs)) + " | final <BW,FL> |",
             "|---|" + "---:|" * epochs + "---|"]
    for layer, values in table.items():
        bw, fl = summary["final_precision"][layer]["weight"]
        lines.append(f"| {layer} | " + " | ".join(f"{v:.1f}" for v in values) + f" | <{bw},{fl}> |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(ap, epochs=15, workdir="bench_adapt")
    args = ap.parse_args()
    workdir = Path(args.workdir)

    lines = [f"Command: `python scripts/bench_adapt.py --datasets {' '.join(args.datasets)} "
             f"--epochs {args.epochs}`",
             f"Machine: {platform.machine()}, CPU, {time.strftime('%Y-%m-%d')}"
             + (f" ({args.machine})" if args.machine else "") + "; seed 0, batch 256, "
             "SGD (same optimizer and LR schedule for all controllers).",
             "BitOPs: MACs x (b_a b_w + b_e b_w + b_a b_e) per pass, vs fp32 at 32 bits. WL model: "
             "the AdaPT paper's density x (MAdds x word length + PD/PU overhead), vs MAdds x 32; "
             "speedup = 2 fp32 / (q + fp32) as in the paper.", ""]
    for ds in args.datasets:
        base = PRESETS[ds]
        results = {c: run_one(f"{base}-{c}", args.epochs, workdir) for c in CONTROLLERS}
        lines += [f"### LeNet-5 / {ds}", "",
                  "| controller | test acc | BitOPs vs fp32 | WL model vs fp32 | WL speedup | "
                  "avg weight bits per layer | model size vs fp32 (dense / sparse) | wall |",
                  "|---|---:|---:|---:|---:|---|---:|---:|"]
        for c, s in results.items():
            cost = s["cost"]
            avg = ", ".join(f"{n} {v['weight']:.1f}" for n, v in cost["avg_bits"].items())
            size = cost["model_size"]
            lines.append(
                f"| {c} | {100 * s['test_accuracy']:.2f}% | {cost['bitops_rel_fp32']:.4f} | "
                f"{cost['wl_cost_rel_fp32']:.4f} | {cost['adapt_speedup']:.2f}x | {avg} | "
                f"{size['rel_fp32']:.3f} / {size['sparse_rel_fp32']:.3f} | "
                f"{s['wall_time_s']:.0f} s |")
        adapt, fp32, static8 = results["adapt"], results["fp32"], results["static8"]
        lines += ["",
                  f"AdaPT vs fp32 accuracy: {100 * (adapt['test_accuracy'] - fp32['test_accuracy']):+.2f} pp "
                  f"(static 8-bit: {100 * (static8['test_accuracy'] - fp32['test_accuracy']):+.2f} pp). "
                  f"AdaPT BitOPs {adapt['cost']['bitops_rel_fp32']:.4f} of fp32 vs the 0.0625 of "
                  f"static 8-bit ({adapt['cost']['bitops_rel_fp32'] / 0.0625:.1f}x). {PAPER}; "
                  f"ours: {adapt['cost']['adapt_speedup']:.2f}x and "
                  f"{adapt['cost']['model_size']['rel_fp32']:.2f}.",
                  "", "Where AdaPT holds precision: average weight word length per layer and "
                  "epoch (activations and errors follow the layer's bits):", "",
                  *bits_table(workdir / f"{base}-adapt", adapt), ""]
    if args.notes:
        lines += [Path(args.notes).read_text().rstrip(), ""]
    update_section(Path(args.out), "adapt", "AdaPT vs fp32 vs static 8-bit (LeNet-5)",
                   "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
