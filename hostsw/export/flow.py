"""The chained stages behind ``hostsw export / hls / csim``: run dir -> QONNX -> project -> C sim.

Each stage reuses its predecessor's artifact when it is up to date: a run's ``model.qonnx.onnx``
is re-exported when the checkpoint is newer; a C-simulation project is generated once per (ONNX
content, HlsConfig) under the cache folder, and compiled once per firmware content hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import hostsw
from hostsw.errors import ConfigError, OutputError
from hostsw.export import preflight
from hostsw.export.config import CsimConfig, ExportConfig, HlsConfig, save_config
from hostsw.export.convert import (Analysis, analyze, build_project, read_project_info)
from hostsw.export.csim import CsimModel, compile_project, default_cache_dir
from hostsw.export.graph import needs_channels_last, to_channels_last
from hostsw.export.qonnx_export import MODEL_FILE, export_run, load_run_model
from hostsw.export.reference import ExactReference
from hostsw.io import atomic_write_json

CSIM_FILE = "csim.json"


def ensure_export(run_dir: Path, cfg: ExportConfig | None = None) -> Path:
    """The run's QONNX model, exported (again) when missing or older than the checkpoint."""
    run_dir = Path(run_dir)
    onnx_path = run_dir / MODEL_FILE
    ck = run_dir / "checkpoint.pt"
    if onnx_path.is_file() and ck.is_file() and onnx_path.stat().st_mtime >= ck.stat().st_mtime:
        return onnx_path
    export_run(run_dir, None, cfg)
    return onnx_path


def _hls_version() -> str:
    try:
        import hls4ml
        return hls4ml.__version__
    except Exception:
        return "?"


def _generator_digest() -> bytes:
    """The code that generates projects: a change in it must not reuse an old project."""
    h = hashlib.sha256(f"{hostsw.__version__} {_hls_version()}".encode())
    for p in sorted(Path(__file__).parent.glob("*.py")):
        h.update(p.read_bytes())
    h.update((Path(__file__).parents[1] / "fixedpoint.py").read_bytes())
    return h.digest()


def cached_project(onnx_path: Path, hls_cfg: HlsConfig, cache_dir: Path | None = None) -> Path:
    """An hls4ml project for ``onnx_path`` generated under the cache (once per content)."""
    h = hashlib.sha256(Path(onnx_path).read_bytes())
    h.update(json.dumps(dataclasses.asdict(hls_cfg), sort_keys=True).encode())
    h.update(_generator_digest())
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    project = cache / "projects" / h.hexdigest()[:24]
    if not (project / "firmware").is_dir():
        build_project(onnx_path, project, hls_cfg)
    return project


def load_inputs(path: Path, an: Analysis, x: np.ndarray | None = None) -> np.ndarray:
    """``--inputs`` as float64 (N, C, H, W); ``x``: the array already read by the preflight."""
    x = preflight.npy_array("--inputs", path) if x is None else x
    want = tuple(an.canon.input_shape[1:])
    if x.ndim == len(want):
        x = x[None]
    if x.ndim != len(want) + 1 or tuple(x.shape[1:]) != want:
        raise ConfigError(f"--inputs has shape {tuple(x.shape)}; the model takes (N, "
                          f"{', '.join(map(str, want))}) (NCHW float)")
    return x.astype(np.float64)


def random_inputs(an: Analysis, n: int, seed: int = 0) -> np.ndarray:
    """Inputs spanning the input quantizer's range (plus a margin that exercises saturation)."""
    q = an.types.input_quant
    lo, hi = q.k_min * 2.0 ** -q.frac, q.k_max * 2.0 ** -q.frac
    span = hi - lo
    rng = np.random.default_rng(seed)
    return rng.uniform(lo - 0.1 * span, hi + 0.1 * span, (n,) + tuple(an.canon.input_shape[1:]))


def _atomic_npy(path: Path, arr: np.ndarray) -> None:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, arr)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def software_outputs(run_dir: Path, x: np.ndarray) -> np.ndarray:
    """The trained PyTorch model (float32, eval), as the run evaluates its accuracy."""
    run = load_run_model(run_dir)
    ys = []
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            ys.append(run.model(torch.from_numpy(x[i:i + 1000]).float()).numpy())
    return np.concatenate(ys) if ys else np.zeros((0,))


