"""CPT: the cosine schedule, cycles, switching granularity, the precision range test, resume."""

import logging

import pytest
import torch

from hostsw.errors import ConfigError
from hostsw.io import read_jsonl
from hostsw.models import build_model
from hostsw.precision import PrecisionBoard, build_controller
from hostsw.precision.schedules import cosine_precision
from hostsw.quant.layers import quant_layers
from hostsw.quant.precision import Precision
from hostsw.train import TrainOptions, config_from_dict, train

QUIET = TrainOptions(progress=False, log=lambda s: None)
STEPS_PER_EPOCH = 23  # digits: 1437 samples, batch 64


def _cfg(epochs=3, **params):
    return config_from_dict({
        "name": "t", "model": "mlp", "dataset": "digits", "epochs": epochs, "batch_size": 64,
        "seed": 3, "optimizer": {"lr": 0.05},
        "controller": {"name": "cpt", "q_min": 3, "q_max": 8, "num_cycles": 2, **params}})


def _weight_rows(run, layer="fc2"):
    return [r for r in read_jsonl(run / "precision.jsonl")
            if r["layer"] == layer and r["kind"] == "weight"]


def _controller(params, epochs=4, spe=10, tmp_path=None):
    layers = quant_layers(build_model("mlp", (1, 8, 8), 10))
    board = PrecisionBoard(layers, None if tmp_path is None else tmp_path / "precision.jsonl")
    ctrl = build_controller("cpt", params, board)
    ctrl.set_horizon(epochs, spe)
    ctrl.configure()
    return ctrl, board


# --- expected values, derived by hand from the paper's definition -------------------------------
# CPT (Fu et al., ICLR 2021; shared/specs/schedules.md): q_t = rint(q_min + (q_max - q_min)/2 *
# (1 + cos(pi * (t mod T)/T + pi))). Since 1 + cos(x + pi) = 1 - cos(x), with phase p = (t mod T)/T
# and q_min, q_max = 3, 8: q = rint(3 + 2.5 (1 - cos(pi p))). q reaches k + 1 where
# 3 + 2.5 (1 - cos(pi p)) = k + 1/2, i.e. cos(pi p) = 1 - (k - 2.5)/2.5:
#   3 -> 4 at cos = 0.8:   p = acos(0.8)/pi  = 0.20483
#   4 -> 5 at cos = 0.4:   p = acos(0.4)/pi  = 0.36901
#   5 -> 6 at cos = 0:     p = 1/2 (exactly 5.5 there: rint, half to even, gives 6)
#   6 -> 7 at cos = -0.4:  p = acos(-0.4)/pi = 0.63099
#   7 -> 8 at cos = -0.8:  p = acos(-0.8)/pi = 0.79517
# so 3..8 bits over a cycle are the phase intervals
#   [0, .20483) [.20483, .36901) [.36901, .5) [.5, .63099) [.63099, .79517) [.79517, 1).

#: T = 34.5 (69 steps, 2 cycles): steps t mod T >= 34.5 * p of the thresholds above, i.e.
#: 7.07, 12.73, 17.25, 21.77, 27.43: first cycle t = 0-7 -> 3, 8-12 -> 4, 13-17 -> 5, 18-21 -> 6,
#: 22-27 -> 7, 28-34 -> 8; second cycle (t - 34.5) t = 35-41 -> 3, 42-47 -> 4, 48-51 -> 5,
#: 52-56 -> 6, 57-61 -> 7, 62-68 -> 8
CYCLES_2_OF_69 = ([3] * 8 + [4] * 5 + [5] * 5 + [6] * 4 + [7] * 6 + [8] * 7
                  + [3] * 7 + [4] * 6 + [5] * 4 + [6] * 5 + [7] * 5 + [8] * 7)


