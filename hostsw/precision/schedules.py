"""What the schedule controllers (cpt, progressive, muppet) share: formulas and layer plumbing.

Spec: shared/specs/schedules.md. The formulas are plain functions so each is tested on its own;
``ScheduledController`` applies one forward precision (weights and input activations, frac from
each tensor's range) and one backward precision (the error, stochastic rounding, the run's
gradient quantizer) to every layer, except the (layer, kind) pairs the config holds fixed.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from hostsw.errors import ConfigError
from hostsw.fixedpoint import MAX_BITS, check_rounding
from hostsw.precision.base import (PrecisionController, check_grad_pins, check_layer_names,
                                   parse_layer_overrides)
from hostsw.quant.grad_quantizers import check_grad_quantizer
from hostsw.quant.precision import Precision

log = logging.getLogger("hostsw.precision")

#: parameters every schedule controller accepts
COMMON_DEFAULTS: dict[str, Any] = {
    #: backward-pass quantizer: ptq (per tensor) | psq (per-sample power-of-two) | bhq
    "grad_quantizer": "ptq",
    "weight_rounding": "nearest",
    "grad_rounding": "stochastic",
    #: {layer: {weight|act|grad: precision}} held for the whole run (e.g. conv1's input <8,8>)
    "layers": {},
}


# --- formulas ------------------------------------------------------------------------------------
def cosine_precision(t: float, period: float, q_min: int, q_max: int) -> int:
    """CPT's cyclic precision: rint(q_min + (q_max - q_min)/2 (1 + cos(pi (t mod T)/T + pi))).

    Each cycle of ``period`` T ramps from q_min (t mod T = 0) up towards q_max; ``t`` counts
    iterations or epochs. rint rounds half to even (Python's round, numpy's rint).
    """
    if period <= 0:
        raise ConfigError(f"cyclic precision period T={period} must be > 0: use fewer cycles")
    phase = math.fmod(t, period) / period
    return int(round(q_min + 0.5 * (q_max - q_min) * (1.0 + math.cos(math.pi * phase + math.pi))))


def cycle_period(total: int, num_cycles: int) -> float:
    """T = total / N (iterations or epochs per cycle)."""
    return total / num_cycles


def check_bits(owner: str, key: str, value, allow_fp32: bool = False) -> int | None:
    """An integer bit width 1..32 (or fp32/None when allowed), else a one-line ConfigError."""
    if allow_fp32 and value in (None, "fp32", "float32"):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BITS:
        extra = " or fp32" if allow_fp32 else ""
        raise ConfigError(f"{owner} {key}={value!r}: give a bit width 1..{MAX_BITS}{extra}")
    return value


def check_int(owner: str, key: str, value, lo: int, fix: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ConfigError(f"{owner} {key}={value!r} must be an integer >= {lo}"
                          + (f": {fix}" if fix else ""))
    return value


def check_number(owner: str, key: str, value, lo: float, hi: float) -> float:
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or not lo <= value <= hi):
        raise ConfigError(f"{owner} {key}={value!r}: give a number in [{lo:g}, {hi:g}]")
    return float(value)


def check_levels(owner: str, levels, pairs: bool, strict: bool, example: str) -> list:
    """A schedule's precision levels (bit widths, or [forward, backward] pairs with ``pairs``),
    fp32 allowed (None), in order: non-decreasing, or increasing with ``strict``; else one line."""
    if not isinstance(levels, (list, tuple)) or not levels:
        raise ConfigError(f"{owner} levels={levels!r}: give a non-empty list, e.g. {example}")
    parsed = []
    for i, lv in enumerate(levels):
        if pairs:
            if not isinstance(lv, (list, tuple)) or len(lv) != 2:
                raise ConfigError(f"{owner} levels[{i}]={lv!r}: give [forward bits, backward "
                                  "bits], e.g. [4, 6]")
            parsed.append(tuple(check_bits(owner, f"levels[{i}][{j}]", v, allow_fp32=True)
                                for j, v in enumerate(lv)))
        else:
            parsed.append(check_bits(owner, f"levels[{i}]", lv, allow_fp32=True))
    width = [tuple(MAX_BITS if b is None else b for b in (lv if pairs else (lv,))) for lv in parsed]
    for i in range(1, len(width)):
        low = [b < a or (strict and b == a) for a, b in zip(width[i - 1], width[i])]
        if any(low):
            order = "increase strictly" if strict else "not decrease"
            raise ConfigError(f"{owner} levels must {order}: levels[{i}]={levels[i]} is not above "
                              f"levels[{i - 1}]={levels[i - 1]}; sort them upwards")
    return parsed


# --- the shared controller plumbing --------------------------------------------------------------
class ScheduledController(PrecisionController):
    """One forward and one backward precision for all layers, minus held (layer, kind) pairs."""

    @classmethod
    def parse_params(cls, p: dict) -> dict:
        out = {"grad_quantizer": check_grad_quantizer(p["grad_quantizer"]),
               "weight_rounding": check_rounding(p["weight_rounding"]),
               "grad_rounding": check_rounding(p["grad_rounding"]),
               "held": parse_layer_overrides(cls.name, p["layers"])}
        check_grad_pins(cls.name, out["grad_quantizer"], [
            (f"layers.{layer}.grad", q) for (layer, kind), q in out["held"].items() if kind == "grad"])
        return out

    def __init__(self, params, board):
        super().__init__(params, board)
        check_layer_names(self.name, {layer for layer, _ in self.held}, board)

    def configure(self) -> None:
        for m in self.board.layers.values():
            m.set_rounding("weight", self.weight_rounding)
            m.set_rounding("grad", self.grad_rounding)
            m.set_grad_quantizer(self.grad_quantizer)

    def require_horizon(self) -> tuple[int, int]:
        if self.epochs is None or self.steps_per_epoch is None:
            raise ConfigError(f"the {self.name} controller needs the run's length: call "
                              "set_horizon(epochs, steps_per_epoch) first (the training loop does)")
        return self.epochs, self.steps_per_epoch

    def apply(self, forward: Precision, backward: Precision, reason: str,
              force_log: bool = False) -> None:
        """Forward precision on weights and activations, backward on the error, every layer."""
        for layer in self.board.layers:
            for kind, p in (("weight", forward), ("act", forward), ("grad", backward)):
                self.board.set(layer, kind, self.held.get((layer, kind), p), reason,
                               force_log=force_log)
