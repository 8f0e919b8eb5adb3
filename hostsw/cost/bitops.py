"""Training BitOPs (CPT / FracTrain style; spec: shared/specs/cost.md, "BitOPs").

Each MAC of a pass costs the product of its two operand widths: forward a*w, backward-data e*w
(absent for the first layer, whose input error is never computed), backward-weight a*e. Integers
throughout, so ratios such as uniform 8/8/8 vs float32 (= 1/16) are exact.
"""

from __future__ import annotations

from hostsw.cost.bits import FLOAT_BITS, LayerBits, word_bits
from hostsw.cost.macs import LayerMacs


def layer_bitops(macs: LayerMacs, bits: LayerBits) -> int:
    """BitOPs of one sample through one layer's three training passes (None = 32 bits).

    ``bits`` = (a, w, e) or (a, w, e, e_w): backward-weight multiplies a by e_w, the error of its
    own precision under gradient bifurcation (default e)."""
    a, w, e = (word_bits(b) for b in bits[:3])
    e_w = word_bits(bits[3]) if len(bits) > 3 else e
    return macs.fwd * a * w + macs.bwd_data * e * w + macs.bwd_weight * a * e_w


def layer_bitops_fp32(macs: LayerMacs) -> int:
    """The float32 reference: every operand counted as 32 bits."""
    return macs.total * FLOAT_BITS * FLOAT_BITS
