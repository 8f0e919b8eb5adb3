"""Range BatchNorm and FracTrain runs through export -> hls4ml -> g++ C simulation, bit-exact.

Range BN folds into BatchNorm's per-channel scale and shift at inference, so ResNet-20 (CIFAR-10
fixture) and the BN-bearing LeNet-5 with ``norm: range`` must stay exact like the BN zoo models.
A fractrain (PFQ+DFQ) run exports each layer at the one precision its gates chose most often; the
exported plan must carry exactly those precisions, and C simulation must match it bit for bit.
"""

import json

import pytest

from csim_helpers import tiny_zoo, write_cifar
from hostsw.export import CsimConfig, HlsConfig, run_csim
from hostsw.fixedpoint import FixedPoint
from hostsw.models.norm import RangeBatchNorm2d
from hostsw.export.qonnx_export import load_run_model
from hostsw.train import TrainOptions, config_from_dict, train

pytestmark = pytest.mark.csim

QUIET = TrainOptions(progress=False, log=lambda s: None)
STATIC = {"name": "static", "weight": [6, "auto"], "act": [6, "auto"], "grad": [8, "auto"]}
CASES = {
    "resnet20-range": ({"model": "resnet20", "norm": "range", "dataset": "cifar10", "epochs": 1,
                        "batch_size": 64, "limit_train": 512, "limit_test": 100,
                        "controller": {**STATIC, "layers": {"conv1": {"act": [8, 8]}}}},
                       "Vitis", "io_stream", 60),
    "lenet5-range": ({"model": "lenet5", "norm": "range", "dataset": "mnist", "epochs": 1,
                      "batch_size": 128, "limit_train": 2000, "limit_test": 300,
                      "controller": {**STATIC, "layers": {"conv1": {"act": [8, 8]}}}},
                     "Vitis", "io_stream", 300),
    "mlp-fractrain": ({"model": "mlp", "dataset": "digits", "epochs": 3, "batch_size": 64,
                       "controller": {"name": "fractrain", "levels": [[6, 8], [8, 8]],
                                      "options": [[4, 6], [8, 8]], "patience": 1,
                                      "final_epochs": 1, "cost_weight": 5.0}},
                      "Vitis", "io_parallel", 360),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_norm_and_dfq_runs_are_bit_exact_in_csim(tmp_path, case):
    spec, backend, io_type, samples = CASES[case]
    cfg = config_from_dict({**spec, "name": f"csim-{case}", "seed": 0})
    if cfg.dataset == "cifar10":
        cfg.data_dir = str(write_cifar(tmp_path / "data"))
    run = tmp_path / case
    with tiny_zoo():
        summary = train(cfg, run, QUIET)
        r = run_csim(run_dir=run, cfg=CsimConfig(samples=samples),
                     hls_cfg=HlsConfig(backend=backend, io_type=io_type))
        model = load_run_model(run).model
    assert r["samples"] == samples
    assert r["exact_match_rate"] == 1.0 and r["max_abs_diff"] == 0.0
    assert r["csim_accuracy"] == r["software_accuracy"]
    plan = json.loads((run / "precision_plan.json").read_text())["layers"]
    if case.endswith("range"):
        assert any(isinstance(m, RangeBatchNorm2d) for m in model.modules())
        return
    export = summary["controller_summary"]["export_precision"]
    assert export["rule"] == "most_often"
    said = json.loads((run / "export_config.json").read_text())["metadata"]
    assert said["hostsw.dfq_export_precision"] == "most_often: " + ", ".join(
        f"{name} {fw}/{bw}" for name, (fw, bw) in export["layers"].items())
    for name, (fw, _) in export["layers"].items():
        got = FixedPoint.parse(plan[name]["weight"]).bits
        assert got == fw, (name, got, fw)
