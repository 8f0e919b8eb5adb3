"""``hostsw estimate RUN_DIR``: what a run would cost on a board, without one.

Training (the hls/ MAC engine): cycles of every fwd / bwd-data / bwd-weight call from the kernel's
own cycle accounting (hls/include/hostsw_mac.h) for DENSE operands (the kernel skips zero
operands, so real counts are lower: an upper bound), at each step's precisions replayed from
precision.jsonl; DSPs per built tier; MAC energy from the ASIC model of hostsw.cost.energy.
Inference (hls4ml, io_parallel): per layer II / latency / DSP from hostsw.cost.hls_estimate.
A synthesis report, when given (``--reports DIR``), replaces the analytic figures: for the training
engine the ``hostsw_mac_t<T>_csynth.xml`` of a built training folder (our reader,
hostsw.board.reports); for inference the wrapper's ``hostsw_infer_csynth.xml`` of a built
inference folder (the same schema), else an hls4ml project's report through hls4ml's own
``parse_vivado_report``. Every figure is labelled ``estimate`` with its source; nothing here is
``measured`` (that is ``hostsw bench``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from hostsw.board.boards import board_spec
from hostsw.cost.energy import ENERGY_MODEL, mac_energy_pj
from hostsw.cost.hls_estimate import dsp_per_multiply, estimate_dense_hls
from hostsw.errors import ConfigError
from hostsw.runtime.spec import TIERS, EngineLimits, Geometry, Mode

LABEL = "estimate"


@dataclass
class EstimateConfig:
    board: str = "zcu104"
    clock_mhz: float | None = None
    #: hls4ml reuse factor of the inference estimate
    reuse_factor: int = 1
    #: bitstream folders (reports/*_csynth.xml) or hls4ml projects: synthesis figures
    reports: list = field(default_factory=list)

    def validate(self) -> "EstimateConfig":
        board_spec(self.board)
        if isinstance(self.reports, (str, Path)):
            self.reports = [self.reports]
        self.reports = [str(r) for r in (self.reports or [])]
        for r in self.reports:
            if not Path(r).is_dir():
                raise ConfigError(f"--reports {r}: no such folder (give a built bitstream folder "
                                  "or an hls4ml project that was synthesized)")
        if self.clock_mhz is not None and not 10 <= self.clock_mhz <= 800:
            raise ConfigError(f"--clock-mhz {self.clock_mhz}: use 10..800")
        if self.reuse_factor < 1:
            raise ConfigError(f"--reuse-factor {self.reuse_factor}: use 1 or more")
        return self


def _report_dirs(cfg: EstimateConfig) -> list[Path]:
    r = cfg.reports
    return [Path(r)] if isinstance(r, (str, Path)) else [Path(x) for x in (r or [])]


def _up(a: int, b: int) -> int:
    return (a + b - 1) // b


def _taps(n_in: int, n_out: int, k: int, pad: int, stride: int) -> int:
    """(output position, kernel tap) pairs whose input position is inside the image."""
    return sum(1 for kk in range(k) for o in range(n_out) if 0 <= o * stride - pad + kk < n_in)


def call_cycles(mode: Mode, g: Geometry, unroll: int, bias_grad: bool = True) -> int:
    """The engine's cycle counter for one call with no zero operands (hostsw_mac.h)."""
    nw = g.out_ch * g.fan_in
    taps = _taps(g.in_h, g.out_h, g.k_h, g.pad, g.stride) * \
        _taps(g.in_w, g.out_w, g.k_w, g.pad, g.stride)
    in_img, oimage = g.in_ch * g.in_h * g.in_w, g.out_ch * g.out_h * g.out_w
    pixels = g.batch * g.out_h * g.out_w
    if mode == Mode.FWD:
        if g.stride == 1:
            return nw + g.batch * (2 * oimage + in_img + g.in_ch * taps * _up(g.out_ch, unroll))
        return nw + pixels * (g.fan_in + g.out_ch * _up(g.fan_in, unroll))
    if mode == Mode.BWD_DATA:
        return nw + g.batch * (2 * in_img + oimage + g.out_ch * taps * _up(g.in_ch, unroll))
    return 2 * nw + pixels * (g.out_ch + g.fan_in + g.out_ch * _up(g.fan_in, unroll)) + \
        (g.out_ch if bias_grad else 0)


