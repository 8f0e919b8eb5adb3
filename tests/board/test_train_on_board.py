"""``hostsw train --backend board`` on a MOCK device (kernels run in C simulation) ends with the
same weights, optimizer state and precision log as ``--backend reference``; without a bitstream
the command is one line; a ``board``-marked test runs on real hardware only."""

from __future__ import annotations

import os

import pytest
import torch

from hostsw.board import device as board_device
from hostsw.board.mock import mock_for_folder
from hostsw.cli import main
from hostsw.io import read_jsonl

pytestmark = pytest.mark.csim

CFG = """name: tiny
model: mlp
dataset: digits
epochs: 2
batch_size: 64
seed: 4
limit_train: 256
limit_test: 64
optimizer: {name: sgd, lr: 0.05, momentum: 0.9}
lr_schedule: {name: none}
controller: {name: progressive, levels: [[8, 8], [12, 12]], patience: 1, min_delta: 0.5, final_epochs: 1}
"""


def test_board_backend_trains_like_reference(tmp_path, built_training, monkeypatch):
    folder, _ = built_training(tiers=(8, 16))
    devices = []

    def opener(family, remote=None):
        devices.append(mock_for_folder(folder))
        return devices[-1]
    monkeypatch.setattr(board_device, "open_device", opener)
    monkeypatch.setenv("HOSTSW_BITSTREAM", str(folder))
    monkeypatch.setenv("HOSTSW_BOARD", "zcu104")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CFG)
    for b in ("board", "reference"):
        assert main(["train", "--config", str(cfg), "--out", str(tmp_path / b), "--backend", b,
                     "--no-progress", "--threads", "1"]) == 0
    ca = torch.load(tmp_path / "board" / "checkpoint.pt", weights_only=False)
    cb = torch.load(tmp_path / "reference" / "checkpoint.pt", weights_only=False)
    for k, v in ca["model"].items():
        assert torch.equal(v, cb["model"][k]), k
    for k, st in ca["optimizer"]["state"].items():
        for n, v in st.items():
            assert torch.equal(v, cb["optimizer"]["state"][k][n]), (k, n)
    pa = read_jsonl(tmp_path / "board" / "precision.jsonl")
    assert pa == read_jsonl(tmp_path / "reference" / "precision.jsonl")
    assert {t for r in pa if "tiers" in r for t in r["tiers"].values()} == {8, 16}
    starts = [e for e in devices[0].events if e[0] == "start"]
    assert {e[1] for e in starts} == {"hostsw_mac_t8_0", "hostsw_mac_t16_0"}
    import json
    s = json.loads((tmp_path / "board" / "summary.json").read_text())
    assert s["engine"]["mock"] is True and "MOCK" in s["engine"]["device"]
    # every engine call started the IP of its tier: epoch 1 (8-bit words) on t8, epoch 2
    # (12-bit words) on t16; 4 steps per epoch x (3 layers x (fwd + bwd-weight) + 2 bwd-data)
    # plus the epoch's evaluation (64 test images, one batch: 3 fwd)
    calls = s["engine"]["calls"]
    for t in (8, 16):
        n = sum(v for k, v in calls.items() if k.endswith(f"/t{t}"))
        assert n == sum(1 for e in starts if e[1] == f"hostsw_mac_t{t}_0") == 4 * 8 + 3, t
    # the layers ask the engine for the exact accumulator ("no rounding": a 64-bit signed output
    # word, shift 0) and requantize on the host, so the per-epoch precision reaches the board as
    # the tier of the IP each call starts (above) and the m_axi word of its operands
    from hostsw.board.regmap import parse_hw_header
    rm = parse_hw_header(folder / "drivers" / "xhostsw_mac_t8_hw.h")
    regs, outs = {}, set()
    for e in devices[0].events:
        if e[0] == "write":
            regs[e[2]] = e[3]
        elif e[0] == "start":
            outs.add(tuple(regs[rm.arg(k).offset] for k in ("shift0", "bits0", "signed0")))
    assert outs == {(0, 64, 1)}
    dtypes = {e[3] for e in devices[0].events if e[0] == "allocate"}
    assert dtypes == {"int16", "int32", "int64"}  # t8 / t16 operand words, int64 results


