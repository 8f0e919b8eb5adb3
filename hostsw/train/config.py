"""Typed training configuration, loaded from a named preset or a YAML file.

Presets ship in ``hostsw/train/presets/*.yaml``; a YAML file of the same shape is accepted wherever
a preset name is. Every field is checked on load: an unknown key, a wrong type or an impossible
value is a one-line ``ConfigError`` naming the key.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from hostsw.errors import ConfigError, unknown_key_error


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

    def validate(self) -> None:
        """The controller's own load-time check: names, types and ranges of its parameters
        (only what needs the model, such as layer names, waits until it is built)."""
        from hostsw.precision import check_controller_params
        check_controller_params(self.name, self.params)


@dataclass
class TrainConfig:
    name: str = "custom"
    model: str = "lenet5"
    #: normalization layers of lenet5/resnet20: none | batch | range (SBM's Range BatchNorm);
    #: null = the model's default (lenet5: none, resnet20: batch)
    norm: str | None = None
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
        check_ranges(self)
        if self.model not in MODELS:
            raise ConfigError(f"model={self.model!r}: use one of {', '.join(MODELS)}")
        from hostsw.models.registry import check_model_norm
        check_model_norm(self.model, self.norm)
        if self.dataset not in DATASETS:
            raise ConfigError(f"dataset={self.dataset!r}: use one of {', '.join(DATASETS)}")
        self.optimizer.validate()
        self.lr_schedule.validate()
        self.bifurcation.validate()
        self.controller.validate()
        self._check_dfq_bifurcation()
        return self

    def _check_dfq_bifurcation(self) -> None:
        """fractrain's DFQ rounds each sample's error at its own option: it has no single
        bwd-weight error to bifurcate (refused here, before a run folder exists)."""
        bifurcated = self.bifurcation.grad_w is not None or any(
            v is not None for v in self.bifurcation.layers.values())
        if (self.controller.name == "fractrain" and self.controller.params.get("dfq", True)
                and bifurcated):
            raise ConfigError("fractrain's DFQ quantizes each sample's error at its own option "
                              "and cannot bifurcate it: drop the bifurcation section or set "
                              "controller.dfq=false")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Range:
    """The sensible values of one numeric key; ``open_lo``/``open_hi`` exclude the ends."""

    lo: float
    hi: float
    open_lo: bool = False
    open_hi: bool = False

    def __contains__(self, v: float) -> bool:
        return ((self.lo < v if self.open_lo else self.lo <= v)
                and (v < self.hi if self.open_hi else v <= self.hi))

    def __str__(self) -> str:
        ends = ("(" if self.open_lo else "[", ")" if self.open_hi else "]")
        return f"{ends[0]}{_num(self.lo)}, {_num(self.hi)}{ends[1]}"


def _num(v: float) -> str:
    return str(v) if isinstance(v, int) else f"{v:g}"


#: every numeric key of a training config and its sensible values, checked on load: a
#: non-finite or absurd value is refused naming its key (an lr of 1e30 would otherwise surface
#: mid-run as a fixed-point range error of some layer). null stays allowed where the type allows.
RANGES: dict[str, Range] = {
    "epochs": Range(1, 100_000),
    "batch_size": Range(1, 1 << 20),
    "eval_batch_size": Range(1, 1 << 20),
    "seed": Range(0, 2 ** 32 - 1),  # numpy's and torch's generators both accept it
    "limit_train": Range(1, 1 << 40),
    "limit_test": Range(1, 1 << 40),
    "optimizer.lr": Range(1e-10, 10),
    "optimizer.momentum": Range(0, 1, open_hi=True),
    "optimizer.weight_decay": Range(0, 1),
    "optimizer.l1": Range(0, 1),
    "lr_schedule.step_size": Range(1, 100_000),
    "lr_schedule.gamma": Range(0, 1, open_lo=True),
    "lr_schedule.patience": Range(0, 100_000),
    "lr_schedule.factor": Range(0, 1, open_lo=True, open_hi=True),
    "lr_schedule.min_lr": Range(0, 10),
    "bifurcation.grad_w": Range(1, 32),
}


def check_epochs_flag(epochs) -> None:
    """``--epochs N`` (also on resume, where it bypasses the config's own check)."""
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int)
                               or epochs not in RANGES["epochs"]):
        raise ConfigError(f"--epochs {epochs}: use a value in {RANGES['epochs']}")


def check_ranges(obj, prefix: str = "") -> None:
    """Every number of a config (nested dataclasses included) is finite and, when ``RANGES``
    names its key, within range; else a one-line ConfigError naming the key."""
    import math
    for f in dataclasses.fields(obj):
        key, value = prefix + f.name, getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            check_ranges(value, key + ".")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        rng = RANGES.get(key)
        use = f": use a value in {rng}" if rng else ""
        if not math.isfinite(value):
            raise ConfigError(f"{key}={value} is not a finite number{use}")
        if rng is not None and value not in rng:
            raise ConfigError(f"{key}={_num(value)} is out of range{use}")


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


#: exponent floats without a dot (1e-3, 5E+2), which PyYAML's YAML 1.1 rules leave as strings
_YAML11_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


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
        if isinstance(value, str) and _YAML11_FLOAT.fullmatch(value.strip()):
            value = float(value)  # 1e-3: YAML 1.1 (PyYAML) reads it as a string, YAML 1.2 not
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
        raise unknown_key_error(f"unknown config key {prefix}{unknown[0]}", unknown[0], names)
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
        if parts[0] == "controller" and len(parts) >= 2 and parts[1] not in ("name", "params"):
            parts = ["controller", "params", *parts[1:]]
        node = data
        for i, p in enumerate(parts[:-1]):
            if i >= 2 and parts[1] == "params" and p not in node:
                node[p] = {}  # a controller parameter set key by key (controller.layers.fc1.act)
            if not isinstance(node.get(p), dict):
                raise ConfigError(f"--set {key}: {p!r} is not a config section")
            node = node[p]
        node[parts[-1]] = value
    return config_from_dict(data)


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last
    one without a word: ``model: mlp`` then ``model: lenet5`` would train lenet5)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden
                continue
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key {key!r}", key_node.start_mark)
            if isinstance(key, (str, int, float)):  # others: construct_mapping judges them
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str):
    """YAML as the config files are read everywhere (safe, no duplicate keys)."""
    return yaml.load(text, Loader=_StrictLoader)


def _load_yaml_value(text: str, key: str):
    try:
        return parse_yaml(text)
    except yaml.YAMLError:
        raise ConfigError(f"--set {key}: {text!r} is not a YAML value") from None


PRESET_PACKAGE = "hostsw.train.presets"


def list_presets() -> list[str]:
    files = resources.files(PRESET_PACKAGE).iterdir()
    return sorted(p.name[:-5] for p in files if p.name.endswith(".yaml"))


def _load_yaml(text: str, source: str) -> dict:
    try:
        data = parse_yaml(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        why = str(getattr(e, "problem", None) or e).splitlines()[0]
        raise ConfigError(f"{source} is not valid YAML{where}: {why}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must be a YAML mapping of keys to values")
    return data


def load_config(preset_or_path: str) -> TrainConfig:
    """A preset name (``hostsw presets`` lists them) or a path to a YAML file."""
    path = Path(preset_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if path.is_dir():
            raise ConfigError(f"--config {path} is a folder: give a YAML file (or a preset "
                              "name: `hostsw presets` lists them)")
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
