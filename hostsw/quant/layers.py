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
from hostsw.quant.tensor_quant import FixedPointTensorQuant, quantize_bias


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
        # (looked up on every forward, so through the ``_modules`` dicts rather than
        # nn.Module.__getattr__; Brevitas may replace a proxy's tensor_quant, so not cached)
        m = self._modules
        if kind == "weight":
            return m["weight_quant"]._modules["tensor_quant"]
        if kind == "act":
            return m["input_quant"]._modules["fused_activation_quant_proxy"]._modules["tensor_quant"]
        if kind == "grad":
            return m["grad_quant"]._modules["tensor_quant"]
        if kind == "grad_w":
            return m["grad_w_quant"]._modules["tensor_quant"]
        raise KeyError(f"unknown tensor kind {kind!r}: use one of {TENSOR_KINDS} or grad_w")

    @property
    def bifurcated(self) -> bool:
        """True when the bwd-weight error has its own precision (``grad_w``)."""
        return bool(self.quantizer("grad_w")._scalars()[0])

    def set_grad_quantizer(self, name: str) -> None:
        """ptq | psq | bhq for both error quantizers."""
        self.grad_quant.set_quantizer(name)
        self.grad_w_quant.set_quantizer(name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.exporting:
            return self.brevitas_forward(x)
        return self._mac(self._op, *self._quant_operands(x))

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
        if not (self.training and self.bifurcated):
            return self.grad_quant.on_fresh_output(op(xq, wq, bias))
        y_w = self.grad_w_quant.on_fresh_output(op(xq.detach(), wq, bias))
        y_d = self.grad_quant.on_fresh_output(op(xq, wq.detach(), None))
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
        """(input, weight, bias) as the MAC takes them: each on its grid where its quantizer is
        on (the bias only when both are: it sits on their product's grid)."""
        act_q, w_q = self.quantizer("act"), self.quantizer("weight")
        w, bias = self._parameters["weight"], self._parameters["bias"]
        if not (act_q._scalars()[0] and w_q._scalars()[0]):
            return act_q.quantize(x), w_q.quantize(w), bias  # the bias stays float
        if torch.is_grad_enabled() and (x.requires_grad or w.requires_grad
                                        or (bias is not None and bias.requires_grad)):
            return _OperandsSTE.apply(x, w, bias, self, act_q, w_q)
        return self._quantize_operands(x, w, bias, act_q, w_q, (False, False))[:3]

    def _quantize_operands(self, x: torch.Tensor, w: torch.Tensor, bias, act_q, w_q, want_masks):
        """(x, w, bias on their grids, where x and w lay inside their ranges or None): the input
        and weight quantizers in this order, then the bias on the grid their fracs give."""
        xq, fx, x_inside = act_q.quantize_with_mask(x, want_masks[0])
        wq, fw, w_inside = w_q.quantize_with_mask(w, want_masks[1])
        if bias is not None:
            bias, fp = quantize_bias(bias, fx.frac + fw.frac)
            # the grid the MAC engines align the bias from (a plain attribute: nn.Module's
            # __setattr__ would cost more than the bias quantization)
            self.__dict__["bias_fixed_point"] = fp
        return xq, wq, bias, x_inside, w_inside

    @property
    def exporting(self) -> bool:
        """Brevitas' export managers switch the quantizer proxies (not the layer) to export mode:
        then the fast path would trace plain arithmetic instead of Quant nodes."""
        return bool(self.export_mode or self._modules["weight_quant"].export_mode)

    def brevitas_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Brevitas' own QuantLayer path (used by export; tests compare it with ``forward``)."""
        out = super().forward(x)
        return out.value if hasattr(out, "value") else out


class _OperandsSTE(torch.autograd.Function):
    """A layer's input, weight and bias quantizers as one autograd node (each node costs more
    bookkeeping than quantizing a small weight): straight-through gradients, the input's and the
    weight's zeroed where they saturated (when their quantizer clips gradients), the bias's
    passed through (as ``_FixedPointSTE`` with ``clip_grad=False``)."""

    @staticmethod
    def forward(ctx, x, w, bias, layer: "QuantLayerMixin", act_q, w_q):
        want = ctx.needs_input_grad[:2]
        xq, wq, bq, x_inside, w_inside = layer._quantize_operands(x, w, bias, act_q, w_q, want)
        ctx.masked = (x_inside is not None, w_inside is not None)
        ctx.save_for_backward(*(m for m in (x_inside, w_inside) if m is not None))
        # an input without gradient (the data) must not make the MAC compute one for it
        ctx.mark_non_differentiable(*(t for t, need in zip((xq, wq, bq), ctx.needs_input_grad)
                                      if t is not None and not need))
        return xq, wq, bq

    @staticmethod
    def backward(ctx, gx, gw, gb):
        masks = iter(ctx.saved_tensors)
        if ctx.masked[0]:
            gx = gx * next(masks)
        if ctx.masked[1]:
            gw = gw * next(masks)
        return gx, gw, gb, None, None, None


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
