"""The adapt controller in the real training loop (small model, short lookbacks)."""

import pytest
import torch

from hostsw.errors import ConfigError
from hostsw.io import read_jsonl
from hostsw.train import TrainOptions, config_from_dict, train

QUIET = TrainOptions(progress=False, log=lambda s: None)
FAST = {"lb_lwr": 3, "lb_upr": 8, "r_lwr": 10, "r_upr": 20}
STEPS_PER_EPOCH = 23  # digits: 1437 samples, batch 64


def _cfg(epochs=3, **params):
    return config_from_dict({
        "name": "t", "model": "mlp", "dataset": "digits", "epochs": epochs, "batch_size": 64,
        "seed": 3, "optimizer": {"lr": 0.05},
        "controller": {"name": "adapt", **FAST, **params}})


def _changes(run):
    return [r for r in read_jsonl(run / "precision.jsonl") if r["reason"] != "init"]


def test_adapt_trains_and_changes_precision_per_layer(tmp_path):
    summary = train(_cfg(), tmp_path / "r", QUIET)
    assert summary["test_accuracy"] > 0.6
    changes = _changes(tmp_path / "r")
    assert changes and {r["layer"] for r in changes} == {"fc1", "fc2", "fc3"}
    ctrl = summary["controller_summary"]["layers"]
    for name, st in ctrl.items():
        assert st["decisions"] >= 3 * STEPS_PER_EPOCH // 8
        assert summary["final_precision"][name]["weight"] == [st["bits"], st["frac"]]
        assert summary["final_precision"][name]["act"] == [st["bits"], st["frac"]]
        assert summary["final_precision"][name]["grad"][0] == st["bits"]
    # the heuristic overhead is charged to the word-length model
    assert summary["cost"]["wl_overhead"] > 0


def test_adapt_is_deterministic_for_a_seed(tmp_path):
    a = train(_cfg(epochs=2), tmp_path / "a", QUIET)
    b = train(_cfg(epochs=2), tmp_path / "b", QUIET)
    assert _changes(tmp_path / "a") == _changes(tmp_path / "b")
    assert a["final_precision"] == b["final_precision"]
    wa = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)["model"]
    wb = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_apply_at_step_changes_inside_epochs(tmp_path):
    train(_cfg(), tmp_path / "r", QUIET)
    steps = {r["step"] for r in _changes(tmp_path / "r")}
    assert any(s % STEPS_PER_EPOCH for s in steps)


def test_apply_at_epoch_defers_to_epoch_boundaries(tmp_path):
    train(_cfg(apply_at="epoch"), tmp_path / "r", QUIET)
    changes = _changes(tmp_path / "r")
    assert changes
    assert all(r["step"] % STEPS_PER_EPOCH == 0 and r["reason"] == "adapt-epoch" for r in changes)


def test_adapt_resumes_exactly(tmp_path, kill_and_resume):
    cfg = _cfg(epochs=3)
    train(cfg, tmp_path / "full", QUIET)
    kill_and_resume(cfg, tmp_path / "killed", STEPS_PER_EPOCH + 11, QUIET)
    assert _changes(tmp_path / "full") == _changes(tmp_path / "killed")
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=False)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["controller"]["layers"] == b["controller"]["layers"]


@pytest.mark.parametrize("params,match", [
    ({"lb_lwr": 50, "lb_upr": 10}, "lb_lwr=50"),
    ({"buff": 33}, "buff=33"),
    ({"gamma": 1.5}, "gamma=1.5"),
    ({"gamma": -0.1}, "gamma=-0.1"),
    ({"apply_at": "batch"}, "apply_at"),
    ({"act": "layerbits"}, "layerbits"),
    ({"start": [0, 4]}, "bits=0"),
    ({"layers": {"fc9": {"start": [8, 4]}}}, "fc9"),
    ({"lookback": 3}, "unknown adapt controller parameter"),
])
def test_bad_hyperparameters_are_one_line_errors(tmp_path, params, match):
    with pytest.raises(ConfigError, match=match) as e:
        train(_cfg(**params), tmp_path / "r", QUIET)
    assert "\n" not in str(e.value)


def test_act_layer_bits_takes_bit_width_with_dynamic_frac(tmp_path):
    summary = train(_cfg(epochs=1, act="layer-bits"), tmp_path / "r", QUIET)
    rows = [r for r in read_jsonl(tmp_path / "r" / "precision.jsonl") if r["kind"] == "act"]
    assert rows and all(r["frac"] is None for r in rows)
    st = summary["controller_summary"]["layers"]["fc2"]
    assert summary["final_precision"]["fc2"]["act"][0] == st["bits"]


@pytest.mark.parametrize("params,match", [
    ({"pd_scope": "slice"}, "pd_scope='slice'"),
    ({"pd_scope": 0}, "pd_scope=0"),
    ({"pd_kl_max": -0.1}, "pd_kl_max=-0.1"),
    ({"pd_kl_max": float("inf")}, "pd_kl_max=inf"),
    ({"pd_kl_max": "0.1"}, "pd_kl_max='0.1'"),
    ({"pd_kl_max": True}, "pd_kl_max=True"),
    ({"pd_frac_floor": 40}, "pd_frac_floor=40"),
    ({"pd_kl": 0.1}, "pd_kl"),
    ({"pu_escalate": "no"}, "pu_escalate='no'"),
])
def test_push_down_options_are_refused_when_the_config_is_loaded(params, match):
    """No model, dataset or run dir: config_from_dict alone checks AdaptParams."""
    with pytest.raises(ConfigError, match=match) as e:
        _cfg(**params)
    assert "\n" not in str(e.value)


def test_push_down_options_change_the_precisions_trained(tmp_path):
    """Same seed, same data: a KL tolerance and the first-slice scope each end at fewer bits
    than the paper's lossless whole-tensor push-down (and still change precision per layer)."""
    paper = train(_cfg(epochs=1), tmp_path / "p", QUIET)["controller_summary"]["layers"]
    for i, params in enumerate(({"pd_kl_max": 0.5}, {"pd_scope": "first_slice"})):
        run = tmp_path / f"low{i}"
        bits = train(_cfg(epochs=1, **params), run, QUIET)["controller_summary"]["layers"]
        assert sum(s["bits"] for s in bits.values()) < sum(s["bits"] for s in paper.values())
        assert {r["layer"] for r in _changes(run)} == {"fc1", "fc2", "fc3"}


def test_without_escalation_the_strategy_stays_where_it_started(tmp_path):
    fixed = train(_cfg(epochs=1, pu_escalate=False, strategy="mean"), tmp_path / "f", QUIET)
    assert fixed["controller_summary"]["strategy"] == "mean"
