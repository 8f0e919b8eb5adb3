"""The interface every precision controller implements.

A controller owns the precision state of a model's quantized layers during training. It changes it
only through ``PrecisionBoard.set`` (in place, logged) at the hooks below. Its own state goes into
checkpoints through ``state_dict``; the layers' precision buffers are in the model's state_dict.
"""

from __future__ import annotations

from abc import ABC
from typing import Any, ClassVar

from hostsw.errors import ConfigError, unknown_key_error
from hostsw.precision.log import PrecisionBoard
from hostsw.quant.precision import TENSOR_KINDS, Precision


class PrecisionController(ABC):
    #: the name used in configs and presets
    name: str = ""
    #: parameter names and defaults; anything else in the config is an error
    defaults: dict[str, Any] = {}

    #: optional declared parameters: a dataclass taking the parameters as keywords whose
    #: ``validate()`` checks them without a model. Set it (e.g. ``params_class = AdaptParams``) to
    #: have a config's values checked when it is loaded; ``parse_params`` is the other way.
    params_class: ClassVar[type | None] = None

    def __init__(self, params: dict, board: PrecisionBoard):
        self.params = self.check_params(params)
        self.board = board
        vars(self).update(self.parse_params(self.params))
        #: the run's length, set by the loop before ``configure`` (None outside a training loop)
        self.epochs: int | None = None
        self.steps_per_epoch: int | None = None

    @classmethod
    def check_params(cls, params: dict) -> dict:
        """The parameters merged with the defaults, checked without a model (at config load and
        again when the controller is built): unknown keys, then names, types and ranges."""
        if not isinstance(params, dict):
            raise ConfigError(f"{cls.name} controller parameters must be a mapping, got "
                              f"{params!r}")
        for key in params:
            if key not in cls.defaults:
                raise unknown_key_error(f"unknown {cls.name} controller parameter {key!r}", key,
                                        cls.defaults)
        merged = {**cls.defaults, **params}
        cls.parse_params(merged)
        if cls.params_class is not None:
            try:
                declared = cls.params_class(**merged)
            except TypeError as e:
                raise ConfigError(f"invalid {cls.name} parameters: {e}") from None
            declared.validate()
        return merged

    @classmethod
    def parse_params(cls, params: dict) -> dict[str, Any]:
        """Checked, converted parameter values by attribute name (set on the controller when it
        is built); needs no model, so a config is checked when it is loaded. Override it."""
        return {}

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

    # --- input-dependent precision (FracTrain DFQ); the defaults leave the loop unchanged ------
    def set_macs(self, macs: dict) -> None:
        """Per-sample MAC counts of the layers (hostsw.cost.LayerMacs), for controllers that
        weigh precisions by their cost (the loop passes the cost meter's)."""
        self.macs = dict(macs)

    def parameters(self) -> list:
        """Learned parameters the controller owns (DFQ gates), trained by the run's optimizer."""
        return []

    def loss_penalty(self):
        """A term added to the step's loss (DFQ's cost penalty); 0.0 when none."""
        return 0.0

    def sample_bits(self, bits: dict) -> dict:
        """What the cost meter charges this step: ``bits`` (the board's per-layer precisions), or
        per layer a mix {(act, weight, grad): samples} when samples ran at different ones."""
        return bits


def parse_layer_overrides(owner: str, overrides) -> dict[tuple[str, str], Precision]:
    """``{layer: {weight|act|grad: precision}}`` -> {(layer, kind): Precision}; the layer names
    are checked against the model by ``check_layer_names`` when the controller is built."""
    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise ConfigError(f"{owner} controller 'layers' must map layer names to "
                          "{weight|act|grad: precision}")
    held = {}
    for layer, spec in overrides.items():
        if not isinstance(spec, dict) or not spec or set(spec) - set(TENSOR_KINDS):
            raise ConfigError(f"{owner} layers.{layer}: give a mapping with keys weight, act, "
                              "grad (e.g. {act: [8, 8]})")
        for kind, value in spec.items():
            held[(str(layer), kind)] = parse_precision(f"{owner} layers.{layer}.{kind}", value)
    return held


def parse_precision(key: str, value) -> Precision:
    """``Precision.parse`` whose one-line error names the config key."""
    try:
        return Precision.parse(value)
    except ConfigError as e:
        raise ConfigError(f"{key}: {e}") from None


def check_grad_pins(owner: str, grad_quantizer: str, pins) -> None:
    """``pins``: (config key, grad Precision). psq and bhq choose the error's frac per sample, so
    a pinned grad frac cannot be honoured: a one-line ConfigError naming the key."""
    if grad_quantizer == "ptq":
        return
    for key, q in pins:
        if q.frac is not None:
            raise ConfigError(f"{owner} {key} pins frac={q.frac}, but grad_quantizer "
                              f"{grad_quantizer} chooses frac per sample: give [bits, auto] or "
                              "use grad_quantizer: ptq")


def check_layer_names(owner: str, names, board: PrecisionBoard) -> None:
    for layer in names:
        if layer not in board.layers:
            raise ConfigError(f"{owner} controller names layer {layer!r}, which the model does "
                              f"not have: layers are {', '.join(board.layers)}")
