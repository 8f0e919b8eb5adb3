#!/usr/bin/env python
"""Fake-quantization overhead: wall time per training epoch, fp32 vs every controller (LeNet-5/MNIST).

Measured side by side in one process: every round runs one epoch of each variant, interleaved in
turns of a few steps (fp32, static8, static8 on the pure-torch reference quantizers, CPT, AdaPT,
stock Brevitas, fp32, ...) so that machine drift hits all variants alike; an epoch's time is the
sum of its own turns, and the median epoch time per variant is reported. The stock Brevitas variant
(power-of-two Int8 weight/activation quantizers, no gradient quantization) is the reference
point from shared/specs/toolchain.md; the reference-quantizer variant (``HOSTSW_FUSED=0``) shows
what the one-pass quantizer (hostsw/quant/fused.py) saves. Controller hooks are timed per
variant (AdaPT: push-down/push-up decisions and the weight-gradient statistics). Writes a section
of docs/BENCHMARKS.md.

    python scripts/bench_train_overhead.py [--repeats 3] [--limit-train 60000]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hostsw.quant import fused  # noqa: E402
from hostsw.errors import ConfigError  # noqa: E402
from hostsw.train import TrainOptions, Trainer, load_config  # noqa: E402
from hostsw.train.loop import resolve_device  # noqa: E402
from hostsw.train.rundir import start_fresh  # noqa: E402
from scripts.benchmarks_md import update_section  # noqa: E402

FP32 = "fp32 (hostsw layers, quantizers bypassed)"
STATIC = "static 8/8/8 (W+A+grad, fused quantizer)"
STATIC_REF = "static 8/8/8 (W+A+grad, pure-torch reference quantizer)"
CPT = "CPT 3-8 / 8 (per-step switching)"
ADAPT = "AdaPT (incl. push-down/push-up)"
STOCK = "stock Brevitas Int8 PoT (W+A only)"
VARIANTS = {FP32: ("lenet5-mnist-fp32", False, True), STATIC: ("lenet5-mnist-static8", False, True),
            STATIC_REF: ("lenet5-mnist-static8", False, False), CPT: ("lenet5-mnist-cpt", False, True),
            ADAPT: ("lenet5-mnist-adapt", False, True), STOCK: ("lenet5-mnist-fp32", True, True)}


class HookTimer:
    """Wall time spent in a controller's per-step hooks (AdaPT: push-down/push-up statistics)."""

    def __init__(self, controller):
        self.seconds = 0.0
        for name in ("on_step_begin", "on_after_backward", "on_step_end"):
            setattr(controller, name, self._timed(getattr(controller, name)))

    def _timed(self, fn):
        def run(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self.seconds += time.perf_counter() - t0
        return run


def stock_brevitas_lenet5() -> nn.Module:
    """LeNet-5 with Brevitas' stock power-of-two fixed-point quantizers (weights + activations)."""
    from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear
    from brevitas.quant import Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint
    kw = dict(weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width_impl_type="stateful_const")

    def act():
        return QuantIdentity(act_quant=Int8ActPerTensorFixedPoint,
                             bit_width_impl_type="stateful_const", return_quant_tensor=False)
    return nn.Sequential(
        act(), QuantConv2d(1, 6, 5, padding=2, **kw), nn.ReLU(), nn.MaxPool2d(2),
        act(), QuantConv2d(6, 16, 5, **kw), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        act(), QuantLinear(400, 120, **kw), nn.ReLU(),
        act(), QuantLinear(120, 84, **kw), nn.ReLU(),
        act(), QuantLinear(84, 10, **kw))


def make_trainer(preset: str, limit_train: int | None, workdir: Path, stock: bool = False,
                 tag: str = "", device: str = "auto"):
    cfg = load_config(preset)
    cfg.limit_train = limit_train
    cfg.limit_test = 1000
    trainer = Trainer(cfg, start_fresh(workdir / (preset + ("-stock" if stock else "") + tag), cfg),
                      TrainOptions(device=device, progress=False, log=lambda s: None))
    if stock:
        # (the loop steps ``trainer.net``: the model, or its DDP wrapper in a distributed run)
        trainer.model = trainer.net = stock_brevitas_lenet5().to(trainer.device)
        trainer.layers = {}
        trainer.optimizer = torch.optim.SGD(trainer.model.parameters(), lr=cfg.optimizer.lr,
                                            momentum=cfg.optimizer.momentum)
        trainer.meter.add_step = lambda *a, **k: None
    trainer.controller.on_train_begin()
    return trainer


def _device_words(device: torch.device) -> str:
    if device.type == "cuda":
        return f"trainers on {torch.cuda.get_device_name(device)} (the kernel table: CPU)"
    return "CPU only (no GPU measured)"


def interleaved_epochs(trainers: dict, chunk: int) -> dict[str, float]:
    """One epoch of every trainer, run in turns of ``chunk`` steps (fp32's, static8's, ...,
    fp32's next ``chunk``, ...): the seconds each epoch's own steps took. Epoch by epoch, a
    shared machine's load drifts between variants (this machine's epochs of one variant ranged
    over +-20%); turns of a few steps put every variant under the same conditions."""
    steps = {name: tr.epoch_steps() for name, tr in trainers.items()}
    spent = dict.fromkeys(trainers, 0.0)
    sync = torch.cuda.synchronize if any(tr.device.type == "cuda" for tr in trainers.values()) \
        else (lambda: None)
    while steps:
        for name in list(steps):
            with fused.use_fused(VARIANTS[name][2]):
                sync()
                t0 = time.perf_counter()
                try:
                    for _ in range(chunk):
                        next(steps[name])
                except StopIteration:
                    del steps[name]
                sync()  # a turn ends when its GPU work has
                spent[name] += time.perf_counter() - t0
    return spent


def kernel_micro(compile_too: bool) -> list[str]:
    """ms per call of the stochastic 8-bit quantizer on conv1's error tensor (256x6x28x28): the
    reference torch passes, the fused C++ kernel and torch.compile of the reference; and of the
    range pass that picks an auto frac (torch.aminmax vs the fused library's)."""
    from hostsw import fixedpoint
    from hostsw.fixedpoint import FixedPoint
    x = torch.randn(256, 6, 28, 28, generator=torch.Generator().manual_seed(0)) * 1e-3
    fp = FixedPoint(8, 14)

    def best(fn, n=15):
        fn()
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
        return 1000 * statistics.median(out)

    ref = fixedpoint._quantize_reference(x, fp, "stochastic", "saturate", 0, 2, 5)
    rows = [f"| pure-torch reference (hostsw.fixedpoint, ~15 passes) | "
            f"{best(lambda: fixedpoint._quantize_reference(x, fp, 'stochastic', 'saturate', 0, 2, 5)):.2f} | - | yes |"]
    st = fused.status()
    if st.available:
        same = torch.equal(fused.try_quantize(x, fp, "stochastic", "saturate", 0, 2, 5), ref)
        rows.append(f"| fused C++ kernel (hostsw.quant.fused, {Path(st.compiler).name}) | "
                    f"{best(lambda: fused.try_quantize(x, fp, 'stochastic', 'saturate', 0, 2, 5)):.2f} "
                    f"| {st.build_s:.1f} s{' (cached)' if st.cached else ''} | "
                    f"{'yes' if same else 'NO'} |")
    if compile_too:
        try:
            t0 = time.perf_counter()
            comp = torch.compile(fixedpoint._quantize_reference, dynamic=False)
            got = comp(x, fp, "stochastic", "saturate", 0, 2, 5)
            build = time.perf_counter() - t0
            same = torch.equal(got, ref)
            rows.append(f"| torch.compile (inductor C++) of the reference | "
                        f"{best(lambda: comp(x, fp, 'stochastic', 'saturate', 0, 2, 5)):.2f} | "
                        f"{build:.1f} s (this shape and grid; recompiles per shape/frac) | "
                        f"{'yes' if same else 'NO'} |")
        except Exception as e:  # noqa: BLE001 - report why the alternative did not run
            rows.append(f"| torch.compile of the reference | failed: {' '.join(str(e).split())[:120]} | | |")
    rows.append(f"| range pass of the auto frac (min/max): torch.aminmax | {best(lambda: torch.aminmax(x)):.2f} "
                "| - | - |")
    if st.available:
        rows.append(f"| range pass: fused (hostsw.quant.fused.tensor_range) | "
                    f"{best(lambda: fused.tensor_range(x)):.2f} | (same library) | "
                    f"{'yes' if fused.tensor_range(x) == tuple(v.item() for v in torch.aminmax(x)) else 'NO'} |")
    return ["| quantizer (stochastic <8,14>, 1.2 M elements) | ms / call (median of 15) | "
            "build | bit-identical |", "|---|---:|---|---|"] + rows


def profile_lines(parts: dict) -> list[str]:
    """Where static 8/8/8's extra time per step goes (torch profiler, 10 steps each)."""
    f, q = parts[FP32], parts[STATIC]
    extra = q["step"] - f["step"]
    fwd, err = q.get("forward quantizers (W, A, bias)", 0.0), q.get("error quantizers", 0.0)
    kernel, rng = q.get("fused kernel", 0.0), q.get("range pass", 0.0)
    calls = q.get("fused kernel calls", 0.0)
    return [
        "Where static 8/8/8's extra time goes (torch profiler, 10 steps of one batch each; the "
        f"profiler inflates small calls): fp32 {f['step']:.1f} ms/step, static 8/8/8 "
        f"{q['step']:.1f} ms/step (+{extra:.1f} ms). Inside the quantizer calls ({fwd:.1f} ms "
        f"forward weight/activation/bias, {err:.1f} ms error): the fused kernel {kernel:.1f} ms "
        f"({calls:.0f} calls per step, from 6 to 1.2 M elements), separate range passes "
        f"{rng:.1f} ms (most auto-frac tensors take their range from the kernel pass), and "
        f"{fwd + err - kernel - rng:.1f} ms of Python and autograd around them (per call: buffer "
        "reads, the frac rule, the ctypes call, the STE node). Outside them: "
        f"{extra - fwd - err:.1f} ms (the STE nodes' backward, slower neighbouring ops, noise)."]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="epochs per variant (median reported)")
    ap.add_argument("--limit-train", type=int, default=None, help="samples per epoch (default all)")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile comparison")
    ap.add_argument("--chunk", type=int, default=5,
                    help="steps per turn when the variants' epochs are interleaved (default 5)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: torch's, one per core); 1 is the robust choice "
                         "on a busy shared machine, where every multi-threaded op waits for a core")
    ap.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    ap.add_argument("--device", default="auto",
                    help="where the trainers run: auto (CUDA when there is one) | cpu | cuda; the "
                         "fused kernel is CPU-only (on CUDA every variant uses torch's quantizer)")
    args = ap.parse_args()
    if args.chunk < 1 or args.repeats < 1:
        ap.error(f"--chunk {args.chunk} --repeats {args.repeats}: use 1 or more for each")
    try:
        device = resolve_device(args.device)
    except ConfigError as e:
        ap.error(str(e))
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    load_start = os.getloadavg()
    fused.library()  # build (or load) before any timing
    times: dict[str, list[float]] = {k: [] for k in VARIANTS}
    hook_s: list[float] = []
    cpt_hook_s: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        trainers = {k: make_trainer(p, args.limit_train, Path(tmp), s, tag=str(i),
                                    device=str(device))
                    for i, (k, (p, s, _)) in enumerate(VARIANTS.items())}
        hooks = HookTimer(trainers[ADAPT].controller)
        cpt_hooks = HookTimer(trainers[CPT].controller)
        for rep in range(args.repeats + 1):  # the first round warms up and is discarded
            for tr in trainers.values():
                tr.epoch = rep + 1
            hooks_before, cpt_before = hooks.seconds, cpt_hooks.seconds
            spent = interleaved_epochs(trainers, args.chunk)
            for name, dt in spent.items():
                if rep > 0:
                    times[name].append(dt)
                print(f"round {rep} {name}: {dt:.2f} s", file=sys.stderr)
            if rep > 0:
                hook_s.append(hooks.seconds - hooks_before)
                cpt_hook_s.append(cpt_hooks.seconds - cpt_before)
        steps = len(range(0, len(trainers[FP32].train_split), 256))
        table, parts = profile_steps(trainers)
    load_end = os.getloadavg()
    micro = kernel_micro(not args.no_compile)

    med = {k: statistics.median(v) for k, v in times.items()}
    base = med[FP32]
    st = fused.status()
    lines = [
        f"Command: `python scripts/bench_train_overhead.py --repeats {args.repeats}"
        + (f" --limit-train {args.limit_train}" if args.limit_train else "")
        + (f" --threads {args.threads}" if args.threads is not None else "")
        + (f" --chunk {args.chunk}" if args.chunk != 5 else "")
        + (" --no-compile" if args.no_compile else "") + "`",
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch "
        f"threads, torch {torch.__version__}, {_device_words(device)}, {time.strftime('%Y-%m-%d %H:%M')}; "
        f"load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end (shared machine: "
        "other engineers' jobs ran on the same 2 cores; interleaving keeps the ratios fair).",
        f"Fused quantizer: {'built with ' + ' '.join([Path(st.compiler).name, *st.flags]) if st.available else 'unavailable: ' + st.reason}.",
        f"LeNet-5 / MNIST, batch 256, {steps} steps per epoch, median of {args.repeats} epochs "
        f"per variant; each round's epochs interleaved in one process in turns of {args.chunk} "
        "steps (an epoch's time is the sum of its own turns).",
        "",
        "| variant | s / epoch | ms / step | vs fp32 | goal | epochs (s, min-max) |",
        "|---|---:|---:|---:|---|---|",
    ]
    goals = {STATIC: 1.2, CPT: 1.2, ADAPT: 1.5}
    for name, t in med.items():
        r = t / base
        goal = f"<= {goals[name]}x: {'met' if r <= goals[name] else f'missed by {r - goals[name]:.2f}x'}" \
            if name in goals else ""
        lines.append(f"| {name} | {t:.2f} | {1000 * t / steps:.1f} | {r:.2f}x | {goal} | "
                     f"{min(times[name]):.2f}-{max(times[name]):.2f} |")
    pdpu = statistics.median(hook_s)
    lines += ["", f"AdaPT's push-down/push-up (time in its controller hooks): {pdpu:.2f} s/epoch, "
              f"{100 * pdpu / med[ADAPT]:.1f}% of its epoch; without it AdaPT would be "
              f"{(med[ADAPT] - pdpu) / base:.2f}x fp32.",
              f"CPT's controller hooks (the per-step precision schedule and its switches, "
              f"logged to precision.jsonl): {statistics.median(cpt_hook_s):.3f} s/epoch, "
              f"{100 * statistics.median(cpt_hook_s) / med[CPT]:.1f}% of its epoch; CPT - static "
              f"8/8/8 = {med[CPT] - med[STATIC]:+.2f} s/epoch.",
              f"Fused vs pure-torch quantizer, same static 8/8/8 run: {med[STATIC_REF] / med[STATIC]:.2f}x "
              "faster (bit-identical: tests/quant/test_fused.py trains the same steps both ways and "
              "compares every weight).",
              "", "The quantizer kernel alone (chosen by this measurement: the fused C++ kernel):", "",
              *micro, "",
              *profile_lines(parts), "", "```", table, "```"]
    update_section(Path(args.out), "train-overhead",
                   "Fake-quantization training overhead (fp32 vs static 8/8/8, CPT, AdaPT)",
                   "\n".join(lines))
    print("\n".join(lines))
    return 0