def run_csim(run_dir: Path | None = None, onnx_path: Path | None = None,
             inputs: Path | None = None, outputs: Path | None = None,
             report: Path | None = None, project: Path | None = None,
             cfg: CsimConfig | None = None, hls_cfg: HlsConfig | None = None,
             log=lambda s: None) -> dict:
    """The ``csim`` stage; returns (and writes) the csim.json content."""
    cfg = (cfg or CsimConfig()).validate()
    hls_cfg = (hls_cfg or HlsConfig()).validate()
    if (run_dir is None) == (onnx_path is None):
        raise ConfigError("give a RUN_DIR or --onnx FILE (one of them)")
    t_start = time.perf_counter()
    labels = None
    # every path is checked before the export, the compile and the simulation
    if run_dir is not None:
        run_dir = preflight.run_dir(run_dir)
        preflight.run_exportable(run_dir, "csim")
    else:
        onnx_path = preflight.input_file("--onnx", onnx_path, ".onnx")
    x_in = preflight.npy_array("--inputs", inputs) if inputs is not None else None
    if outputs is not None:
        preflight.output_file("--outputs", outputs, ".npy")
    if report is not None:
        report = preflight.output_file("--report", report, ".json")
    else:
        report = run_dir / CSIM_FILE if run_dir else Path(onnx_path).parent / CSIM_FILE
        preflight.writable_folder(report.parent, "give --report FILE.json in a writable folder")
    if project is not None:
        read_project_info(project)
    if run_dir is not None:
        onnx_path = ensure_export(run_dir)
    an = analyze(Path(onnx_path))
    if inputs is not None:
        x = load_inputs(inputs, an, x_in)
        if cfg.samples is not None:
            x = x[:cfg.samples]
    elif run_dir is not None:
        from hostsw.data import load_dataset
        run = load_run_model(run_dir)
        _, test = load_dataset(run.config.dataset, root=run.config.data_dir)
        n = len(test) if cfg.samples is None else min(cfg.samples, len(test))
        x = test.x[:n].numpy().astype(np.float64)
        labels = test.y[:n].numpy()
    else:
        x = random_inputs(an, cfg.samples or 1000)
    if project is not None:
        info = read_project_info(project)
        digest = hashlib.sha256(Path(onnx_path).read_bytes()).hexdigest()
        if info.get("onnx_sha256") != digest:
            raise ConfigError(f"project {project} was generated from another model "
                              f"({info.get('onnx')}): regenerate it with `hostsw hls` or drop "
                              "--project")
        project_name = info.get("project_name", "myproject")
        hls_used = {k: info.get(k) for k in ("backend", "io_type", "reuse_factor", "strategy")}
    else:
        log("generating the hls4ml project (cached by content) ...")
        project = cached_project(Path(onnx_path), hls_cfg, cfg.cache_dir and Path(cfg.cache_dir))
        project_name = hls_cfg.project_name
        hls_used = {k: getattr(hls_cfg, k) for k in ("backend", "io_type", "reuse_factor",
                                                      "strategy")}
    log(f"building the C simulation of {project} (reused when its content hash is cached) ...")
    cache = Path(cfg.cache_dir) if cfg.cache_dir else None
    compiled = compile_project(Path(project), project_name, cfg.opt_flag, cache,
                               exact_ap_types=cfg.exact_ap_types or None)
    log(f"  {'reused the cached build' if compiled.cached else 'compiled'} "
        f"({Path(compiled.compiler).name}"
        + ("" if compiled.cached else f", {compiled.compile_s:.1f} s") + ")")
    n_in = int(np.prod(an.canon.input_shape[1:]))
    out_shape = tuple(an.canon.output_shape[1:])
    model = CsimModel(compiled.library, n_in, int(np.prod(out_shape)))
    log(f"simulating {len(x)} samples ...")
    t0 = time.perf_counter()
    y = model.predict(to_channels_last(x, needs_channels_last(an.canon.model)), jobs=cfg.jobs)
    sim_s = time.perf_counter() - t0
    ref = ExactReference(an.canon, an.types).run(x).reshape(len(x), -1)
    exact = np.all(y == ref, axis=1)
    result = {
        "samples": int(len(x)),
        "exact_match_rate": float(exact.mean()) if len(x) else None,
        "max_abs_diff": float(np.abs(y - ref).max()) if len(x) else None,
        "argmax_agreement": None,
        "csim_accuracy": None,
        "software_accuracy": None,
        "compile_s": round(compiled.compile_s, 3),
        "compile_cached": compiled.cached,
        "compiler": f"{Path(compiled.compiler).name} {' '.join(compiled.flags)}",
        "ap_types": compiled.ap_types,
        "samples_per_s": round(len(x) / sim_s, 1) if sim_s > 0 else None,
        "sim_s": round(sim_s, 3),
        "jobs": model.last_jobs,
        "reference": "exact integer arithmetic on the exported graph (float64 while exact, "
                     "else int64 / Python integers)",
        "argmax_reference": "software model (PyTorch float32)" if run_dir else "exact reference",
        "onnx": str(Path(onnx_path).resolve()),
        "project": str(Path(project).resolve()),
        "library": str(compiled.library),
        **{f"hls_{k}": v for k, v in hls_used.items()},
    }
    if run_dir is not None:
        sw = software_outputs(run_dir, x).reshape(len(x), -1)
        result["argmax_agreement"] = float(np.mean(sw.argmax(1) == y.argmax(1)))
        result["software_exact_match_rate"] = float(np.mean(np.all(sw == y, axis=1)))
        if labels is not None:
            result["csim_accuracy"] = float(np.mean(y.argmax(1) == labels))
            result["software_accuracy"] = float(np.mean(sw.argmax(1) == labels))
    elif len(x):
        result["argmax_agreement"] = float(np.mean(ref.argmax(1) == y.argmax(1)))
    if outputs is not None:
        _atomic_npy(Path(outputs), y.reshape((len(x),) + out_shape))
        result["outputs"] = str(outputs)
    result["wall_s"] = round(time.perf_counter() - t_start, 3)
    try:
        report.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(report, result)
        save_config(cfg, report.with_name(report.stem + "_config.json"), **{
            f"hls_{k}": v for k, v in dataclasses.asdict(hls_cfg).items()})
    except OSError as e:
        raise OutputError(f"cannot write {report}: {e.strerror or e}") from None
    result["report"] = str(report)
    return result
