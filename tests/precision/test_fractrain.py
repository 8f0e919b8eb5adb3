"""FracTrain (PFQ + DFQ): gate routing, per-sample precision forward and backward, the cost meter's
per-sample charging (hand-derived), the cost penalty, export choice, resume and back-end refusal."""

import pytest
import torch

from hostsw.cost import CostMeter, LayerMacs, count_macs
from hostsw.errors import ConfigError
from hostsw.io import read_jsonl
from hostsw.models import build_model
from hostsw.precision import PrecisionBoard, build_controller
from hostsw.precision.fractrain import export_choice
from hostsw.quant.layers import quant_layers
from hostsw.quant.precision import Precision
from hostsw.train import TrainOptions, Trainer, config_from_dict, train
from hostsw.train.rundir import start_fresh

QUIET = TrainOptions(progress=False, log=lambda s: None)
DIGITS = (1, 8, 8)


def _controller(params, seed=0):
    torch.manual_seed(seed)
    model = build_model("mlp", DIGITS, 10)
    layers = quant_layers(model)
    for m in layers.values():
        m.set_seed(seed)
    board = PrecisionBoard(layers)
    ctrl = build_controller("fractrain", params, board)
    ctrl.set_horizon(3, 10)
    ctrl.set_macs(count_macs(model, DIGITS))
    ctrl.configure()
    ctrl.on_train_begin()
    return model, layers, ctrl


def _split_gate(router, threshold=0.5):
    """Option 0 (cheap) for samples whose first input feature exceeds ``threshold``, else 1."""
    with torch.no_grad():
        router.gate.fc.weight.zero_()
        router.gate.fc.bias.zero_()
        router.gate.fc.weight[0, 0] = 1.0
        router.gate.fc.bias[0] = -threshold


PARAMS = {"levels": [[8, 8]], "options": [[4, 6], [8, 8]]}


def test_each_sample_runs_at_its_gates_precision_exactly():
    model, layers, ctrl = _controller(PARAMS)
    _, ref_layers, _ = _controller({**PARAMS, "dfq": False})  # same init, no gates
    router = ctrl.routers["fc1"]
    _split_gate(router)
    x = torch.rand(16, 64)
    x[:8, 0] = 0.9   # -> option 0, 4 bits forward
    x[8:, 0] = 0.1   # -> option 1, 8 bits forward
    model.train()
    y = layers["fc1"](x)
    assert dict(router.step_counts) == {(4, 6): 8, (8, 8): 8}
    ref = ref_layers["fc1"]
    ref.train()
    outs = {}
    for bits in (4, 8):
        for kind in ("weight", "act"):
            ref.set_precision(kind, Precision(bits))
        outs[bits] = ref(x).detach()
    assert torch.equal(y[:8].detach(), outs[4][:8])
    assert torch.equal(y[8:].detach(), outs[8][8:])
    assert not torch.equal(outs[4], outs[8])  # the two precisions really differ
    # the layer's nominal (logged) precision is restored after the call
    assert layers["fc1"].precision("weight") == Precision(8)


def test_backward_error_of_each_sample_uses_its_options_bits_only():
    model, layers, ctrl = _controller(PARAMS)
    router = ctrl.routers["fc1"]
    _split_gate(router)
    seen = {}
    for k, gq in enumerate(router.grad_quants):
        original = gq.quantize_error

        def capture(g, k=k, original=original, gq=gq):
            out = original(g)
            seen[k] = (g.clone(), out.clone(), gq.tensor_quant.fixed_point())
            return out
        gq.quantize_error = capture
    torch.manual_seed(1)
    x = torch.rand(32, 1, 8, 8)
    x[:12, 0, 0, 0] = 0.9  # -> option 0 (4/6)
    x[12:, 0, 0, 0] = 0.1  # -> option 1 (8/8)
    model.train()
    model(x).square().sum().backward()
    assert dict(router.step_counts) == {(4, 6): 12, (8, 8): 20}
    for k, (g, q, fp) in seen.items():
        chosen = torch.zeros(32, dtype=torch.bool)
        chosen[:12] = k == 0
        chosen[12:] = k == 1
        assert torch.all(g[~chosen] == 0) and torch.all(g[chosen].abs().sum(1) > 0)
        assert fp.bits == (6, 8)[k]
        ints = q * 2.0 ** fp.frac
        assert torch.equal(ints, ints.round())
        assert int(ints.abs().max()) <= 2 ** (fp.bits - 1)
        assert torch.all(q[~chosen] == 0)
    assert set(seen) == {0, 1}