def engine_dsp(tiers, unroll: int) -> int:
    """DSP48s of the MAC arrays: ``unroll`` multipliers per tier of ap_int<T+1> operands; tier 32
    splits each operand into 17-bit halves (four products)."""
    per = {8: dsp_per_multiply(9, 9), 16: dsp_per_multiply(17, 17), 32: 4 * dsp_per_multiply(17, 17)}
    return sum(unroll * per[t] for t in tiers)


def _tier(bits: int | None) -> int:
    if bits is None:
        return TIERS[-1]  # float32 has no datapath on the engine: the 32-bit tier stands in
    return next(t for t in TIERS if bits <= t)


def precision_segments(rows: list[dict], layers: list[str]) -> list[tuple[int, dict]]:
    """(first step, {layer: {kind: bits}}) each time the precision log changes something."""
    state = {n: {} for n in layers}
    segs: list[tuple[int, dict]] = []
    for r in sorted(rows, key=lambda r: r.get("step", 0)):
        if r.get("layer") not in state:
            continue
        state[r["layer"]][r["kind"]] = r.get("bits")
        snap = {n: dict(s) for n, s in state.items()}
        if segs and segs[-1][0] == r.get("step", 0):
            segs[-1] = (segs[-1][0], snap)
        else:
            segs.append((r.get("step", 0), snap))
    return segs


def _step_cost(geoms: dict, bits: dict, first: str, unroll: int, f_hz: float) -> dict:
    cycles, energy, macs, layers = 0, 0.0, 0, {}
    for name, g in geoms.items():
        b = bits[name]
        a, w, e = b.get("act"), b.get("weight"), b.get("grad")
        ew = b.get("grad_w", e)
        calls = [(Mode.FWD, a, w)] + ([] if name == first else [(Mode.BWD_DATA, e, w)]) + \
            [(Mode.BWD_WEIGHT, ew, a)]
        lc, le = 0, 0.0
        for mode, x, y in calls:
            lc += call_cycles(mode, g, unroll)
            le += g.macs() * mac_energy_pj(x, y, g.fan_in)
            macs += g.macs()
        layers[name] = {"cycles": lc, "mac_energy_pj": le}
        cycles += lc
        energy += le
    return {"cycles": cycles, "seconds": cycles / f_hz, "mac_energy_pj": energy, "macs": macs,
            "layers": layers}