def test_tier_per_layer_per_epoch(tmp_path, built_training, monkeypatch):
    """Each layer's precision of each epoch reaches the board as the IP (datapath tier) its calls
    start and the operand word width: fc2's weights are held at 16 bits while the schedule runs
    epoch 1 at 8/8 and epoch 2 at 12/12. Expected tiers derived by hand: a call runs on the
    smallest tier holding both its operands (8 -> t8, 12 and 16 -> t16)."""
    folder, _ = built_training(tiers=(8, 16))
    devices = []
    monkeypatch.setattr(board_device, "open_device",
                        lambda family, remote=None: devices.append(mock_for_folder(folder))
                        or devices[-1])
    monkeypatch.setenv("HOSTSW_BITSTREAM", str(folder))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CFG.replace("final_epochs: 1}", "final_epochs: 1,\n  layers: {fc2: {weight: "
                                                   "[16, 12]}}}"))
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "r"), "--backend",
                 "board", "--no-progress", "--threads", "1"]) == 0
    from hostsw.board.regmap import parse_hw_header
    rm = parse_hw_header(folder / "drivers" / "xhostsw_mac_t8_hw.h")
    regs, starts = {}, []
    for e in devices[0].events:
        if e[0] == "write":
            regs[e[2]] = e[3]
        elif e[0] == "start":
            starts.append((regs[rm.arg("in_ch").offset], regs[rm.arg("out_ch").offset],
                           regs[rm.arg("mode").offset], e[1]))
    # the mlp's layers (models/mlp.py: 64 -> 64 -> 32 -> 10) by their geometry registers
    layer = {(64, 64): "fc1", (64, 32): "fc2", (32, 10): "fc3"}
    # per epoch: 4 steps x 8 calls (fwd x3, bwd-data of fc2 and fc3, bwd-weight x3) + 3 eval fwd
    assert len(starts) == 2 * 35
    t8, t16 = "hostsw_mac_t8_0", "hostsw_mac_t16_0"
    expect = {  # (epoch, layer, mode) -> IP; mode 0 fwd, 1 bwd-data, 2 bwd-weight
        (1, "fc1", 0): t8, (1, "fc1", 2): t8,
        (1, "fc2", 0): t16, (1, "fc2", 1): t16, (1, "fc2", 2): t8,   # weights 16, act/err 8
        (1, "fc3", 0): t8, (1, "fc3", 1): t8, (1, "fc3", 2): t8,
        **{(2, n, m): t16 for n, m in (("fc1", 0), ("fc1", 2), ("fc2", 0), ("fc2", 1),
                                       ("fc2", 2), ("fc3", 0), ("fc3", 1), ("fc3", 2))}}
    seen = {}
    for i, (cin, cout, mode, ip) in enumerate(starts):
        key = (1 + i // 35, layer[(cin, cout)], mode)
        seen.setdefault(key, set()).add(ip)
    assert seen == {k: {v} for k, v in expect.items()}
    # operand words: ap_int<9> (int16) on t8, ap_int<17> (int32) on t16; results int64
    words = {e[3] for e in devices[0].events if e[0] == "allocate"}
    assert words == {"int16", "int32", "int64"}


def test_board_backend_without_bitstream(tmp_path, cli_fails, monkeypatch):
    monkeypatch.delenv("HOSTSW_BITSTREAM", raising=False)
    cli_fails(["train", "--preset", "lenet5-mnist-static8", "--out", str(tmp_path / "r"),
               "--backend", "board", "--no-progress"], "HOSTSW_BITSTREAM")
    assert not (tmp_path / "r").exists()


@pytest.mark.board
@pytest.mark.skipif(not os.environ.get("HOSTSW_BITSTREAM"),
                    reason="no board: set HOSTSW_BITSTREAM (a built training folder) and "
                           "HOSTSW_BOARD on a board with pynq (or an Alveo host with pyxrt)")
def test_real_board_matches_reference():
    import numpy as np
    from hostsw.fixedpoint import FixedPoint
    from hostsw.runtime.board import BoardBackend
    from hostsw.runtime.reference import ReferenceBackend
    from hostsw.runtime.spec import Geometry, Operand, OutSpec
    g = Geometry(batch=4, in_ch=16, in_h=1, in_w=1, out_ch=8)
    rng = np.random.default_rng(0)
    x = Operand(rng.integers(-128, 128, size=g.x_shape), FixedPoint(8, 4))
    w = Operand(rng.integers(-127, 128, size=g.w_shape), FixedPoint(8, 6))
    out = OutSpec(FixedPoint(8, 3), acc_frac=10, rounding="stochastic", seed=1)
    be = BoardBackend()
    assert not be.describe()["mock"]
    assert np.array_equal(be.fwd(g, x, w, None, out), ReferenceBackend().fwd(g, x, w, None, out))
