"""Run directory -> QONNX: the stage ``export(run_dir, ExportConfig) -> model.qonnx.onnx``.

Brevitas' QONNX export of the trained model with its final learned precisions: every Quant node
carries the layer's ``<bits, frac>`` (bit width, scale 2**-frac, zero point 0, signed / narrow /
rounding attributes from the quantizer). Beside the model: ``precision_plan.json`` and
``export_config.json`` (the config plus what was checked). ONNX ``metadata_props`` carry the
controller, epoch, software version and the plan's hash.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

import hostsw
from hostsw.errors import ConfigError, ToolchainError, UnsupportedModelError
from hostsw.export.config import ExportConfig, save_config
from hostsw.export.graph import IR_VERSION, canonicalize, qonnx_execute
from hostsw.export.plan import plan_hash, precision_plan
from hostsw.export.reference import ExactReference
from hostsw.export.types import infer_types
from hostsw.export.validate import validate_raw
from hostsw.io import atomic_write_json

MODEL_FILE = "model.qonnx.onnx"
PLAN_FILE = "precision_plan.json"
CONFIG_FILE = "export_config.json"


@dataclass
class LoadedRun:
    path: Path
    config: object          # TrainConfig
    checkpoint: dict
    model: torch.nn.Module  # eval mode, trained weights and precisions
    input_shape: tuple[int, int, int]


def load_run_model(run_dir: Path) -> LoadedRun:
    """The trained model of a run directory (one-line errors for anything that is not one)."""
    from hostsw.data import DATASETS
    from hostsw.models import build_model
    from hostsw.train.rundir import RunDir, read_checkpoint
    run = RunDir(Path(run_dir))
    if not run.path.is_dir():
        raise ConfigError(f"run directory {run.path} does not exist")
    cfg = run.load_config()
    if not run.checkpoint.is_file():
        raise ConfigError(f"{run.path} has no checkpoint.pt yet: train it first "
                          f"(hostsw train --resume {run.path})")
    ck = read_checkpoint(run)
    try:
        info = DATASETS[cfg.dataset]
        model = build_model(cfg.model, info.input_shape, info.num_classes, cfg.norm)
        model.load_state_dict(ck["model"])
    except (RuntimeError, KeyError, ValueError):  # torch's message lists every tensor
        now = {"model": cfg.model, "norm": cfg.norm, "dataset": cfg.dataset}
        edit = next((f"{k} {ck['config'].get(k)} -> {v}" for k, v in now.items()
                     if ck["config"].get(k) != v), None)
        raise ConfigError(f"{run.checkpoint} does not fit the model {run.config} describes"
                          + (f" ({edit} since training): undo that edit" if edit
                             else ": retrain the run")) from None
    model.eval()
    return LoadedRun(run.path, cfg, ck, model, tuple(info.input_shape))


def check_fixed_point(model: torch.nn.Module) -> None:
    from hostsw.quant.layers import quant_layers
    for name, layer in quant_layers(model).items():
        for kind in ("weight", "act"):
            if not bool(layer.quantizer(kind).enabled):
                raise UnsupportedModelError(
                    f"layer {name}: {kind} is float32 (fp32 controller?); only fixed-point layers "
                    "can be exported for ap_fixed hardware")


@contextlib.contextmanager
def brevitas_path(model: torch.nn.Module):
    """Route every hostsw layer through Brevitas' own QuantLayer forward (``brevitas_forward``).

    Brevitas' QONNX manager puts only the quantizer proxies into export mode, so the layers' fast
    training path would otherwise be traced as plain Round/Clip arithmetic instead of Quant nodes.
    Biases are on the accumulator grid (Int32Bias), whose scale Brevitas caches from one inference
    forward pass.
    """
    from hostsw.quant.layers import quant_layers
    layers = quant_layers(model)
    for layer in layers.values():
        layer.forward = layer.brevitas_forward
        if layer.bias is not None:
            layer.bias_quant.cache_inference_quant_bias = True
    try:
        yield
    finally:
        for layer in layers.values():
            if "forward" in layer.__dict__:
                del layer.forward
            if layer.bias is not None:
                layer.bias_quant.cache_inference_quant_bias = False
                layer.bias_quant._cached_bias = None


def export_qonnx_file(model: torch.nn.Module, input_shape, path: Path, opset: int) -> None:
    """Brevitas QONNX export (TorchScript exporter: node names keep the module paths)."""
    from brevitas.export import export_qonnx
    x = torch.zeros(1, *input_shape)
    with brevitas_path(model), torch.no_grad():
        model.eval()
        model(x)  # fills the bias-scale cache
        try:
            export_qonnx(model, x, export_path=str(path), dynamo=False, opset_version=opset,
                         input_names=["input"], output_names=["logits"])
        except Exception as e:
            raise ToolchainError(f"Brevitas QONNX export failed: {type(e).__name__}: "
                                 f"{str(e).splitlines()[0] if str(e) else ''}") from None


def check_plan_against_model(plan: dict, model: torch.nn.Module) -> None:
    """The exported Quant nodes must carry exactly the learned <bits, frac> of every layer."""
    from hostsw.quant.layers import quant_layers
    from hostsw.fixedpoint import FixedPoint
    layers = quant_layers(model)
    for name, entry in plan["layers"].items():
        if name not in layers:
            raise ToolchainError(f"exported layer {name} is not a layer of the model")
        for kind in ("weight", "act"):
            learned = layers[name].quantizer(kind).fixed_point()
            got = FixedPoint.parse(entry[kind])
            if got != learned:
                raise ToolchainError(f"layer {name}: exported {kind} {got} differs from the learned "
                                     f"{learned}")
    missing = set(layers) - set(plan["layers"])
    if missing:
        raise ToolchainError(f"layers {sorted(missing)} did not appear in the exported graph")


#: float32's significand: integers up to 2**24 (times any power of two in range) are exact
FLOAT32_EXACT_BITS = 24


def widest_magnitude_bits(types) -> int:
    """Bits of the largest |k| over every tensor of the graph (values k * 2**-frac): when it is at
    most 24, float32 holds every intermediate value, and float32 execution is exact arithmetic."""
    ks = [max(abs(t.k_min), abs(t.k_max)) for t in types.tensors.values()]
    return max(ks, default=0).bit_length()


def verify_export(model: torch.nn.Module, onnx_model, canon, types, x: np.ndarray) -> dict:
    """qonnx execution and the software model against the exact reference on ``x``.

    Enforced (a ToolchainError otherwise): the software model run in float64 equals the exact
    reference on every sample (graphs without BatchNormalization, whose float scale is not exact),
    and qonnx execution, which runs in float32, equals it too whenever float32 is exact for the
    graph (every tensor's magnitude within 24 bits, no BatchNormalization). Otherwise float32
    rounds, so then only argmax agreement and the largest difference are reported.
    """
    facts = {"verify_samples": int(len(x))}
    if not len(x):
        return facts
    with torch.no_grad():
        y32 = model(torch.from_numpy(x).float()).numpy()
        q = qonnx_execute(onnx_model, x)
        ref = ExactReference(canon, types).run(x).reshape(len(x), -1)
        q = q.reshape(len(x), -1)
        bits = widest_magnitude_bits(types)
        has_bn = any(n.op_type == "BatchNormalization" for n in canon.model.graph.node)
        facts["widest_tensor_bits"] = bits
        # BatchNormalization's float scale is not exact arithmetic in any precision
        facts["qonnx_float32_exact"] = bits <= FLOAT32_EXACT_BITS and not has_bn
        facts["qonnx_equals_reference_rate"] = float(np.mean(np.all(q == ref, axis=1)))
        facts["qonnx_max_abs_diff"] = float(np.abs(q - ref).max())
        facts["qonnx_argmax_agreement"] = float(np.mean(q.argmax(1) == ref.argmax(1)))
        if not has_bn:  # in float64 the software model is exact arithmetic too
            m64 = copy.deepcopy(model).double()
            y64 = m64(torch.from_numpy(x).double()).numpy().reshape(len(x), -1)
            facts["reference_equals_software_float64_rate"] = float(
                np.mean(np.all(ref == y64, axis=1)))
        facts["reference_argmax_agreement"] = float(
            np.mean(ref.argmax(1) == y32.reshape(len(x), -1).argmax(1)))
    if facts.get("reference_equals_software_float64_rate", 1.0) < 1.0:
        raise ToolchainError(f"the exact reference differs from the software model (float64) on "
                             f"{100 * (1 - facts['reference_equals_software_float64_rate']):.1f}% "
                             "of the test images: the export is not faithful; please report it")
    if facts["qonnx_float32_exact"] and facts["qonnx_equals_reference_rate"] < 1.0:
        raise ToolchainError(f"qonnx execution differs from the exact reference (max |diff| "
                             f"{facts['qonnx_max_abs_diff']:g}) although float32 is exact for "
                             f"this graph ({bits} bits): the export is not faithful; please "
                             "report it")
    return facts


def export_run(run_dir: Path, out: Path | None = None, cfg: ExportConfig | None = None) -> dict:
    """Export the run's final model; returns the facts written to export_config.json."""
    cfg = (cfg or ExportConfig()).validate()
    run = load_run_model(run_dir)
    check_fixed_point(run.model)
    out = Path(out) if out is not None else run.path / MODEL_FILE
    from hostsw.export import preflight
    preflight.output_file("--out", out, ".onnx")
    from hostsw.io.tempdirs import staging_dir
    tmpdir, existed = staging_dir(out.parent, ".export-")
    try:
        raw = tmpdir / "raw.onnx"
        export_qonnx_file(run.model, run.input_shape, raw, cfg.opset)
        from qonnx.core.modelwrapper import ModelWrapper
        proto = onnx.load(str(raw))
        proto.ir_version = min(proto.ir_version, IR_VERSION)
        mw = ModelWrapper(proto)
        validate_raw(mw)
        canon = canonicalize(mw)
        types = infer_types(canon)
        plan = precision_plan(types, canon.output_name)
        check_plan_against_model(plan, run.model)
        digest = plan_hash(plan)
        ck = run.checkpoint
        meta = {
            "hostsw.version": hostsw.__version__,
            "hostsw.controller": str(run.config.controller.name),
            "hostsw.epoch": str(ck.get("epoch", "")),
            "hostsw.step": str(ck.get("step", "")),
            "hostsw.model": run.config.model,
            "hostsw.dataset": run.config.dataset,
            "hostsw.run": str(run.path.resolve()),
            "hostsw.precision_plan_sha256": digest,
        }
        ctrl_state = ck.get("controller")
        dfq = ctrl_state.get("export") if isinstance(ctrl_state, dict) else None
        if dfq:  # fractrain: the one precision per layer that stands in for the gates' choices
            meta["hostsw.dfq_export_precision"] = dfq["rule"] + ": " + ", ".join(
                f"{name} {fw}/{bw}" for name, (fw, bw) in dfq["layers"].items())
        del proto.metadata_props[:]
        for k, v in meta.items():
            proto.metadata_props.add(key=k, value=v)
        try:
            onnx.checker.check_model(proto)
        except onnx.checker.ValidationError as e:
            raise ToolchainError(f"the exported model fails onnx.checker: "
                                 f"{str(e).splitlines()[0]}") from None
        x = _verify_inputs(run, cfg.verify_samples)
        facts = verify_export(run.model, ModelWrapper(proto), canon, types, x)
        tmp_model = tmpdir / MODEL_FILE
        onnx.save(proto, str(tmp_model))
        plan_path = out.parent / PLAN_FILE if out.name == MODEL_FILE else \
            out.with_name(out.stem.split(".")[0] + "." + PLAN_FILE)
        cfg_path = out.parent / CONFIG_FILE if out.name == MODEL_FILE else \
            out.with_name(out.stem.split(".")[0] + "." + CONFIG_FILE)
        facts = {"run": str(run.path), "model_file": str(out), "plan_file": str(plan_path),
                 "precision_plan_sha256": digest, "metadata": meta, **facts}
        atomic_write_json(plan_path, plan)
        save_config(cfg, cfg_path, **facts)
        os.replace(tmp_model, out)
    except BaseException:
        import shutil
        shutil.rmtree(tmpdir, ignore_errors=True)
        from hostsw.io.tempdirs import remove_created_parents
        remove_created_parents(out.parent, existed)
        raise
    import shutil
    shutil.rmtree(tmpdir, ignore_errors=True)
    return {**facts, "plan": plan}


def _verify_inputs(run: LoadedRun, n: int) -> np.ndarray:
    if n <= 0:
        return np.zeros((0,) + run.input_shape, dtype=np.float32)
    from hostsw.data import load_dataset
    _, test = load_dataset(run.config.dataset, root=run.config.data_dir)
    return test.x[:n].numpy().astype(np.float32)


def read_metadata(onnx_path: Path) -> dict:
    m = onnx.load(str(onnx_path), load_external_data=False)
    return {p.key: p.value for p in m.metadata_props}


def load_plan(path: Path) -> dict:
    return json.loads(Path(path).read_text())