def estimate_training(run_dir: Path, cfg: EstimateConfig) -> dict:
    from hostsw.data import DATASETS
    from hostsw.io import read_jsonl
    from hostsw.models import build_model
    from hostsw.quant.layers import quant_layers
    from hostsw.runtime.attach import layer_geometries
    from hostsw.train.rundir import RunDir
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{run_dir} is not a hostsw run directory (no config.yaml)")
    if not (run_dir / "metrics.jsonl").is_file():
        raise ConfigError(f"{run_dir} has no metrics.jsonl: train (or resume) the run first")
    spec = board_spec(cfg.board)
    clock = cfg.clock_mhz or spec.clock_mhz
    f_hz = clock * 1e6
    tc = RunDir(run_dir).load_config()
    info = DATASETS[tc.dataset]
    model = build_model(tc.model, info.input_shape, info.num_classes)
    layers = quant_layers(model)
    geoms = layer_geometries(model, layers, info.input_shape, tc.batch_size)
    limits = EngineLimits()
    segs = precision_segments(read_jsonl(run_dir / "precision.jsonl"), list(layers))
    if not segs:
        raise ConfigError(f"{run_dir}/precision.jsonl is empty: nothing to estimate")
    metrics = [r for r in read_jsonl(run_dir / "metrics.jsonl") if "step" in r]
    first = next(iter(geoms))
    epochs, prev, tiers_used = [], 0, set()
    cache: dict = {}
    for m in metrics:
        lo, hi = prev, int(m["step"])
        prev = hi
        tot = {"cycles": 0, "seconds": 0.0, "mac_energy_pj": 0.0, "macs": 0}
        per_layer = {n: {"cycles": 0, "mac_energy_pj": 0.0} for n in geoms}
        for i, (s0, bits) in enumerate(segs):
            s1 = segs[i + 1][0] if i + 1 < len(segs) else hi
            n = max(0, min(s1, hi) - max(s0, lo))
            if not n:
                continue
            key = i
            if key not in cache:
                cache[key] = _step_cost(geoms, bits, first, limits.unroll, f_hz)
                tiers_used |= {_tier(v) for b in bits.values() for v in b.values()}
            for k in tot:
                tot[k] += n * cache[key][k]
            for name, v in cache[key]["layers"].items():
                for k in v:
                    per_layer[name][k] += n * v[k]
        epochs.append({"epoch": int(m["epoch"]), "steps": hi - lo, **tot, "layers": per_layer,
                       "mac_energy_j": tot["mac_energy_pj"] * 1e-12,
                       "gops": 2 * tot["macs"] / tot["seconds"] / 1e9 if tot["seconds"] else None})
    tiers = sorted(tiers_used) or [TIERS[0]]
    res = {"label": LABEL, "design": "training", "board": spec.name, "clock_mhz": clock,
           "run_dir": str(run_dir), "model": tc.model, "dataset": tc.dataset,
           "batch_size": tc.batch_size, "unroll": limits.unroll, "tiers": tiers,
           "source": "analytic: the kernel's cycle accounting for dense operands (an upper "
                     "bound: zero operands are skipped on chip); one call at a time",
           "energy_model": ENERGY_MODEL + " (MAC energy only, for ratios; not FPGA board power)",
           "dsp": engine_dsp(tiers, limits.unroll), "dsp_source": "analytic",
           "epochs": epochs,
           "run": {k: sum(e[k] for e in epochs) for k in ("cycles", "seconds", "mac_energy_j",
                                                           "macs", "steps")}}
    for folder in _report_dirs(cfg):
        syn = training_synthesis(folder, tiers)
        if syn is not None:
            res["synthesis"] = syn
            res["dsp"] = sum(r["dsp"] for r in syn.values())
            res["dsp_source"] = "synthesis report (csynth.xml)"
            break
    return res


def _tier_report(folder: Path, t: int) -> Path | None:
    cands = [folder / "reports" / f"hostsw_mac_t{t}_csynth.xml",
             folder / f"prj_hostsw_mac_t{t}" / "sol" / "syn" / "report" / f"hostsw_mac_t{t}_csynth.xml"]
    return next((c for c in cands if c.is_file()), None)


def training_synthesis(folder: Path, tiers) -> dict | None:
    """Per tier the figures of the engine's csynth.xml in a built training folder; None when the
    folder has no engine report at all (it may hold the inference design's)."""
    from hostsw.board.reports import parse_csynth_xml, synthesis_figures
    found = {t: _tier_report(folder, t) for t in TIERS}
    if not any(found.values()):
        return None
    out = {}
    for t in tiers:
        if found[t] is None:
            have = [u for u, p in found.items() if p is not None]
            raise ConfigError(f"{folder} has synthesis reports for tiers {have} but the run needs "
                              f"tier {t}: build a folder with it (`hostsw bitstream build --design "
                              "training --run RUN_DIR`) or drop --reports")
        out[f"t{t}"] = {"label": LABEL, **synthesis_figures(parse_csynth_xml(found[t]))}
    return out


