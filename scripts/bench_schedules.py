#!/usr/bin/env python
"""Precision schedules on LeNet-5: static 8/8 vs CPT vs progressive vs MuPPET vs AdaPT, and the
FQT gradient quantizers (PTQ, PSQ, BHQ) at 4- and 5-bit gradients.

Same seed, data, optimizer, LR schedule and epochs for every run (the lenet5-<ds>-* presets). For
each: test accuracy, BitOPs relative to fp32 and to static 8/8, average bits and wall time. Writes
the "schedules" section of docs/BENCHMARKS.md. Runs are kept in --workdir and reused / resumed, so
an interrupted benchmark continues where it stopped; --jobs runs several at once (each in its own
process, --threads torch threads each; wall times then include the contention).

    python scripts/bench_schedules.py [--datasets mnist fashion-mnist] [--epochs 15] [--jobs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.benchmarks_md import update_section  # noqa: E402

PRESETS = {"mnist": "lenet5-mnist", "fashion-mnist": "lenet5-fashion"}
CONTROLLERS = ("static8", "cpt", "cpt-prt", "progressive", "muppet", "adapt")
GRAD_QUANTIZERS = ("ptq", "psq", "bhq")
CPT_PAPER = ("CPT paper anchor (CIFAR-100, 3-8/8 vs 8/8): -36.7% BitOPs (0.633 of static 8/8) at "
             "+0.2...+0.9 pp")


# --- run specifications ----------------------------------------------------------------------------
def run_spec(base: str, key: str) -> tuple[str, dict]:
    """(run name, config overrides) of a benchmark row; key = controller or g<bits>-<quantizer>."""
    if key.startswith("g"):
        bits, quantizer = key[1:].split("-")
        return f"{base}-static8-{key}", {"preset": f"{base}-static8",
                                          "controller": {"grad": [int(bits), "auto"],
                                                         "grad_quantizer": quantizer}}
    if key == "cpt-prt":
        return f"{base}-cpt-prt", {"preset": f"{base}-cpt", "controller": {"q_min": "prt"}}
    return f"{base}-{key}", {"preset": f"{base}-{key}", "controller": {}}


def _config(name: str, spec: dict, epochs: int):
    from hostsw.train import load_config
    cfg = load_config(spec["preset"])
    cfg.name = name
    cfg.epochs = epochs
    if spec.get("limit_train"):
        cfg.limit_train = cfg.limit_test = spec["limit_train"]
    cfg.controller.params = {**cfg.controller.params, **spec["controller"]}
    return cfg


def run_dir(workdir: str, name: str, epochs: int) -> Path:
    """One folder per horizon: a cosine/CPT run cannot be extended to more epochs on resume, so
    a run with another epoch count is a different run, never a resumed one."""
    return Path(workdir) / f"{epochs}-epochs" / name


def run_one(name: str, spec: dict, epochs: int, workdir: str, device: str,
            threads: int) -> tuple[str, dict]:
    """Train (or reuse / resume) one run; returns (name, summary)."""
    import torch
    torch.set_num_threads(threads)
    from hostsw.train import TrainOptions, resume, train
    out = run_dir(workdir, name, epochs)
    if (out / "summary.json").exists():
        summary = json.loads((out / "summary.json").read_text())
        if summary["epochs"] == epochs:
            print(f"[bench] reusing {out}", file=sys.stderr, flush=True)
            return name, summary
    opts = TrainOptions(progress=False, device=device,
                        log=lambda s: print(f"[{name}] {s}", file=sys.stderr, flush=True))
    if (out / "checkpoint.pt").exists():
        return name, resume(out, opts)
    return name, train(_config(name, spec, epochs), out, opts)


# --- the section -------------------------------------------------------------------------------------
def _avg_bits(summary: dict, kind: str) -> float:
    avg = summary["cost"]["avg_bits"]
    return sum(v[kind] for v in avg.values()) / len(avg)


def _pp(a: dict, b: dict) -> str:
    return f"{100 * (a['test_accuracy'] - b['test_accuracy']):+.2f}"


def schedule_rows(results: dict[str, dict], static: dict) -> list[str]:
    lines = ["| controller | test acc | vs static 8/8 | BitOPs vs fp32 | BitOPs vs static 8/8 | "
             "avg W / A / G bits | wall |", "|---|---:|---:|---:|---:|---|---:|"]
    for key, s in results.items():
        rel8 = s["cost"]["bitops"] / static["cost"]["bitops"]
        lines.append(
            f"| {key} | {100 * s['test_accuracy']:.2f}% | {_pp(s, static)} pp | "
            f"{s['cost']['bitops_rel_fp32']:.4f} | {rel8:.3f} | "
            f"{_avg_bits(s, 'weight'):.2f} / {_avg_bits(s, 'act'):.2f} / "
            f"{_avg_bits(s, 'grad'):.2f} | {s['wall_time_s']:.0f} s |")
    return lines


def controller_notes(results: dict[str, dict]) -> list[str]:
    notes = []
    for key, s in results.items():
        c = s.get("controller_summary") or {}
        if key.startswith("cpt"):
            prt = c.get("prt")
            text = (f"{key}: forward {c.get('q_min')}..{c.get('q_max')} bits, "
                    f"{c.get('num_cycles')} cycles of {c.get('period', 0):.0f} {c.get('period_unit')}, "
                    f"backward {c.get('grad_bits')} bits")
            if prt:
                trials = ", ".join(f"{t['bits']}b {100 * t['train_accuracy']:.1f}%"
                                   for t in prt["trials"])
                text += (f"; PRT (threshold {100 * prt['threshold']:.0f}% train acc) chose q_min = "
                         f"{prt['q_min']} after trials {trials}"
                         + (" (never crossed: fell back to q_max)" if prt.get("fallback") else ""))
            notes.append(text)
        elif key == "progressive":
            ups = ", ".join(f"{h['forward']}/{h['backward']} after epoch {h['epoch']} "
                            f"({h['reason'].split('-')[-1]})" for h in c.get("steps_up", []))
            notes.append(f"progressive: levels {c.get('levels')}; steps up: {ups or 'none'}")
        elif key == "muppet":
            checks = "; ".join(
                f"ep {h['epoch']}: ratio {h.get('ratio', 1.0):.2f} vs {h['threshold']:.2f}"
                + (" violation" if h["violation"] else "")
                + (f" -> {h['switched_to']} bits" if "switched_to" in h else "")
                for h in c.get("checks", []))
            notes.append(f"muppet: final {c.get('final_bits')} bits; checks: {checks or 'none'}")
    return notes


def grad_rows(results: dict[str, dict], static: dict, grad_bits: list[int]) -> list[str]:
    lines = ["| gradient bits | " + " | ".join(GRAD_QUANTIZERS) + " |",
             "|---|" + "---:|" * len(GRAD_QUANTIZERS)]
    for b in grad_bits:
        cells = []
        for q in GRAD_QUANTIZERS:
            s = results.get(f"g{b}-{q}")
            cells.append("-" if s is None else
                         f"{100 * s['test_accuracy']:.2f}% ({_pp(s, static)} pp)")
        lines.append(f"| {b} | " + " | ".join(cells) + " |")
    lines.append(f"| 8 (static 8/8, ptq) | {100 * static['test_accuracy']:.2f}% | | |")
    return lines


def goals(ds: str, results: dict[str, dict], static: dict, grad_bits: list[int]) -> list[str]:
    out = []
    cpt = results.get("cpt")
    if cpt:
        rel = cpt["cost"]["bitops"] / static["cost"]["bitops"]
        d = 100 * (cpt["test_accuracy"] - static["test_accuracy"])
        met = rel <= 0.60 and d >= 0
        out.append(f"- CPT goal (>= static-8 accuracy at <= 0.60 of its BitOPs): "
                   f"{'met' if met else 'missed'}: {d:+.2f} pp at {rel:.3f} of static-8 BitOPs "
                   f"({100 * (rel - 1):+.1f}%). {CPT_PAPER}.")
    best = None
    for b in grad_bits:
        for q in ("psq", "bhq"):
            s = results.get(f"g{b}-{q}")
            if s is not None:
                d = 100 * (s["test_accuracy"] - static["test_accuracy"])
                if best is None or (d >= -0.5, -b, d) > (best[0] >= -0.5, -best[1], best[0]):
                    best = (d, b, q)
    if best is not None:
        d, b, q = best
        out.append(f"- Gradient goal (PSQ or BHQ at 4 or 5 bits within 0.5 pp of 8-bit gradients): "
                   f"{'met' if d >= -0.5 else 'missed'}: best {q} at {b} bits, {d:+.2f} pp.")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"],
                    choices=sorted(PRESETS))
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--controllers", nargs="+", default=list(CONTROLLERS), choices=CONTROLLERS)
    ap.add_argument("--grad-bits", nargs="*", type=int, default=[4, 5],
                    help="gradient bit widths of the PTQ/PSQ/BHQ study (none: skip it)")
    ap.add_argument("--train-keys", nargs="*", default=None,
                    help="train only these rows (controllers or g<bits>-<quantizer>; none: train "
                         "nothing); the section covers every finished run of the set in --workdir")
    ap.add_argument("--jobs", type=int, default=1, help="runs trained at once")
    ap.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 1) // 2),
                    help="torch threads per run")
    ap.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    ap.add_argument("--workdir", default=str(ROOT / "runs" / "bench_schedules"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    ap.add_argument("--no-write", action="store_true", help="print the section only")
    ap.add_argument("--machine", default=None, help="the section's machine line (when the runs "
                    "were trained elsewhere and only collected here)")
    ap.add_argument("--notes", default=None, help="a file of analysis appended to the section")
    ap.add_argument("--limit-train", type=int, default=None,
                    help="smoke test: first N training and test samples only")
    args = ap.parse_args()
    if "static8" not in args.controllers:
        args.controllers.insert(0, "static8")  # every ratio is relative to it

    keys = list(args.controllers) + [f"g{b}-{q}" for b in args.grad_bits for q in GRAD_QUANTIZERS]
    train_keys = keys if args.train_keys is None else args.train_keys
    jobs = []
    for ds in args.datasets:
        for key in train_keys:
            name, spec = run_spec(PRESETS[ds], key)
            spec["limit_train"] = args.limit_train
            jobs.append((name, spec))
    t0 = time.time()
    if args.jobs <= 1:
        for name, spec in jobs:
            run_one(name, spec, args.epochs, args.workdir, args.device, args.threads)
    elif jobs:
        with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
            futs = [pool.submit(run_one, name, spec, args.epochs, args.workdir, args.device,
                                args.threads) for name, spec in jobs]
            for f in as_completed(futs):
                name, summary = f.result()
                print(f"[bench] done {name}: {100 * summary['test_accuracy']:.2f}% "
                      f"({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)

    # the section: every finished run of the full set in the workdir (also ones trained elsewhere)
    summaries: dict[str, dict] = {}
    for ds in args.datasets:
        for key in keys:
            name = run_spec(PRESETS[ds], key)[0]
            path = run_dir(args.workdir, name, args.epochs) / "summary.json"
            if path.exists():
                summary = json.loads(path.read_text())
                if summary["epochs"] == args.epochs:
                    summaries[name] = summary

    gb = " ".join(map(str, args.grad_bits)) or "(none)"
    machine = args.machine or (f"{platform.machine()}, {os.cpu_count()} CPUs, device "
                               f"{args.device}, {time.strftime('%Y-%m-%d')}; {args.jobs} runs at a "
                               f"time, {args.threads} torch thread(s) each (wall times include "
                               "that contention)")
    lines = [f"Command: `python scripts/bench_schedules.py --datasets {' '.join(args.datasets)} "
             f"--epochs {args.epochs} --controllers {' '.join(args.controllers)} --grad-bits {gb} "
             f"--jobs {args.jobs} --threads {args.threads} --device {args.device}`",
             f"Machine: {machine}. Seed 0, batch 256, SGD 0.05 momentum 0.9, cosine LR, the "
             "lenet5-<dataset>-* presets (conv1's input held at <8,8> as in static8).",
             "BitOPs: MACs x (b_a b_w + b_e b_w + b_a b_e) per layer and pass, charged with the "
             "bits in force at every step; fp32 = 32 bits. avg W / A / G: time-averaged word "
             "length of weights, input activations and errors, mean over layers (fp32 = 32).", ""]
    for ds in args.datasets:
        base = PRESETS[ds]
        res = {k: summaries[run_spec(base, k)[0]] for k in args.controllers
               if run_spec(base, k)[0] in summaries}
        gkeys = [f"g{b}-{q}" for b in args.grad_bits for q in GRAD_QUANTIZERS]
        gres = {k: summaries[run_spec(base, k)[0]] for k in gkeys
                if run_spec(base, k)[0] in summaries}
        missing = [k for k in keys if k not in res and k not in gres]
        lines += [f"### LeNet-5 / {ds}", ""]
        if "static8" not in res:
            lines += ["(static 8/8 has not finished: no ratios)", ""]
            continue
        static = res["static8"]
        devices = sorted({x.get("device", "?") for x in (*res.values(), *gres.values())})
        lines += [f"Trained on: {', '.join(devices)}."
                  + (f" Not finished: {', '.join(missing)}." if missing else ""), ""]
        lines += schedule_rows(res, static) + [""]
        lines += [f"- {n}" for n in controller_notes(res)] + [""]
        if args.grad_bits:
            lines += ["Gradient quantizers (forward static 8/8; only the error's bits and "
                      "quantizer change; test accuracy and difference to 8-bit PTQ gradients):", ""]
            lines += grad_rows(gres, static, args.grad_bits) + [""]
        lines += goals(ds, {**res, **gres}, static, args.grad_bits) + [""]
    if args.notes:
        lines += [Path(args.notes).read_text().rstrip(), ""]
    body = "\n".join(lines)
    if not args.no_write:
        update_section(Path(args.out), "schedules",
                       "Precision schedules and gradient quantizers (LeNet-5)", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
