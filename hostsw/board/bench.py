"""``hostsw bench --board B``: latency (host perf_counter_ns around each unit of work, and the
kernel's own cycle counter), throughput, power and energy per unit, as the integral of
(P - P_idle) dt over a long loop of units.

The unit is one of:

* ``call``: one engine call (LeNet-5's fc1 forward at batch 256), the default;
* ``training step``: every MAC call of one training step of a run's model (``--run RUN_DIR``):
  forward, backward-data and backward-weight of each layer at the run's final precisions, on the
  tier each call needs (the host-side work of a step, loss, ReLU/pool and the update, is not in it);
* ``inference``: one sample through the inference design (``--design inference --run RUN_DIR``),
  timed in calls of ``--samples`` samples.

Figures are labelled ``measured`` only on a real device; on a MOCK device they are labelled
``mock`` (host timing of a simulation, not a board measurement).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

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
    #: samples per call of the inference design
    samples: int = 256

    def validate(self) -> "BenchConfig":
        if self.iterations < 2:
            raise ConfigError(f"--iterations {self.iterations}: use 2 or more")
        if not (math.isfinite(self.idle_s) and 0 <= self.idle_s <= 3600):
            raise ConfigError(f"--idle-s {self.idle_s}: use seconds in 0..3600")
        if self.samples < 1:
            raise ConfigError(f"--samples {self.samples}: use 1 or more")
        return self


@dataclass
class Workload:
    """One unit of benchmarked work: ``run()`` does it and returns the kernel cycles it took
    (None where the design has no cycle counter)."""

    run: Callable[[], int | None]
    #: "call", "training step" or "inference"
    unit: str
    #: MACs per unit (None where unknown)
    macs: int | None
    device: str
    mock: bool
    #: units done by one run() (inference: the samples of one call)
    per_run: int = 1
    info: dict = field(default_factory=dict)


def _operand(rng, shape, bits: int, frac: int | None = None) -> Operand:
    lo, hi = -(1 << (bits - 1)), 1 << (bits - 1)
    return Operand(rng.integers(lo + 1, hi, size=shape), FixedPoint(bits, bits // 2 if frac is None
                                                                    else frac))


def _backend_workload(backend, calls: list, unit: str, macs: int, info: dict) -> Workload:
    def run():
        c0 = backend.stats.cycles
        for c in calls:
            c()
        return backend.stats.cycles - c0
    d = backend.describe()
    return Workload(run, unit, macs, d.get("device"), bool(d.get("mock")), info=info)


def call_workload(backend, cfg: BenchConfig) -> Workload:
    """One fwd call: LeNet-5's fc1 (batch x n_in -> n_out) at ``cfg.bits``."""
    g = Geometry(cfg.batch, cfg.n_in, 1, 1, cfg.n_out)
    rng = np.random.default_rng(0)
    x = _operand(rng, g.x_shape, cfg.bits)
    w = _operand(rng, g.w_shape, cfg.bits, cfg.bits - 2)
    out = OutSpec(FixedPoint(cfg.bits, cfg.bits // 2), acc_frac=x.frac + w.frac)
    info = {"mode": "fwd", "batch": cfg.batch, "n_in": cfg.n_in, "n_out": cfg.n_out,
            "bits": cfg.bits, "macs": g.macs()}
    return _backend_workload(backend, [lambda: backend.fwd(g, x, w, None, out)], "call",
                             g.macs(), info)


def _exact(frac: int) -> OutSpec:
    """The 64-bit accumulator word, as the training layers ask for it (hostsw.runtime.function
    ``exact_out``; they requantize on the host)."""
    return OutSpec(FixedPoint.wide_type(64, frac), frac, "nearest", "saturate")


def training_step_workload(backend, run_dir: Path) -> Workload:
    """Every engine call of one training step of the run's model at its final precisions."""
    from hostsw.board.estimate import precision_segments
    from hostsw.data import DATASETS
    from hostsw.io import read_jsonl
    from hostsw.models import build_model
    from hostsw.quant.layers import quant_layers
    from hostsw.runtime.attach import layer_geometries
    from hostsw.train.rundir import RunDir
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{run_dir} is not a hostsw run directory (no config.yaml)")
    tc = RunDir(run_dir).load_config()
    info = DATASETS[tc.dataset]
    model = build_model(tc.model, info.input_shape, info.num_classes)
    layers = quant_layers(model)
    geoms = layer_geometries(model, layers, info.input_shape, tc.batch_size)
    log = run_dir / "precision.jsonl"
    segs = precision_segments(read_jsonl(log), list(layers)) if log.is_file() else []
    final = segs[-1][1] if segs else {n: {} for n in layers}
    rng = np.random.default_rng(0)
    first = next(iter(geoms))
    calls, macs, bits_used = [], 0, {}
    for name, g in geoms.items():
        b = final[name]
        # float32 (None) has no datapath on the engine: the 32-bit tier stands in
        a, w, e = (b.get(k) or 32 for k in ("act", "weight", "grad"))
        ew = b.get("grad_w") or e
        x, W = _operand(rng, g.x_shape, a), _operand(rng, g.w_shape, w)
        dy, dyw = _operand(rng, g.y_shape, e), _operand(rng, g.y_shape, ew)
        calls.append(lambda g=g, x=x, W=W: backend.fwd(g, x, W, None, _exact(x.frac + W.frac)))
        if name != first:
            calls.append(lambda g=g, dy=dy, W=W: backend.bwd_data(g, dy, W,
                                                                  _exact(dy.frac + W.frac)))
        calls.append(lambda g=g, dy=dyw, x=x: backend.bwd_weight(g, dy, x, _exact(dy.frac + x.frac),
                                                                 _exact(dy.frac)))
        macs += g.macs() * (2 if name == first else 3)
        bits_used[name] = {"act": a, "weight": w, "grad": e, "grad_w": ew}
    desc = {"run_dir": str(run_dir), "model": tc.model, "batch": tc.batch_size,
            "engine_calls": len(calls), "bits": bits_used, "macs": macs}
    return _backend_workload(backend, calls, "training step", macs, desc)


def inference_workload(kernel, n_in: int, n_out: int, in_bits: int, samples: int,
                       device_name: str, mock: bool, macs_per_inference: int | None) -> Workload:
    """``samples`` random inputs (integers of input_t) through the inference IP per call."""
    rng = np.random.default_rng(0)
    x = rng.integers(-(1 << (in_bits - 1)), 1 << (in_bits - 1),
                     size=(samples, n_in)).astype(np.int32)

    def run():
        kernel.run({"n": samples}, {"x": x}, {"y": ((samples, n_out), np.int64)})
        return None  # the wrapper returns n, not a cycle count
    return Workload(run, "inference", macs_per_inference, device_name, mock, per_run=samples,
                    info={"samples_per_call": samples, "n_in": n_in, "n_out": n_out,
                          "macs": macs_per_inference})


def run_bench(work, cfg: BenchConfig, sampler_factory=None, clock_mhz: float = 200.0) -> dict:
    """Run ``work`` (a Workload; a back-end: its fc1 call) ``cfg.iterations`` times; power via
    ``sampler_factory()``."""
    cfg = cfg.validate()
    if not isinstance(work, Workload):
        work = call_workload(work, cfg)
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
        a = time.perf_counter_ns()
        c = work.run()
        lat_ns.append((time.perf_counter_ns() - a) / work.per_run)
        cycles.append(c)
    wall = time.perf_counter() - t0
    label = "mock" if work.mock else "measured"
    units = cfg.iterations * work.per_run
    kc = None if cycles[0] is None else int(np.median(cycles))
    unit_key = work.unit.replace(" ", "_")
    res = {"label": label, "device": work.device, "unit": work.unit,
           "workload": work.info, "iterations": cfg.iterations, "units": units,
           "host_latency_us": {"median": float(np.median(lat_ns)) / 1e3,
                               "p95": float(np.percentile(lat_ns, 95)) / 1e3},
           "kernel_cycles": kc,
           "kernel_latency_us": None if kc is None else kc / clock_mhz,
           "throughput_units_per_s": units / wall,
           "throughput_gmacs": work.macs * units / wall / 1e9 if work.macs else None,
           "power": None}
    if work.unit == "call":
        res["call"] = work.info
    if sampler is not None:
        t, p = sampler.stop()
        if idle is None:
            raise ConfigError("energy needs the idle power: use --idle-s > 0")
        e = energy_above_idle(t, p, idle)
        res["power"] = {"label": label, "idle_w": idle, "mean_w": float(np.mean(p)),
                        "samples": int(len(p)), "energy_j": e,
                        "energy_per_unit_uj": e / units * 1e6,
                        f"energy_per_{unit_key}_uj": e / units * 1e6}
    return res


def add_meter_power(r: dict, t: np.ndarray, p: np.ndarray, idle_s: float) -> None:
    """Power and energy from an external meter's trace: the first ``idle_s`` seconds are idle."""
    idle_mask = t <= t[0] + idle_s
    loop = ~idle_mask
    idle = float(p[idle_mask].mean())
    e = energy_above_idle(t[loop], p[loop], idle)
    unit_key = r["unit"].replace(" ", "_")
    r["power"] = {"label": "measured (external meter CSV)", "idle_w": idle,
                  "mean_w": float(p[loop].mean()), "samples": int(loop.sum()), "energy_j": e,
                  "energy_per_unit_uj": e / r["units"] * 1e6,
                  f"energy_per_{unit_key}_uj": e / r["units"] * 1e6}


def _describe(r: dict) -> str:
    w = r["workload"]
    if r["unit"] == "call":
        return f"fwd {w['batch']}x{w['n_in']} -> {w['n_out']} at {w['bits']} bits"
    if r["unit"] == "training step":
        return (f"one training step of {w['model']} (batch {w['batch']}, {w['engine_calls']} "
                "engine calls at the run's final precisions)")
    return f"inference, {w['samples_per_call']} samples per call"


def bench_markdown(r: dict) -> str:
    u = r["unit"]
    rows = [(f"host latency per {u} (median)", f"{r['host_latency_us']['median']:.1f} us"),
            (f"host latency per {u} (p95)", f"{r['host_latency_us']['p95']:.1f} us")]
    if r["kernel_cycles"] is not None:
        rows += [(f"kernel cycles per {u} (on-chip counter)", str(r["kernel_cycles"])),
                 (f"kernel latency per {u}", f"{r['kernel_latency_us']:.1f} us")]
    rows.append(("throughput", f"{r['throughput_units_per_s']:.2f} {u}s/s" +
                 (f", {r['throughput_gmacs']:.3f} GMAC/s" if r["throughput_gmacs"] else "")))
    if r["power"]:
        rows += [("idle / loop power", f"{r['power']['idle_w']:.2f} / {r['power']['mean_w']:.2f} W"),
                 (f"energy per {u}", f"{r['power']['energy_per_unit_uj']:.1f} uJ")]
    head = (f"{r['label'].upper()}: {_describe(r)}, {r['iterations']} iterations on "
            f"{r['device']}\n\n| figure | {r['label']} |\n|---|---:|\n")
    return head + "".join(f"| {a} | {b} |\n" for a, b in rows)


def write_bench(r: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "bench.json", r)
    atomic_write_text(out / "bench.md", bench_markdown(r))


def open_inference(run_dir: Path, board: str, folder: Path, samples: int, device=None):
    """(workload, manifest, device) of the inference design in ``folder``, verified against the
    run's precision plan before anything is loaded."""
    import json
    from hostsw.board import device as board_device
    from hostsw.board.driver import DriverConfig, HlsKernel
    from hostsw.board.inference import PROJECT, TOP, network_io
    from hostsw.board.manifest import verify
    from hostsw.board.regmap import parse_hw_header
    from hostsw.export.plan import plan_hash
    run_dir, folder = Path(run_dir), Path(folder)
    if not (run_dir / "precision_plan.json").is_file():
        raise ConfigError(f"{run_dir} has no precision_plan.json: build its inference design "
                          f"first (`hostsw bitstream build --design inference --run {run_dir}`)")
    plan = json.loads((run_dir / "precision_plan.json").read_text())
    m = verify(folder, board, plan_sha256=plan_hash(plan), design="inference")
    io = network_io(folder / PROJECT)
    dev = device if device is not None else board_device.open_device(m["family"])
    dev.load(folder / m["bitstream"])
    e = m["kernels"][TOP]
    k = HlsKernel(dev, e["ip"], parse_hw_header(folder / e["regmap"]), DriverConfig(30.0))
    w = inference_workload(k, io.n_in, io.n_out, io.input_type.bits, samples, dev.name,
                           bool(getattr(dev, "is_mock", False)), inference_macs(run_dir))
    return w, m, dev


def inference_macs(run_dir: Path) -> int:
    """MACs of one inference of the run's model."""
    from hostsw.data import DATASETS
    from hostsw.models import build_model
    from hostsw.quant.layers import quant_layers
    from hostsw.runtime.attach import layer_geometries
    from hostsw.train.rundir import RunDir
    tc = RunDir(Path(run_dir)).load_config()
    info = DATASETS[tc.dataset]
    model = build_model(tc.model, info.input_shape, info.num_classes)
    layers = quant_layers(model)
    return sum(g.macs() for g in layer_geometries(model, layers, info.input_shape, 1).values())
