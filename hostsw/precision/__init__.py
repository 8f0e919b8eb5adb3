"""Precision controllers behind one interface (``PrecisionController``)."""

from __future__ import annotations

from hostsw.errors import ConfigError
from hostsw.precision.base import PrecisionController
from hostsw.precision.log import PrecisionBoard
from hostsw.precision.adapt import AdaptController
from hostsw.precision.cpt import CptController
from hostsw.precision.fractrain import FracTrainController
from hostsw.precision.muppet import MuppetController
from hostsw.precision.progressive import ProgressiveController
from hostsw.precision.static import Fp32Controller, StaticController

CONTROLLERS: dict[str, type[PrecisionController]] = {
    c.name: c for c in (Fp32Controller, StaticController, AdaptController, CptController,
                        ProgressiveController, MuppetController, FracTrainController)
}


def build_controller(name: str, params: dict, board: PrecisionBoard) -> PrecisionController:
    if name not in CONTROLLERS:
        raise ConfigError(f"unknown controller {name!r}: use one of {', '.join(CONTROLLERS)}")
    return CONTROLLERS[name](params, board)


def check_controller_params(name: str, params: dict) -> dict:
    """A config's controller name and parameters, checked when the config is loaded (before a
    model, a dataset or a run directory exists); returns the parameters with their defaults."""
    if name not in CONTROLLERS:
        from hostsw.errors import unknown_key_error
        raise unknown_key_error(f"unknown controller {name!r}", name, CONTROLLERS)
    return CONTROLLERS[name].check_params(params)


__all__ = ["CONTROLLERS", "PrecisionBoard", "PrecisionController", "build_controller",
           "check_controller_params"]
