"""Brevitas injectors that plug hostsw's runtime fixed-point quantizers into Brevitas layers.

Brevitas proxies read ``signed``, ``narrow_range`` and ``float_to_int_impl_type`` from the injector
(QONNX export emits them as Quant attributes) and call ``tensor_quant`` for the arithmetic.
"""

from brevitas.inject import ExtendedInjector
from brevitas.inject.enum import FloatToIntImplType
from brevitas.proxy import (ActQuantProxyFromInjector, BiasQuantProxyFromInjector,
                            WeightQuantProxyFromInjector)

from hostsw.quant.tensor_quant import (BIAS_BITS, AccumulatorBiasTensorQuant, ActTensorQuant,
                                      FixedPointTensorQuant)


class FixedPointWeightQuant(ExtendedInjector):
    """Signed narrow-range (AP_SAT_SYM) weights, power-of-two scale 2^-frac, runtime <bits, frac>."""

    proxy_class = WeightQuantProxyFromInjector
    tensor_quant = FixedPointTensorQuant
    bit_width = 8
    frac = None
    signed = True
    narrow_range = True
    rounding = "nearest"
    tensor_id = 0
    float_to_int_impl_type = FloatToIntImplType.ROUND


class FixedPointActQuant(ExtendedInjector):
    """Input-activation quantizer (AP_SAT), unsigned after ReLU, runtime <bits, frac>."""

    proxy_class = ActQuantProxyFromInjector
    tensor_quant = ActTensorQuant
    bit_width = 8
    frac = None
    signed = True
    narrow_range = False
    rounding = "nearest"
    tensor_id = 0
    float_to_int_impl_type = FloatToIntImplType.ROUND


class AccumulatorBiasQuant(ExtendedInjector):
    """32-bit signed bias on the accumulator grid (input scale x weight scale) like Brevitas'
    Int32Bias, but on a coarser power of two instead of saturating when the grid is too fine."""

    proxy_class = BiasQuantProxyFromInjector
    tensor_quant = AccumulatorBiasTensorQuant
    requires_input_scale = True
    bit_width = BIAS_BITS
    signed = True
    narrow_range = False
    float_to_int_impl_type = FloatToIntImplType.ROUND
