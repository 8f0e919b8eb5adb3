"""MAC energy from QKeras' fit of Horowitz (ISSCC 2014, 45 nm ASIC); spec: cost.md, "Energy".

E_MAC = 0.0029948*b_x*b_y + 0.0010417*sqrt(b_x*b_y) + 0.003125*b_acc  [pJ]
(multiplier: first two terms; accumulator add: last term). ASIC numbers understate FPGA energy:
use the ratio to float32, not the absolute value, unless calibrated against a board.
"""

from __future__ import annotations

import math

from hostsw.cost.bits import Bits, LayerBits
from hostsw.cost.macs import LayerMacs, ceil_log2

ENERGY_MODEL = "asic-45nm-horowitz-estimate"
MULT_QUAD_PJ = 0.0029948
MULT_SQRT_PJ = 0.0010417
ADD_PJ_PER_BIT = 0.003125
FP32_MULT_PJ = 3.7
FP32_ADD_PJ = 0.9
#: Energy of one float32 MAC (multiply + add), the reference.
FP32_MAC_PJ = FP32_MULT_PJ + FP32_ADD_PJ
#: Widest accumulator charged: the DSP48E2 accumulator; wider ones are not built in practice.
ACC_BITS_CAP = 48


def mult_energy_pj(bx: int, by: int) -> float:
    """Fixed-point multiply of a bx-bit by a by-bit operand (8x8: 0.2 pJ, 32x32: 3.1 pJ)."""
    p = bx * by
    return MULT_QUAD_PJ * p + MULT_SQRT_PJ * math.sqrt(p)


def add_energy_pj(bits: int) -> float:
    """Fixed-point add of ``bits`` bits (8: 0.025 pJ, 32: 0.1 pJ)."""
    return ADD_PJ_PER_BIT * bits


def acc_bits(bx: int, by: int, fan_in: int | None, cap: int = ACC_BITS_CAP) -> int:
    """Accumulator width: product width + ceil(log2 fan_in) + 1 (QKeras' rule; +1 for the bias
    add), capped at ``cap``. Unknown fan-in (None) charges the cap."""
    if fan_in is None:
        return cap
    return min(bx + by + ceil_log2(fan_in) + 1, cap)


def mac_energy_pj(bx: Bits, by: Bits, fan_in: int | None, cap: int = ACC_BITS_CAP) -> float:
    """Energy of one MAC with operands of bx and by bits. If either operand is float32 (None)
    the MAC runs in float32 and costs the float32 reference (3.7 + 0.9 pJ)."""
    if bx is None or by is None:
        return FP32_MAC_PJ
    return mult_energy_pj(bx, by) + add_energy_pj(acc_bits(bx, by, fan_in, cap))


def layer_energy_pj(macs: LayerMacs, bits: LayerBits, cap: int = ACC_BITS_CAP) -> float:
    """Energy of one sample through one layer's three passes: forward (a, w), backward-data
    (e, w), backward-weight (a, e). All passes use the layer's forward fan-in for the accumulator
    width (a simplification: backward passes accumulate over other axes; log2 makes it minor)."""
    a, w, e = bits[:3]
    e_w = bits[3] if len(bits) > 3 else e  # the bwd-weight error (gradient bifurcation)
    return (macs.fwd * mac_energy_pj(a, w, macs.fan_in, cap)
            + macs.bwd_data * mac_energy_pj(e, w, macs.fan_in, cap)
            + macs.bwd_weight * mac_energy_pj(a, e_w, macs.fan_in, cap))


def layer_energy_fp32_pj(macs: LayerMacs) -> float:
    """The float32 reference: every MAC of every pass at 3.7 + 0.9 pJ."""
    return macs.total * FP32_MAC_PJ
