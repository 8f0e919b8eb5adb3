"""FracTrain = PFQ (progressive, temporal) + DFQ (per-input gates, spatial); Fu et al. NeurIPS 2020.

PFQ steps the precision up at loss plateaus (``ProgressiveController``); each level caps the DFQ
``options`` ([forward, backward] bit pairs): at level [6, 8] the option [8, 8] runs as [6, 8]. A
gate per layer (hostsw.precision.dfq) picks each sample's option, trained with the loss plus
``cost_weight`` times the step's expected relative BitOPs. The cost meter charges each sample at
its chosen option. At the end of the last epoch every layer is set to the precision its gates
chose most often in that epoch (``export_precision: most_often``, ties to the higher one) or to
its highest option (``highest``); the summary says which, and export/hls/csim use that one fixed
precision. Hardware back-ends cannot switch precision per sample: they refuse ``dfq: true``.
"""

from __future__ import annotations

from hostsw.cost.bitops import layer_bitops, layer_bitops_fp32
from hostsw.errors import ConfigError
from hostsw.precision.dfq import DfqRouter, width
from hostsw.precision.progressive import ProgressiveController
from hostsw.precision.schedules import check_levels, check_number
from hostsw.quant.precision import Precision

EXPORT_RULES = ("most_often", "highest")
#: dither stream ids of the per-option error quantizers (far above the layers' 4 per layer)
DFQ_TENSOR_ID_BASE = 1 << 20


def option_label(option) -> str:
    return "/".join("fp32" if b is None else str(b) for b in option)


def export_choice(counts: dict, options: list, rule: str):
    """The option a layer exports with: the most chosen (ties: the higher precision), or the
    highest of ``options``."""
    ranked = sorted(set(options), key=lambda o: (width(o[0]), width(o[1])))
    if rule == "highest" or not any(counts.get(o, 0) for o in ranked):
        return ranked[-1]
    return max(ranked, key=lambda o: (counts.get(o, 0), width(o[0]), width(o[1])))


def _check_options(options) -> list:
    """Distinct [forward, backward] pairs, cheapest first (non-decreasing)."""
    parsed = check_levels("fractrain options", options, pairs=True, strict=False,
                          example="[[4, 6], [6, 8], [8, 8]]")
    for i in range(1, len(parsed)):
        if parsed[i] == parsed[i - 1]:
            raise ConfigError(f"fractrain options[{i}]={options[i]} repeats options[{i - 1}]: "
                              "give each precision once")
    return parsed


