"""Brevitas QuantConv2d / QuantLinear with runtime per-layer ``<bits, frac>`` for weight, input
activation and error (gradient).

Training uses a direct forward (quantize input, the quantized weight copy and the accumulator-grid
bias, then the plain torch op) because Brevitas' QuantTensor bookkeeping costs more than the
quantization itself; export and ``brevitas_forward`` go through Brevitas' own path with the same
``tensor_quant`` modules, and tests/quant check that both agree bit for bit.

The fp32 parameters are the master copy (AdaPT's ASGD arrangement); the quantized copy is derived
from it at every step with the layer's weight precision and rounding (stochastic for AdaPT).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from brevitas.nn import QuantConv2d, QuantLinear

from hostsw.fixedpoint import check_rounding, quantize
from hostsw.quant.grad import GradQuant
from hostsw.quant.injectors import AccumulatorBiasQuant, FixedPointActQuant, FixedPointWeightQuant
from hostsw.quant.precision import TENSOR_KINDS, Precision
from hostsw.quant.tensor_quant import FixedPointTensorQuant, _FixedPointSTE, bias_fixed_point


class QuantLayerMixin:
    """Precision interface shared by every hostsw quantized MAC layer."""

    def _init_quant(self, grad_bits: int, grad_rounding: str, tensor_id: int) -> None:
        self.grad_quant = GradQuant(grad_bits, None, grad_rounding, tensor_id=tensor_id + 2)
        # gradient bifurcation (SBM): the error entering backward-weight may carry its own
        # precision; disabled (the default) means it is the backward-data error itself
        self.grad_w_quant = GradQuant(grad_bits, None, grad_rounding, tensor_id=tensor_id + 3)
        self.grad_w_quant.tensor_quant.enabled.fill_(False)
        #: the MAC engine of the hardware back-ends (None: the torch path below)
        self.mac_backend = None
        # Brevitas re-creates a proxy's tensor_quant when a state_dict is loaded; buffers come back
        # from the state_dict, these plain attributes are re-applied by the hook below
        self._settings: dict[str, dict] = {kind: {} for kind in TENSOR_KINDS}
        self.register_load_state_dict_post_hook(lambda module, keys: module._reapply_settings())

    def _reapply_settings(self) -> None:
        for kind, settings in self._settings.items():
            for attr, value in settings.items():
                setattr(self.quantizer(kind), attr, value)
                if kind == "grad":  # the bwd-weight error is rounded like the bwd-data error
                    setattr(self.quantizer("grad_w"), attr, value)
        self.grad_w_quant.quantizer_name = self.grad_quant.quantizer_name

    def quantizer(self, kind: str) -> FixedPointTensorQuant:
        if kind == "weight":
            return self.weight_quant.tensor_quant
        if kind == "act":
            return self.input_quant.fused_activation_quant_proxy.tensor_quant
        if kind == "grad":
            return self.grad_quant.tensor_quant
        if kind == "grad_w":
            return self.grad_w_quant.tensor_quant
        raise KeyError(f"unknown tensor kind {kind!r}: use one of {TENSOR_KINDS} or grad_w")

    @property
    def bifurcated(self) -> bool:
        """True when the bwd-weight error has its own precision (``grad_w``)."""
        return bool(self.grad_w_quant.tensor_quant.enabled)

    def set_grad_quantizer(self, name: str) -> None:
        """ptq | psq | bhq for both error quantizers."""
        self.grad_quant.set_quantizer(name)
        self.grad_w_quant.set_quantizer(name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.exporting:
            return self.brevitas_forward(x)
        if self.fully_float:
            xq, wq, bias = x, self.weight, self.bias
        else:
            xq, wq, bias = self._quant_operands(x)
        return self._mac(self._op, xq, wq, bias)

    def _op(self, x: torch.Tensor, w: torch.Tensor, b) -> torch.Tensor:
        """The layer's plain torch MAC (conv2d or linear)."""
        raise NotImplementedError

    def _mac(self, op, xq: torch.Tensor, wq: torch.Tensor, bias) -> torch.Tensor:
        """The layer's MAC with its error quantizers: on the selected hardware back-end, else
        through torch (twice when bifurcated: the bwd-data path sees the bwd-data error, the
        weight and bias see the bwd-weight error; the forward value is the same op once)."""
        if self.mac_backend is not None:
            from hostsw.runtime.function import mac_apply
            return mac_apply(self, xq, wq, bias)
        if not (self.bifurcated and self.training):
            return self.grad_quant(op(xq, wq, bias))
        y_w = self.grad_w_quant(op(xq.detach(), wq, bias))
        y_d = self.grad_quant(op(xq, wq.detach(), None))
        return _Join.apply(y_w, y_d)

    def precision(self, kind: str) -> Precision:
        return self.quantizer(kind).precision()

    def set_precision(self, kind: str, p: Precision) -> None:
        self.quantizer(kind).set_precision(p)

    def set_rounding(self, kind: str, rounding: str) -> None:
        self._settings[kind]["rounding"] = check_rounding(rounding)
        self._reapply_settings()

    def set_seed(self, seed: int) -> None:
        for kind in TENSOR_KINDS:
            self._settings[kind]["seed"] = int(seed)
        self._reapply_settings()

    def geometry_args(self) -> dict:
        """Kernel size, stride and padding as the MAC engine sees them (Dense: 1x1)."""
        return {"k_h": 1, "k_w": 1, "stride": 1, "pad": 0}

    @property
    def fully_float(self) -> bool:
        return not (bool(self.quantizer("weight").enabled) or bool(self.quantizer("act").enabled))

    def quantized_weight(self) -> torch.Tensor:
        """The quantized copy of the master weights at the current precision (no side effects)."""
        q = self.quantizer("weight")
        with torch.no_grad():
            if not bool(q.enabled):
                return self.weight.detach().clone()
            fp = q.current_fixed_point(self.weight)
            rounding = "nearest" if q.rounding == "stochastic" else q.rounding
            return quantize(self.weight.detach(), fp.bits, fp.frac, fp.signed, rounding,
                            q.overflow)

    def _quant_operands(self, x: torch.Tensor):
        act_q, w_q = self.quantizer("act"), self.quantizer("weight")
        xq = act_q.quantize(x)
        wq = w_q.quantize(self.weight)
        bias = self.bias
        if bias is not None and bool(act_q.enabled) and bool(w_q.enabled):
            fp = bias_fixed_point(bias, int(act_q.frac.item()) + int(w_q.frac.item()))
            bias = _FixedPointSTE.apply(bias, fp, "nearest", "saturate", 0, 0, 0, False)
            # the grid the MAC engines align the bias from (a plain attribute: nn.Module's
            # __setattr__ would cost more than the bias quantization)
            self.__dict__["bias_fixed_point"] = fp
        return xq, wq, bias

    @property
    def exporting(self) -> bool:
        """Brevitas' export managers switch the quantizer proxies (not the layer) to export mode:
        then the fast path would trace plain arithmetic instead of Quant nodes."""
        return bool(self.export_mode or self.weight_quant.export_mode)

    def brevitas_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Brevitas' own QuantLayer path (used by export; tests compare it with ``forward``)."""
        out = super().forward(x)
        return out.value if hasattr(out, "value") else out


