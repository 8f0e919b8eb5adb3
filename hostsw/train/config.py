"""Typed training configuration, loaded from a named preset or a YAML file.

Presets ship in ``hostsw/train/presets/*.yaml``; a YAML file of the same shape is accepted wherever
a preset name is. Every field is checked on load: an unknown key, a wrong type or an impossible
value is a one-line ``ConfigError`` naming the key.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from hostsw.errors import ConfigError


@dataclass
class OptimizerConfig:
    #: sgd or adam (the AdaPT paper argues SGD generalizes better at low precision)
    name: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    #: L2 penalty (decoupled into the optimizer's weight_decay)
    weight_decay: float = 0.0
    #: L1 penalty on the quantized layers' master weights (AdaPT's elastic net with weight_decay)
    l1: float = 0.0

    def validate(self) -> None:
        if self.name not in ("sgd", "adam"):
            raise ConfigError(f"optimizer.name={self.name!r}: use sgd or adam")
        if not self.lr > 0:
            raise ConfigError(f"optimizer.lr={self.lr} must be > 0")
        for key in ("momentum", "weight_decay", "l1"):
            if getattr(self, key) < 0:
                raise ConfigError(f"optimizer.{key}={getattr(self, key)} must be >= 0")


@dataclass
class ScheduleConfig:
    #: none | step | cosine | plateau (ReduceLROnPlateau on the test loss)
    name: str = "none"
    step_size: int = 10
    gamma: float = 0.1
    patience: int = 3
    factor: float = 0.1
    min_lr: float = 0.0

    def validate(self) -> None:
        if self.name not in ("none", "step", "cosine", "plateau"):
            raise ConfigError(f"lr_schedule.name={self.name!r}: use none, step, cosine or plateau")
        if self.step_size < 1 or self.patience < 0:
            raise ConfigError("lr_schedule.step_size must be >= 1 and patience >= 0")
        if not (0 < self.gamma <= 1 and 0 < self.factor < 1):
            raise ConfigError("lr_schedule.gamma must be in (0, 1] and factor in (0, 1)")


@dataclass
class BifurcationConfig:
    """Gradient bifurcation (SBM, seed 000): the error that enters backward-weight gets its own
    bit width (frac dynamic, from its range), quantized from the same exact error as the
    backward-data one with an independent dither stream. null = no bifurcation."""

    #: bwd-weight error bits for every layer (e.g. 16 with an 8-bit bwd-data error), or null
    grad_w: int | None = None
    #: per-layer overrides: layer name -> bits (null: this layer not bifurcated)
    layers: dict = field(default_factory=dict)

    def validate(self) -> None:
        for key, bits in [("grad_w", self.grad_w), *((f"layers.{k}", v)
                                                     for k, v in self.layers.items())]:
            if bits is None:
                continue
            if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 32:
                raise ConfigError(f"bifurcation.{key}={bits!r} must be a number of bits "
                                  "(1..32) or null")

    def bits_for(self, layer: str) -> int | None:
        return self.layers[layer] if layer in self.layers else self.grad_w


@dataclass
class ControllerConfig:
    """Which precision controller runs, and its parameters (checked by the controller)."""

    name: str = "static"
    params: dict = field(default_factory=dict)


@dataclass
class TrainConfig:
    name: str = "custom"
    model: str = "lenet5"
    dataset: str = "mnist"
    epochs: int = 15
    batch_size: int = 256
    seed: int = 0
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    lr_schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    #: separate precision of the error entering backward-weight (any controller, any back-end)
    bifurcation: BifurcationConfig = field(default_factory=BifurcationConfig)
    #: random crop + horizontal flip (for CIFAR-shaped data)
    augment: bool = False
    #: use only the first N training / test samples (smoke tests); null = all
    limit_train: int | None = None
    limit_test: int | None = None
    eval_batch_size: int = 1000
    #: folder with the dataset files (see hostsw.data); null = the packaged/default source
    data_dir: str | None = None

    def validate(self) -> "TrainConfig":
        from hostsw.data import DATASETS
        from hostsw.models import MODELS
        if self.model not in MODELS:
            raise ConfigError(f"model={self.model!r}: use one of {', '.join(MODELS)}")
        if self.dataset not in DATASETS:
            raise ConfigError(f"dataset={self.dataset!r}: use one of {', '.join(DATASETS)}")
        for key in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key}={getattr(self, key)} must be >= 1")
        for key in ("limit_train", "limit_test"):
            v = getattr(self, key)
            if v is not None and v < 1:
                raise ConfigError(f"{key}={v} must be >= 1 or null")
        self.optimizer.validate()
        self.lr_schedule.validate()
        self.bifurcation.validate()
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp, key: str):
    """Check ``value`` against the annotation ``tp`` (int, float, str, bool, dict, X | None,
    nested dataclass) and convert ints to floats where a float is expected."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], key)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        return _from_dict(tp, value, key + ".")
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config annotation {_type_name(tp)}")


