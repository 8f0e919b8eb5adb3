"""MuPPET: multi-precision policy enforced training (Rajagopal et al., ICML 2020; schedules.md).

One GLOBAL precision for every layer (weights, activations and errors; frac from each tensor's
range), raised through fixed ``levels`` (8, 12, 14, 16, then 32 = float32) and never lowered.

The switching policy follows the authors' code. The weight gradient of each layer's last
mini-batch of every epoch is accumulated; every ``resolution`` (r) epochs the inter-epoch gradient
diversity sum_k ||g_k||^2 / ||sum_k g_k||^2 of those gradients is computed per layer, averaged over
the layers, and the sums are reset. The running maximum since the last switch divided by the
current value is the ratio p; p > gamma(epoch) = threshold_base + threshold_scale *
exp(-threshold_decay * epoch) is a violation (the authors' 1 + 1.5 exp(-0.1 epoch)), and
``violations`` violations at one level raise the precision one level (counter and maximum reset).
This is the baseline AdaPT is compared against in its paper.
"""

from __future__ import annotations

import math
import torch

from hostsw.precision import sync
from hostsw.precision.schedules import (COMMON_DEFAULTS, ScheduledController, check_int,
                                        check_levels, check_number)
from hostsw.quant.precision import Precision


def gradient_diversity(grads: list[torch.Tensor]) -> float:
    """sum_k ||g_k||^2 / ||sum_k g_k||^2 (inf when the sum vanishes)."""
    num = sum(float(g.double().pow(2).sum()) for g in grads)
    den = float(torch.stack([g.double() for g in grads]).sum(0).pow(2).sum())
    return num / den if den > 0 else math.inf


def diversity_ratio(history: list[float]) -> float:
    """p = max(history) / history[-1] (>= 1; 1 while the diversity is at its recent maximum)."""
    now, top = history[-1], max(history)
    if math.isinf(now):
        return 1.0
    return top / now if now > 0 else math.inf


class MuppetController(ScheduledController):
    name = "muppet"
    defaults = {
        #: global word lengths in order; 32 (or fp32) = float32
        "levels": [8, 12, 14, 16, 32],
        #: r: epochs between diversity measurements (each adds one last-batch gradient per epoch)
        "resolution": 3,
        #: gamma(epoch) = threshold_base + threshold_scale * exp(-threshold_decay * epoch)
        "threshold_base": 1.0,
        "threshold_scale": 1.5,
        "threshold_decay": 0.1,
        #: p: violations at one level that raise the precision
        "violations": 2,
        **COMMON_DEFAULTS,
    }

    @classmethod
    def parse_params(cls, p: dict) -> dict:
        levels = check_levels("muppet", p["levels"], pairs=False, strict=True,
                              example="[8, 12, 14, 16, 32]")
        return {**super().parse_params(p),
                # 32 bits: float32, as in MuPPET
                "levels": [None if b in (None, 32) else b for b in levels],
                "resolution": check_int("muppet", "resolution", p["resolution"], 1,
                                        "epochs between gradient-diversity measurements"),
                **{k: check_number("muppet", k, p[k], lo, math.inf) for k, lo in
                   (("threshold_base", 1.0), ("threshold_scale", 0.0),
                    ("threshold_decay", 0.0))},
                "max_violations": check_int("muppet", "violations", p["violations"], 1,
                                            "p violations raise the precision")}

    def __init__(self, params, board):
        super().__init__(params, board)
        self.level = 0
        self.violations = 0
        self.max_diversity = 0.0
        self.grads: list[dict[str, torch.Tensor]] = []
        self.history: list[dict] = []

    @property
    def bits(self) -> int | None:
        return self.levels[self.level]

    def threshold_at(self, epoch: int) -> float:
        return self.threshold_base + self.threshold_scale * math.exp(-self.threshold_decay * epoch)

    def _apply_level(self, reason: str, force_log: bool = False) -> None:
        p = Precision(self.bits)
        self.apply(p, p, reason, force_log=force_log)

    def on_train_begin(self) -> None:
        self._apply_level("init", force_log=True)

    @torch.no_grad()
    def on_after_backward(self) -> None:
        _, spe = self.require_horizon()
        if (self.board.step + 1) % spe:
            return  # not the last mini-batch of the epoch
        self.grads.append({n: m.weight.grad.detach().clone() for n, m in self.board.layers.items()
                           if m.weight.grad is not None})

    def on_epoch_end(self, metrics: dict) -> None:
        epoch = int(metrics["epoch"])
        if epoch % self.resolution or not self.grads:
            return
        per_layer = [gradient_diversity([g[n] for g in self.grads if n in g])
                     for n in self.grads[-1]]
        self.grads = []
        finite = [d for d in per_layer if math.isfinite(d)]
        div = sync.agree(sum(finite) / len(finite) if finite else math.inf)  # rank 0's, on all
        gamma = self.threshold_at(epoch)
        row = {"epoch": epoch, "bits": 32 if self.bits is None else self.bits, "diversity": div,
               "max_diversity": max(self.max_diversity, div), "threshold": gamma,
               "violation": False}
        if div >= self.max_diversity:
            self.max_diversity = div
        else:
            ratio = diversity_ratio([self.max_diversity, div])
            row["ratio"] = ratio
            if ratio > gamma:
                self.violations += 1
                row["violation"] = True
        last = len(self.levels) - 1
        if (self.violations >= self.max_violations and self.level < last
                and (self.epochs is None or epoch < self.epochs)):
            self.level += 1
            self.violations = 0
            self.max_diversity = 0.0
            self._apply_level("muppet")
            row["switched_to"] = 32 if self.bits is None else self.bits
        self.history.append(row)

    def state_dict(self) -> dict:
        return {"level": self.level, "violations": self.violations,
                "max_diversity": self.max_diversity, "grads": [dict(g) for g in self.grads],
                "history": [dict(h) for h in self.history]}

    def load_state_dict(self, state: dict) -> None:
        self.level, self.violations = state["level"], state["violations"]
        self.max_diversity = state["max_diversity"]
        self.grads = [dict(g) for g in state["grads"]]
        self.history = [dict(h) for h in state["history"]]

    def summary(self) -> dict:
        return {"levels": [32 if b is None else b for b in self.levels],
                "final_bits": 32 if self.bits is None else self.bits,
                "resolution": self.resolution, "violations_to_switch": self.max_violations,
                "grad_quantizer": self.grad_quantizer, "checks": self.history}