def _hls4ml_project(folder: Path) -> Path | None:
    """An hls4ml project (project.tcl) at ``folder`` or ``folder/hls`` (an inference bitstream
    folder) whose synthesis left a ``<name>_prj/<solution>/syn/report/<name>_csynth.xml``."""
    for prj in (folder, folder / "hls"):
        tcl = prj / "project.tcl"
        if not tcl.is_file():
            continue
        m = re.search(r'set project_name "([^"]+)"', tcl.read_text())
        if m and list((prj / f"{m.group(1)}_prj").glob(f"*/syn/report/{m.group(1)}_csynth.xml")):
            return prj
    return None


def inference_synthesis(folder: Path, run_dir: Path | None = None) -> dict | None:
    """Synthesis figures of the inference design in ``folder``; None when it has none.

    A built inference folder's ``reports/hostsw_infer_csynth.xml`` (the whole IP: wrapper and
    network) is read with our csynth.xml reader; otherwise an hls4ml project's report with
    hls4ml's ``parse_vivado_report``. A folder built from another precision plan than the run's
    is refused (its figures belong to another network)."""
    import contextlib
    import io
    import json
    from hostsw.board.reports import parse_csynth_xml, synthesis_figures
    from hostsw.board.inference import TOP
    folder = Path(folder)
    man = folder / "manifest.json"
    if run_dir is not None and man.is_file() and (Path(run_dir) / "precision_plan.json").is_file():
        from hostsw.export.plan import plan_hash
        built = json.loads(man.read_text()).get("precision_plan_sha256")
        ours = plan_hash(json.loads((Path(run_dir) / "precision_plan.json").read_text()))
        if built and built != ours:
            raise ConfigError(f"{folder} was built from another precision plan than {run_dir} "
                              f"({built[:12]} vs {ours[:12]}): its synthesis figures are of "
                              "another network; rebuild it with `hostsw bitstream build --design "
                              "inference --run RUN_DIR --force`")
    wrapper = folder / "reports" / f"{TOP}_csynth.xml"
    if wrapper.is_file():
        return {"label": LABEL, "reader": "hostsw csynth.xml reader",
                "report": str(wrapper), **synthesis_figures(parse_csynth_xml(wrapper))}
    prj = _hls4ml_project(folder)
    if prj is None:
        return None
    from hls4ml.report import parse_vivado_report
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # it prints what it finds
            rep = parse_vivado_report(str(prj))
    except Exception as e:  # a project it cannot read: one line, not its traceback
        raise ConfigError(f"hls4ml's parse_vivado_report cannot read {prj} ({type(e).__name__}: "
                          f"{e}): rerun its synthesis (vitis_hls -f build_prj.tcl)") from None
    if not rep or "CSynthesisReport" not in rep:
        return None
    return {"label": LABEL, "reader": "hls4ml parse_vivado_report", "report": str(prj),
            **synthesis_figures(rep["CSynthesisReport"])}


