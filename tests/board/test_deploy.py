"""The inference design: the rendered wrapper compiles with the hls4ml project, and ``hostsw
deploy`` on a MOCK device (the wrapper compiled for the host) matches the C simulation bit for
bit; a stale precision plan and a missing board are one line each."""

from __future__ import annotations

import json

import pytest

from hostsw.board import device as board_device
from hostsw.board.mock import mock_inference_device
from hostsw.board.render import BitstreamConfig, render
from hostsw.cli import main

pytestmark = [pytest.mark.csim, pytest.mark.slow]

CFG = {"name": "inf", "model": "mlp", "dataset": "digits", "epochs": 1, "batch_size": 64,
       "seed": 0, "limit_train": 256, "limit_test": 128,
       "controller": {"name": "static", "weight": [6, "auto"], "act": [7, "auto"],
                      "grad": [8, "auto"]}}


@pytest.fixture(scope="module")
def inference_folder(tmp_path_factory):
    from hostsw.train import TrainOptions, config_from_dict, train
    from tests.board.conftest import fake_build
    base = tmp_path_factory.mktemp("inf")
    run = base / "run"
    train(config_from_dict(dict(CFG)), run, TrainOptions(progress=False, log=lambda s: None))
    folder, m = render(BitstreamConfig(design="inference", board="zcu104", run_dir=str(run),
                                       out=str(base / "bs")))
    assert m["kernels"] == {"hostsw_infer": {"ip": "hostsw_infer_0",
                                             "regmap": "drivers/xhostsw_infer_hw.h"}}
    assert "hls/firmware/myproject.cpp" in m["files"] and m["precision_plan_sha256"]
    fake_build(folder)
    return run, folder


def test_alveo_inference_link_config(inference_folder, tmp_path):
    run, _ = inference_folder
    out, _ = render(BitstreamConfig(design="inference", board="u50", run_dir=str(run),
                                    out=str(tmp_path / "u50")))
    sp = [ln for ln in (out / "link.cfg").read_text().splitlines() if ln.startswith("sp=")]
    assert sp == ["sp=hostsw_infer_0.m_axi_gmem0:HBM[0]", "sp=hostsw_infer_0.m_axi_gmem1:HBM[0]"]


@pytest.mark.slow
def test_deploy_on_mock_is_bit_exact(inference_folder, monkeypatch, capsys):
    run, folder = inference_folder
    dev = mock_inference_device(folder)
    monkeypatch.setattr(board_device, "open_device", lambda family, remote=None: dev)
    assert main(["deploy", str(run), "--board", "zcu104", "--bitstream", str(folder),
                 "--samples", "100"]) == 0
    r = json.loads((run / "deploy.json").read_text())
    assert r["label"] == "mock" and r["samples"] == 100 and r["bit_exact_rate"] == 1.0
    assert r["kernel_returned"] == 100
    allocs = [e for e in dev.events if e[0] == "allocate"]
    assert [(e[2], e[3]) for e in allocs] == [((100, 64), "int32"), ((100, 10), "int64")]
    assert "MOCK device" in capsys.readouterr().out


def test_deploy_stale_plan_and_no_board(inference_folder, cli_fails, tmp_path):
    run, folder = inference_folder
    cli_fails(["deploy", str(run), "--board", "zcu104", "--bitstream", str(folder)],
              "pynq is not installed")
    cli_fails(["deploy", str(run), "--board", "zcu102", "--bitstream", str(folder)],
              "built for zcu104")
    plan = json.loads((run / "precision_plan.json").read_text())
    (run / "precision_plan.json").write_text(json.dumps({**plan, "changed": 1}))
    try:
        cli_fails(["deploy", str(run), "--board", "zcu104", "--bitstream", str(folder)],
                  "another precision plan (stale")
    finally:
        (run / "precision_plan.json").write_text(json.dumps(plan))


def test_bench_inference_on_mock(inference_folder, monkeypatch, tmp_path):
    """--design inference: the unit is one inference; each call carries --samples samples."""
    run, folder = inference_folder
    dev = mock_inference_device(folder)
    monkeypatch.setattr(board_device, "open_device", lambda family, remote=None: dev)
    csv = tmp_path / "m.csv"
    # idle 3 W for the first 2 s, then 4 W: (P - 3 W) = 1 W over 2.5 .. 3.5 s = 1 J
    csv.write_text("time_s,power_w\n" + "".join(f"{t},{p}\n" for t, p in (
        (0, 3), (0.5, 3), (1.0, 3), (1.5, 3), (2.0, 3), (2.5, 4), (3.0, 4), (3.5, 4))))
    out = tmp_path / "b"
    assert main(["bench", "--board", "zcu104", "--design", "inference", "--run", str(run),
                 "--bitstream", str(folder), "--samples", "10", "--iterations", "2",
                 "--idle-s", "2", "--power-csv", str(csv), "--out", str(out)]) == 0
    r = json.loads((out / "bench.json").read_text())
    assert r["unit"] == "inference" and r["units"] == 20 and r["label"] == "mock"
    assert r["kernel_cycles"] is None  # the wrapper has no cycle counter
    assert r["power"]["energy_per_inference_uj"] == pytest.approx(1e6 / 20)
    allocs = [(e[2], e[3]) for e in dev.events if e[0] == "allocate"]
    assert allocs == [((10, 64), "int32"), ((10, 10), "int64")] * 2  # digits: 64 in, 10 out
