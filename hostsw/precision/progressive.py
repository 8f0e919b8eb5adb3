"""FracTrain PFQ: progressive fractional quantization (Fu et al., NeurIPS 2020; schedules.md).

Training starts at a low precision (by default 4-bit forward / 6-bit backward) and steps up through
``levels`` ([forward bits, backward bits] pairs) when the training loss has not improved by more
than ``min_delta`` (relative) for ``patience`` epochs, ending at the last level, the static
baseline's precision. The last ``final_epochs`` epochs always run at the last level, so a run ends
at the static precision even if the loss never plateaus. Precision changes at epoch boundaries.
(DFQ, FracTrain's input-dependent half, is the ``fractrain`` controller: hostsw.precision.fractrain.)
"""

from __future__ import annotations

from hostsw.precision.schedules import (COMMON_DEFAULTS, ScheduledController, check_int,
                                        check_levels, check_number)
from hostsw.quant.precision import Precision


def plateaued(best: float | None, loss: float, min_delta: float) -> bool:
    """True when ``loss`` is not an improvement of more than ``min_delta`` (relative) on best."""
    return best is not None and not loss < best * (1.0 - min_delta)


class ProgressiveController(ScheduledController):
    name = "progressive"
    defaults = {
        #: [forward bits, backward bits] per level, non-decreasing; the last = static precision
        "levels": [[4, 6], [6, 8], [8, 8]],
        #: k: epochs without improvement of the training loss before stepping up
        "patience": 2,
        #: relative improvement of the training loss that resets the count
        "min_delta": 0.01,
        #: epochs at the end that always run at the last level
        "final_epochs": 1,
        **COMMON_DEFAULTS,
    }

    @classmethod
    def parse_params(cls, p: dict) -> dict:
        return {**super().parse_params(p),
                "levels": check_levels("progressive", p["levels"], pairs=True, strict=False,
                                       example="[[4, 6], [6, 8], [8, 8]]"),
                "patience": check_int("progressive", "patience", p["patience"], 1,
                                      "k epochs of plateau before stepping up"),
                "min_delta": check_number("progressive", "min_delta", p["min_delta"], 0.0, 1.0),
                "final_epochs": check_int("progressive", "final_epochs", p["final_epochs"], 0)}

    def __init__(self, params, board):
        super().__init__(params, board)
        self.level = 0
        self.best: float | None = None
        self.wait = 0
        self.history: list[dict] = []

    def _apply_level(self, reason: str, force_log: bool = False) -> None:
        fw, bw = self.levels[self.level]
        self.apply(Precision(fw), Precision(bw), reason, force_log=force_log)

    def on_train_begin(self) -> None:
        self._apply_level("init", force_log=True)

    def on_epoch_end(self, metrics: dict) -> None:
        epoch = int(metrics["epoch"])
        loss = float(metrics["train_loss"])
        if plateaued(self.best, loss, self.min_delta):
            self.wait += 1
        else:
            self.wait = 0
        if self.best is None or loss < self.best:
            self.best = loss
        last = len(self.levels) - 1
        if self.level >= last or (self.epochs is not None and epoch >= self.epochs):
            return  # at the static precision already, or no epoch left to run
        if self.epochs is not None and self.epochs - epoch <= self.final_epochs:
            self.level, reason = last, "progressive-final"
        elif self.wait >= self.patience:
            self.level, reason = self.level + 1, "progressive-plateau"
        else:
            return
        self.wait = 0
        self._apply_level(reason)
        self.history.append({"epoch": epoch, "step": self.board.step, "level": self.level,
                             "forward": self.levels[self.level][0],
                             "backward": self.levels[self.level][1], "reason": reason})

    def state_dict(self) -> dict:
        return {"level": self.level, "best": self.best, "wait": self.wait,
                "history": [dict(h) for h in self.history]}

    def load_state_dict(self, state: dict) -> None:
        self.level, self.best, self.wait = state["level"], state["best"], state["wait"]
        self.history = [dict(h) for h in state["history"]]

    def summary(self) -> dict:
        return {"levels": [list(lv) for lv in self.levels], "final_level": self.level,
                "patience": self.patience, "min_delta": self.min_delta,
                "grad_quantizer": self.grad_quantizer, "steps_up": self.history}