def profile_steps(trainers: dict, steps: int = 10) -> tuple[str, dict]:
    """Torch-profile ``steps`` training steps of fp32 and static 8/8/8 (same batch); the quantizer
    work is labelled (the C++ kernel and range pass run inside Python, so the profiler would
    otherwise fold them into their callers). Returns static8's op table and ms/step per part."""
    from torch.profiler import ProfilerActivity, profile, record_function
    import torch.nn.functional as F
    from hostsw.quant.grad import GradQuant
    from hostsw.quant.layers import QuantLayerMixin

    def labelled(fn, label):
        def run(*a, **k):
            with record_function(label):
                return fn(*a, **k)
        return run

    patches = [(fused, "_run", "hostsw: fused kernel"),
               (fused, "tensor_range", "hostsw: range pass"),
               (QuantLayerMixin, "_quant_operands", "hostsw: forward quantizers (W, A, bias)"),
               (GradQuant, "quantize_error", "hostsw: error quantizers")]
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
    out = {}
    try:
        for obj, name, label in patches:
            setattr(obj, name, labelled(getattr(obj, name), label))
        for key in (FP32, STATIC):
            trainer = trainers[key]
            x, y = trainer.train_split.x[:256], trainer.train_split.y[:256]
            trainer.model.train()

            def step():
                with record_function("hostsw: step"):
                    loss = F.cross_entropy(trainer.model(x), y)
                    trainer.optimizer.zero_grad()
                    loss.backward()
                    trainer.optimizer.step()
            step()
            with profile(activities=[ProfilerActivity.CPU]) as p:
                for _ in range(steps):
                    step()
            out[key] = p
    finally:
        for obj, name, fn in saved:
            setattr(obj, name, fn)
    parts = {}
    for key, p in out.items():
        ev = {e.key: e for e in p.key_averages()}
        parts[key] = {k[len("hostsw: "):]: e.cpu_time_total / 1000 / steps
                      for k, e in ev.items() if k.startswith("hostsw: ")}
        if "hostsw: fused kernel" in ev:
            parts[key]["fused kernel calls"] = ev["hostsw: fused kernel"].count / steps
    table = out[STATIC].key_averages().table(sort_by="self_cpu_time_total", row_limit=14,
                                             max_name_column_width=44)
    return table, parts


if __name__ == "__main__":
    sys.exit(main())
