"""QONNX -> hls4ml project: the stage ``hls(onnx, HlsConfig) -> project dir``.

Steps (shared/specs/toolchain.md, "what makes it bit-exact"):

1. validate and canonicalize the graph (qonnx clean-up, Gemm -> MatMul, exact constants);
2. infer the exact type of every tensor (``hostsw.export.types``);
3. channels-last for conv nets (the NCHW flatten transpose folded into the next Dense);
4. derive the hls4ml configuration from those types -- input precision = the first Quant node's
   type, exact accumulators and exact intermediate types everywhere, nothing left to hls4ml's 16-bit
   default -- and convert;
5. read back every type hls4ml assigned and refuse to write a project where one differs;
6. write the project (hls4ml's ``build_prj.tcl`` and friends) into a temporary folder, then rename.
"""

from __future__ import annotations

import json
import os
import warnings
import shutil
from dataclasses import dataclass
from pathlib import Path

from hostsw.errors import OutputError, ToolchainError, UnsupportedModelError
from hostsw.export.config import HlsConfig, save_config
from hostsw.export.graph import (Canonical, canonicalize, channels_last, load_qonnx,
                                 needs_channels_last, quiet)
from hostsw.export.types import GraphTypes, infer_types
from hostsw.export.validate import validate_raw
from hostsw.fixedpoint import FixedPoint

HLS_CONFIG_FILE = "hostsw_hls_config.json"
PRECISION_FILE = "hostsw_precision.json"
CANONICAL_FILE = "model.canonical.onnx"


@dataclass
class Analysis:
    """A validated, canonical, typed QONNX model."""

    source: Path
    canon: Canonical
    types: GraphTypes


def analyze(onnx_path: Path) -> Analysis:
    model = load_qonnx(onnx_path)
    validate_raw(model)
    canon = canonicalize(model)
    return Analysis(Path(onnx_path), canon, infer_types(canon))


def hls4ml_config(an: Analysis, graph, cfg: HlsConfig) -> dict:
    """The hls4ml configuration, every precision explicit (keys are ONNX node names)."""
    import hls4ml
    with quiet():
        hc = hls4ml.utils.config_from_onnx_model(graph, granularity="name", backend=cfg.backend,
                                                 default_reuse_factor=cfg.reuse_factor)
    hc["Model"]["ReuseFactor"] = cfg.reuse_factor
    hc["Model"]["Strategy"] = cfg.resolved_strategy
    layers = hc.setdefault("LayerName", {})
    layers.setdefault("global_in", {}).setdefault("Precision", {})["result"] = \
        an.types.input_quant.hls4ml_type()
    for node, precision in an.types.hls_precision.items():
        entry = layers.setdefault(node, {})
        entry.setdefault("Precision", {})
        if not isinstance(entry["Precision"], dict):
            entry["Precision"] = {}
        entry["Precision"].update(precision)
        entry["ReuseFactor"] = cfg.reuse_factor
        entry["Strategy"] = cfg.resolved_strategy
    return hc


def _same(p, fp: FixedPoint) -> bool:
    try:
        return (int(p.width), int(p.integer), bool(p.signed)) == (fp.bits, fp.int_bits, fp.signed)
    except (AttributeError, TypeError):  # not a fixed-point precision (unspecified, float, ...)
        return False


def _fp(p) -> FixedPoint | None:
    try:
        return FixedPoint.wide_type(int(p.width), int(p.width) - int(p.integer), bool(p.signed))
    except Exception:
        return None


def _hls_fixed(fp: FixedPoint):
    """An ap_fixed precision object of the Vivado/Vitis backends (TRN, WRAP: exact by design)."""
    from hls4ml.backends.fpga.fpga_types import APTypeConverter
    from hls4ml.model.types import FixedPrecisionType
    return APTypeConverter().convert(FixedPrecisionType(width=fp.bits, integer=fp.int_bits,
                                                        signed=fp.signed))


