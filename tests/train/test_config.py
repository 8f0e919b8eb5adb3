"""Typed configs: presets, YAML files, and one-line errors for bad input."""

import pytest

from hostsw.errors import ConfigError
from hostsw.train import list_presets, load_config


def test_all_presets_load_and_validate():
    names = list_presets()
    for required in ("lenet5-mnist-fp32", "lenet5-mnist-static8", "mlp-digits-static8"):
        assert required in names
    for name in names:
        cfg = load_config(name)
        assert cfg.name == name


def test_yaml_file_flat_controller_form(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model: mlp\ndataset: digits\nepochs: 2\ncontroller: {name: static, weight: 6}\n")
    cfg = load_config(str(f))
    assert cfg.controller.name == "static" and cfg.controller.params == {"weight": 6}
    assert cfg.optimizer.lr == 0.05


@pytest.mark.parametrize("text,match", [
    ("model: mlp\nepochs: [1\n", "not valid YAML at line"),
    ("- just\n- a list\n", "mapping"),
    ("model: mlp\nepochz: 3\n", "unknown config key epochz"),
    ("model: mlp\nepochs: three\n", "epochs must be an integer"),
    ("model: mlp\nepochs: 0\n", "epochs=0"),
    ("model: vgg\n", "model='vgg'"),
    ("dataset: imagenet\n", "dataset='imagenet'"),
    ("optimizer: {name: rmsprop}\n", "optimizer.name"),
    ("optimizer: {lr: -1}\n", "optimizer.lr"),
    ("lr_schedule: {name: warmup}\n", "lr_schedule.name"),
])
def test_bad_yaml_is_one_line_error(tmp_path, text, match):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match) as e:
        load_config(str(f))
    assert "\n" not in str(e.value)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset 'lenet7'"):
        load_config("lenet7")


@pytest.mark.parametrize("key,value,match", [
    ("optimizer.lr", float("inf"), "optimizer.lr=inf is not a finite number"),
    ("optimizer.lr", float("nan"), "optimizer.lr=nan is not a finite number"),
    ("optimizer.lr", 1e30, "optimizer.lr=1e+30 is out of range: use a value in [1e-10, 10]"),
    ("optimizer.lr", 0.0, "optimizer.lr=0 is out of range"),
    ("optimizer.lr", 1e-30, "optimizer.lr=1e-30 is out of range"),
    ("optimizer.momentum", 1.0, "optimizer.momentum=1 is out of range: use a value in [0, 1)"),
    ("optimizer.momentum", -0.1, "optimizer.momentum=-0.1"),
    ("optimizer.weight_decay", -1e-4, "optimizer.weight_decay=-0.0001"),
    ("optimizer.l1", float("inf"), "optimizer.l1=inf"),
    ("batch_size", 0, "batch_size=0 is out of range"),
    ("batch_size", -5, "batch_size=-5"),
    ("eval_batch_size", 0, "eval_batch_size=0"),
    ("epochs", 0, "epochs=0"),
    ("seed", -1, "seed=-1"),
    ("seed", 2 ** 40, "seed=1099511627776 is out of range: use a value in [0, 4294967295]"),
    ("limit_train", 0, "limit_train=0"),
    ("lr_schedule.gamma", 0.0, "lr_schedule.gamma=0"),
    ("lr_schedule.factor", 1.0, "lr_schedule.factor=1"),
    ("lr_schedule.min_lr", float("inf"), "lr_schedule.min_lr=inf"),
])
def test_numbers_out_of_range_are_refused_naming_the_key(key, value, match):
    from hostsw.train.config import apply_overrides
    base = load_config("mlp-digits-static8")
    with pytest.raises(ConfigError) as e:
        apply_overrides(base, [f"{key}={value!r}".replace("inf", ".inf").replace("nan", ".nan")])
    assert match in str(e.value) and "\n" not in str(e.value)


def test_every_numeric_config_key_has_a_range():
    """A new numeric key must say what values make sense (RANGES), or bad values slip through."""
    import dataclasses
    from hostsw.train.config import RANGES, TrainConfig
    numeric = []

    def walk(obj, prefix=""):
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            if dataclasses.is_dataclass(v):
                walk(v, prefix + f.name + ".")
            elif f.type in ("int", "float", "int | None", "float | None"):
                numeric.append(prefix + f.name)
    walk(TrainConfig())
    assert numeric and set(numeric) <= set(RANGES), set(numeric) - set(RANGES)


