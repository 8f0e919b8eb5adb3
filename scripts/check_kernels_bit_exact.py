#!/usr/bin/env python
"""Bit-exactness of the training kernels on real training: every MAC call of the runs below is
executed by the C simulation (the result training uses) and by the exact reference, and every
output value is compared, plus a stochastic-rounding probe of every call (``--verify``).

Runs: a full epoch of the MLP on digits (static 8-bit); the MLP with a progressive 8 -> 12 -> 20
bit schedule (tiers 8, 16, 32); LeNet-5 on 25,600 MNIST images with an 8 -> 16-bit switch
(the main job's stretch); LeNet-5 on 5,120 images at static 24 bits (tier 32). Writes the
"hls-training-bit-exact" section of docs/BENCHMARKS.md.

    python scripts/check_kernels_bit_exact.py
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.benchmarks_md import update_section  # noqa: E402

RUNS = [
    ("MLP / digits, 1 full epoch, static 8-bit", "mlp-digits-static8", ["epochs=1"]),
    ("MLP / digits, 3 epochs, progressive 8 -> 12 -> 20 bits", "mlp-digits-progressive",
     ["epochs=3", "controller.levels=[[8, 8], [12, 12], [20, 20]]", "controller.patience=1",
      "controller.min_delta=0.5", "controller.final_epochs=1"]),
    ("LeNet-5 / MNIST, 2 x 12,800 images, 8 -> 16 bits", "lenet5-mnist-kernels", []),
    ("LeNet-5 / MNIST, 5,120 images, static 24-bit", "lenet5-mnist-static8",
     ["epochs=1", "limit_train=5120", "limit_test=1000", "controller.weight=[24, auto]",
      "controller.act=[24, auto]", "controller.grad=[24, auto]",
      "controller.layers={conv1: {act: [24, 24]}}"]),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machine", default=f"{platform.node()} ({platform.processor() or 'cpu'})")
    ap.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    args = ap.parse_args()
    from hostsw.train import TrainOptions, load_config, train
    from hostsw.train.config import apply_overrides
    lines = ["Command: `python scripts/check_kernels_bit_exact.py` (`hostsw train --backend csim "
             f"--verify reference` on each run). Machine: {args.machine}. Every engine call of "
             "training and evaluation runs on the C simulation and on the exact reference; the "
             "outputs training uses are compared value for value, and each call is replayed on "
             "both with a stochastic-rounding output 7 bits coarser (every element's dither).",
             "", "| run | calls (by mode / tier) | values compared | stochastic-probe values | "
             "mismatches | test acc | time |", "|---|---|---:|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        for i, (title, preset, sets) in enumerate(RUNS):
            cfg = load_config(preset)
            cfg = apply_overrides(cfg, sets) if sets else cfg
            t0 = time.perf_counter()
            s = train(cfg.validate(), Path(tmp) / str(i),
                      TrainOptions(progress=False, backend="csim", verify="reference",
                                   log=lambda m: None))
            dt = time.perf_counter() - t0
            v = s["engine"]["verification"]
            calls = ", ".join(f"{k} {n}" for k, n in sorted(s["engine"]["calls"].items()))
            lines.append(f"| {title} | {v['calls']} ({calls}) | {v['values']:,} | "
                         f"{v['stochastic_probe_values']:,} | {v['mismatches']} | "
                         f"{100 * s['test_accuracy']:.2f}% | {dt:.0f} s |")
            print(lines[-1], file=sys.stderr, flush=True)
    update_section(Path(args.out), "hls-training-bit-exact",
                   "Training through the HLS kernels: bit-exactness (csim vs reference)",
                   "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