# --- the formula ---------------------------------------------------------------------------------
def test_cosine_schedule_values():
    # T = 100: starts at q_min, half way is the mid point, ramps to q_max, wraps to q_min
    assert cosine_precision(0, 100, 3, 8) == 3
    assert cosine_precision(20, 100, 3, 8) == 3   # 3 + 2.5 (1 - cos(0.2 pi)) = 3.477
    assert cosine_precision(21, 100, 3, 8) == 4   # 3.531
    assert cosine_precision(50, 100, 2, 8) == 5   # 2 + 3 = 5 exactly
    assert cosine_precision(80, 100, 3, 8) == 8   # 7.52
    assert cosine_precision(99, 100, 3, 8) == 8
    assert cosine_precision(100, 100, 3, 8) == 3  # next cycle
    assert cosine_precision(150, 100, 2, 8) == 5
    assert cosine_precision(7, 10, 4, 4) == 4
    assert cosine_precision(1, 2, 3, 8) == 6      # 3 + 2.5 = 5.5 exactly: half to even -> 6
    # T = 37.5: switch points t mod T = 37.5 * p = 7.68, 13.84, 18.75, 23.66, 29.82 (see above);
    # t = 0, 7, ..., 294 has t mod T = 0, 7, 14, 21, 28, 35, 4.5, 11.5, 18.5, 25.5, 32.5, 2, 9, ...
    expected = [3, 3, 5, 6, 7, 8, 3, 4, 5, 7, 8, 3, 4, 5, 6, 8, 8, 3, 4, 6, 7, 8,
                3, 4, 5, 7, 8, 3, 4, 5, 6, 7, 8, 3, 4, 6, 7, 8, 3, 4, 5, 7, 8]
    assert [cosine_precision(t, 37.5, 3, 8) for t in range(0, 300, 7)] == expected


def test_per_iteration_schedule_follows_the_formula_with_n_cycles(tmp_path):
    train(_cfg(epochs=3), tmp_path / "r", QUIET)
    total = 3 * STEPS_PER_EPOCH  # 69 steps, N = 2 cycles: T = 34.5
    rows = _weight_rows(tmp_path / "r")
    # replay the log: the precision in force at every step is the hand-derived schedule
    in_force, bits, i = [], None, 0
    for step in range(total):
        while i < len(rows) and rows[i]["step"] <= step:
            bits = rows[i]["bits"]
            i += 1
        in_force.append(bits)
    assert in_force == CYCLES_2_OF_69
    drops = [r for a, r in zip(rows, rows[1:]) if r["bits"] < a["bits"]]
    assert len(drops) == 2 - 1  # N cycles: N - 1 falls back to q_min
    assert any(r["step"] % STEPS_PER_EPOCH for r in rows[1:])  # switches inside epochs
    # backward precision constant, frac dynamic
    grads = [r for r in read_jsonl(tmp_path / "r" / "precision.jsonl") if r["kind"] == "grad"]
    assert {(r["bits"], r["frac"]) for r in grads} == {(8, None)}
    assert {r["frac"] for r in rows} == {None}


