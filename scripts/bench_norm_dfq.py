#!/usr/bin/env python
"""SBM's Range BatchNorm and FracTrain's DFQ on LeNet-5 (MNIST, Fashion-MNIST).

rangebn: the BN-bearing LeNet-5 (norm: batch | range after each conv), static 8-bit forward with
8-bit and with 4-bit errors (no real CIFAR-10 on this machine, so not ResNet-20; the ResNet-20
path is tested on the CIFAR-10 fixture). fractrain: static 8/8 vs PFQ alone (progressive) vs
PFQ+DFQ (fractrain) at the given cost weights; for DFQ also the test accuracy of the fixed
precision that export uses. Same seed, data subset, optimizer, LR schedule and epochs per dataset.
Writes the "rangebn" and "fractrain" sections of docs/BENCHMARKS.md; runs are kept in --workdir and
reused.

    python scripts/bench_norm_dfq.py [--what rangebn fractrain] [--datasets mnist fashion-mnist]
        [--epochs 4] [--limit-train 10000] [--limit-test 2000] [--cost-weights 1 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.benchmarks_md import update_section  # noqa: E402

SHORT = {"mnist": "mnist", "fashion-mnist": "fashion"}


def rangebn_rows(ds: str) -> list[tuple[str, str, dict]]:
    base = f"lenet5-{SHORT[ds]}-rangebn"
    return [(f"{SHORT[ds]}-{norm}-g{g}", base, {"norm": norm, "controller": {"grad": [g, "auto"]}})
            for g in (8, 4) for norm in ("batch", "range")]


def fractrain_rows(ds: str, weights: list[float]) -> list[tuple[str, str, dict]]:
    s = SHORT[ds]
    rows = [(f"{s}-static8", f"lenet5-{s}-static8", {}),
            (f"{s}-pfq", f"lenet5-{s}-progressive", {})]
    rows += [(f"{s}-pfq-dfq-w{w:g}", f"lenet5-{s}-fractrain", {"controller": {"cost_weight": w}})
             for w in weights]
    return rows


def make_config(name: str, preset: str, over: dict, args):
    from hostsw.train import load_config
    cfg = load_config(preset)
    cfg.name, cfg.epochs = name, args.epochs
    cfg.limit_train, cfg.limit_test = args.limit_train, args.limit_test
    if "norm" in over:
        cfg.norm = over["norm"]
    cfg.controller.params = {**cfg.controller.params, **over.get("controller", {})}
    return cfg


def run(name: str, preset: str, over: dict, args) -> dict:
    from hostsw.train import TrainOptions, resume, train
    out = Path(args.workdir) / f"{args.epochs}ep-{args.limit_train}" / name
    if (out / "summary.json").exists():
        return json.loads((out / "summary.json").read_text())
    print(f"[bench] {name} ({preset} {over})", file=sys.stderr, flush=True)
    opts = TrainOptions(progress=False, threads=args.threads)
    if (out / "config.yaml").exists():  # interrupted earlier: continue from its checkpoint
        return resume(out, opts)
    return train(make_config(name, preset, over, args), out, opts)


def export_accuracy(run_dir: Path, limit_test: int | None) -> float:
    """Test accuracy of the model export sees (every layer at its one fixed precision)."""
    import torch
    from hostsw.data import load_dataset
    from hostsw.export.qonnx_export import load_run_model
    from hostsw.train.loop import _limit, evaluate
    loaded = load_run_model(run_dir)
    _, test = load_dataset(loaded.config.dataset, root=loaded.config.data_dir)
    return evaluate(loaded.model, _limit(test, limit_test), 1000, torch.device("cpu"))[1]


def pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def machine(args) -> str:
    load = os.getloadavg()
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
            f"{args.threads}; load average at the end {load[0]:.1f} / {load[1]:.1f} / "
            f"{load[2]:.1f} (other engineers' jobs ran on the same cores)")


def command(args) -> str:
    return ("nice -n 5 python scripts/bench_norm_dfq.py --what " + " ".join(args.what)
            + " --datasets " + " ".join(args.datasets)
            + f" --epochs {args.epochs} --limit-train {args.limit_train} "
            f"--limit-test {args.limit_test} --cost-weights "
            + " ".join(f"{w:g}" for w in args.cost_weights))


def rangebn_section(args, results: dict) -> str:
    lines = [f"Command: `{command(args)}`  ",
             f"Machine: {machine(args)}.  ",
             f"Data: the first {args.limit_train} training and {args.limit_test} test images, "
             f"{args.epochs} epochs, seed 0 (preset lenet5-<ds>-rangebn, norm and grad bits "
             "overridden).",
             "",
             "**No real CIFAR-10 on this machine: ResNet-20 is not benchmarked here.** The rows "
             "use the BN-bearing LeNet-5 variant (a BatchNorm / Range BatchNorm after each conv) "
             "on MNIST and Fashion-MNIST; the ResNet-20 `norm: range` path is tested on the "
             "CIFAR-10 fixture (tests/models, tests/csim).",
             "",
             "Caveats: the normalization itself runs in float32 in both variants (only the MAC "
             "layers' weights, activations and errors are fixed point), so these rows do not "
             "exercise Range BN's main claim, tolerance of low-precision arithmetic inside the "
             "normalization; they show what replacing the standard deviation by the range costs "
             "or gains in accuracy. One seed, a short run: differences of a few tenths of a "
             "point are not shown to be significant. Wall times are under a varying load from "
             "other jobs and are not a speed comparison.",
             "",
             "| dataset | norm | fwd/bwd bits | test acc % | BitOPs / fp32 | wall s |",
             "|---|---|---|---:|---:|---:|"]
    for ds, rows in results.items():
        for (name, _, over), s in rows:
            g = over["controller"]["grad"][0]
            lines.append(f"| {ds} | {over['norm']} | 8/{g} | {pct(s['test_accuracy'])} | "
                         f"{s['cost']['bitops_rel_fp32']:.4f} | {s['wall_time_s']:.0f} |")
    return "\n".join(lines)


def fractrain_section(args, results: dict) -> str:
    lines = [f"Command: `{command(args)}`  ",
             f"Machine: {machine(args)}.  ",
             f"Data: the first {args.limit_train} training and {args.limit_test} test images, "
             f"{args.epochs} epochs, seed 0; presets lenet5-<ds>-static8 / -progressive / "
             "-fractrain (cost_weight overridden). BitOPs: cost.md's CPT/FracTrain model, each "
             "sample charged at the precision its gates chose; the gates' own float MACs "
             "(reported in summary.json) are not in it. 'export acc' is the test accuracy of the "
             "model export sees: every layer fixed at the precision its gates chose most often "
             "in the last epoch (export_precision: most_often).",
             "",
             "| dataset | run | test acc % | export acc % | BitOPs / fp32 | vs static 8/8 | "
             "export precision (fwd/bwd per layer) | wall s |",
             "|---|---|---:|---:|---:|---:|---|---:|"]
    for ds, rows in results.items():
        base = next(s for (n, _, _), s in rows if n.endswith("static8"))["cost"]["bitops"]
        for (name, _, _), s in rows:
            cs = s["controller_summary"]
            exp = cs.get("export_precision", {}).get("layers") if isinstance(cs, dict) else None
            exp_txt = ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in exp.items()) if exp else "-"
            lines.append(f"| {ds} | {name.split('-', 1)[1]} | {pct(s['test_accuracy'])} | "
                         f"{pct(s.get('export_accuracy'))} | {s['cost']['bitops_rel_fp32']:.4f} | "
                         f"{s['cost']['bitops'] / base:.3f} | {exp_txt} | "
                         f"{s['wall_time_s']:.0f} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--what", nargs="+", default=["rangebn", "fractrain"],
                    choices=["rangebn", "fractrain"])
    ap.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"],
                    choices=list(SHORT))
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--limit-train", type=int, default=10000)
    ap.add_argument("--limit-test", type=int, default=2000)
    ap.add_argument("--cost-weights", type=float, nargs="+", default=[1.0, 5.0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workdir", default=str(Path.home() / ".cache" / "hostsw" / "bench-norm-dfq"))
    ap.add_argument("--md", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    if "rangebn" in args.what:
        res = {ds: [(r, run(*r, args)) for r in rangebn_rows(ds)] for ds in args.datasets}
        update_section(Path(args.md), "rangebn", "Range BatchNorm vs BatchNorm (SBM), LeNet-5-BN",
                       rangebn_section(args, res))
    if "fractrain" in args.what:
        res = {}
        for ds in args.datasets:
            rows = []
            for r in fractrain_rows(ds, args.cost_weights):
                s = run(*r, args)
                if "dfq" in r[0]:
                    out = Path(args.workdir) / f"{args.epochs}ep-{args.limit_train}" / r[0]
                    s["export_accuracy"] = export_accuracy(out, args.limit_test)
                rows.append((r, s))
            res[ds] = rows
        update_section(Path(args.md), "fractrain",
                       "FracTrain: static 8/8 vs PFQ vs PFQ+DFQ, LeNet-5", fractrain_section(args, res))
    print(f"[bench] done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