class FracTrainController(ProgressiveController):
    name = "fractrain"
    defaults = {
        **ProgressiveController.defaults,
        #: DFQ on (per-input gates); false = PFQ alone
        "dfq": True,
        #: [forward bits, backward bits] a gate chooses from, cheapest first
        "options": [[4, 6], [6, 8], [8, 8]],
        #: weight of the expected relative BitOPs in the loss (higher: cheaper options)
        "cost_weight": 1.0,
        #: initial logit lead of the most precise option (training starts at the static one)
        "gate_init_margin": 1.0,
        #: the precision a layer exports with: most_often | highest
        "export_precision": "most_often",
    }
    epoch_switch_hint = "dfq: false"

    @classmethod
    def parse_params(cls, p: dict) -> dict:
        out = super().parse_params(p)
        if not isinstance(p["dfq"], bool):
            raise ConfigError(f"fractrain dfq={p['dfq']!r}: give true or false")
        if p["export_precision"] not in EXPORT_RULES:
            raise ConfigError(f"fractrain export_precision={p['export_precision']!r}: use "
                              f"{' or '.join(EXPORT_RULES)}")
        out.update(
            dfq=p["dfq"], export_rule=p["export_precision"],
            options=_check_options(p["options"]),
            cost_weight=check_number("fractrain", "cost_weight", p["cost_weight"], 0.0, 1e6),
            gate_init_margin=check_number("fractrain", "gate_init_margin",
                                          p["gate_init_margin"], -100.0, 100.0))
        return out

    def __init__(self, params, board):
        super().__init__(params, board)
        self.macs: dict = {}
        self.routers: dict[str, DfqRouter] = {}
        self.dfq_history: list[dict] = []
        self.export: dict = {}
        if self.dfq:
            for i, (name, layer) in enumerate(board.layers.items()):
                n_in = getattr(layer, "in_channels", None) or layer.in_features
                held = {k: p for (lname, k), p in self.held.items() if lname == name}
                router = DfqRouter(name, layer, n_in, self.options, held,
                                   DFQ_TENSOR_ID_BASE + 16 * i, self.gate_init_margin)
                layer.__dict__["forward"] = router  # bypasses Module.__setattr__: no submodule
                self.routers[name] = router

    def switches_within_epoch(self) -> bool:
        return self.dfq  # every sample may run at another precision

    def configure(self) -> None:
        super().configure()
        for r in self.routers.values():
            r.configure()

    def _apply_level(self, reason: str, force_log: bool = False) -> None:
        super()._apply_level(reason, force_log=force_log)
        self._route_level()

    def _route_level(self) -> None:
        level = self.levels[self.level]
        fp32_per_sample = sum(layer_bitops_fp32(m) for m in self.macs.values())
        for name, r in self.routers.items():
            r.set_level(level)
            if name in self.macs and fp32_per_sample:
                for k, opt in enumerate(r.effective):
                    r.cost[k] = layer_bitops(self.macs[name], r.layer_bits(opt)) / fp32_per_sample

    def on_train_begin(self) -> None:
        if self.dfq and any(m.bifurcated for m in self.board.layers.values()):
            raise ConfigError("fractrain's DFQ quantizes each sample's error at its own option and "
                              "cannot bifurcate it: drop the bifurcation section or set "
                              "controller.dfq=false")
        super().on_train_begin()

    # --- the loop's DFQ hooks ----------------------------------------------------------------
    def parameters(self) -> list:
        return [p for r in self.routers.values() for p in r.gate.parameters()]

    def loss_penalty(self):
        if not self.routers or self.cost_weight == 0:
            return 0.0
        return self.cost_weight * sum(r.penalty for r in self.routers.values())

    def sample_bits(self, bits: dict) -> dict:
        if not self.routers:
            return bits
        out = dict(bits)
        for name, r in self.routers.items():
            out[name] = {r.layer_bits(opt): n for opt, n in r.step_counts.items()}
        return out

    def on_epoch_end(self, metrics: dict) -> None:
        epoch = int(metrics["epoch"])
        if self.routers:
            self.dfq_history.append({"epoch": epoch, "layers": {
                name: {option_label(o): n for o, n in sorted(r.counts.items())}
                for name, r in self.routers.items()}})
        last_counts = {name: dict(r.counts) for name, r in self.routers.items()}
        for r in self.routers.values():
            r.reset_counts()
        super().on_epoch_end(metrics)
        if self.routers and self.epochs is not None and epoch >= self.epochs:
            self._set_export(last_counts)

    def _set_export(self, counts: dict) -> None:
        """Fix every layer at its export precision (logged like any other change)."""
        layers = {}
        for name, r in self.routers.items():
            fw, bw = export_choice(counts[name], r.effective, self.export_rule)
            for kind, p in (("weight", Precision(fw)), ("act", Precision(fw)),
                            ("grad", Precision(bw))):
                self.board.set(name, kind, self.held.get((name, kind), p),
                               f"dfq-export-{self.export_rule}")
            layers[name] = [fw, bw]
        self.export = {"rule": self.export_rule, "layers": layers}

    # --- checkpoints and summary -------------------------------------------------------------
    def state_dict(self) -> dict:
        return {**super().state_dict(),
                "routers": {name: r.state_dict() for name, r in self.routers.items()},
                "dfq_history": [dict(h) for h in self.dfq_history], "export": dict(self.export)}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self._route_level()
        for name, r in self.routers.items():
            r.load_state_dict(state["routers"][name])
        self.dfq_history = [dict(h) for h in state["dfq_history"]]
        self.export = dict(state["export"])

    def summary(self) -> dict:
        out = {**super().summary(), "dfq": self.dfq}
        if self.routers:
            out.update({
                "options": [list(o) for o in self.options], "cost_weight": self.cost_weight,
                "export_precision": self.export or {"rule": self.export_rule, "layers": {}},
                "choices_per_epoch": self.dfq_history,
                "gate_macs_per_sample": sum(r.gate.macs() for r in self.routers.values()),
                "gate_cost_note": "the gates are float32 Linear layers on pooled inputs; their "
                                  "MACs are reported here and not in the BitOPs totals"})
        return out