def _from_dict(cls, data: dict, prefix: str = ""):
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown config key {prefix}{unknown[0]}: valid keys are "
                          f"{', '.join(sorted(names))}")
    kwargs = {k: _coerce(v, hints[k], prefix + k) for k, v in data.items()}
    return cls(**kwargs)


def config_from_dict(data: dict) -> TrainConfig:
    if not isinstance(data, dict):
        raise ConfigError("a training config must be a YAML mapping of keys to values")
    if isinstance(data.get("controller"), dict):
        ctrl = dict(data["controller"])
        # accept the flat form {name: static, weight: 8, ...} as well as {name:, params: {...}}
        if "params" not in ctrl:
            name = ctrl.pop("name", "static")
            data = {**data, "controller": {"name": name, "params": ctrl}}
    return _from_dict(TrainConfig, data).validate()


def apply_overrides(cfg: TrainConfig, items: list[str]) -> TrainConfig:
    """``KEY=VALUE`` overrides with dotted keys (VALUE parsed as YAML); controller keys other than
    ``name`` are controller parameters."""
    data = cfg.to_dict()
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: use KEY=VALUE, e.g. controller.apply_at=epoch")
        value = _load_yaml_value(text, key)
        parts = key.split(".")
        if parts[0] == "controller" and len(parts) == 2 and parts[1] not in ("name", "params"):
            parts = ["controller", "params", parts[1]]
        node = data
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                raise ConfigError(f"--set {key}: {p!r} is not a config section")
            node = node[p]
        node[parts[-1]] = value
    return config_from_dict(data)


def _load_yaml_value(text: str, key: str):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(f"--set {key}: {text!r} is not a YAML value") from None


PRESET_PACKAGE = "hostsw.train.presets"


def list_presets() -> list[str]:
    files = resources.files(PRESET_PACKAGE).iterdir()
    return sorted(p.name[:-5] for p in files if p.name.endswith(".yaml"))


def _load_yaml(text: str, source: str) -> dict:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source} is not valid YAML{where}: "
                          f"{getattr(e, 'problem', None) or e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must be a YAML mapping of keys to values")
    return data


def load_config(preset_or_path: str) -> TrainConfig:
    """A preset name (``hostsw presets`` lists them) or a path to a YAML file."""
    path = Path(preset_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"config file {path} not found")
        return config_from_dict(_load_yaml(path.read_text(), str(path)))
    if preset_or_path not in list_presets():
        raise ConfigError(f"unknown preset {preset_or_path!r}: run `hostsw presets` to list them "
                          "or pass a YAML file")
    text = resources.files(PRESET_PACKAGE).joinpath(preset_or_path + ".yaml").read_text()
    return config_from_dict(_load_yaml(text, f"preset {preset_or_path}"))


def dump_config(cfg: TrainConfig) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
