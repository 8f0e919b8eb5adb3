"""Accumulates the training cost of a run, step by step, relative to float32.

One ``add_step`` per optimizer step with the precisions in force at that step; ``summary()``
reports both cost models of cost.md (BitOPs and AdaPT word length) plus the ASIC energy
estimate, each next to the float32 reference for the same steps and batch sizes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Mapping

from hostsw.cost.adapt_model import (_check_density, adapt_speedup, layer_wl_cost,
                                     layer_wl_cost_fp32)
from hostsw.cost.bitops import layer_bitops, layer_bitops_fp32
from hostsw.cost.bits import FLOAT_BITS, LayerBits, check_layer_bits, word_bits
from hostsw.cost.energy import (ACC_BITS_CAP, ENERGY_MODEL, FP32_MAC_PJ, layer_energy_pj)
from hostsw.cost.macs import LayerMacs
from hostsw.errors import ConfigError

STATE_VERSION = 1
BITOPS_MODEL = "macs*(b_a*b_w + b_e*b_w + b_a*b_e) per layer (CPT/FracTrain)"
WL_MODEL = "adapt-word-length-linear: density*(MAdds*WL + overhead), fp32 MAdds*32"


@dataclass
class _LayerTotals:
    """Running sums for one layer (ints stay exact; floats are summed in step order)."""

    macs: int = 0
    bitops: int = 0
    bitops_fp32: int = 0
    wl_cost: float = 0.0
    wl_cost_fp32: int = 0
    wl_overhead: float = 0.0
    energy_pj: float = 0.0
    act_bits_x_samples: int = 0
    weight_bits_x_samples: int = 0
    grad_bits_x_samples: int = 0


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _sample_groups(value, batch_size: int, layer: str) -> list[tuple[LayerBits, int]]:
    """[(checked bits, samples)] of one layer: one group, or a per-sample mix summing to the
    batch (validated before anything is charged)."""
    if not isinstance(value, Mapping):
        return [(check_layer_bits(value, layer), batch_size)]
    groups = []
    for b, n in value.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"bits[{layer!r}] mix: sample count {n!r} of {b!r} must be an "
                              "integer >= 0")
        if n:
            groups.append((check_layer_bits(b, layer), n))
    total = sum(n for _, n in groups)
    if total != batch_size:
        raise ConfigError(f"bits[{layer!r}] mix counts {total} samples, the step has "
                          f"{batch_size}: give one count per sample of the batch")
    return groups


class CostMeter:
    """Training cost of a run so far; see the module docstring."""

    def __init__(self, macs: Mapping[str, LayerMacs], acc_bits_cap: int = ACC_BITS_CAP) -> None:
        if not macs:
            raise ConfigError("CostMeter needs at least one Conv2d/Linear layer (count_macs "
                              "found none in the model)")
        for name, layer in macs.items():
            if not isinstance(layer, LayerMacs):
                raise TypeError(f"macs[{name!r}] must be a LayerMacs, got {type(layer).__name__}")
        self.macs: dict[str, LayerMacs] = dict(macs)
        self.acc_bits_cap = int(acc_bits_cap)
        self.steps = 0
        self.samples = 0
        self._totals = {name: _LayerTotals() for name in self.macs}

    # --- accumulation -----------------------------------------------------------------------
    def _check_keys(self, what: str, given: Mapping, required: bool) -> None:
        unknown = sorted(set(given) - set(self.macs))
        missing = sorted(set(self.macs) - set(given)) if required else []
        if unknown or missing:
            raise ConfigError(f"{what} must be keyed by the counted layers "
                              f"(missing: {missing or 'none'}, unknown: {unknown or 'none'})")

    def add_step(self, batch_size: int, bits: Mapping[str, LayerBits],
                 density: Mapping[str, float] | None = None,
                 overhead: Mapping[str, float] | None = None) -> None:
        """Charge one training step of ``batch_size`` samples.

        ``bits[layer] = (b_act, b_weight, b_grad)`` for every layer, None = float32, or a per-sample
        mix ``{(b_act, b_weight, b_grad): n_samples, ...}`` whose counts sum to ``batch_size``
        (FracTrain's DFQ: each sample is charged at the precision its gate chose).
        ``density[layer]``: fraction of non-zero quantized weights (default 1; AdaPT model only).
        ``overhead[layer]``: AdaPT PD/PU overhead MAdds charged this step (default 0).
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        self._check_keys("bits", bits, required=True)
        density = density or {}
        overhead = overhead or {}
        self._check_keys("density", density, required=False)
        self._check_keys("overhead", overhead, required=False)
        groups = {name: _sample_groups(bits[name], batch_size, name) for name in self.macs}
        dens = {name: _check_density(density.get(name, 1.0), f"density[{name!r}]")
                for name in self.macs}
        over = {}
        for name in self.macs:
            o = float(overhead.get(name, 0.0))
            if not math.isfinite(o) or o < 0:
                raise ConfigError(f"overhead[{name!r}]={o!r} must be finite and >= 0")
            over[name] = o

        # validated: now update (no partial updates on bad input)
        for name, layer in self.macs.items():
            t = self._totals[name]
            t.macs += batch_size * layer.total
            t.bitops_fp32 += batch_size * layer_bitops_fp32(layer)
            t.wl_cost_fp32 += layer_wl_cost_fp32(layer, batch_size)
            t.wl_overhead += dens[name] * over[name]
            for i, (b, n) in enumerate(groups[name]):
                t.bitops += n * layer_bitops(layer, b)
                # the step's overhead is charged once, with the first group
                t.wl_cost += layer_wl_cost(layer, n, word_bits(b[1]), dens[name],
                                           over[name] if i == 0 else 0.0)
                t.energy_pj += n * layer_energy_pj(layer, b, self.acc_bits_cap)
                t.act_bits_x_samples += n * word_bits(b[0])
                t.weight_bits_x_samples += n * word_bits(b[1])
                t.grad_bits_x_samples += n * word_bits(b[2])
        self.steps += 1
        self.samples += batch_size

    # --- report -----------------------------------------------------------------------------
    def summary(self) -> dict:
        """JSON-serialisable totals; ratios are None until a step was added."""
        tot = self._totals.values()
        bitops = sum(t.bitops for t in tot)
        bitops_fp32 = sum(t.bitops_fp32 for t in tot)
        wl = sum(t.wl_cost for t in tot)
        wl_fp32 = sum(t.wl_cost_fp32 for t in tot)
        energy = sum(t.energy_pj for t in tot)
        macs = sum(t.macs for t in tot)
        energy_fp32 = macs * FP32_MAC_PJ
        n = self.samples

        def avg(x: int) -> float:
            return x / n if n else float(FLOAT_BITS)

        per_layer = {}
        avg_bits = {}
        for name, layer in self.macs.items():
            t = self._totals[name]
            avg_bits[name] = {"act": avg(t.act_bits_x_samples),
                              "weight": avg(t.weight_bits_x_samples),
                              "grad": avg(t.grad_bits_x_samples)}
            per_layer[name] = {
                "kind": layer.kind,
                "first": layer.first,
                "params": layer.params,
                "macs_per_sample": {"fwd": layer.fwd, "bwd_data": layer.bwd_data,
                                    "bwd_weight": layer.bwd_weight},
                "macs": t.macs,
                "bitops": t.bitops,
                "bitops_fp32": t.bitops_fp32,
                "bitops_rel_fp32": _ratio(t.bitops, t.bitops_fp32),
                "wl_cost": t.wl_cost,
                "wl_cost_fp32": t.wl_cost_fp32,
                "wl_overhead": t.wl_overhead,
                "energy_pj": t.energy_pj,
                "energy_fp32_pj": t.macs * FP32_MAC_PJ,
            }
        return {
            "steps": self.steps,
            "samples": n,
            "macs": macs,
            "bitops": bitops,
            "bitops_fp32": bitops_fp32,
            "bitops_rel_fp32": _ratio(bitops, bitops_fp32),
            "bitops_model": BITOPS_MODEL,
            "wl_cost": wl,
            "wl_cost_fp32": wl_fp32,
            "wl_cost_rel_fp32": _ratio(wl, wl_fp32),
            "wl_overhead": sum(t.wl_overhead for t in tot),
            "adapt_speedup": adapt_speedup(wl, wl_fp32),
            "wl_model": WL_MODEL,
            "energy_pj": energy,
            "energy_fp32_pj": energy_fp32,
            "energy_rel_fp32": _ratio(energy, energy_fp32),
            "energy_model": ENERGY_MODEL,
            "energy_acc_bits_cap": self.acc_bits_cap,
            "avg_bits": avg_bits,
            "per_layer": per_layer,
        }

    # --- checkpointing ----------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Plain (JSON-serialisable) state; ``load_state_dict`` continues the totals exactly."""
        return {
            "version": STATE_VERSION,
            "acc_bits_cap": self.acc_bits_cap,
            "steps": self.steps,
            "samples": self.samples,
            "macs": {name: layer.to_dict() for name, layer in self.macs.items()},
            "totals": {name: asdict(t) for name, t in self._totals.items()},
        }

    def load_state_dict(self, state: Mapping) -> None:
        """Restore totals saved by ``state_dict`` from a meter over the same layers."""
        if state.get("version") != STATE_VERSION:
            raise ConfigError(f"cost meter state version {state.get('version')!r} is not "
                              f"supported (expected {STATE_VERSION})")
        saved = {name: LayerMacs.from_dict(d) for name, d in state["macs"].items()}
        if saved != self.macs:
            raise ConfigError("cost meter state was saved for a different model (layer names or "
                              "MAC counts differ): resume with the same model and input shape")
        if int(state["acc_bits_cap"]) != self.acc_bits_cap:
            raise ConfigError(f"cost meter state used acc_bits_cap={state['acc_bits_cap']}, this "
                              f"meter {self.acc_bits_cap}: construct it with the same value")
        names = {f.name for f in fields(_LayerTotals)}
        totals = {}
        for name in self.macs:
            d = state["totals"][name]
            if set(d) != names:
                raise ConfigError(f"cost meter state for layer {name!r} is incomplete")
            totals[name] = _LayerTotals(**d)
        self._totals = totals
        self.steps = int(state["steps"])
        self.samples = int(state["samples"])
