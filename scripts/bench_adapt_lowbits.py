#!/usr/bin/env python
"""AdaPT at low word lengths: push-down options swept on LeNet-5 against fp32 (issue 14 part 3).

Each setting is a set of AdaPT parameters on top of the paper preset (lenet5-<dataset>-adapt):
push-down scope (whole tensor or the first output slice), KL tolerance, histogram resolution and
buffer bits. For each (setting, dataset, seed): test accuracy, the fp32 run of the same seed and
length, training BitOPs vs fp32, average weight word length per layer and how much the per-layer
word lengths still move (precision changes, min-max BW). Runs are kept in --workdir and reused or
resumed. ``--section sweep`` writes the coarse sweep, ``--section confirm`` the confirmation runs
of the chosen setting (use 15 epochs and at least two seeds), ``--section probe`` full-length runs
of other settings.

    python scripts/bench_adapt_lowbits.py --section sweep --epochs 3
    python scripts/bench_adapt_lowbits.py --section confirm --settings lowbits --seeds 0 1 --epochs 15
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hostsw.io import read_jsonl  # noqa: E402
from hostsw.train import load_config  # noqa: E402
from scripts.bench_adapt import PRESETS, add_common_args, run_config  # noqa: E402
from scripts.benchmarks_md import update_section  # noqa: E402

#: AdaPT parameters per setting, applied over the paper preset (its values are the defaults)
SETTINGS: dict[str, dict] = {
    "paper": {},
    "first_slice": {"pd_scope": "first_slice"},
    "kl0.05": {"pd_kl_max": 0.05},
    "kl0.2": {"pd_kl_max": 0.2},
    # push-up drives FL towards ceil(32 x^2), x = ln(diversity) - 1, and diversity grows with the
    # lookback (~sqrt(lb) for uncorrelated gradients): shorter lookbacks ask for fewer bits
    "kl0.05-lb10-buff2": {"pd_kl_max": 0.05, "lb_lwr": 10, "lb_upr": 40, "buff": 2},
    "kl0.2-lb10-r16-buff2": {"pd_kl_max": 0.2, "lb_lwr": 10, "lb_upr": 40, "r_lwr": 16,
                             "r_upr": 48, "buff": 2},
    "kl0.2-lb5-r16-buff2": {"pd_kl_max": 0.2, "lb_lwr": 5, "lb_upr": 20, "r_lwr": 16,
                            "r_upr": 48, "buff": 2},
    "slice-lb5-r16-buff2": {"pd_scope": "first_slice", "lb_lwr": 5, "lb_upr": 20, "r_lwr": 16,
                            "r_upr": 48, "buff": 2},
    # without the loss-driven escalation push-up keeps the min strategy
    "fixed-kl0.05-lb10-buff1": {"pd_kl_max": 0.05, "lb_lwr": 10, "lb_upr": 40, "buff": 1,
                                "pu_escalate": False},
    "fixed-kl0.05-lb10-buff3": {"pd_kl_max": 0.05, "lb_lwr": 10, "lb_upr": 40, "buff": 3,
                                "pu_escalate": False},
    "fixed-kl0.05-lb10-buff1-nearest": {"pd_kl_max": 0.05, "lb_lwr": 10, "lb_upr": 40,
                                        "buff": 1, "pu_escalate": False,
                                        "weight_rounding": "nearest"},
    "fixed-slice-lb10-buff1": {"pd_scope": "first_slice", "lb_lwr": 10, "lb_upr": 40, "buff": 1,
                               "pu_escalate": False},
}
SECTIONS = {"sweep": ("adapt-lowbits-sweep", "AdaPT at low word lengths: coarse sweep (LeNet-5)"),
            "confirm": ("adapt-lowbits", "AdaPT at low word lengths: chosen setting (LeNet-5)"),
            "probe": ("adapt-lowbits-probe",
                      "AdaPT at low word lengths: full-length probes of other settings (LeNet-5)")}
GOAL = 0.15  # BitOPs vs fp32 (issue 14)


def _cfg(dataset: str, controller: str, seed: int, epochs: int, params: dict):
    cfg = load_config(f"{PRESETS[dataset]}-{controller}")
    cfg.seed, cfg.epochs = seed, epochs
    cfg.controller.params.update(params)
    cfg.validate()
    return cfg


def adaptation(run_dir: Path) -> dict[str, tuple[int, int, int]]:
    """Per layer: (weight precision changes after init, min BW, max BW) from precision.jsonl."""
    out: dict[str, list] = {}
    for r in read_jsonl(run_dir / "precision.jsonl"):
        if r["kind"] != "weight" or r["bits"] is None:
            continue
        st = out.setdefault(r["layer"], [0, r["bits"], r["bits"]])
        st[0] += r["reason"] != "init"
        st[1], st[2] = min(st[1], r["bits"]), max(st[2], r["bits"])
    return {k: tuple(v) for k, v in out.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--section", choices=sorted(SECTIONS), default="sweep")
    add_common_args(ap, epochs=3, workdir="bench_adapt_lowbits")
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    args = ap.parse_args()
    if args.epochs < 1:
        ap.error(f"--epochs {args.epochs}: give at least 1")
    work = Path(args.workdir)
    load = os.getloadavg()

    rows, results = [], {}
    for ds in args.datasets:
        for seed in args.seeds:
            tag = f"s{seed}-e{args.epochs}"
            fp32 = run_config(_cfg(ds, "fp32", seed, args.epochs, {}),
                              work / f"{PRESETS[ds]}-fp32-{tag}")
            rows.append((ds, seed, "fp32", "-", fp32, None))
            for name in args.settings:
                out = work / f"{PRESETS[ds]}-adapt-{name}-{tag}"
                s = run_config(_cfg(ds, "adapt", seed, args.epochs, SETTINGS[name]), out)
                results[(ds, seed, name)] = (s, fp32)
                rows.append((ds, seed, name, _params(SETTINGS[name]), s, adaptation(out)))

    cmd = (f"python scripts/bench_adapt_lowbits.py --section {args.section} --datasets "
           f"{' '.join(args.datasets)} --settings {' '.join(args.settings)} --seeds "
           f"{' '.join(map(str, args.seeds))} --epochs {args.epochs}")
    lines = [f"Command: `{cmd}`",
             f"Machine: {platform.machine()}, CPU, {time.strftime('%Y-%m-%d')}, load average at "
             f"start {load[0]:.2f}" + (f" ({args.machine})" if args.machine else "")
             + f"; {args.epochs} epochs, batch 256, SGD as the presets. Settings are AdaPT "
             "parameters over the paper preset (pd_scope tensor, pd_kl_max 0, r 50-150, buff 4).",
             "BitOPs: MACs x (b_a b_w + b_e b_w + b_a b_e) per pass vs fp32 (activations take the "
             "layer's BW with frac from their range, errors the layer's BW). Word length: the "
             "time-averaged weight BW per layer. Adapting: weight precision changes after init "
             "(all layers) and the min-max BW each layer took.", "",
             "| dataset | seed | setting | parameters | test acc | vs fp32 | BitOPs vs fp32 | "
             "avg weight BW (conv1, conv2, fc1, fc2, fc3) | adapting: changes, BW min-max |",
             "|---|---:|---|---|---:|---:|---:|---|---|"]
    fp32_acc = {}
    for ds, seed, name, params, s, adapt in rows:
        acc = s["test_accuracy"]
        if name == "fp32":
            fp32_acc[(ds, seed)] = acc
        delta = 100 * (acc - fp32_acc[(ds, seed)])
        bits = ", ".join(f"{v['weight']:.1f}" for v in s["cost"]["avg_bits"].values())
        moves = "-" if adapt is None else (
            f"{sum(c for c, _, _ in adapt.values())}: "
            + ", ".join(f"{lo}-{hi}" for _, lo, hi in adapt.values()))
        lines.append(f"| {ds} | {seed} | {name} | {params} | {100 * acc:.2f}% | {delta:+.2f} pp | "
                     f"{s['cost']['bitops_rel_fp32']:.4f} | {bits} | {moves} |")
    lines += ["", *_verdict(results, args.settings)]
    if args.notes:
        lines += ["", Path(args.notes).read_text().rstrip()]
    key, title = SECTIONS[args.section]
    update_section(Path(args.out), key, title, "\n".join(lines))
    print("\n".join(lines))
    return 0


def _params(p: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in p.items()) or "(paper)"


def _verdict(results: dict, settings: list[str]) -> list[str]:
    """Per setting: does every (dataset, seed) reach fp32 accuracy at <= GOAL of fp32 BitOPs?"""
    out = [f"Goal: test accuracy >= fp32 (same seed, same epochs) at <= {GOAL} of fp32 BitOPs "
           "on every dataset and seed:", ""]
    for name in settings:
        cells = [(k, v) for k, v in results.items() if k[2] == name]
        iso = all(s["test_accuracy"] >= f["test_accuracy"] for _, (s, f) in cells)
        cheap = all(s["cost"]["bitops_rel_fp32"] <= GOAL for _, (s, _) in cells)
        worst = max(s["cost"]["bitops_rel_fp32"] for _, (s, _) in cells)
        gap = min(100 * (s["test_accuracy"] - f["test_accuracy"]) for _, (s, f) in cells)
        out.append(f"- {name}: iso-accuracy {'met' if iso else 'missed'} (worst {gap:+.2f} pp), "
                   f"BitOPs {'met' if cheap else 'missed'} (worst {worst:.4f}) -> "
                   f"{'GOAL MET' if iso and cheap else 'goal not met'}")
    return out


if __name__ == "__main__":
    sys.exit(main())