@pytest.mark.parametrize("controller,match", [
    ({"name": "adapt", "bogus_key": 1}, "unknown adapt controller parameter 'bogus_key'"),
    ({"name": "static", "wieght": 6}, "'wieght' (did you mean weight?)"),
    ({"name": "static", "weight": [40, "auto"]}, "static weight"),
    ({"name": "static", "act": [8, 200]}, "static act"),
    ({"name": "static", "grad_rounding": "up"}, "up"),
    ({"name": "static", "layers": {"fc1": {"bias": 8}}}, "static layers.fc1"),
    ({"name": "static", "layers": {"fc1": {"act": 99}}}, "static layers.fc1.act: bits=99"),
    ({"name": "adapt", "act": [99, 1]}, "adapt act: bits=99"),
    ({"name": "cpt", "q_min": 9, "q_max": 8}, "cpt q_min=9 > q_max=8"),
    ({"name": "cpt", "num_cycles": 0}, "cpt num_cycles=0"),
    ({"name": "progressive", "levels": [[8, 8], [4, 4]]}, "must not decrease"),
    ({"name": "progressive", "levels": [[4, 40]]}, "progressive levels[0][1]=40"),
    ({"name": "muppet", "levels": []}, "muppet levels=[]"),
    ({"name": "muppet", "levels": [8, 8]}, "must increase strictly"),
    ({"name": "muppet", "threshold_scale": float("inf")}, "muppet threshold_scale=inf"),
    ({"name": "adpt"}, "unknown controller 'adpt' (did you mean adapt?)"),
])
def test_controller_parameters_are_checked_when_the_config_is_loaded(controller, match):
    """No model, no dataset, no run directory: the config alone is refused."""
    from hostsw.train import config_from_dict
    with pytest.raises(ConfigError) as e:
        config_from_dict({"model": "mlp", "dataset": "digits", "controller": controller})
    assert match in str(e.value) and "\n" not in str(e.value)


def test_unknown_config_key_suggests_the_close_one(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model: mlp\noptimizer: {lr: 0.1, momentun: 0.9}\n")
    with pytest.raises(ConfigError, match=r"optimizer.momentun \(did you mean momentum\?\)"):
        load_config(str(f))


def test_exponent_floats_without_a_dot_are_numbers():
    """PyYAML reads 1e-3 as a string (YAML 1.1); `--set optimizer.lr=1e-3` must mean 0.001."""
    from hostsw.train.config import apply_overrides
    cfg = apply_overrides(load_config("mlp-digits-static8"), ["optimizer.lr=1e-3",
                                                              "optimizer.weight_decay=5E-4"])
    assert cfg.optimizer.lr == 0.001 and cfg.optimizer.weight_decay == 0.0005


@pytest.mark.parametrize("text,line", [
    ("model: mlp\ndataset: digits\nmodel: lenet5\n", 3),
    ("model: mlp\noptimizer: {lr: 0.1, lr: 0.5}\n", 2),
])
def test_a_key_given_twice_is_refused_not_the_last_one_kept(tmp_path, text, line):
    """PyYAML alone keeps the last value: the first run would train lenet5 without a word."""
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=f"at line {line}: found duplicate key"):
        load_config(str(f))


def test_yaml_merge_keys_may_still_be_overridden():
    from hostsw.train.config import parse_yaml
    assert parse_yaml("b: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\n")["c"] == {"x": 3, "y": 2}


def test_set_reaches_into_a_controller_section_key_by_key():
    from hostsw.train.config import apply_overrides
    cfg = apply_overrides(load_config("mlp-digits-static8"), ["controller.layers.fc1.act=6"])
    assert cfg.controller.params["layers"] == {"fc1": {"act": 6}}
    with pytest.raises(ConfigError, match="'layrs' \\(did you mean layers\\?\\)"):
        apply_overrides(load_config("mlp-digits-static8"), ["controller.layrs.fc1.act=6"])
