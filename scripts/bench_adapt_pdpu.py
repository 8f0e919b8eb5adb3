#!/usr/bin/env python
"""Cost of AdaPT's push-down / push-up statistics, measured per call and as a share of training.

1. Push-down per call on each LeNet-5 layer (trained weights from a run's checkpoint, or the
   initial weights): the batched scan of every candidate (``rules.push_down``) side by side with
   one quantize() + histogram per candidate (``rules.quantization_kl``, the scalar definition).
2. Inside a real LeNet-5/MNIST AdaPT epoch (the preset, ``--limit`` samples): wall time of the
   per-step gradient statistics (``on_after_backward``: quantize, normalize, accumulate) and of the
   decisions (``_decide``: diversity, lookback, resolution, PD, PU, buffer bits), against the
   epoch's wall time and an fp32 epoch on the same data. The timers wrap the controller's own
   methods; on a GPU they synchronize so the device time is counted.

    python scripts/bench_adapt_pdpu.py [--device auto] [--limit 15360] [--checkpoint RUN/checkpoint.pt]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hostsw.models.registry import build_model  # noqa: E402
from hostsw.precision import adapt_rules as rules  # noqa: E402
from hostsw.precision.adapt import AdaptController  # noqa: E402
from hostsw.train import TrainOptions, load_config, train  # noqa: E402
from hostsw.train.loop import resolve_device  # noqa: E402
from scripts.benchmarks_md import update_section  # noqa: E402

SETTINGS = {"paper": {}, "first_slice": {"scope": "first_slice"}, "kl0.2": {"kl_max": 0.2}}


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn, dev, reps: int) -> float:
    fn()
    _sync(dev)
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    _sync(dev)
    return (time.perf_counter() - t) / reps


def layer_weights(checkpoint: str | None) -> dict[str, torch.Tensor]:
    if checkpoint:
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)["model"]
        return {k.rsplit(".", 1)[0]: v.float() for k, v in state.items()
                if k.endswith(".weight") and v.dim() > 1}
    torch.manual_seed(0)
    model = build_model("lenet5", (1, 28, 28), 10)
    return {n: m.weight.detach().float() for n, m in model.named_modules()
            if getattr(m, "weight", None) is not None and m.weight.dim() > 1}


def push_down_table(weights: dict, dev: torch.device, r: int) -> list[str]:
    lines = ["| layer | weights | setting | result <BW,FL> | batched scan | one quantize per "
             "candidate | ratio |", "|---|---:|---|---|---:|---:|---:|"]
    for name, w in weights.items():
        w = w.to(dev)
        for setting, kw in SETTINGS.items():
            res = rules.push_down(w, 8, 4, r, **kw)
            scan = _timed(lambda: rules.push_down(w, 8, 4, r, **kw), dev, 5)
            scope = kw.get("scope", "tensor")
            cells = [(b, f) for f in range(4, 33) for b in range(max(f, 2), 33)]
            naive = _timed(lambda: [rules.quantization_kl(w, b, f, r, scope) for b, f in cells],
                           dev, 1)
            lines.append(f"| {name} | {w.numel()} | {setting} | <{res.bits},{res.frac}> | "
                         f"{1e3 * scan:.1f} ms | {1e3 * naive:.0f} ms | {naive / scan:.0f}x |")
    return lines


def epoch_share(device: str, limit: int, threads: int | None) -> list[str]:
    dev = resolve_device(device)
    spent = {"on_after_backward": [0.0, 0], "_decide": [0.0, 0]}
    originals = {k: getattr(AdaptController, k) for k in spent}

    def wrap(key):
        def timed(self, *a, **kw):
            _sync(dev)
            t = time.perf_counter()
            out = originals[key](self, *a, **kw)
            _sync(dev)
            spent[key][0] += time.perf_counter() - t
            spent[key][1] += 1
            return out
        return timed

    opts = TrainOptions(device=device, progress=False, threads=threads, log=lambda s: None)
    walls = {}
    with tempfile.TemporaryDirectory(prefix="bench-pdpu-") as tmp:
        for preset in ("lenet5-mnist-fp32", "lenet5-mnist-adapt"):
            cfg = load_config(preset)
            cfg.epochs, cfg.limit_train = 1, limit
            if preset.endswith("adapt"):
                for k in spent:
                    setattr(AdaptController, k, wrap(k))
            try:
                walls[preset] = train(cfg, Path(tmp) / preset, opts)["wall_time_s"]
            finally:
                for k, fn in originals.items():
                    setattr(AdaptController, k, fn)
    adapt, fp32 = walls["lenet5-mnist-adapt"], walls["lenet5-mnist-fp32"]
    stats, decide = spent["on_after_backward"], spent["_decide"]
    return [f"Device {dev}, {limit} MNIST samples (1 epoch, batch 256): fp32 {fp32:.2f} s, AdaPT "
            f"{adapt:.2f} s ({adapt / fp32:.2f}x fp32).", "",
            "| part | calls | per call | total | share of the AdaPT epoch |",
            "|---|---:|---:|---:|---:|",
            f"| gradient statistics (PU input, every step) | {stats[1]} | "
            f"{1e3 * stats[0] / max(stats[1], 1):.2f} ms | {stats[0]:.3f} s | "
            f"{100 * stats[0] / adapt:.1f}% |",
            f"| decisions (PD + PU, every lb steps, all layers) | {decide[1]} | "
            f"{1e3 * decide[0] / max(decide[1], 1):.2f} ms | {decide[0]:.3f} s | "
            f"{100 * decide[0] / adapt:.1f}% |"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--limit", type=int, default=15360, help="training samples for part 2")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--resolution", type=int, default=100)
    ap.add_argument("--checkpoint", default=None, help="weights for part 1 (default: init)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    ap.add_argument("--section", default="adapt-pdpu")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    load = os.getloadavg()
    src = args.checkpoint or "initial LeNet-5 weights (seed 0)"
    cmd = " ".join(["python scripts/bench_adapt_pdpu.py", *sys.argv[1:]])
    lines = [f"Command: `{cmd}`",
             f"Machine: {platform.machine()}, {dev}, torch threads {torch.get_num_threads()}, "
             f"{time.strftime('%Y-%m-%d')}, load average at start {load[0]:.2f} "
             f"(other engineers' jobs share the CPU).", "",
             f"Push-down per call ({src}, r = {args.resolution}, start <8,4>, FL floor 4): ", "",
             *push_down_table(layer_weights(args.checkpoint), dev, args.resolution), "",
             "Push-down and push-up inside training:", "",
             *epoch_share(args.device, args.limit, args.threads)]
    update_section(Path(args.out), args.section,
                   f"AdaPT push-down / push-up cost ({dev.type})", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
