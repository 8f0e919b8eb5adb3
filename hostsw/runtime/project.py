"""``hostsw hls RUN_DIR --training --out DIR``: the training-kernel project of a run.

It sits next to the hls4ml inference project: the engine's sources (kernel headers, the CONFIG_T
structs sized from the model, the top function of every tier the run's precision log needs), the
C++ test bench with vectors the exact reference wrote for each layer, a Vitis HLS tcl script
(csim, csynth and IP export per tier) and a manifest. Written into a temporary folder beside
``out`` and renamed into place: a failure leaves nothing behind.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from hostsw.errors import ConfigError, OutputError
from hostsw.io import atomic_write_json, atomic_write_text, read_jsonl
from hostsw.runtime.engine_source import (KERNEL_HEADERS, hls_include_dir, render_config,
                                          render_top, render_top_header, top_name)
from hostsw.runtime.spec import TIERS, EngineLimits

TB_SOURCE = Path(__file__).resolve().parents[2] / "hls" / "tests" / "mac_engine_tb.cpp"


@dataclass
class TrainingProjectConfig:
    """What the training-kernel project is built for."""

    #: FPGA part for Vitis HLS (default: ZCU104's Zynq UltraScale+)
    part: str = "xczu7ev-ffvc1156-2-e"
    clock_ns: float = 5.0
    #: batch of the test-bench vectors (small: the bench runs in C simulation)
    vector_batch: int = 2

    def validate(self) -> "TrainingProjectConfig":
        if not self.clock_ns > 0:
            raise ConfigError(f"clock_ns={self.clock_ns} must be > 0")
        if self.vector_batch < 1:
            raise ConfigError(f"vector_batch={self.vector_batch} must be >= 1")
        return self


def tiers_needed(rows: list[dict], layers: list[str]) -> list[int]:
    """The tiers every (layer, phase) needs over the precision log (replayed row by row)."""
    state = {name: {} for name in layers}
    need = set()
    for r in rows:
        if r.get("layer") not in state or r.get("bits") is None:
            continue
        state[r["layer"]][r["kind"]] = r["bits"]
        s = state[r["layer"]]
        if {"act", "weight", "grad"} <= set(s):
            e_w = s.get("grad_w", s["grad"])
            for a, b in ((s["act"], s["weight"]), (s["grad"], s["weight"]), (e_w, s["act"])):
                need.add(next(t for t in TIERS if max(a, b) <= t))
    return sorted(need) or [TIERS[0]]


def _tcl(cfg: TrainingProjectConfig, tiers: list[int]) -> str:
    lines = ["# Vitis HLS: C simulation, synthesis and IP export of the training MAC engine, one IP",
             "# per datapath tier. Run: vitis_hls -f build.tcl   (HOSTSW_STEPS=csim to stop there)",
             "set steps [expr {[info exists ::env(HOSTSW_STEPS)] ? $::env(HOSTSW_STEPS) : "
             "\"csim csynth export\"}]",
             f"set part {cfg.part}", f"set clock {cfg.clock_ns}",
             f"foreach tier {{{' '.join(map(str, tiers))}}} {{",
             "  open_project -reset prj_t$tier",
             "  set_top hostsw_mac_t$tier",
             '  add_files src/hostsw_mac_top.cpp -cflags "-std=c++14 -Isrc"',
             '  add_files -tb tb/mac_engine_tb.cpp -cflags "-std=c++14 -Isrc"',
             "  open_solution -reset sol -flow_target vivado",
             "  set_part $part",
             "  create_clock -period $clock",
             "  set vectors [glob -nocomplain [file normalize tb/vectors]/*_t${tier}_*.txt]",
             "  if {[lsearch $steps csim] >= 0} { csim_design -argv [join $vectors \" \"] }",
             "  if {[lsearch $steps csynth] >= 0} { csynth_design }",
             "  if {[lsearch $steps cosim] >= 0} { cosim_design -argv [join $vectors \" \"] }",
             "  if {[lsearch $steps export] >= 0} { export_design -format ip_catalog }",
             "  close_project",
             "}", "exit", ""]
    return "\n".join(lines)


def write_training_project(run_dir: Path, out: Path, cfg: TrainingProjectConfig | None = None,
                           limits: EngineLimits | None = None) -> dict:
    """Write the project; returns its manifest (also DIR/training_kernels.json)."""
    from hostsw.data import DATASETS
    from hostsw.models import build_model
    from hostsw.quant.layers import quant_layers
    from hostsw.runtime.attach import check_model, layer_geometries
    from hostsw.runtime.reference import ReferenceBackend
    from hostsw.runtime.vectors import RecordingBackend, sample_calls, write_vectors
    from hostsw.train.rundir import RunDir

    cfg = (cfg or TrainingProjectConfig()).validate()
    run_dir, out = Path(run_dir), Path(out)
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{run_dir} is not a hostsw run directory (no config.yaml)")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputError(f"{out} exists and is not an empty folder: choose a new --out")
    train_cfg = RunDir(run_dir).load_config()
    info = DATASETS[train_cfg.dataset]
    model = build_model(train_cfg.model, info.input_shape, info.num_classes)
    check_model(model, "training-kernel")
    layers = quant_layers(model)
    geoms = layer_geometries(model, layers, info.input_shape, train_cfg.batch_size)
    limits = limits or EngineLimits()
    for name, g in geoms.items():
        limits.check(name, g)
    rows = read_jsonl(run_dir / "precision.jsonl") if (run_dir / "precision.jsonl").is_file() \
        else []
    tiers = tiers_needed(rows, list(layers))
    limits = replace(limits, tiers=tuple(tiers))
    # the last precision of each layer: the vectors exercise the datapath the run ended on
    final = {n: {"act": 8, "weight": 8, "grad": 8} for n in layers}
    for r in rows:
        if r.get("layer") in final and r.get("bits") is not None and r["kind"] in final[r["layer"]]:
            final[r["layer"]][r["kind"]] = r["bits"]
    widest = tiers[-1]
    precisions = {n: tuple(min(p[k], widest) for k in ("act", "weight", "grad"))
                  for n, p in final.items()}

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        src, tb = tmp / "src", tmp / "tb"
        src.mkdir()
        tb.mkdir()
        inc = hls_include_dir()
        for h in KERNEL_HEADERS:
            shutil.copy2(inc / h, src / h)
        atomic_write_text(src / "hostsw_mac_config.h", render_config(limits))
        atomic_write_text(src / "hostsw_mac_top.h", render_top_header(limits))
        atomic_write_text(src / "hostsw_mac_top.cpp", render_top(limits))
        shutil.copy2(TB_SOURCE, tb / TB_SOURCE.name)
        rec = RecordingBackend(ReferenceBackend(limits))
        sample_calls(rec, geoms, precisions, seed=train_cfg.seed, batch=cfg.vector_batch)
        for t in tiers:  # every tier at its edge width
            sample_calls(rec, geoms, {n: (t, t, t) for n in geoms}, seed=train_cfg.seed + t,
                         batch=cfg.vector_batch)
        vectors = write_vectors(rec.records, tb / "vectors")
        atomic_write_text(tmp / "build.tcl", _tcl(cfg, tiers))
        manifest = {
            "kind": "hostsw-training-kernels",
            "run_dir": str(run_dir.resolve()),
            "organisation": "one tiled MAC engine per datapath tier with a mode register "
                            "(0 fwd, 1 bwd-data, 2 bwd-weight), runtime dimensions and runtime "
                            "precision (see hls/include/hostsw_mac.h)",
            "tiers": tiers, "tops": [top_name(t) for t in tiers],
            "limits": asdict(limits),
            "layers": {n: {**asdict(g), "final_bits": dict(final[n])} for n, g in geoms.items()},
            "vectors": [str(p.relative_to(tmp)) for p in vectors],
            "part": cfg.part, "clock_ns": cfg.clock_ns,
        }
        atomic_write_json(tmp / "training_kernels.json", manifest)
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    manifest["project"] = str(out)
    return manifest
