"""CPT: cyclic precision training (Fu et al., ICLR 2021; spec: shared/specs/schedules.md).

Forward precision (weights and input activations) follows a cosine cycle between q_min and q_max,
N cycles over the run; frac comes from each tensor's range (power-of-two scale). The backward
precision (the error) is held constant (``grad`` bits, stochastic rounding, the run's gradient
quantizer). ``switch: step`` changes the precision every iteration (the paper); ``switch: epoch``
only between epochs (how the C-simulation and board back-ends switch).

``q_min: prt`` runs the Precision Range Test at the start of the first cycle: from ``prt_start``
bits up, each precision trains for ``prt_steps`` iterations (one epoch with ``switch: epoch``);
the first whose mean training accuracy reaches ``prt_threshold`` becomes q_min and the cycle
goes on from there. If none does up to q_max, q_min = q_max (static training) with a warning.
The decision is in summary.json (``controller_summary.prt``) and in ``hostsw report``.
"""

from __future__ import annotations

from hostsw.errors import ConfigError
from hostsw.precision import sync
from hostsw.precision.schedules import (COMMON_DEFAULTS, ScheduledController, check_bits,
                                        check_int, check_number, cosine_precision, cycle_period,
                                        log)
from hostsw.quant.precision import Precision

SWITCHES = ("step", "epoch")


