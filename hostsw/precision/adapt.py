"""AdaPT: per-layer adaptive fixed-point precision (Kummer et al., arXiv 2107.13490; adapt.md).

Per layer: ``<BW, FL>``, lookback ``lb``, resolution ``r``, the accumulated normalized weight
gradient (O(weights) memory) and a batch counter. Globally: the push-up strategy, driven by the
loss. Each step the weight gradients are quantized at the layer precision (stochastic rounding),
normalized (eq. 3.4) and accumulated; when a layer's counter reaches ``lb`` it updates lb and r,
pushes its precision down (a batched scan of every candidate's KL) and up (gradient diversity),
adds buffer bits, and resets.

``apply_at: step`` applies a decision at once (the paper); ``apply_at: epoch`` holds it until the
next epoch boundary, which is how the C-simulation and board back-ends switch precision.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass, fields

import torch

from hostsw.cost import adapt_heuristic_overhead
from hostsw.errors import ConfigError
from hostsw.fixedpoint import quantize
from hostsw.precision import adapt_rules as rules
from hostsw.precision import sync
from hostsw.precision.base import PrecisionController, parse_precision
from hostsw.quant.precision import Precision


@dataclass
class AdaptParams:
    """Hyperparameters; defaults are the paper's §4.1 values."""

    #: initial <BW, FL> of every layer
    start: tuple = (8, 4)
    r_lwr: int = 50
    r_upr: int = 150
    lb_lwr: int = 25
    lb_upr: int = 100
    #: lookback momentum γ in [0, 1]
    gamma: float = 0.33
    #: buffer bits (4 for AlexNet/CIFAR-10, 8 for ResNet/CIFAR-100 in the paper)
    buff: int = 4
    #: smallest FL push-down considers (the authors' code uses 4)
    pd_frac_floor: int = 4
    #: push-down histograms the whole tensor (the spec) or its first output slice w[0] (the
    #: authors' code): a few hundred values cross fewer bin edges, so fewer bits suffice
    pd_scope: str = "tensor"
    #: KL tolerance of push-down in bits of information lost per weight (0: lossless, the paper)
    pd_kl_max: float = 0.0
    #: step: decide and apply within the epoch (paper); epoch: apply at the next epoch boundary
    apply_at: str = "step"
    #: activation precision: layer (= the layer's <BW, FL>, as in the paper), layer-bits (the
    #: layer's BW with frac from the activation's range: activations are not bounded by the
    #: weights' buffer bits) or [bits, frac|auto]
    act: object = "layer"
    #: error/gradient precision: layer (BW bits, frac from the range) or [bits, frac|auto]
    grad: object = "layer"
    #: quantize each weight gradient at the layer precision (stochastic) before normalizing
    quantize_weight_grads: bool = True
    #: update the master weights with the normalized gradients (eq. 3.4)
    normalize_grads: bool = True
    #: rounding of the quantized weight copy (the paper: stochastic)
    weight_rounding: str = "stochastic"
    #: initial strategy: min | mean | max
    strategy: str = "min"
    #: escalate the strategy min -> mean -> max while the loss stalls (the paper); false keeps
    #: ``strategy``: at short lookbacks x = ln(diversity) - 1 is small and the escalated step
    #: ceil(1 / x^2) jumps words to 32 bits
    pu_escalate: bool = True
    #: per-layer overrides of the initial precision: {layer: {start: [bits, frac]}}
    layers: dict = None

    @classmethod
    def from_params(cls, params: dict) -> "AdaptParams":
        p = cls(**params)
        p.validate()
        return p

    def validate(self) -> None:
        if (not isinstance(self.start, (list, tuple)) or len(self.start) != 2
                or not all(isinstance(v, int) for v in self.start)):
            raise ConfigError(f"adapt start={self.start!r}: give [bits, frac], e.g. [8, 4]")
        self.start = tuple(self.start)
        Precision(self.start[0], self.start[1])
        for key in ("r_lwr", "r_upr", "lb_lwr", "lb_upr", "buff", "pd_frac_floor"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError(f"adapt {key}={v!r} must be an integer")
        if not 1 <= self.lb_lwr <= self.lb_upr:
            raise ConfigError(f"adapt lb_lwr={self.lb_lwr} must be >= 1 and <= lb_upr={self.lb_upr}")
        if not 2 <= self.r_lwr <= self.r_upr:
            raise ConfigError(f"adapt r_lwr={self.r_lwr} must be >= 2 and <= r_upr={self.r_upr}")
        if not 0 <= self.buff <= 32:
            raise ConfigError(f"adapt buff={self.buff} is out of range: use 0..32")
        if not 0.0 <= float(self.gamma) <= 1.0:
            raise ConfigError(f"adapt gamma={self.gamma} is out of range: use a value in [0, 1]")
        if self.apply_at not in ("step", "epoch"):
            raise ConfigError(f"adapt apply_at={self.apply_at!r}: use step or epoch")
        if not isinstance(self.pu_escalate, bool):
            raise ConfigError(f"adapt pu_escalate={self.pu_escalate!r}: use true or false")
        if self.pd_scope not in rules.PD_SCOPES:
            raise ConfigError(f"adapt pd_scope={self.pd_scope!r}: use tensor or first_slice")
        if (isinstance(self.pd_kl_max, bool) or not isinstance(self.pd_kl_max, (int, float))
                or not 0.0 <= self.pd_kl_max < math.inf):
            raise ConfigError(f"adapt pd_kl_max={self.pd_kl_max!r} must be a finite number >= 0 "
                              "(bits lost per weight; 0 = lossless)")
        if not 0 <= self.pd_frac_floor <= 32:
            raise ConfigError(f"adapt pd_frac_floor={self.pd_frac_floor} is out of range: use "
                              "0..32")
        if self.strategy not in rules.STRATEGIES:
            raise ConfigError(f"adapt strategy={self.strategy!r}: use min, mean or max")
        if self.weight_rounding not in ("nearest", "stochastic"):
            raise ConfigError(f"adapt weight_rounding={self.weight_rounding!r}: use stochastic "
                              "or nearest")
        if self.act not in ("layer", "layer-bits"):
            parse_precision("adapt act", self.act)
        if self.grad != "layer":
            parse_precision("adapt grad", self.grad)


@dataclass
class LayerState:
    bits: int
    frac: int
    lb: int
    r: int
    count: int = 0
    decisions: int = 0


class AdaptController(PrecisionController):
    name = "adapt"
    defaults = {f.name: f.default for f in fields(AdaptParams)}
    #: checked when a config is loaded (``PrecisionController.check_params``)
    params_class = AdaptParams

    def __init__(self, params, board):
        super().__init__(params, board)
        try:
            self.hp = AdaptParams.from_params(dict(params))
        except TypeError as e:  # unknown keys are caught by the base class; this is a type slip
            raise ConfigError(f"invalid adapt parameters: {e}") from None
        self.layers = {name: LayerState(*self._start(name), self.hp.lb_lwr, self.hp.r_lwr)
                       for name in board.layers}
        self.acc = {name: torch.zeros_like(m.weight, dtype=torch.float32)
                    for name, m in board.layers.items()}
        self.strategy = self.hp.strategy
        self.losses: deque = deque(maxlen=self.hp.lb_upr + 1)
        self.pending: dict[str, tuple[int, int]] = {}
        self._overhead: dict[str, float] = {}
        self.seed = 0

    def _start(self, name: str) -> tuple[int, int]:
        overrides = self.hp.layers or {}
        for layer, spec in overrides.items():
            if layer not in self.board.layers:
                raise ConfigError(f"adapt controller names layer {layer!r}, which the model does "
                                  f"not have: layers are {', '.join(self.board.layers)}")
            if not isinstance(spec, dict) or set(spec) != {"start"}:
                raise ConfigError(f"adapt layers.{layer}: give {{start: [bits, frac]}}")
        start = overrides.get(name, {}).get("start", self.hp.start)
        p = Precision.parse(list(start))
        if p.bits is None or p.frac is None:
            raise ConfigError(f"adapt start for {name} must be [bits, frac] with integers")
        return p.bits, p.frac

    # --- precision application ---------------------------------------------------------------
    def _precisions(self, bits: int, frac: int) -> dict[str, Precision]:
        if self.hp.act == "layer":
            act = Precision(bits, frac)
        elif self.hp.act == "layer-bits":
            act = Precision(bits, None)
        else:
            act = Precision.parse(self.hp.act)
        grad = Precision(bits, None) if self.hp.grad == "layer" else Precision.parse(self.hp.grad)
        return {"weight": Precision(bits, frac), "act": act, "grad": grad}

    def _apply(self, name: str, reason: str, force_log: bool = False) -> None:
        st = self.layers[name]
        for kind, p in self._precisions(st.bits, st.frac).items():
            self.board.set(name, kind, p, reason, force_log=force_log)

    def configure(self) -> None:
        for name, m in self.board.layers.items():
            m.set_rounding("weight", self.hp.weight_rounding)
            m.set_rounding("grad", "stochastic")
            self.seed = int(m.quantizer("weight").seed)

    def on_train_begin(self) -> None:
        for name in self.layers:
            self._apply(name, "init", force_log=True)

    # --- per step ----------------------------------------------------------------------------
    @torch.no_grad()
    def on_after_backward(self) -> None:
        """Quantize (stochastic) and normalize the weight gradients; accumulate for diversity.

        Stays on the device without a host sync (the norm is a tensor; a zero gradient divided
        by the clamped norm is still zero)."""
        step = self.board.step
        for i, (name, m) in enumerate(self.board.layers.items()):
            st = self.layers[name]
            for j, p in enumerate((m.weight, m.bias)):
                if p is None or p.grad is None:
                    continue
                g = p.grad
                if self.hp.quantize_weight_grads:
                    g = quantize(g, st.bits, st.frac, True, "stochastic", "saturate",
                                 self.seed, 1_000_003 + 2 * i + j, step)
                inv = torch.linalg.vector_norm(g).clamp_(min=torch.finfo(g.dtype).tiny)
                inv.reciprocal_()
                if j == 0:
                    self.acc[name].addcmul_(g, inv)
                if self.hp.normalize_grads:
                    g = g * inv
                if g is not p.grad:
                    p.grad.copy_(g)
            st.count += 1

    def on_step_end(self, loss: float) -> None:
        lb_avg = max(1, int(sum(s.lb for s in self.layers.values()) / len(self.layers)))
        recent = list(self.losses)[-lb_avg:]
        if len(self.losses) >= lb_avg and self.hp.pu_escalate:
            self.strategy = rules.update_strategy(self.strategy, sum(recent) / len(recent), loss)
        self.losses.append(loss)
        for name, st in self.layers.items():
            if st.count >= st.lb:
                self._decide(name, st)

    def _decide(self, name: str, st: LayerState) -> None:
        hp = self.hp
        layer = self.board.layers[name]
        diversity = rules.gradient_diversity(st.count, float(torch.linalg.vector_norm(self.acc[name])))
        st.lb = rules.update_lookback(st.lb, diversity, hp.lb_lwr, hp.lb_upr, hp.gamma)
        st.r = rules.update_resolution(st.r, st.lb, hp.lb_lwr, hp.lb_upr, hp.r_lwr, hp.r_upr)
        pd = rules.push_down(layer.weight.detach(), st.bits, st.frac, st.r, hp.pd_frac_floor,
                             hp.pd_scope, float(hp.pd_kl_max))
        s = rules.push_up_step(diversity, pd.frac, self.strategy)
        bits, frac = rules.push_up(pd.bits, pd.frac, s)
        bits, frac = rules.apply_buffer_bits(bits, frac, hp.buff)
        # data-parallel runs: every rank takes rank 0's decision (its inputs, the all-reduced
        # gradients and the shared weights, are the same anyway; this makes it so by construction)
        st.lb, st.r, bits, frac = sync.agree((st.lb, st.r, bits, frac))
        w = layer.quantized_weight()
        density = float((w != 0).sum()) / w.numel()
        self._overhead[name] = self._overhead.get(name, 0.0) + adapt_heuristic_overhead(
            w.numel(), max(bits, st.bits), st.lb, st.r, density)
        self.acc[name].zero_()
        st.count = 0
        st.decisions += 1
        if hp.apply_at == "step":
            st.bits, st.frac = bits, frac
            self._apply(name, "adapt")
        else:
            self.pending[name] = (bits, frac)

    epoch_switch_hint = "apply_at: epoch"

    def switches_within_epoch(self) -> bool:
        return self.hp.apply_at == "step"

    def on_epoch_end(self, metrics: dict) -> None:
        for name, (bits, frac) in sorted(self.pending.items()):
            st = self.layers[name]
            st.bits, st.frac = bits, frac
            self._apply(name, "adapt-epoch")
        self.pending.clear()

    def take_overhead(self) -> dict[str, float] | None:
        out, self._overhead = self._overhead, {}
        return out or None

    # --- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"layers": {n: asdict(s) for n, s in self.layers.items()},
                "acc": {n: a.clone() for n, a in self.acc.items()},
                "strategy": self.strategy, "losses": list(self.losses),
                "pending": dict(self.pending), "overhead": dict(self._overhead)}

    def load_state_dict(self, state: dict) -> None:
        self.layers = {n: LayerState(**s) for n, s in state["layers"].items()}
        for n, a in state["acc"].items():
            self.acc[n].copy_(a)
        self.strategy = state["strategy"]
        self.losses.clear()
        self.losses.extend(state["losses"])
        self.pending = {n: tuple(v) for n, v in state["pending"].items()}
        self._overhead = dict(state["overhead"])

    def summary(self) -> dict:
        return {"strategy": self.strategy,
                "layers": {n: {"bits": s.bits, "frac": s.frac, "lookback": s.lb,
                               "resolution": s.r, "decisions": s.decisions}
                           for n, s in self.layers.items()}}