def apply_exact_types(an: Analysis, hm) -> None:
    """Pin every non-quantizer result type (and every MAC accumulator) to the exact type.

    hls4ml fuses a MatMul's bias Add only while the Dense's result type is unspecified, and then
    infers a generic (wider) one; quantizer outputs keep their own type (rounding and saturation
    modes included) and are only checked.
    """
    types = an.types
    for layer in hm.get_layers():
        out = layer.outputs[0] if layer.outputs else None
        if layer.class_name == "Input" or out in types.quant_outputs or out not in types.tensors:
            continue
        var = layer.get_output_variable()
        want = types.tensors[out].fp
        if not _same(var.type.precision, want):  # (layout layers may share their input's type)
            var.type.precision = _hls_fixed(want)
    accums = {**{m.mac_output: m.acc for m in types.macs}, **{m.output: m.acc for m in types.macs},
              **types.avg_accum}
    for layer in hm.get_layers():
        acc = accums.get(layer.outputs[0] if layer.outputs else None)
        if acc is not None and "accum_t" in layer.types and \
                not _same(layer.types["accum_t"].precision, acc):
            layer.types["accum_t"].precision = _hls_fixed(acc)


def check_hls_types(an: Analysis, hm) -> list[dict]:
    """Compare hls4ml's types with the exact ones; return the per-layer table (raise on mismatch)."""
    from hls4ml.model.types import FixedPrecisionType
    types = an.types
    problems = []
    by_output = {}
    for layer in hm.get_layers():
        out = layer.outputs[0] if layer.outputs else None
        by_output[out] = layer
        res = layer.get_output_variable().type.precision
        if out in types.avg_accum:
            acc = next((v.precision for k, v in layer.types.items() if k.endswith("accum_t")),
                       None)
            if acc is None or not _same(acc, types.avg_accum[out]):
                problems.append(f"{layer.name} accumulator {acc} "
                                f"(expected {types.avg_accum[out].hls4ml_type()})")
        if out in types.quant_outputs:
            spec = types.quant_outputs[out]
            modes = (str(getattr(res, "rounding_mode", "")), str(getattr(res, "saturation_mode", "")))
            want_modes = ("RND_CONV" if spec.rounding == "ROUND" else "TRN",
                          "SAT_SYM" if spec.narrow else "SAT")
            if not _same(res, spec.fp) or tuple(m.split(".")[-1] for m in modes) != want_modes:
                problems.append(f"{layer.name} result {res} (expected {spec.hls4ml_type()})")
        elif out in types.tensors:
            want = types.tensors[out].fp
            if not isinstance(res, FixedPrecisionType) or not _same(res, want):
                problems.append(f"{layer.name} result {res} (expected {want.hls4ml_type()})")
        elif layer.class_name not in ("Input",):
            pass
    rows = []
    for mac in types.macs:
        layer = by_output.get(mac.output) or by_output.get(mac.mac_output)
        if layer is None:
            problems.append(f"no hls4ml layer computes {mac.name} ({mac.node})")
            continue
        t = {k: v.precision for k, v in layer.types.items()}
        w = next((p for k, p in t.items() if k.startswith("weight")), None)
        b = next((p for k, p in t.items() if k.startswith("bias")), None)
        acc = next((p for k, p in t.items() if k.endswith("accum_t")), None)
        inp = layer.get_input_variable().type.precision
        if w is None or not _same(w, mac.weight.fp):
            problems.append(f"{layer.name} weight {w} (expected {mac.weight.hls4ml_type()})")
        if mac.bias is not None and (b is None or not _same(b, mac.bias)):
            problems.append(f"{layer.name} bias {b} (expected {mac.bias.hls4ml_type()})")
        if acc is None or not _same(acc, mac.acc):
            problems.append(f"{layer.name} accumulator {acc} (expected {mac.acc.hls4ml_type()})")
        if not _same(inp, mac.act):
            problems.append(f"{layer.name} input {inp} (expected {mac.act.hls4ml_type()})")
        fps = {k: _fp(p) for k, p in (("act", inp), ("weight", w), ("bias", b), ("acc", acc))}
        rows.append({
            "layer": mac.name, "node": mac.node, "hls4ml_layer": layer.name,
            "act": fps["act"].ap_type() if fps["act"] else str(inp),
            "weight": fps["weight"].ap_type() if fps["weight"] else str(w),
            "bias": (fps["bias"].ap_type() if fps["bias"] else str(b)) if mac.bias else None,
            "accumulator": fps["acc"].ap_type() if fps["acc"] else str(acc),
            "learned_act": mac.act_quant.fp.ap_type() if mac.act_quant else mac.act.ap_type(),
            "learned_weight": mac.weight.fp.ap_type(),
        })
    if problems:
        raise ToolchainError("hls4ml did not keep the exact types, refusing to write a silently "
                             "wrong project: " + "; ".join(problems[:4])
                             + (f" (+{len(problems) - 4} more)" if len(problems) > 4 else ""))
    return rows