def test_gate_gradient_and_cost_penalty():
    model, layers, ctrl = _controller({**PARAMS, "cost_weight": 1.0})
    model.train()
    out = model(torch.rand(8, 1, 8, 8))
    penalty = ctrl.loss_penalty()
    # zero gate weights, margin 1: softmax [1/(1+e), e/(1+e)] for every sample of every layer;
    # cost_k = layer BitOPs at option k / model fp32 BitOPs per sample (MLP 64-64-32-10):
    #   fp32 per sample: (2*4096 + 3*2048 + 3*320) * 1024 = 15663104
    #   fc1 (first: fwd + bwd-weight) 4/4/6: 4096*(16+24) = 163840, 8/8/8: 4096*128 = 524288
    #   fc2 4/4/6: 2048*(16+24+24) = 131072, 8/8/8: 2048*192 = 393216
    #   fc3 4/4/6: 320*64 = 20480,           8/8/8: 320*192 = 61440
    e = torch.e
    p0, p1 = 1 / (1 + e), e / (1 + e)
    expected = (p0 * (163840 + 131072 + 20480) + p1 * (524288 + 393216 + 61440)) / 15663104
    assert float(penalty.detach()) == pytest.approx(expected, rel=1e-6)
    (out.sum() * 0 + penalty).backward()
    for r in ctrl.routers.values():
        # the penalty lowers the expensive option's logit and raises the cheap one's
        assert r.gate.fc.bias.grad[1] > 0 > r.gate.fc.bias.grad[0]


def test_meter_charges_a_per_sample_mix_by_hand():
    macs = {"l0": LayerMacs(10, 0, 10, "dense", True, 10, 10),
            "l1": LayerMacs(20, 20, 20, "dense", False, 20, 4)}
    meter = CostMeter(macs)
    meter.add_step(3, {"l0": {(4, 4, 6): 2, (8, 8, 8): 1}, "l1": (8, 8, 8)})
    s = meter.summary()
    # l0: (4,4,6): 10*4*4 + 0 + 10*4*6 = 400 each, (8,8,8): 10*64 + 10*64 = 1280 -> 2*400 + 1280
    assert s["per_layer"]["l0"]["bitops"] == 2080
    assert s["per_layer"]["l1"]["bitops"] == 3 * 20 * 64 * 3
    assert s["bitops"] == 2080 + 11520
    assert s["avg_bits"]["l0"]["act"] == pytest.approx(16 / 3)
    assert s["avg_bits"]["l0"]["grad"] == pytest.approx(20 / 3)
    for bad, match in (({(4, 4, 6): 2}, "counts 2 samples, the step has 3"),
                       ({(4, 4, 6): -1, (8, 8, 8): 4}, "must be an integer >= 0")):
        with pytest.raises(ConfigError, match=match):
            meter.add_step(3, {"l0": bad, "l1": (8, 8, 8)})
    assert meter.summary() == s  # nothing charged by the refused steps


def test_sample_bits_keeps_held_kinds():
    model, layers, ctrl = _controller({**PARAMS, "layers": {"fc1": {"act": [8, 8]}}})
    _split_gate(ctrl.routers["fc1"])
    x = torch.rand(6, 1, 8, 8)
    x[:2, 0, 0, 0] = 0.9
    x[2:, 0, 0, 0] = 0.1
    model.train()
    model(x)
    mix = ctrl.sample_bits(ctrl.board.bits())
    assert mix["fc1"] == {(8, 4, 6): 2, (8, 8, 8): 4}


def test_export_choice_rules():
    opts = [(4, 6), (6, 8), (8, 8)]
    assert export_choice({(4, 6): 7, (8, 8): 3}, opts, "most_often") == (4, 6)
    assert export_choice({(4, 6): 5, (6, 8): 5}, opts, "most_often") == (6, 8)  # tie: higher
    assert export_choice({(4, 6): 7}, opts, "highest") == (8, 8)
    assert export_choice({}, opts, "most_often") == (8, 8)


def _cfg(**params):
    ctrl = {"name": "fractrain", "levels": [[6, 8], [8, 8]], "options": [[4, 6], [8, 8]],
            "patience": 1, "final_epochs": 1, **params}
    return config_from_dict({"name": "t", "model": "mlp", "dataset": "digits", "epochs": 3,
                             "batch_size": 64, "seed": 2, "controller": ctrl})


# per-sample BitOPs of the MLP's layers at the options' (act, weight, grad) bits, by hand above
HAND = {"fc1": {"4/6": 163840, "6/8": 4096 * (36 + 48), "8/8": 524288},
        "fc2": {"4/6": 131072, "6/8": 2048 * (36 + 48 + 48), "8/8": 393216},
        "fc3": {"4/6": 20480, "6/8": 320 * (36 + 48 + 48), "8/8": 61440}}


