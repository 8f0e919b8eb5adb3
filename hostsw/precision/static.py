"""Fixed precision for the whole run: ``fp32`` (no quantization) and ``static``."""

from __future__ import annotations

from hostsw.errors import ConfigError
from hostsw.fixedpoint import check_rounding
from hostsw.precision.base import PrecisionController
from hostsw.quant.grad_quantizers import check_grad_quantizer
from hostsw.quant.precision import TENSOR_KINDS, Precision


class Fp32Controller(PrecisionController):
    """Float32 everywhere: the layers bypass their quantizers (the reference run)."""

    name = "fp32"
    defaults: dict = {}

    def on_train_begin(self) -> None:
        for layer in self.board.layers:
            for kind in TENSOR_KINDS:
                self.board.set(layer, kind, Precision(None), "init", force_log=True)


class StaticController(PrecisionController):
    """Fixed ``<bits, frac>`` per layer and tensor kind.

    Params: ``weight``, ``act``, ``grad``: defaults for every layer (bits, [bits, frac],
    [bits, auto] or fp32); ``layers``: {layer: {weight|act|grad: ...}} overrides;
    ``weight_rounding`` (nearest|stochastic) and ``grad_rounding`` (stochastic|nearest|floor);
    ``grad_quantizer`` (ptq|psq|bhq): how the error's scales are chosen (hostsw.quant.grad).
    """

    name = "static"
    defaults = {"weight": [8, "auto"], "act": [8, "auto"], "grad": [8, "auto"], "layers": {},
                "weight_rounding": "nearest", "grad_rounding": "stochastic", "grad_quantizer": "ptq"}

    def __init__(self, params, board):
        super().__init__(params, board)
        self.plan = self._resolve_plan()
        self.weight_rounding = check_rounding(self.params["weight_rounding"])
        self.grad_rounding = check_rounding(self.params["grad_rounding"])
        self.grad_quantizer = check_grad_quantizer(self.params["grad_quantizer"])
        if self.grad_quantizer != "ptq":
            for layer, kinds in self.plan.items():
                if kinds["grad"].frac is not None:
                    raise ConfigError(f"static grad precision of {layer} pins frac="
                                      f"{kinds['grad'].frac}, but grad_quantizer "
                                      f"{self.grad_quantizer} chooses frac per sample: give "
                                      "[bits, auto] or use grad_quantizer: ptq")

    def _resolve_plan(self) -> dict[str, dict[str, Precision]]:
        base = {k: Precision.parse(self.params[k]) for k in TENSOR_KINDS}
        overrides = self.params["layers"] or {}
        if not isinstance(overrides, dict):
            raise ConfigError("static controller 'layers' must map layer names to precisions")
        for name, spec in overrides.items():
            if name not in self.board.layers:
                raise ConfigError(f"static controller names layer {name!r}, which the model does "
                                  f"not have: layers are {', '.join(self.board.layers)}")
            if not isinstance(spec, dict) or set(spec) - set(TENSOR_KINDS):
                raise ConfigError(f"layer {name!r}: give a mapping with keys weight, act, grad")
        return {name: {k: Precision.parse(overrides.get(name, {}).get(k, base[k].to_config()))
                       for k in TENSOR_KINDS} for name in self.board.layers}

    def configure(self) -> None:
        for layer in self.plan:
            self.board.layers[layer].set_rounding("weight", self.weight_rounding)
            self.board.layers[layer].set_rounding("grad", self.grad_rounding)
            self.board.layers[layer].set_grad_quantizer(self.grad_quantizer)

    def on_train_begin(self) -> None:
        for layer, kinds in self.plan.items():
            for kind, p in kinds.items():
                self.board.set(layer, kind, p, "static", force_log=True)
