"""Model names -> constructors."""

from __future__ import annotations

from typing import Callable

from torch import nn

from hostsw.errors import ConfigError
from hostsw.models.alexnet import SmallAlexNet
from hostsw.models.lenet5 import LeNet5
from hostsw.models.mlp import MLP
from hostsw.models.norm import check_norm
from hostsw.models.resnet20 import ResNet20

MODELS: dict[str, Callable[..., nn.Module]] = {
    "mlp": MLP,
    "lenet5": LeNet5,
    "alexnet": SmallAlexNet,
    "resnet20": ResNet20,
}


#: models with a ``norm`` argument (none | batch | range) and their default
NORM_DEFAULTS: dict[str, str] = {"lenet5": "none", "resnet20": "batch"}


def check_model_norm(name: str, norm: str | None) -> None:
    """``norm`` (None: the model's default) must be one the model takes."""
    if norm is None:
        return
    check_norm(norm)
    if name not in NORM_DEFAULTS and norm != "none":
        raise ConfigError(f"model {name} has no normalization layers, so norm={norm!r} cannot "
                          f"apply: use a model with norm support ({', '.join(NORM_DEFAULTS)}) "
                          "or drop norm")


def build_model(name: str, in_shape: tuple[int, int, int], num_classes: int,
                norm: str | None = None) -> nn.Module:
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}: use one of {', '.join(MODELS)}")
    check_model_norm(name, norm)
    kwargs = {} if norm is None or name not in NORM_DEFAULTS else {"norm": norm}
    return MODELS[name](in_shape=tuple(in_shape), num_classes=num_classes, **kwargs)