def test_run_charges_each_sample_at_its_choice_and_exports_the_most_chosen(tmp_path):
    summary = train(_cfg(cost_weight=20.0), tmp_path / "r", QUIET)
    cs = summary["controller_summary"]
    hist = cs["choices_per_epoch"]
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert summary["cost"]["bitops"] == sum(HAND[layer][opt] * n for h in hist
                                             for layer, c in h["layers"].items()
                                             for opt, n in c.items())
    last = hist[-1]["layers"]
    # a strong cost penalty moves every layer to its cheap option by the last epoch
    for layer, counts in last.items():
        assert counts.get("4/6", 0) > counts.get("8/8", 0), (layer, counts)
    assert summary["cost"]["bitops_rel_fp32"] < 0.0625
    assert cs["export_precision"]["rule"] == "most_often"
    for layer, (fw, bw) in cs["export_precision"]["layers"].items():
        assert summary["final_precision"][layer]["weight"][0] == fw == 4
        assert summary["final_precision"][layer]["grad"][0] == bw == 6
    rows = [r for r in read_jsonl(tmp_path / "r" / "precision.jsonl")
            if r["reason"] == "dfq-export-most_often"]
    assert {r["layer"] for r in rows} == {"fc1", "fc2", "fc3"}


def test_no_penalty_and_a_wide_margin_is_static_8_8(tmp_path):
    summary = train(_cfg(cost_weight=0.0, gate_init_margin=50.0, levels=[[8, 8]]),
                    tmp_path / "r", QUIET)
    assert summary["cost"]["bitops_rel_fp32"] == 0.0625
    assert all(set(c) == {"8/8"} for h in summary["controller_summary"]["choices_per_epoch"]
               for c in h["layers"].values())


def test_highest_rule_exports_the_highest_option(tmp_path):
    summary = train(_cfg(cost_weight=20.0, export_precision="highest"), tmp_path / "r", QUIET)
    assert summary["controller_summary"]["export_precision"]["layers"] == {
        "fc1": [8, 8], "fc2": [8, 8], "fc3": [8, 8]}
    assert summary["final_precision"]["fc2"]["act"][0] == 8


@pytest.mark.slow
def test_resume_after_kill_matches_uninterrupted_run(tmp_path, kill_and_resume):
    cfg = _cfg(cost_weight=5.0)
    full = train(cfg, tmp_path / "full", QUIET)
    resumed, at_kill = kill_and_resume(cfg, tmp_path / "killed", 23 + 9, QUIET)
    assert at_kill == 1
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=False)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    for name, state in a["controller"]["routers"].items():
        assert all(torch.equal(v, b["controller"]["routers"][name][k]) for k, v in state.items())
    assert resumed["cost"]["bitops"] == full["cost"]["bitops"]
    assert resumed["controller_summary"] == full["controller_summary"]
    assert resumed["test_accuracy"] == full["test_accuracy"]


def test_hardware_back_ends_refuse_dfq_in_one_line(tmp_path):
    cfg = _cfg()
    with pytest.raises(ConfigError, match="controller.dfq=false") as e:
        Trainer(cfg, start_fresh(tmp_path / "r", cfg), TrainOptions(progress=False,
                                                                      backend="reference"))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("params,match", [
    ({"dfq": "yes"}, "dfq='yes': give true or false"),
    ({"export_precision": "mode"}, "export_precision='mode': use most_often or highest"),
    ({"options": [[8, 8], [4, 6]]}, "must not decrease"),
    ({"options": [[4, 6], [4, 6]]}, "repeats options"),
    ({"cost_weight": -1}, "cost_weight=-1"),
])
def test_bad_parameters_are_one_line_config_errors(params, match):
    with pytest.raises(ConfigError, match=match):
        _cfg(**params)


def test_bifurcation_is_refused_with_dfq(tmp_path):
    cfg = _cfg()
    cfg.bifurcation.grad_w = 16
    with pytest.raises(ConfigError, match="cannot bifurcate"):
        train(cfg, tmp_path / "r", QUIET)
    assert not (tmp_path / "r").exists()  # refused before a run folder is made


def test_bifurcation_with_dfq_is_refused_when_the_config_loads():
    ctrl = {"name": "fractrain", "levels": [[6, 8], [8, 8]], "options": [[4, 6], [8, 8]]}
    base = {"name": "t", "model": "mlp", "dataset": "digits", "controller": ctrl,
            "bifurcation": {"layers": {"fc1": 16}}}
    with pytest.raises(ConfigError, match="cannot bifurcate"):
        config_from_dict(base)
    config_from_dict({**base, "controller": {**ctrl, "dfq": False}})  # PFQ alone may bifurcate


def test_presets_load():
    from hostsw.train import list_presets, load_config
    for ds in ("mnist", "fashion"):
        cfg = load_config(f"lenet5-{ds}-fractrain")
        assert f"lenet5-{ds}-fractrain" in list_presets()
        assert cfg.controller.name == "fractrain" and cfg.controller.params["dfq"] is True