class _Join(torch.autograd.Function):
    """Forward: the first input; backward: the incoming gradient to both inputs."""

    @staticmethod
    def forward(ctx, a, b):
        return a.view_as(a)

    @staticmethod
    def backward(ctx, g):
        return g, g


def _quantizer_args(weight_bits: int, act_bits: int, act_signed: bool, tensor_id: int) -> dict:
    """The Brevitas quantizers every hostsw MAC layer is built with (ids: weight, input; the
    error quantizers take the next two)."""
    return dict(weight_quant=FixedPointWeightQuant, weight_bit_width=weight_bits,
                weight_tensor_id=tensor_id,
                input_quant=FixedPointActQuant, input_bit_width=act_bits,
                input_signed=act_signed, input_tensor_id=tensor_id + 1,
                bias_quant=AccumulatorBiasQuant, return_quant_tensor=False)


class FxpConv2d(QuantLayerMixin, QuantConv2d):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 groups: int = 1, bias: bool = True, *, weight_bits: int = 8,
                 act_bits: int = 8, act_signed: bool = False, grad_bits: int = 8,
                 grad_rounding: str = "stochastic", tensor_id: int = 0):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         groups=groups, bias=bias,
                         **_quantizer_args(weight_bits, act_bits, act_signed, tensor_id))
        self._init_quant(grad_bits, grad_rounding, tensor_id)

    def _op(self, x, w, b):
        return F.conv2d(x, w, b, self.stride, self.padding, self.dilation, self.groups)

    def geometry_args(self) -> dict:
        kh, kw = self.kernel_size
        sh, sw = self.stride
        ph, pw = self.padding if not isinstance(self.padding, str) else (-1, -1)
        if sh != sw or ph != pw or ph < 0 or self.groups != 1 or tuple(self.dilation) != (1, 1):
            from hostsw.errors import UnsupportedModelError
            raise UnsupportedModelError(
                "the MAC engine takes square stride and padding, groups=1 and no dilation: "
                "use --backend software for this Conv2d")
        return {"k_h": kh, "k_w": kw, "stride": sh, "pad": ph}


class FxpLinear(QuantLayerMixin, QuantLinear):
    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 weight_bits: int = 8, act_bits: int = 8, act_signed: bool = False,
                 grad_bits: int = 8, grad_rounding: str = "stochastic", tensor_id: int = 0):
        super().__init__(in_features, out_features, bias=bias,
                         **_quantizer_args(weight_bits, act_bits, act_signed, tensor_id))
        self._init_quant(grad_bits, grad_rounding, tensor_id)

    def _op(self, x, w, b):
        return F.linear(x, w, b)


QUANT_LAYER_TYPES = (FxpConv2d, FxpLinear)


def quant_layers(model: torch.nn.Module) -> dict[str, QuantLayerMixin]:
    """Every quantized MAC layer of ``model`` by module name, in definition order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, QuantLayerMixin)}
