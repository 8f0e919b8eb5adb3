"""Energy integration against hand-computed traces, rail readers, and ``hostsw bench`` on a MOCK
device (figures labelled mock, never measured)."""

from __future__ import annotations

import json

import pytest

from hostsw.board import device as board_device
from hostsw.board.mock import mock_for_folder
from hostsw.board.power import device_rails, energy_above_idle, hwmon_ina226, read_meter_csv
from hostsw.cli import main
from hostsw.errors import ConfigError


def test_energy_hand_traces():
    # d = P - 10 = [0, 2, 4, 0] at 1 s spacing: (0+2)/2 + (2+4)/2 + (4+0)/2 = 6 J
    assert energy_above_idle([0, 1, 2, 3], [10, 12, 14, 10], 10.0) == pytest.approx(6.0)
    # uneven: d = [1, 3, 1] at 0.5 s then 1.5 s: 1.0 + 3.0 = 4 J
    assert energy_above_idle([0, 0.5, 2.0], [11, 13, 11], 10.0) == pytest.approx(4.0)
    with pytest.raises(ConfigError, match="at least two"):
        energy_above_idle([0], [1], 0)
    with pytest.raises(ConfigError, match="time order"):
        energy_above_idle([1, 0], [1, 1], 0)


def test_hwmon_ina226(tmp_path):
    for i, (name, uw) in enumerate((("ina226_u79", 1500000), ("ina226_u81", 250000),
                                    ("cpu_thermal", 999))):
        d = tmp_path / f"hwmon{i}"
        d.mkdir()
        (d / "name").write_text(name + "\n")
        (d / "power1_input").write_text(f"{uw}\n")
    assert hwmon_ina226(tmp_path)() == pytest.approx(1.75)  # 1.5 W + 0.25 W; not the thermal one
    with pytest.raises(ConfigError, match="no INA226"):
        hwmon_ina226(tmp_path / "none")


def test_device_rails_one_rail_or_sum():
    class Dev:
        name = "dev"

        def power_w(self):
            return {"12V": 14.0, "INT": 1.5}
    assert device_rails(Dev(), "12V")() == 14.0
    assert device_rails(Dev())() == 15.5
    with pytest.raises(ConfigError, match="no power rail 'VCCINT' \\(it reports 12V, INT\\)"):
        device_rails(Dev(), "VCCINT")()


