"""``hostsw deploy RUN_DIR --board B``: the run's network on the board, checked bit for bit
against its C simulation on the same test images.

The bitstream folder's manifest is verified first (board, design, every sha256, and the run's
precision-plan hash: a folder built from an older export is stale). Inputs are cast onto the
network's ``input_t`` (hostsw.fixedpoint, the ap_fixed semantics) and travel as integers; results
come back as the integers of ``result_t``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from hostsw.errors import ConfigError


def deploy(run_dir: Path, board: str, folder: Path, device=None, samples: int = 256,
           timeout_s: float = 30.0) -> dict:
    from hostsw.board import device as board_device
    from hostsw.board.driver import DriverConfig, HlsKernel
    from hostsw.board.inference import PROJECT, TOP, network_io
    from hostsw.board.manifest import verify
    from hostsw.board.regmap import parse_hw_header
    from hostsw.export.csim import CsimModel, compile_project
    from hostsw.export.flow import ensure_export
    from hostsw.export.graph import needs_channels_last, to_channels_last
    from hostsw.export.convert import analyze
    from hostsw.export.plan import plan_hash
    from hostsw.fixedpoint import quantize
    from hostsw.io import atomic_write_json
    from hostsw.train.rundir import RunDir
    run_dir, folder = Path(run_dir), Path(folder)
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{run_dir} is not a hostsw run directory (no config.yaml)")
    if samples < 1:
        raise ConfigError(f"--samples {samples}: use 1 or more")
    onnx = ensure_export(run_dir)
    plan = json.loads((run_dir / "precision_plan.json").read_text())
    m = verify(folder, board, plan_sha256=plan_hash(plan), design="inference")
    from hostsw.data import load_dataset
    cfg = RunDir(run_dir).load_config()
    _, test = load_dataset(cfg.dataset, root=cfg.data_dir)
    n = min(samples, len(test))
    an = analyze(onnx)
    x = to_channels_last(test.x[:n].numpy().astype(np.float64),
                         needs_channels_last(an.canon.model)).reshape(n, -1)
    io = network_io(folder / PROJECT)
    fi, fo = io.input_type, io.result_type
    xq = quantize(x, fi.bits, fi.frac, fi.signed, "nearest", "saturate")
    k_in = np.rint(xq * 2.0 ** fi.frac).astype(np.int32)
    # C simulation of the same project on the same (already representable) inputs
    compiled = compile_project(folder / PROJECT, "myproject")
    y_sim = CsimModel(compiled.library, io.n_in, io.n_out).predict(xq)
    dev = device if device is not None else board_device.open_device(m["family"])
    dev.load(folder / m["bitstream"])
    e = m["kernels"][TOP]
    k = HlsKernel(dev, e["ip"], parse_hw_header(folder / e["regmap"]), DriverConfig(timeout_s))
    t0 = time.perf_counter_ns()
    outs, ret = k.run({"n": n}, {"x": k_in}, {"y": ((n, io.n_out), np.int64)})
    host_ns = time.perf_counter_ns() - t0
    y_board = outs["y"].astype(np.float64) * 2.0 ** -fo.frac
    exact = np.all(y_board == y_sim, axis=1)
    mock = bool(getattr(dev, "is_mock", False))
    res = {"label": "mock" if mock else "measured", "device": dev.name, "board": m["board"],
           "samples": n, "bit_exact_rate": float(exact.mean()),
           "max_abs_diff": float(np.abs(y_board - y_sim).max()),
           "argmax_agreement": float(np.mean(y_board.argmax(1) == y_sim.argmax(1))),
           "accuracy_board": float(np.mean(y_board.argmax(1) == test.y[:n].numpy())),
           "host_latency_us_per_sample": host_ns / n / 1e3, "kernel_returned": int(ret),
           "bitstream": str(folder), "precision_plan_sha256": m["precision_plan_sha256"]}
    atomic_write_json(run_dir / "deploy.json", res)
    dev.close()
    return res
