"""The interface every precision controller implements.

A controller owns the precision state of a model's quantized layers during training. It changes it
only through ``PrecisionBoard.set`` (in place, logged) at the hooks below. Its own state goes into
checkpoints through ``state_dict``; the layers' precision buffers are in the model's state_dict.
"""

from __future__ import annotations

from abc import ABC
from typing import Any

from hostsw.errors import ConfigError
from hostsw.precision.log import PrecisionBoard


class PrecisionController(ABC):
    #: the name used in configs and presets
    name: str = ""
    #: parameter names and defaults; anything else in the config is an error
    defaults: dict[str, Any] = {}

    def __init__(self, params: dict, board: PrecisionBoard):
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise ConfigError(f"unknown {self.name} controller parameter {unknown[0]!r}: valid "
                              f"parameters are {', '.join(sorted(self.defaults)) or 'none'}")
        self.params = {**self.defaults, **params}
        self.board = board
        #: the run's length, set by the loop before ``configure`` (None outside a training loop)
        self.epochs: int | None = None
        self.steps_per_epoch: int | None = None

    def set_horizon(self, epochs: int, steps_per_epoch: int) -> None:
        """The number of epochs and optimizer steps per epoch of the run (schedules need them)."""
        self.epochs, self.steps_per_epoch = int(epochs), int(steps_per_epoch)

    @property
    def total_steps(self) -> int | None:
        if self.epochs is None or self.steps_per_epoch is None:
            return None
        return self.epochs * self.steps_per_epoch

    def switches_within_epoch(self) -> bool:
        """True when the controller may change a precision between two steps of an epoch
        (hardware back-ends switch only between epochs)."""
        return False

    #: the setting that makes a controller switch between epochs only (for error messages)
    epoch_switch_hint: str = ""

    def configure(self) -> None:
        """Set non-checkpointed layer settings (rounding modes); runs on fresh and resumed runs."""

    def on_train_begin(self) -> None:
        """Set the initial precisions (a fresh run only; a resumed run restores them)."""

    def on_step_begin(self) -> None:
        """Before the forward pass of every step (``board.step`` steps done so far)."""

    def on_after_backward(self) -> None:
        """Between backward and the optimizer step (gradients may be rewritten here)."""

    def take_overhead(self) -> dict[str, float] | None:
        """Heuristic cost incurred since the last call, per layer (the AdaPT performance model)."""
        return None

    def on_step_end(self, loss: float) -> None:
        """After the optimizer step (software controllers may decide here).

        ``board.batch_accuracy`` holds the training accuracy of the batch just run.
        """

    def on_epoch_end(self, metrics: dict) -> None:
        """After evaluation at the end of an epoch (hardware back-ends switch here)."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def summary(self) -> dict:
        """Controller-specific facts for summary.json (e.g. a range test's decision)."""
        return {}
