"""Data-parallel scaling, measured side by side in one run: training samples/s of the same
config with 1 process and with N processes (`hostsw train --nproc N`, gloo on CPU).

Each configuration trains the same preset with the same global batch; throughput is the trained
samples over the summed epoch times in metrics.jsonl of epochs 2.. (epoch 1 is warm-up;
evaluation included: every rank evaluates the test split). The per-step communication (DDP's gradient all-reduce, its buffer broadcast and
the loss/accuracy all-gather) is not timed separately; the difference between the N-process time
and the 1-process time divided by N bounds what it costs. The machine's other load is recorded.

    python scripts/bench_distributed.py [--preset lenet5-mnist-static8] [--limit-train 4096]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.benchmarks_md import update_section  # noqa: E402


def run(preset: str, nproc: int, threads: int, args, out: Path) -> dict:
    cmd = [sys.executable, "-m", "hostsw", "train", "--preset", preset, "--out", str(out),
           "--epochs", str(args.epochs), "--limit-train", str(args.limit_train),
           "--limit-test", str(args.limit_test), "--batch-size", str(args.batch_size),
           "--device", "cpu", "--threads", str(threads), "--no-progress",
           "--backend", args.backend]
    if nproc > 1:
        cmd += ["--nproc", str(nproc)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": str(threads)},
                   stdout=subprocess.DEVNULL)
    launch = time.perf_counter() - t0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    timed = rows[1:]  # epoch 1 warms up (allocator, first-call overheads): steady state only
    train_s = sum(r["epoch_time_s"] for r in timed)
    steps = rows[-1]["step"] - rows[0]["step"]
    return {"nproc": nproc, "threads": threads, "train_s": train_s, "launch_s": launch,
            "samples_s": len(timed) * args.limit_train / train_s, "step_ms": 1e3 * train_s / steps,
            "test_accuracy": rows[-1]["test_accuracy"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="lenet5-mnist-static8")
    p.add_argument("--backend", default="software")
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--limit-train", dest="limit_train", type=int, default=8192)
    p.add_argument("--limit-test", dest="limit_test", type=int, default=256)
    p.add_argument("--batch-size", dest="batch_size", type=int, default=128)
    p.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    args = p.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="hostsw-bench-dist-") as tmp:
        cases = [(1, 1), (1, args.nproc), (args.nproc, 1)]
        res = [run(args.preset, n, t, args, Path(tmp) / f"n{n}-t{t}") for n, t in cases]
    load_after = os.getloadavg()
    base = res[0]["samples_s"]
    lines = [f"Command: `python scripts/bench_distributed.py --preset {args.preset} --backend "
             f"{args.backend} --nproc {args.nproc} --epochs {args.epochs} --limit-train "
             f"{args.limit_train} --limit-test {args.limit_test} --batch-size {args.batch_size}`",
             "",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}; "
             f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after (other "
             "engineers' jobs share these cores, so the ratios carry that noise). Global batch "
             f"{args.batch_size} in every case (per process {args.batch_size}/N).",
             "",
             "Timed: epochs 2..E (epoch 1 is warm-up), evaluation included.", "",
             "| processes | threads each | train s | ms / step | samples/s | vs 1x1 | test acc |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in res:
        lines.append(f"| {r['nproc']} | {r['threads']} | {r['train_s']:.2f} | {r['step_ms']:.1f} "
                     f"| {r['samples_s']:.0f} | {r['samples_s'] / base:.2f}x "
                     f"| {100 * r['test_accuracy']:.2f}% |")
    n = res[2]
    comm_ms = max(0.0, n["step_ms"] - res[0]["step_ms"] / args.nproc)
    lines += ["",
              f"With {args.nproc} processes each step computes 1/{args.nproc} of the batch; the "
              f"step time above the ideal 1x1 time / {args.nproc} is {comm_ms:.1f} ms, an upper "
              "bound on the communication (gradient all-reduce, buffer broadcast, loss/accuracy "
              "all-gather) plus the per-rank overhead that does not shrink with the batch (the "
              "full test-split evaluation on every rank, quantizing the weights). Launching "
              f"{args.nproc} processes took {n['launch_s']:.1f} s against "
              f"{res[0]['launch_s']:.1f} s for one (imports and the process group, not counted "
              "in train s). On 2 cores, 2 processes can at best match one process with 2 threads."]
    update_section(Path(args.out), "distributed",
                   f"Data-parallel scaling: 1 vs {args.nproc} processes ({args.backend} back-end)",
                   "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
