"""Bit-width arguments shared by the cost models: an int of 1..32 bits, or None for float32."""

from __future__ import annotations

from typing import Optional, Tuple

from hostsw.errors import ConfigError
from hostsw.fixedpoint import MAX_BITS

#: Word length charged for a float32 operand (BitOPs, AdaPT word length, model size).
FLOAT_BITS = 32

Bits = Optional[int]
#: (b_act, b_weight, b_grad) or (b_act, b_weight, b_grad, b_grad_w): b_grad_w is the error that
#: enters backward-weight when it has its own precision (gradient bifurcation, SBM)
LayerBits = Tuple[Bits, ...]


def check_bits(value: Bits, what: str = "bits") -> Bits:
    """Validate a bit width (None = float32) and return it as an int or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ConfigError(f"{what} must be an integer number of bits or None (float32), "
                              f"got {value!r}")
    if not 1 <= value <= MAX_BITS:
        raise ConfigError(f"{what}={value} is out of range: use 1..{MAX_BITS} or None (float32)")
    return int(value)


def word_bits(value: Bits) -> int:
    """Bits charged for an operand: the fixed-point width, or 32 for float32 (None)."""
    return FLOAT_BITS if value is None else value


def check_layer_bits(value, layer: str) -> LayerBits:
    """Validate ``(b_act, b_weight, b_grad[, b_grad_w])``; returns the 4-tuple (b_grad_w
    defaults to b_grad)."""
    if not isinstance(value, (tuple, list)) or len(value) not in (3, 4):
        raise ConfigError(f"bits[{layer!r}] must be (b_act, b_weight, b_grad[, b_grad_w]), "
                          f"got {value!r}")
    a, w, g = value[:3]
    gw = value[3] if len(value) == 4 else g
    return (check_bits(a, f"bits[{layer!r}] act"), check_bits(w, f"bits[{layer!r}] weight"),
            check_bits(g, f"bits[{layer!r}] grad"), check_bits(gw, f"bits[{layer!r}] grad_w"))
