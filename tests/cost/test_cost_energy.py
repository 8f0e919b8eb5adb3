"""MAC energy: the QKeras fit against the published 45 nm numbers it was fitted to.

Source of every expected number below (shared/specs/cost.md, "Energy per MAC"): M. Horowitz,
"Computing's energy problem (and what we can do about it)", ISSCC 2014, the 45 nm / 0.9 V energy
table: integer add 8 bit 0.03 pJ, 32 bit 0.1 pJ; integer multiply 8 bit 0.2 pJ, 32 bit 3.1 pJ;
float32 add 0.9 pJ, float32 multiply 3.7 pJ. The product fits those numbers with QKeras' model
(multiplier a*p + b*sqrt(p) for a p = bx*by bit product, adder linear in the accumulator width);
the expectations here are the table's numbers and hand arithmetic on them, not the fit's
coefficients, so a wrong coefficient, a wrong accumulator width or a wrong operand pairing fails.
"""

import pytest

from hostsw.cost import CostMeter, LayerMacs, mac_energy_pj
from hostsw.cost.energy import (ACC_BITS_CAP, FP32_MAC_PJ, acc_bits, add_energy_pj,
                                layer_energy_pj, mult_energy_pj)

# Horowitz, ISSCC 2014, 45 nm (pJ per operation)
INT8_MULT, INT32_MULT = 0.2, 3.1
INT8_ADD, INT32_ADD = 0.03, 0.1
FP32_MULT, FP32_ADD = 3.7, 0.9
#: an accumulator bit costs 0.1 pJ / 32 bits = 0.003125 pJ (adder energy linear in the width)
ADD_PER_BIT = INT32_ADD / 32


def test_fit_reproduces_the_horowitz_table():
    assert mult_energy_pj(8, 8) == pytest.approx(INT8_MULT, abs=1e-4)
    assert mult_energy_pj(32, 32) == pytest.approx(INT32_MULT, abs=1e-4)
    assert add_energy_pj(32) == pytest.approx(INT32_ADD, abs=1e-12)
    # a linear adder through 0.1 pJ at 32 bits gives 0.025 pJ at 8 bits; the table says 0.03
    assert add_energy_pj(8) == pytest.approx(0.025, abs=1e-12)
    assert add_energy_pj(8) == pytest.approx(INT8_ADD, abs=0.006)
    assert FP32_MAC_PJ == pytest.approx(FP32_MULT + FP32_ADD)  # 4.6 pJ
    # the multiplier depends on the product width only, and grows with it
    assert mult_energy_pj(4, 16) == pytest.approx(mult_energy_pj(8, 8), rel=1e-12)
    assert mult_energy_pj(2, 2) < mult_energy_pj(4, 4) < mult_energy_pj(8, 8)


def test_accumulator_width():
    # product width + ceil(log2 fan_in) + 1 for the bias add; 256 < 400 <= 512: ceil(log2) = 9
    assert acc_bits(8, 8, 400) == 8 + 8 + 9 + 1 == 26
    assert acc_bits(8, 8, 1) == 17
    assert acc_bits(32, 32, 400) == ACC_BITS_CAP == 48  # DSP48E2 accumulator width
    assert acc_bits(4, 4, None) == 48
    # 8x8 MAC summing 400 products: 0.2 pJ multiply + 26 bits * 0.003125 pJ = 0.28125 pJ
    assert mac_energy_pj(8, 8, 400) == pytest.approx(0.28125, abs=1e-5)
    # any float32 operand: the float32 MAC, 3.7 + 0.9 pJ
    assert mac_energy_pj(None, 8, 400) == pytest.approx(4.6, abs=1e-12)
    assert mac_energy_pj(8, None, 400) == pytest.approx(4.6, abs=1e-12)


def test_layer_operand_pairs():
    """Forward pairs (a, w), backward-data (e, w), backward-weight (a, e): with one operand in
    float32 exactly the passes that use it cost 4.6 pJ per MAC, the others the 8x8 MAC."""
    m = LayerMacs(10, 20, 30, "dense", False, 40, 4)
    # 8x8 MAC, fan-in 4: 0.2 pJ + (8 + 8 + 2 + 1) * 0.003125 = 0.2 + 0.059375 = 0.259375 pJ
    # a float32 (None):   fwd 10 * 4.6 + bwd-data 20 * 0.259375 + bwd-weight 30 * 4.6
    assert layer_energy_pj(m, (None, 8, 8)) == pytest.approx(46 + 5.1875 + 138, abs=1e-4)
    # w float32:          fwd 10 * 4.6 + bwd-data 20 * 4.6 + bwd-weight 30 * 0.259375
    assert layer_energy_pj(m, (8, None, 8)) == pytest.approx(46 + 92 + 7.78125, abs=1e-4)
    # e float32:          fwd 10 * 0.259375 + bwd-data 20 * 4.6 + bwd-weight 30 * 4.6
    assert layer_energy_pj(m, (8, 8, None)) == pytest.approx(2.59375 + 92 + 138, abs=1e-4)
    # all 32-bit fixed: 3.1 pJ + capped 48-bit accumulator 0.15 pJ = 3.25 pJ, 60 MACs = 195 pJ
    assert layer_energy_pj(m, (32, 32, 32)) == pytest.approx(195.0, abs=1e-3)


def test_meter_energy_8bit_below_fp32():
    macs = {"fc": LayerMacs(400 * 120, 0, 400 * 120, "dense", True, 48000, 400)}
    meter = CostMeter(macs)
    meter.add_step(16, {"fc": (8, 8, 8)})
    s = meter.summary()
    assert s["energy_model"] == "asic-45nm-horowitz-estimate"
    # 16 samples * 96000 MACs (fwd + bwd-weight of the first layer)
    #   float32: 1536000 MACs * 4.6 pJ = 7065600 pJ; 8-bit: 1536000 * 0.28125 pJ = 432000 pJ
    assert s["energy_fp32_pj"] == pytest.approx(7_065_600, rel=1e-12)
    assert s["energy_pj"] == pytest.approx(432_000, rel=1e-5)
    assert s["energy_rel_fp32"] == pytest.approx(0.28125 / 4.6, rel=1e-5)  # 0.061141
