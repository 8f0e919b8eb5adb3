"""``hostsw bench --board B``: latency (host perf_counter_ns around each engine call, and the
kernel's own cycle counter), throughput, power and energy per call on the training engine.

Figures are labelled ``measured`` only on a real device; on a MOCK device they are labelled
``mock`` (host timing of a simulation, not a board measurement).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hostsw.board.power import energy_above_idle
from hostsw.errors import ConfigError
from hostsw.fixedpoint import FixedPoint
from hostsw.io import atomic_write_json, atomic_write_text
from hostsw.runtime.spec import Geometry, Operand, OutSpec


@dataclass
class BenchConfig:
    iterations: int = 200
    #: seconds of idle power sampled before the loop
    idle_s: float = 2.0
    bits: int = 8
    #: the benchmarked call: LeNet-5's fc1 at batch 256 (fwd)
    batch: int = 256
    n_in: int = 400
    n_out: int = 120

    def validate(self) -> "BenchConfig":
        if self.iterations < 2:
            raise ConfigError(f"--iterations {self.iterations}: use 2 or more")
        if not (math.isfinite(self.idle_s) and 0 <= self.idle_s <= 3600):
            raise ConfigError(f"--idle-s {self.idle_s}: use seconds in 0..3600")
        return self


def run_bench(backend, cfg: BenchConfig, sampler_factory=None, clock_mhz: float = 200.0) -> dict:
    """Time ``cfg.iterations`` fwd calls on ``backend``; power via ``sampler_factory()``."""
    cfg = cfg.validate()
    g = Geometry(cfg.batch, cfg.n_in, 1, 1, cfg.n_out)
    rng = np.random.default_rng(0)
    lo, hi = -(1 << (cfg.bits - 1)), 1 << (cfg.bits - 1)
    x = Operand(rng.integers(lo, hi, size=g.x_shape), FixedPoint(cfg.bits, cfg.bits // 2))
    w = Operand(rng.integers(lo + 1, hi, size=g.w_shape), FixedPoint(cfg.bits, cfg.bits - 2))
    out = OutSpec(FixedPoint(cfg.bits, cfg.bits // 2), acc_frac=x.frac + w.frac)
    idle = None
    if sampler_factory is not None and cfg.idle_s > 0:
        s = sampler_factory().start()
        time.sleep(cfg.idle_s)
        _, p = s.stop()
        idle = float(np.mean(p)) if len(p) else None
    sampler = sampler_factory().start() if sampler_factory is not None else None
    lat_ns, cycles = [], []
    t0 = time.perf_counter()
    for _ in range(cfg.iterations):
        c0 = backend.stats.cycles
        a = time.perf_counter_ns()
        backend.fwd(g, x, w, None, out)
        lat_ns.append(time.perf_counter_ns() - a)
        cycles.append(backend.stats.cycles - c0)
    wall = time.perf_counter() - t0
    mock = bool(backend.describe().get("mock"))
    label = "mock" if mock else "measured"
    res = {"label": label, "device": backend.describe().get("device"),
           "call": {"mode": "fwd", "batch": cfg.batch, "n_in": cfg.n_in, "n_out": cfg.n_out,
                    "bits": cfg.bits, "macs": g.macs()},
           "iterations": cfg.iterations,
           "host_latency_us": {"median": float(np.median(lat_ns)) / 1e3,
                               "p95": float(np.percentile(lat_ns, 95)) / 1e3},
           "kernel_cycles": int(np.median(cycles)),
           "kernel_latency_us": float(np.median(cycles)) / clock_mhz,
           "throughput_gmacs": g.macs() * cfg.iterations / wall / 1e9,
           "power": None}
    if sampler is not None:
        t, p = sampler.stop()
        if idle is None:
            raise ConfigError("energy needs the idle power: use --idle-s > 0")
        e = energy_above_idle(t, p, idle)
        res["power"] = {"label": label, "idle_w": idle, "mean_w": float(np.mean(p)),
                        "samples": int(len(p)), "energy_j": e,
                        "energy_per_call_uj": e / cfg.iterations * 1e6}
    return res


def bench_markdown(r: dict) -> str:
    c = r["call"]
    rows = [("host latency (median)", f"{r['host_latency_us']['median']:.1f} us"),
            ("host latency (p95)", f"{r['host_latency_us']['p95']:.1f} us"),
            ("kernel cycles (on-chip counter)", str(r["kernel_cycles"])),
            ("kernel latency", f"{r['kernel_latency_us']:.1f} us"),
            ("throughput", f"{r['throughput_gmacs']:.3f} GMAC/s")]
    if r["power"]:
        rows += [("idle / loop power", f"{r['power']['idle_w']:.2f} / {r['power']['mean_w']:.2f} W"),
                 ("energy per call", f"{r['power']['energy_per_call_uj']:.1f} uJ")]
    head = (f"{r['label'].upper()}: fwd {c['batch']}x{c['n_in']} -> {c['n_out']} at {c['bits']} "
            f"bits, {r['iterations']} calls on {r['device']}\n\n| figure | {r['label']} |\n|---|---:|\n")
    return head + "".join(f"| {a} | {b} |\n" for a, b in rows)


def write_bench(r: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "bench.json", r)
    atomic_write_text(out / "bench.md", bench_markdown(r))
