"""The precision state of a model, changed only through here so that every change is logged.

One row per change goes to ``precision.jsonl``: step, epoch, layer, tensor kind, bits (null =
float32), frac (null = dynamic, chosen from the tensor's range each step), signed, reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from hostsw.errors import ConfigError
from hostsw.io import append_jsonl
from hostsw.quant.layers import QuantLayerMixin
from hostsw.quant.precision import TENSOR_KINDS, Precision


class PrecisionBoard:
    """Layers by name plus the logged current precision of each (layer, kind)."""

    def __init__(self, layers: dict[str, QuantLayerMixin], log_path: Path | None = None,
                 on_change: Callable[[], None] | None = None):
        self.layers = layers
        self.log_path = log_path
        self.on_change = on_change
        self.step = 0
        self.epoch = 0
        #: hardware back-ends: precision changes are refused while an epoch's steps run
        self.epoch_switching = False
        self.in_epoch = False
        #: layer name -> {phase: datapath tier}, logged with every change (hardware back-ends)
        self.tier_of: Callable[[str], dict] | None = None
        #: training accuracy of the last batch (set by the loop before ``on_step_end``)
        self.batch_accuracy: float | None = None

    def get(self, layer: str, kind: str) -> Precision:
        return self.layers[layer].precision(kind)

    def set(self, layer: str, kind: str, p: Precision, reason: str, force_log: bool = False) -> bool:
        """Apply ``p``; log and return True if it changed anything (or ``force_log``)."""
        m = self.layers[layer]
        changed = m.precision(kind) != p
        if changed and self.epoch_switching and self.in_epoch:
            raise ConfigError(
                f"the controller changed {layer} {kind} to {p.to_config()} at step {self.step}, "
                "inside an epoch: hardware back-ends switch precision only between epochs")
        if changed:
            m.set_precision(kind, p)
        tiers = None
        if self.tier_of is not None:
            try:
                tiers = self.tier_of(layer)
            except ConfigError:
                tiers = None  # not runnable yet (e.g. float32): the epoch start refuses it
        if (changed or force_log) and self.log_path is not None:
            row = {"step": self.step, "epoch": self.epoch, "layer": layer, "kind": kind,
                   "bits": p.bits, "frac": p.frac, "signed": m.quantizer(kind).signed,
                   "reason": reason}
            if tiers is not None:
                row["tiers"] = tiers
            append_jsonl(self.log_path, row)
        if changed and self.on_change is not None:
            self.on_change()
        return changed

    def bits(self) -> dict[str, tuple]:
        """(act, weight, grad, bwd-weight grad) bit widths per layer, None = float32 (the cost
        model's input); the last equals grad unless the layer is bifurcated."""
        out = {}
        for name, m in self.layers.items():
            g = m.precision("grad").bits
            out[name] = (m.precision("act").bits, m.precision("weight").bits, g,
                         m.precision("grad_w").bits if m.bifurcated else g)
        return out

    def final_precision(self) -> dict[str, dict[str, list | None]]:
        """[bits, frac in force] per layer and kind (frac of the last step if dynamic)."""
        out = {}
        for name, m in self.layers.items():
            out[name] = {}
            for kind in TENSOR_KINDS:
                q = m.quantizer(kind)
                out[name][kind] = None if not bool(q.enabled) else q.fixed_point().as_list()
            if m.bifurcated:
                out[name]["grad_w"] = m.quantizer("grad_w").fixed_point().as_list()
        return out
