"""scripts/bench_train_overhead.py: its stock-Brevitas variant must time Brevitas' model."""

import torch

from scripts.bench_train_overhead import make_trainer


def test_stock_variant_trains_the_stock_brevitas_model(tmp_path):
    """The variant swaps in a stock-Brevitas LeNet-5; the loop steps ``trainer.net``, so both
    must be that model (when only ``model`` was swapped, the row timed the fp32 hostsw model)."""
    t = make_trainer("lenet5-mnist-fp32", 512, tmp_path, stock=True, device="cpu")
    assert t.net is t.model
    assert type(t.model[1]).__module__.startswith("brevitas")
    before = t.model[1].weight.detach().clone()
    t.epoch = 1
    t.train_epoch()
    assert not torch.equal(before, t.model[1].weight)
