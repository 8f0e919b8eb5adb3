"""FracTrain's DFQ (dynamic fractional quantization): a learned gate per layer picks, for every
input, one of a few precisions for that input's forward and backward pass (Fu et al., NeurIPS 2020).

``DfqRouter`` takes over one quantized layer's forward. Its ``DfqGate`` (global average pool of the
layer input, then one float Linear to K logits) scores the K options; each sample runs at the
option with the highest logit. Training uses the straight-through estimator: every distinct option
precision is evaluated on the batch, the layer output is sum_k m_k * y_k with
m = onehot(choice) + (softmax - softmax.detach()) (value: exactly the chosen y; gradient to the gate:
<dL/dy, y_k> through the softmax). Backward reaches each y_k only through the samples that chose
it, so a sample's error is quantized at its own option's backward bits (one error quantizer per
option) and only its option's weight gradient receives it. The unchosen forward evaluations exist
only to train the gate in simulation; the cost meter charges each sample at the option it chose.
Eval runs each sample once, at its chosen option.

The cost penalty is the expected relative BitOPs of the step, sum_k softmax_k * cost_k, with cost_k
the option's per-sample BitOPs of the layer over the model's float32 BitOPs per sample
(hostsw.cost.bitops): weighted by ``cost_weight`` it pushes the gates toward cheaper options.
"""

from __future__ import annotations

from collections import Counter

import torch
import torch.nn.functional as F
from torch import nn

from hostsw.cost.bits import FLOAT_BITS
from hostsw.quant.grad import GradQuant
from hostsw.quant.precision import Precision

#: an option: (forward bits, backward bits), None = float32
Option = tuple


def width(bits: int | None) -> int:
    return FLOAT_BITS if bits is None else bits


def cap_option(option: Option, level: Option) -> Option:
    """The option under a PFQ level: each of forward/backward at most the level's bits."""
    return tuple(o if width(o) <= width(lv) else lv for o, lv in zip(option, level))


class DfqGate(nn.Module):
    """Pooled input features -> K logits. Starts at zero weights with the last (most precise)
    option's logit ahead by ``init_margin``: training starts at the static precision."""

    def __init__(self, n_in: int, k: int, init_margin: float = 1.0):
        super().__init__()
        self.fc = nn.Linear(n_in, k)
        with torch.no_grad():
            self.fc.weight.zero_()
            self.fc.bias.zero_()
            self.fc.bias[-1] = init_margin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = x.mean(dim=tuple(range(2, x.dim()))) if x.dim() > 2 else x
        return self.fc(feats)

    def macs(self) -> int:
        return self.fc.in_features * self.fc.out_features


class DfqRouter(nn.Module):
    """Per-sample precision for one quantized layer (see the module docstring)."""

    def __init__(self, name: str, layer: nn.Module, n_in: int, options: list[Option],
                 held: dict[str, Precision], tensor_id: int, init_margin: float = 1.0):
        super().__init__()
        self.name = name
        self.options = [tuple(o) for o in options]
        self.effective = list(self.options)
        self.held = dict(held)
        self.gate = DfqGate(n_in, len(options), init_margin).to(layer.weight.device)
        self.grad_quants = nn.ModuleList(
            GradQuant(width(o[1]), None, "stochastic", tensor_id=tensor_id + k)
            for k, o in enumerate(self.options)).to(layer.weight.device)
        #: per-sample relative cost of each option (set by the controller)
        self.cost = torch.zeros(len(options))
        #: samples per effective option of the last training step, and since ``reset_counts``
        self.step_counts: Counter = Counter()
        self.counts: Counter = Counter()
        self.penalty: torch.Tensor | float = 0.0
        self._layer = [layer]  # not a submodule: the model owns it

    @property
    def layer(self) -> nn.Module:
        return self._layer[0]

    def configure(self) -> None:
        """Error quantizers follow the layer's rounding, seed and scale rule."""
        src = self.layer.quantizer("grad")
        for gq in self.grad_quants:
            gq.tensor_quant.rounding = src.rounding
            gq.tensor_quant.seed = src.seed
            gq.set_quantizer(self.layer.grad_quant.quantizer_name)

    def set_level(self, level: Option) -> None:
        self.effective = [cap_option(o, level) for o in self.options]
        for gq, (_, bw) in zip(self.grad_quants, self.effective):
            gq.tensor_quant.set_precision(self.held.get("grad", Precision(bw)))

    def layer_bits(self, option: Option) -> tuple:
        """(act, weight, grad) bits a sample at ``option`` runs with (held kinds stay)."""
        fw, bw = option
        return tuple(self.held[k].bits if k in self.held else b
                     for k, b in (("act", fw), ("weight", fw), ("grad", bw)))

    def reset_counts(self) -> None:
        self.counts = Counter()

    # --- the layer's forward ------------------------------------------------------------------
    def _run(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """The layer at option k (precision set in place for this call, then restored)."""
        layer, (fw, _) = self.layer, self.effective[k]
        saved = {kind: layer.precision(kind) for kind in ("weight", "act") if kind not in self.held}
        gq = layer.quantizer("grad")
        enabled = bool(gq.enabled)
        try:
            for kind in saved:
                layer.set_precision(kind, Precision(fw))
            gq.enabled.fill_(False)  # the option's own error quantizer replaces the layer's
            y = type(layer).forward(layer, x)
        finally:
            for kind, p in saved.items():
                layer.set_precision(kind, p)
            gq.enabled.fill_(enabled)
        return self.grad_quants[k](y) if self.layer.training else y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.gate(x.detach())
        choice = logits.argmax(1)
        # one evaluation per distinct precision: the first option index carrying it
        first = {}
        for k, p in enumerate(self.effective):
            first.setdefault(p, k)
        rep = torch.tensor([first[p] for p in self.effective], device=choice.device)
        picked = rep[choice]
        counts = torch.bincount(picked, minlength=len(self.effective)).tolist()
        used = Counter({self.effective[k]: n for k, n in enumerate(counts) if n})
        if not self.layer.training:
            out = None
            for k in sorted(first[p] for p in used):
                idx = (picked == k).nonzero(as_tuple=True)[0]
                y = self._run(x[idx], k)
                if out is None:
                    out = y.new_empty((x.shape[0],) + y.shape[1:])
                out[idx] = y
            return out
        self.step_counts = used
        self.counts.update(used)
        soft = F.softmax(logits, dim=1)
        # value exactly one-hot (soft - soft.detach() is exactly 0), gradient the softmax's
        mask = F.one_hot(choice, len(self.effective)).to(soft.dtype) + (soft - soft.detach())
        out = 0.0
        for p, k in first.items():
            members = [j for j, q in enumerate(self.effective) if q == p]
            m = mask[:, members].sum(1)
            y = self._run(x, k)
            out = out + m.view((-1,) + (1,) * (y.dim() - 1)) * y
        self.penalty = (soft * self.cost.to(soft.device)).sum(1).mean()
        return out