def format_table(rows: list[dict]) -> str:
    from hostsw.report.table import text_table
    heads = ["layer", "hls4ml layer", "input (act)", "weight", "bias", "accumulator", "= learned"]
    body = [[r["layer"], r["hls4ml_layer"], r["act"], r["weight"], r["bias"] or "-",
             r["accumulator"],
             "yes" if (r["act"] == r["learned_act"] and r["weight"] == r["learned_weight"])
             else "NO"] for r in rows]
    return "\n".join(text_table(heads, body, indent=""))


def convert(an: Analysis, out_dir: Path, cfg: HlsConfig):
    """Build the hls4ml model into ``out_dir`` (which must not exist). Returns (hls model, rows)."""
    import hls4ml
    cfg.validate()
    graph = channels_last(an.canon, an.types.avg_shift)
    hc = hls4ml_config(an, graph, cfg)
    try:
        with quiet(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # hls4ml's notes on pointwise convs and the like
            hm = hls4ml.converters.convert_from_onnx_model(
                graph, output_dir=str(out_dir), project_name=cfg.project_name,
                backend=cfg.backend, io_type=cfg.io_type, hls_config=hc, part=cfg.part,
                clock_period=cfg.clock_ns, bit_exact=False)
    except UnsupportedModelError:
        raise
    except Exception as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ToolchainError(f"hls4ml could not convert the model: {msg}") from None
    apply_exact_types(an, hm)
    rows = check_hls_types(an, hm)
    with quiet():
        hm.write()
    graph.save(str(Path(out_dir) / CANONICAL_FILE))
    return hm, rows


def build_project(onnx_path: Path, out_dir: Path, cfg: HlsConfig,
                  extra: dict | None = None) -> list[dict]:
    """The ``hls`` stage: write an hls4ml project to ``out_dir`` atomically; return the table."""
    cfg.validate()
    out_dir = Path(out_dir)
    an = analyze(onnx_path)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise OutputError(f"{out_dir} exists and is not empty: choose another --out or remove it")
    from hostsw.io.tempdirs import remove_created_parents, staging_dir
    parent = out_dir.parent
    tmp, existed = staging_dir(parent, f".{out_dir.name}.")
    try:
        # hls4ml bakes the output path into build scripts: build where the project will live
        # (the temporary folder is renamed afterwards, so only relative paths may be kept)
        project = tmp / "p"
        _, rows = convert(an, project, cfg)
        write_sidecars(project, an, cfg, rows, onnx_path, extra)
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(project, out_dir)
        _fix_paths(out_dir, project)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if not out_dir.exists():
            remove_created_parents(parent, existed)
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    return rows


def _fix_paths(project: Path, built_at: Path) -> None:
    """hls4ml records its output folder in hls4ml_config.yml: point it at the final location."""
    for f in project.glob("*"):
        if f.is_file() and f.suffix in (".yml", ".tcl", ".json"):
            text = f.read_text()
            if str(built_at) in text:
                f.write_text(text.replace(str(built_at), str(project.resolve())))


def write_sidecars(project: Path, an: Analysis, cfg: HlsConfig, rows: list[dict],
                   onnx_path: Path, extra: dict | None = None) -> None:
    import hashlib
    from hostsw.io import atomic_write_json
    save_config(cfg, project / HLS_CONFIG_FILE, onnx=str(Path(onnx_path).resolve()),
                onnx_sha256=hashlib.sha256(Path(onnx_path).read_bytes()).hexdigest(),
                input_shape=list(an.canon.input_shape), output_shape=list(an.canon.output_shape),
                channels_last_input=needs_channels_last(an.canon.model), **(extra or {}))
    atomic_write_json(project / PRECISION_FILE, {
        "input": an.types.input_quant.ap_type(),
        "layers": rows,
    })


def read_project_info(project: Path) -> dict:
    path = Path(project) / HLS_CONFIG_FILE
    if not path.is_file():
        raise UnsupportedModelError(f"{project} is not a hostsw hls project (no {HLS_CONFIG_FILE}): "
                                    "create one with `hostsw hls`")
    try:
        info = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        info = e
    if not isinstance(info, dict):
        raise UnsupportedModelError(f"{path} is not a hostsw hls project file (malformed JSON): "
                                    "create the project again with `hostsw hls`")
    return info