def test_meter_csv(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("time_s,power_w\n0,3\n1,4\n")
    t, w = read_meter_csv(p)
    assert list(t) == [0, 1] and list(w) == [3, 4]
    p.write_text("t,w\n0,1\n")
    with pytest.raises(ConfigError, match="columns time_s and power_w"):
        read_meter_csv(p)


@pytest.mark.csim
def test_bench_on_mock_zcu104(tmp_path, built_training, monkeypatch, capsys):
    folder, _ = built_training(tiers=(8,))
    monkeypatch.setattr(board_device, "open_device",
                        lambda family, remote=None: dev)
    dev = mock_for_folder(folder)
    # the rails PYNQ's ZCU104 sensor config reports (specs/board.md): INT and 1V8 are fed from
    # the 12V input, so the board's power is the 12V rail alone (a sum would count them twice)
    dev.rails = lambda: {"12V": 14.0, "INT": 1.0, "1V8": 0.5}
    out = tmp_path / "b"
    assert main(["bench", "--board", "zcu104", "--bitstream", str(folder), "--iterations", "3",
                 "--idle-s", "0.05", "--out", str(out)]) == 0
    r = json.loads((out / "bench.json").read_text())
    assert r["label"] == "mock" and r["power"]["label"] == "mock"
    assert r["kernel_cycles"] > 0 and r["call"]["macs"] == 256 * 400 * 120
    assert r["power"]["idle_w"] == 14.0 and r["power"]["energy_j"] == pytest.approx(0.0)
    assert r["power"]["source"] == "pynq get_rails(), rail 12V"
    text = capsys.readouterr().out
    assert "MOCK" in text and "measured" not in text


@pytest.mark.csim
def test_bench_pynq_z2_external_meter(tmp_path, built_training, monkeypatch):
    folder, _ = built_training(board="pynq-z2", tiers=(8,))
    monkeypatch.setattr(board_device, "open_device",
                        lambda family, remote=None: mock_for_folder(folder))
    csv = tmp_path / "meter.csv"
    # idle 3 W for the first 2 s, then 4 W: (P - 3 W) = 1 W over 2.5 .. 3.5 s = 1 J
    csv.write_text("time_s,power_w\n" + "".join(f"{t},{p}\n" for t, p in (
        (0, 3), (0.5, 3), (1.0, 3), (1.5, 3), (2.0, 3), (2.5, 4), (3.0, 4), (3.5, 4))))
    out = tmp_path / "b"
    assert main(["bench", "--board", "pynq-z2", "--bitstream", str(folder), "--iterations", "2",
                 "--idle-s", "2", "--power-csv", str(csv), "--out", str(out)]) == 0
    r = json.loads((out / "bench.json").read_text())
    assert r["power"]["energy_j"] == pytest.approx(1.0)
    assert r["power"]["energy_per_call_uj"] == pytest.approx(0.5e6)


def test_bench_without_board(tmp_path, cli_fails, built_training):
    folder, _ = built_training(tiers=(8,))
    cli_fails(["bench", "--board", "zcu104", "--bitstream", str(folder)], "pynq is not installed")
    cli_fails(["bench", "--board", "zcu102", "--bitstream", str(folder)], "built for zcu104")


def _meter_csv(path):
    # idle 3 W for the first 2 s, then 4 W: (P - 3 W) = 1 W over 2.5 .. 3.5 s = 1 J
    path.write_text("time_s,power_w\n" + "".join(f"{t},{p}\n" for t, p in (
        (0, 3), (0.5, 3), (1.0, 3), (1.5, 3), (2.0, 3), (2.5, 4), (3.0, 4), (3.5, 4))))
    return path


@pytest.mark.csim
def test_bench_training_step_of_a_run(tmp_path, built_training, monkeypatch):
    """--run: the unit is one training step of the run's model, every engine call at the run's
    final precisions on the tier it needs; energy per step from the meter trace."""
    folder, _ = built_training(board="pynq-z2", tiers=(8, 16))
    devs = []
    monkeypatch.setattr(board_device, "open_device",
                        lambda family, remote=None: devs.append(mock_for_folder(folder)) or devs[-1])
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("name: t\nmodel: mlp\ndataset: digits\nepochs: 1\n"
                                     "batch_size: 16\nseed: 0\n")
    # every layer at 8 bits, then fc2's weights at 16 from step 5 (the final precisions)
    rows = [{"step": 0, "layer": n, "kind": k, "bits": 8}
            for n in ("fc1", "fc2", "fc3") for k in ("act", "weight", "grad")]
    rows.append({"step": 5, "layer": "fc2", "kind": "weight", "bits": 16})
    (run / "precision.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "metrics.jsonl").write_text('{"epoch": 1, "step": 6}\n')
    out = tmp_path / "b"
    assert main(["bench", "--board", "pynq-z2", "--bitstream", str(folder), "--run", str(run),
                 "--iterations", "2", "--idle-s", "2", "--power-csv",
                 str(_meter_csv(tmp_path / "m.csv")), "--out", str(out)]) == 0
    r = json.loads((out / "bench.json").read_text())
    assert r["unit"] == "training step" and r["units"] == 2 and r["label"] == "mock"
    # one step: fwd of fc1, fc2, fc3; bwd-data of fc2, fc3 (not the first layer); bwd-weight of
    # all three = 8 calls. fc2's fwd (8 x 16 bits) and bwd-data (8 x 16) run on tier 16, the
    # other six on tier 8
    starts = [e[1] for e in devs[0].events if e[0] == "start"]
    assert len(starts) == 2 * 8
    assert starts.count("hostsw_mac_t16_0") == 2 * 2 and starts.count("hostsw_mac_t8_0") == 2 * 6
    assert r["workload"]["engine_calls"] == 8
    assert r["power"]["energy_per_training_step_uj"] == pytest.approx(0.5e6)  # 1 J / 2 steps
    assert r["kernel_cycles"] > 0


def test_bench_bad_input(tmp_path, cli_fails):
    cli_fails(["bench", "--board", "zcu104", "--design", "inference"], "needs --run RUN_DIR")
    cli_fails(["bench", "--board", "zcu104", "--run", str(tmp_path)], "not a hostsw run directory")
    assert list(tmp_path.iterdir()) == []
