"""fp32 and static controllers; every precision change goes through the logged board."""

import json

import pytest

from hostsw.errors import ConfigError
from hostsw.models import build_model
from hostsw.precision import PrecisionBoard, build_controller
from hostsw.quant.layers import quant_layers
from hostsw.quant.precision import Precision


def _board(tmp_path, model="lenet5", shape=(1, 28, 28)):
    layers = quant_layers(build_model(model, shape, 10))
    return PrecisionBoard(layers, tmp_path / "precision.jsonl")


def _rows(tmp_path):
    return [json.loads(line) for line in (tmp_path / "precision.jsonl").read_text().splitlines()]


def test_static_plan_with_layer_overrides(tmp_path):
    board = _board(tmp_path)
    ctrl = build_controller("static", {"weight": 6, "act": [8, "auto"], "grad": [5, "auto"],
                                       "layers": {"conv1": {"act": [8, 8]}, "fc3": {"weight": 4}}},
                            board)
    ctrl.configure()
    ctrl.on_train_begin()
    assert board.get("conv1", "act") == Precision(8, 8)
    assert board.get("conv2", "act") == Precision(8, None)
    assert board.get("fc3", "weight") == Precision(4, None)
    assert board.get("fc1", "weight") == Precision(6, None)
    assert board.get("fc1", "grad") == Precision(5, None)
    rows = _rows(tmp_path)
    assert len(rows) == 15  # every (layer, kind) logged once at the start
    conv1_act = [r for r in rows if r["layer"] == "conv1" and r["kind"] == "act"][0]
    assert conv1_act == {"step": 0, "epoch": 0, "layer": "conv1", "kind": "act", "bits": 8,
                         "frac": 8, "signed": False, "reason": "static"}
    # (act, weight, grad, bwd-weight grad): not bifurcated, so the last equals grad
    assert board.bits()["fc3"] == (8, 4, 5, 5)


def test_fp32_controller_disables_quantization(tmp_path):
    board = _board(tmp_path)
    build_controller("fp32", {}, board).on_train_begin()
    assert all(m.fully_float for m in board.layers.values())
    assert set(board.bits().values()) == {(None, None, None, None)}
    assert all(r["bits"] is None for r in _rows(tmp_path))


def test_board_logs_only_changes(tmp_path):
    board = _board(tmp_path)
    board.step, board.epoch = 7, 2
    assert board.set("fc1", "weight", Precision(5, 3), "test")
    assert not board.set("fc1", "weight", Precision(5, 3), "test")
    rows = _rows(tmp_path)
    assert len(rows) == 1 and rows[0]["step"] == 7 and rows[0]["epoch"] == 2


@pytest.mark.parametrize("params,match", [
    ({"layers": {"conv9": {"weight": 4}}}, "conv9"),
    ({"bogus": 1}, "bogus"),
    ({"weight": 0}, "bits=0"),
    ({"grad": [40, "auto"]}, "bits=40"),
    ({"grad_rounding": "dice"}, "rounding"),
    ({"layers": {"conv1": {"wieght": 4}}}, "weight, act, grad"),
])
def test_static_bad_params_are_one_line_errors(tmp_path, params, match):
    with pytest.raises(ConfigError, match=match) as e:
        build_controller("static", params, _board(tmp_path))
    assert "\n" not in str(e.value)


def test_unknown_controller(tmp_path):
    with pytest.raises(ConfigError, match="unknown controller"):
        build_controller("magic", {}, _board(tmp_path))