def test_per_epoch_switching_changes_only_between_epochs(tmp_path):
    summary = train(_cfg(epochs=4, switch="epoch"), tmp_path / "r", QUIET)
    rows = _weight_rows(tmp_path / "r")
    assert all(r["step"] % STEPS_PER_EPOCH == 0 for r in rows)
    by_epoch = {r["step"] // STEPS_PER_EPOCH: r["bits"] for r in rows}
    # T = 2 epochs: phase 0 -> 3 bits, phase 1/2 -> 3 + 2.5 = 5.5 -> rint (half to even) 6
    assert by_epoch == {0: 3, 1: 6, 2: 3, 3: 6}
    assert summary["controller_summary"]["period"] == 2.0


def test_held_layers_and_bitops_follow_the_schedule(tmp_path):
    summary = train(_cfg(epochs=2, layers={"fc1": {"act": [8, 4]}}), tmp_path / "r", QUIET)
    acts = [r for r in read_jsonl(tmp_path / "r" / "precision.jsonl")
            if r["layer"] == "fc1" and r["kind"] == "act"]
    assert [(r["bits"], r["frac"]) for r in acts] == [(8, 4)]
    # 2 epochs of 23 steps, N = 2: T = 23, switch points t mod 23 >= 23 * p = 4.71, 8.49, 11.5,
    # 14.51, 18.29: each epoch t = 0-4 -> 3, 5-8 -> 4, 9-11 -> 5, 12-14 -> 6, 15-18 -> 7,
    # 19-22 -> 8 bits; every batch has 64 samples except the last (1437 = 22 * 64 + 29, 8 bits).
    # Samples per epoch at q bits: n_3 = 320, n_4 = 256, n_5 = 192, n_6 = 192, n_7 = 256,
    # n_8 = 3 * 64 + 29 = 221;  sum n_q q = 7656, sum n_q q^2 = 45376.
    avg = summary["cost"]["avg_bits"]["fc2"]
    assert avg["weight"] == avg["act"] == pytest.approx(7656 / 1437, rel=1e-12)  # 5.3278
    assert avg["grad"] == 8
    assert summary["cost"]["avg_bits"]["fc1"]["act"] == 8  # held
    # BitOPs per epoch (cost.md), e = 8: fc1 (4096 MACs, input held at 8 bits, no bwd-data)
    # 4096 * sum n_q (8 q + 8 * 8) = 4096 * (61248 + 91968) = 627572736; fc2 + fc3 (2048 + 320
    # MACs, a = w = q) 2368 * sum n_q (q^2 + 2 * 8 q) = 2368 * (45376 + 122496) = 397520896;
    # float32 1437 * 32^2 * (2 * 4096 + 3 * 2368) = 22507880448
    assert summary["cost"]["bitops_rel_fp32"] == pytest.approx(
        (627572736 + 397520896) / 22507880448, rel=1e-12)  # 0.045544


# --- precision range test ------------------------------------------------------------------------
def _feed(ctrl, board, accuracies):
    for acc in accuracies:
        ctrl.on_step_begin()
        board.step += 1
        board.batch_accuracy = acc
        ctrl.on_step_end(1.0)


def test_prt_picks_the_first_precision_crossing_the_threshold(tmp_path):
    ctrl, board = _controller({"q_min": "prt", "prt_start": 2, "prt_steps": 3, "num_cycles": 2,
                               "prt_threshold": 0.5}, tmp_path=tmp_path)
    ctrl.on_train_begin()
    assert board.get("fc2", "weight") == Precision(2)
    _feed(ctrl, board, [0.1, 0.2, 0.3])          # 2 bits: mean 0.2
    assert board.get("fc2", "weight") == Precision(3)
    _feed(ctrl, board, [0.4, 0.5, 0.5])          # 3 bits: 0.467 < 0.5
    _feed(ctrl, board, [0.5, 0.6, 0.55])         # 4 bits: 0.55 -> q_min = 4
    assert ctrl.q_min == 4 and not ctrl.prt["active"]
    prt = ctrl.summary()["prt"]
    assert prt["q_min"] == 4 and prt["fallback"] is False and prt["decided_at_step"] == 9
    assert [t["bits"] for t in prt["trials"]] == [2, 3, 4]
    assert prt["trials"][2]["train_accuracy"] == pytest.approx(0.55)
    # the cycle goes on from step 9 with the chosen floor
    ctrl.on_step_begin()
    # 4 epochs x 10 steps, N = 2: T = 20; t = 9: 4 + 2 (1 - cos(0.45 pi)) = 4 + 2 * 0.8436 = 5.69
    assert board.get("fc2", "weight") == Precision(6)
    reasons = [r["reason"] for r in read_jsonl(tmp_path / "precision.jsonl")
               if r["layer"] == "fc2" and r["kind"] == "weight"]
    assert reasons[:3] == ["init", "prt", "prt"]


def test_prt_never_crossed_falls_back_to_q_max_with_a_warning(caplog):
    ctrl, board = _controller({"q_min": "prt", "prt_start": 6, "prt_steps": 2,
                               "prt_threshold": 0.9})
    ctrl.on_train_begin()
    with caplog.at_level(logging.WARNING, logger="hostsw.precision"):
        _feed(ctrl, board, [0.1] * 6)  # 6, 7, 8 bits
    assert ctrl.q_min == 8 and ctrl.summary()["prt"]["fallback"] is True
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 1 and "\n" not in msgs[0]
    assert "prt_threshold=0.9" in msgs[0] and "q_min = q_max = 8" in msgs[0]
    assert "lower prt_threshold or give q_min" in msgs[0]
    ctrl.on_step_begin()
    assert board.get("fc2", "weight") == Precision(8)  # static from here on


def test_prt_in_the_training_loop_is_reported(tmp_path):
    from hostsw.report import load_run, render_text
    summary = train(_cfg(epochs=2, q_min="prt", prt_steps=8, prt_threshold=0.3), tmp_path / "r",
                    QUIET)
    prt = summary["controller_summary"]["prt"]
    assert prt["finished"] and prt["q_min"] == prt["trials"][-1]["bits"]
    assert prt["trials"][-1]["train_accuracy"] >= 0.3
    assert all(t["train_accuracy"] < 0.3 for t in prt["trials"][:-1])
    text = render_text(load_run(tmp_path / "r"))
    assert f"Precision range test (PRT): q_min = {prt['q_min']} bits" in text
    assert "<- q_min" in text


# --- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("params,match", [
    ({"q_min": 9, "q_max": 8}, "q_min=9 > q_max=8: set q_min <= q_max"),
    ({"num_cycles": 0}, "num_cycles=0 must be an integer >= 1"),
    ({"num_cycles": 5, "switch": "epoch"}, "num_cycles=5 > epochs=3 with switch: epoch"),
    ({"grad_quantizer": "hbq"}, "unknown grad_quantizer 'hbq': use one of ptq, psq, bhq"),
    ({"switch": "batch"}, "switch='batch'"),
    ({"q_min": "auto"}, "give bits"),
    ({"q_min": "prt", "prt_start": 9}, "prt_start=9 > q_max=8"),
    ({"prt_threshold": 2}, "prt_threshold=2"),
    ({"layers": {"fc9": {"act": 8}}}, "fc9"),
    ({"cycles": 3}, "unknown cpt controller parameter 'cycles'"),
])
def test_bad_input_is_a_one_line_config_error(tmp_path, params, match):
    with pytest.raises(ConfigError, match=match) as e:
        train(_cfg(**params), tmp_path / "r", QUIET)
    assert "\n" not in str(e.value)


