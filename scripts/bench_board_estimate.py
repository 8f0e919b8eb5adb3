"""ESTIMATE (not a measurement) of LeNet-5 training on the hls/ MAC engine on a board, for trained
runs (default: the AdaPT / static 8-bit / fp32 runs of scripts/bench_adapt.py), beside published
anchors; writes the docs/BENCHMARKS.md section "board-estimate".

    .venv/bin/python scripts/bench_board_estimate.py [--board zcu104] [--clock-mhz 200] [RUN_DIR ...]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_RUNS = ["runs/bench_adapt/lenet5-mnist-adapt", "runs/bench_adapt/lenet5-mnist-static8",
                "runs/bench_adapt/lenet5-mnist-fp32"]


def main() -> int:
    from benchmarks_md import update_section
    from hostsw.board.estimate import EstimateConfig, estimate_inference, estimate_training
    p = argparse.ArgumentParser()
    p.add_argument("runs", nargs="*", default=DEFAULT_RUNS)
    p.add_argument("--board", default="zcu104")
    p.add_argument("--clock-mhz", type=float, default=200.0)
    p.add_argument("--reuse-factor", type=int, default=1)
    a = p.parse_args()
    cfg = EstimateConfig(board=a.board, clock_mhz=a.clock_mhz, reuse_factor=a.reuse_factor).validate()
    rows = []
    for r in a.runs:
        t, i = estimate_training(Path(r), cfg), estimate_inference(Path(r), cfg)
        n = len(t["epochs"])
        rows.append((Path(r).name, t, i, n))
    ref = next((t for name, t, _, _ in rows if "fp32" in name), rows[-1][1])
    lines = [f"**ESTIMATE, not measured** (no board here): `hostsw estimate` on {a.board} at "
             f"{a.clock_mhz:g} MHz, analytic (hostsw/board/estimate.py). Command: "
             f"`.venv/bin/python scripts/bench_board_estimate.py --board {a.board} --clock-mhz "
             f"{a.clock_mhz:g}` over {', '.join(a.runs)} (trained by scripts/bench_adapt.py). "
             f"Machine: {platform.node()} ({os.cpu_count()} CPUs), load {os.getloadavg()[0]:.2f}.",
             "",
             "Training engine: one call at a time on the tier the operands need, "
             f"{rows[0][1]['unroll']} MACs/cycle per tier; cycles are the kernel's own cycle "
             "accounting for dense operands (checked equal to the C-simulation cycle counter in "
             "tests/board/test_estimate.py), an upper bound because the kernel skips zero "
             "operands (ReLU activations, zero errors). Energy is the ASIC MAC-energy model of "
             "hostsw/cost/energy.py (45 nm, for ratios; it is NOT FPGA board power). fp32 has no "
             "datapath on the engine: its run is costed on the 32-bit tier (time) and at fp32 "
             "MAC energy.",
             "",
             "| run | epochs | tiers | est. DSP (MAC arrays) | est. s / epoch | est. GOPS | "
             "est. MAC energy J / epoch (mean) | est. MAC energy J / run | vs fp32 | "
             "inference est. latency (cycles, RF "
             f"{a.reuse_factor}) | inference est. DSP |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, t, i, n in rows:
        run = t["run"]
        lines.append(f"| {name} | {n} | {t['tiers']} | {t['dsp']} | {run['seconds'] / n:.1f} | "
                     f"{2 * run['macs'] / run['seconds'] / 1e9:.2f} | "
                     f"{run['mac_energy_j'] / n:.4f} | {run['mac_energy_j']:.3f} | "
                     f"{run['mac_energy_j'] / ref['run']['mac_energy_j']:.3f} | "
                     f"{i['latency_cycles']} | {i['dsp']} |")
    lines += ["",
              "Published anchors (measured on boards by their authors, not by us): Meng & Liu "
              "2021, 8-bit fixed-point training engine on a Zynq-7045 at 200 MHz: 64.6 GOPS; "
              "EF-Train (arXiv 2202.10935), fp32 training on an edge FPGA: 46.99 GFLOPS, "
              "6.09 GFLOPS/W. Our engine's estimated throughput is about 2 GOPS because it is "
              f"built with {rows[0][1]['unroll']} multipliers per tier (EngineLimits.unroll); "
              "the anchors use hundreds of DSPs. The estimate scales with unroll until memory "
              "bandwidth binds, which this model does not include.",
              "",
              "Inference: hls4ml io_parallel sizing rules at reuse factor "
              f"{a.reuse_factor} (fully parallel: the DSP counts show it does not fit a ZCU104's "
              "1,728 DSPs; raise --reuse-factor). Weights below 9 bits map to LUTs (0 DSP)."]
    update_section(ROOT / "docs" / "BENCHMARKS.md", "board-estimate",
                   "Board estimate: LeNet-5 training on the MAC engine (ESTIMATE, no board)",
                   "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
