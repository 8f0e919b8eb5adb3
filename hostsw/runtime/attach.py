"""Putting a model on a MAC engine: what is supported, whether it fits the compiled limits, and
which datapath tier each layer and phase runs on (logged with every precision switch)."""

from __future__ import annotations

import torch
from torch import nn

from hostsw.errors import ConfigError, UnsupportedModelError
from hostsw.quant.layers import QuantLayerMixin
from hostsw.runtime.backend import MacBackend
from hostsw.runtime.function import geometry

#: modules the host runs itself between the engine's MAC layers
HOST_MODULES = (nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.Flatten, nn.Identity, nn.Dropout)


def check_model(model: nn.Module, backend_name: str) -> None:
    """One line naming the first module neither the engine nor the host can run."""
    for name, m in model.named_modules():
        if isinstance(m, QuantLayerMixin) or m is model:
            continue
        if any(name.startswith(q + ".") for q, mm in model.named_modules()
               if isinstance(mm, QuantLayerMixin)):
            continue  # the quantizers inside a MAC layer
        if list(m.children()):
            continue  # containers: their leaves are checked
        if not isinstance(m, HOST_MODULES):
            raise UnsupportedModelError(
                f"layer {name} ({type(m).__name__}) is not supported by the {backend_name} "
                "back-end (it runs Conv2d/Linear MACs; the host runs ReLU, pooling and flatten): "
                "use --backend software, or a model without it (mlp, lenet5)")


def layer_geometries(model: nn.Module, layers: dict, input_shape: tuple, batch: int) -> dict:
    """Each MAC layer's engine geometry at ``batch`` (traced with one dummy sample)."""
    shapes: dict[str, tuple] = {}
    hooks = [m.register_forward_pre_hook(
        lambda mod, args, name=name: shapes.__setitem__(name, tuple(args[0].shape)))
        for name, m in layers.items()]
    was_training = model.training
    try:
        model.eval()
        saved = {n: m.mac_backend for n, m in layers.items()}
        for m in layers.values():
            m.mac_backend = None
        with torch.no_grad():
            p = next(model.parameters())
            model(torch.zeros((1, *input_shape), dtype=p.dtype, device=p.device))
        for n, m in layers.items():
            m.mac_backend = saved[n]
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    out = {}
    for name, m in layers.items():
        shape = (batch, *shapes[name][1:])
        out[name] = geometry(m, shape)
    return out


def attach(model: nn.Module, layers: dict, backend: MacBackend, input_shape: tuple,
           batch: int) -> dict:
    """Check the model against ``backend`` and route its MAC layers to it; the geometries."""
    check_model(model, backend.name)
    geoms = layer_geometries(model, layers, input_shape, batch)
    for name, g in geoms.items():
        backend.limits.check(name, g)
    for m in layers.values():
        m.mac_backend = backend
    return geoms


def layer_tiers(layer: QuantLayerMixin, backend: MacBackend, name: str) -> dict[str, int]:
    """The tier of each phase at the layer's current precisions (ConfigError when none fits)."""
    bits = {}
    for kind in ("act", "weight", "grad"):
        p = layer.precision(kind)
        if p.bits is None:
            raise ConfigError(f"layer {name}: {kind} is float32, which the {backend.name} "
                              "back-end cannot multiply: give it a fixed-point precision or use "
                              "--backend software")
        bits[kind] = p.bits
    bits["grad_w"] = layer.precision("grad_w").bits if layer.bifurcated else bits["grad"]

    def tier(a: int, b: int, phase: str) -> int:
        try:
            return backend.limits.tier_for(max(a, b), f"layer {name} {phase}: an operand")
        except ConfigError as e:
            raise ConfigError(str(e)) from None

    return {"fwd": tier(bits["act"], bits["weight"], "fwd"),
            "bwd_data": tier(bits["grad"], bits["weight"], "bwd-data"),
            "bwd_weight": tier(bits["grad_w"], bits["act"], "bwd-weight")}