def estimate_inference(run_dir: Path, cfg: EstimateConfig) -> dict:
    """hls4ml io_parallel layers at the run's final precisions, one sample."""
    from hostsw.data import DATASETS
    from hostsw.io import read_jsonl
    from hostsw.models import build_model
    from hostsw.quant.layers import quant_layers
    from hostsw.runtime.attach import layer_geometries
    from hostsw.train.rundir import RunDir
    spec = board_spec(cfg.board)
    clock = cfg.clock_mhz or spec.clock_mhz
    tc = RunDir(Path(run_dir)).load_config()
    info = DATASETS[tc.dataset]
    model = build_model(tc.model, info.input_shape, info.num_classes)
    layers = quant_layers(model)
    geoms = layer_geometries(model, layers, info.input_shape, 1)
    segs = precision_segments(read_jsonl(Path(run_dir) / "precision.jsonl"), list(layers))
    final = segs[-1][1] if segs else {n: {} for n in layers}
    rows, total_cycles, energy = [], 0, 0.0
    for name, g in geoms.items():
        a, w = final[name].get("act") or 32, final[name].get("weight") or 32
        rf = min(cfg.reuse_factor, g.fan_in * g.out_ch)
        e = estimate_dense_hls(g.fan_in, g.out_ch, w, a, rf, 1000.0 / clock)
        pixels = g.out_h * g.out_w
        cycles = e["latency_cycles"] + (pixels - 1) * e["ii_cycles"]
        lut = 0 if e["dsp"] else e["multipliers"] * a * w
        pj = g.macs() * mac_energy_pj(final[name].get("act"), final[name].get("weight"), g.fan_in)
        rows.append({"layer": name, "label": LABEL, "act_bits": a, "weight_bits": w,
                     "reuse_factor": rf, "ii_cycles": e["ii_cycles"], "latency_cycles": cycles,
                     "multipliers": e["multipliers"], "dsp": e["dsp"], "lut_mult": lut,
                     "mac_energy_pj": pj})
        total_cycles += cycles
        energy += pj
    res = {"label": LABEL, "design": "inference", "board": spec.name, "clock_mhz": clock,
           "source": "analytic: hls4ml io_parallel sizing rules (a conv layer as its dense "
                     "kernel once per output pixel); LUT multipliers ~ a_bits*w_bits LUTs",
           "layers": rows, "latency_cycles": total_cycles,
           "latency_us": total_cycles / clock, "dsp": sum(r["dsp"] for r in rows),
           "latency_source": "analytic", "dsp_source": "analytic",
           "mac_energy_pj_per_inference": energy, "energy_model": ENERGY_MODEL}
    for folder in _report_dirs(cfg):
        syn = inference_synthesis(folder, Path(run_dir))
        if syn is None:
            continue
        res["synthesis"] = syn
        src = f"synthesis report ({syn['reader']})"
        if syn["latency_cycles_worst"] is not None:
            res["latency_cycles"] = syn["latency_cycles_worst"]
            res["latency_us"] = syn["latency_cycles_worst"] / clock
            res["latency_source"] = src
        if syn["dsp"] is not None:
            res["dsp"], res["dsp_source"] = syn["dsp"], src
        break
    return res


def check_reports_used(cfg: EstimateConfig, training: dict) -> None:
    """Every --reports folder holds a synthesis report of one of the two designs."""
    for f in _report_dirs(cfg):
        folder = f
        if training_synthesis(f, training["tiers"]) is None and inference_synthesis(f) is None:
            raise ConfigError(f"--reports {folder}: no synthesis report there (no "
                              "reports/hostsw_mac_t<T>_csynth.xml, reports/hostsw_infer_csynth.xml "
                              "or synthesized hls4ml project): run `make ip` in the bitstream "
                              "folder, or drop --reports")


def format_estimate(t: dict, i: dict) -> str:
    lines = [f"ESTIMATE (analytic, not measured) for {t['board']} at {t['clock_mhz']:g} MHz: "
             f"{t['model']} / {t['dataset']}, batch {t['batch_size']}",
             f"training engine: tiers {t['tiers']}, {t['unroll']} MACs/cycle per tier, "
             f"{t['dsp']} DSP ({t['dsp_source']})",
             "  epoch  steps   est. s/epoch  est. GOPS  est. MAC energy J"]
    for e in t["epochs"]:
        lines.append(f"  {e['epoch']:5d}  {e['steps']:5d}  {e['seconds']:13.4g}  "
                     f"{e['gops'] or 0:9.2f}  {e['mac_energy_j']:17.4g}")
    r = t["run"]
    lines.append(f"  run: est. {r['seconds']:.4g} s, est. MAC energy {r['mac_energy_j']:.4g} J "
                 f"({t['energy_model']})")
    lines.append(f"inference (hls4ml io_parallel): est. latency {i['latency_cycles']} cycles "
                 f"({i['latency_us']:.2f} us, {i['latency_source']}), est. {i['dsp']} DSP "
                 f"({i['dsp_source']}), est. MAC energy "
                 f"{i['mac_energy_pj_per_inference'] / 1e3:.2f} nJ per inference")
    return "\n".join(lines)