class CptController(ScheduledController):
    name = "cpt"
    defaults = {
        #: lower end of the cycle: bits, or prt (the precision range test chooses it)
        "q_min": "prt",
        #: upper end: the static baseline's precision
        "q_max": 8,
        #: N: cycles over the whole run (for short runs, at least one epoch per cycle)
        "num_cycles": 8,
        #: step (per iteration, the paper) | epoch (hardware back-ends)
        "switch": "step",
        #: constant backward (error) precision in bits, or fp32
        "grad": 8,
        "prt_start": 2,
        #: training accuracy (0..1) a precision must reach to become q_min
        "prt_threshold": 0.6,
        #: iterations per tested precision (switch: step; with switch: epoch a trial is an epoch)
        "prt_steps": 20,
        **COMMON_DEFAULTS,
    }

    @classmethod
    def parse_params(cls, p: dict) -> dict:
        q_max = check_bits("cpt", "q_max", p["q_max"])
        use_prt = p["q_min"] == "prt"
        q_min = None
        if not use_prt:
            if isinstance(p["q_min"], str):
                raise ConfigError(f"cpt q_min={p['q_min']!r}: give bits (e.g. 3) or prt")
            q_min = check_bits("cpt", "q_min", p["q_min"])
            if q_min > q_max:
                raise ConfigError(f"cpt q_min={q_min} > q_max={q_max}: set q_min <= q_max (or "
                                  "q_min: prt to let the precision range test choose)")
        if p["switch"] not in SWITCHES:
            raise ConfigError(f"cpt switch={p['switch']!r}: use step (per iteration) or epoch")
        prt_start = check_bits("cpt", "prt_start", p["prt_start"])
        if use_prt and prt_start > q_max:
            raise ConfigError(f"cpt prt_start={prt_start} > q_max={q_max}: the range test must "
                              "start below q_max (e.g. prt_start: 2)")
        return {**super().parse_params(p), "q_max": q_max, "use_prt": use_prt, "q_min": q_min,
                "num_cycles": check_int("cpt", "num_cycles", p["num_cycles"], 1,
                                        "N is the number of precision cycles over the run, "
                                        "e.g. 4"),
                "switch": p["switch"],
                "grad_bits": check_bits("cpt", "grad", p["grad"], allow_fp32=True),
                "prt_start": prt_start,
                "prt_threshold": check_number("cpt", "prt_threshold", p["prt_threshold"], 0.0,
                                              1.0),
                "prt_steps": check_int("cpt", "prt_steps", p["prt_steps"], 1)}

    def __init__(self, params, board):
        super().__init__(params, board)
        self.prt = {"active": self.use_prt, "bits": self.prt_start, "steps": 0, "acc_sum": 0.0,
                    "trials": [], "fallback": False, "decided_at_step": None}
        self.current: int | None = None

    # --- schedule ------------------------------------------------------------------------------
    def configure(self) -> None:
        super().configure()
        epochs, spe = self.require_horizon()
        if self.switch == "epoch" and self.num_cycles > epochs:
            raise ConfigError(f"cpt num_cycles={self.num_cycles} > epochs={epochs} with switch: "
                              f"epoch: a cycle needs at least one epoch; use num_cycles <= {epochs} "
                              "or switch: step")
        if self.switch == "step" and self.num_cycles > epochs * spe:
            raise ConfigError(f"cpt num_cycles={self.num_cycles} > {epochs * spe} training steps: "
                              "use fewer cycles")

    @property
    def period(self) -> float:
        """T: iterations (switch: step) or epochs (switch: epoch) per cycle."""
        epochs, spe = self.require_horizon()
        return cycle_period(epochs * spe if self.switch == "step" else epochs, self.num_cycles)

    def forward_bits(self, t: int) -> int:
        """The scheduled forward precision at iteration/epoch t (q_min known)."""
        return cosine_precision(t, self.period, self.q_min, self.q_max)

    def _set(self, bits: int, reason: str, force_log: bool = False) -> None:
        if bits == self.current and not force_log:
            return
        self.apply(Precision(bits), Precision(self.grad_bits), reason, force_log=force_log)
        self.current = bits

    epoch_switch_hint = "switch: epoch"

    def switches_within_epoch(self) -> bool:
        return self.switch == "step"

    def on_train_begin(self) -> None:
        self.require_horizon()
        self._set(self.prt_start if self.prt["active"] else self.forward_bits(0), "init",
                  force_log=True)

    def on_step_begin(self) -> None:
        if self.switch == "step" and not self.prt["active"]:
            self._set(self.forward_bits(self.board.step), "cpt")

    def on_step_end(self, loss: float) -> None:
        if self.switch == "step" and self.prt["active"]:
            acc = self.board.batch_accuracy
            self.prt["acc_sum"] += 0.0 if acc is None else float(acc)
            self.prt["steps"] += 1
            if self.prt["steps"] >= self.prt_steps:
                self._end_trial(self.prt["acc_sum"] / self.prt["steps"])

    def on_epoch_end(self, metrics: dict) -> None:
        if self.switch != "epoch":
            return
        if self.prt["active"]:
            self.prt["steps"] = self.steps_per_epoch
            self._end_trial(float(metrics["train_accuracy"]))
        nxt = int(metrics["epoch"])  # 0-based index of the next epoch
        if not self.prt["active"] and nxt < self.epochs:
            self._set(self.forward_bits(nxt), "cpt-epoch")

    # --- precision range test ------------------------------------------------------------------
    def _end_trial(self, accuracy: float) -> None:
        accuracy = sync.agree(accuracy)  # data-parallel runs: rank 0's range-test decision
        prt = self.prt
        bits = prt["bits"]
        prt["trials"].append({"bits": bits, "train_accuracy": accuracy, "steps": prt["steps"],
                              "end_step": self.board.step})
        prt["steps"], prt["acc_sum"] = 0, 0.0
        if accuracy >= self.prt_threshold or bits >= self.q_max:
            prt["active"] = False
            prt["decided_at_step"] = self.board.step
            if accuracy >= self.prt_threshold:
                self.q_min = min(bits, self.q_max)
            else:
                self.q_min, prt["fallback"] = self.q_max, True
                log.warning(f"warning: cpt precision range test: training accuracy never reached "
                            f"prt_threshold={self.prt_threshold:g} between {self.prt_start} and "
                            f"{self.q_max} bits; using q_min = q_max = {self.q_max} (static "
                            "precision): lower prt_threshold or give q_min explicitly")
            return
        prt["bits"] = bits + 1
        self._set(prt["bits"], "prt")

    # --- checkpoints / summary -----------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"q_min": self.q_min, "current": self.current,
                "prt": {**self.prt, "trials": [dict(t) for t in self.prt["trials"]]}}

    def load_state_dict(self, state: dict) -> None:
        self.q_min = state["q_min"]
        self.current = state["current"]
        self.prt = {**state["prt"], "trials": [dict(t) for t in state["prt"]["trials"]]}

    def summary(self) -> dict:
        out = {"q_min": self.q_min, "q_max": self.q_max, "num_cycles": self.num_cycles,
               "switch": self.switch, "grad_bits": self.grad_bits,
               "grad_quantizer": self.grad_quantizer}
        if self.epochs is not None:
            out["period"] = self.period
            out["period_unit"] = "steps" if self.switch == "step" else "epochs"
        if self.use_prt:
            out["prt"] = {"q_min": self.q_min, "trials": [dict(t) for t in self.prt["trials"]],
                          "threshold": self.prt_threshold, "start": self.prt_start,
                          "fallback": self.prt["fallback"],
                          "decided_at_step": self.prt["decided_at_step"],
                          "finished": not self.prt["active"]}
        return out
