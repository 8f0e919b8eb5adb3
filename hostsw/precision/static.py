"""Fixed precision for the whole run: ``fp32`` (no quantization) and ``static``."""

from __future__ import annotations

from hostsw.fixedpoint import check_rounding
from hostsw.precision.base import (PrecisionController, check_grad_pins, check_layer_names,
                                   parse_layer_overrides, parse_precision)
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

    @classmethod
    def parse_params(cls, p: dict) -> dict:
        base = {k: parse_precision(f"static {k}", p[k]) for k in TENSOR_KINDS}
        overrides = parse_layer_overrides("static", p["layers"])
        out = {"base": base, "overrides": overrides,
               "weight_rounding": check_rounding(p["weight_rounding"]),
               "grad_rounding": check_rounding(p["grad_rounding"]),
               "grad_quantizer": check_grad_quantizer(p["grad_quantizer"])}
        check_grad_pins("static", out["grad_quantizer"], [("grad", base["grad"])] + [
            (f"layers.{layer}.grad", q) for (layer, kind), q in overrides.items() if kind == "grad"])
        return out

    def __init__(self, params, board):
        super().__init__(params, board)
        check_layer_names("static", {layer for layer, _ in self.overrides}, board)
        self.plan = {name: {k: self.overrides.get((name, k), self.base[k]) for k in TENSOR_KINDS}
                     for name in board.layers}

    def configure(self) -> None:
        for layer in self.plan:
            self.board.layers[layer].set_rounding("weight", self.weight_rounding)
            self.board.layers[layer].set_rounding("grad", self.grad_rounding)
            self.board.layers[layer].set_grad_quantizer(self.grad_quantizer)

    def on_train_begin(self) -> None:
        for layer, kinds in self.plan.items():
            for kind, p in kinds.items():
                self.board.set(layer, kind, p, "static", force_log=True)