# --- resume --------------------------------------------------------------------------------------
@pytest.mark.parametrize("params", [{}, {"q_min": "prt", "prt_steps": 15, "prt_threshold": 0.5,
                                         "grad_quantizer": "psq"}])
def test_cpt_resumes_exactly(tmp_path, params, kill_and_resume):
    cfg = _cfg(epochs=3, **params)
    train(cfg, tmp_path / "full", QUIET)
    kill_and_resume(cfg, tmp_path / "killed", STEPS_PER_EPOCH + 11, QUIET)
    full = read_jsonl(tmp_path / "full" / "precision.jsonl")
    assert full == read_jsonl(tmp_path / "killed" / "precision.jsonl")
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=False)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["controller"] == b["controller"]
    assert a["cost_meter"] == b["cost_meter"]


# --- presets -------------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", [f"{base}-{c}" for base in ("lenet5-mnist", "lenet5-fashion",
                                                               "mlp-digits")
                                    for c in ("cpt", "progressive", "muppet")])
def test_schedule_presets_build_and_start(preset):
    from hostsw.data import DATASETS
    from hostsw.train import load_config
    cfg = load_config(preset)
    info = DATASETS[cfg.dataset]
    layers = quant_layers(build_model(cfg.model, info.input_shape, info.num_classes))
    board = PrecisionBoard(layers)
    ctrl = build_controller(cfg.controller.name, cfg.controller.params, board)
    ctrl.set_horizon(cfg.epochs, 10)
    ctrl.configure()
    ctrl.on_train_begin()
    static = load_config(preset.rsplit("-", 1)[0] + "-static8")
    assert (cfg.optimizer, cfg.lr_schedule, cfg.epochs, cfg.batch_size, cfg.seed) == \
        (static.optimizer, static.lr_schedule, static.epochs, static.batch_size, static.seed)
    if cfg.model == "lenet5":
        assert board.get("conv1", "act") == Precision(8, 8)


def test_static_controller_selects_the_grad_quantizer(tmp_path):
    layers = quant_layers(build_model("mlp", (1, 8, 8), 10))
    board = PrecisionBoard(layers)
    build_controller("static", {"grad": [4, "auto"], "grad_quantizer": "bhq"}, board).configure()
    assert {m.grad_quant.quantizer_name for m in layers.values()} == {"bhq"}
    with pytest.raises(ConfigError, match="chooses frac per sample: give \\[bits, auto\\]"):
        build_controller("static", {"grad": [4, 3], "grad_quantizer": "psq"}, board)
    with pytest.raises(ConfigError, match="unknown grad_quantizer 'xyz'"):
        build_controller("static", {"grad_quantizer": "xyz"}, board)
