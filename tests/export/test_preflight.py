"""Paths are checked before the export / compile / simulation that come first, with a fix that
exists for the command at hand."""

import os

import numpy as np
import pytest

from hostsw.errors import ConfigError, HostswError, OutputError
from hostsw.export import flow, preflight
from hostsw.train import TrainOptions, config_from_dict, train

CFG = {"model": "mlp", "dataset": "digits", "epochs": 1, "limit_train": 128, "limit_test": 32,
       "controller": {"name": "static", "weight": 8, "act": 8, "grad": 8}}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pre") / "run"
    train(config_from_dict(dict(CFG)), out, TrainOptions(progress=False, log=lambda s: None))
    return out  # not exported: csim / hls would export it first


@pytest.fixture
def no_export(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("the export ran before the inputs were checked")
    monkeypatch.setattr(flow, "ensure_export", boom)


def _read_only(monkeypatch, folder):
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: (
        False if os.path.abspath(p) == os.path.abspath(folder) and mode & os.W_OK
        else real(p, mode, **k)))


def test_read_only_run_dir_under_csim_names_a_fix_csim_has(run, monkeypatch, no_export):
    _read_only(monkeypatch, run)
    with pytest.raises(OutputError) as e:
        flow.run_csim(run_dir=run)
    msg = str(e.value)
    assert "read-only" in msg and "hostsw export" in msg and "hostsw csim --onnx" in msg
    assert "choose another --out" not in msg


def test_read_only_run_dir_under_hls_names_a_fix_hls_has(run, tmp_path, monkeypatch, capsys,
                                                         no_export):
    from hostsw.cli import main
    _read_only(monkeypatch, run)
    assert main(["hls", str(run), "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "hostsw hls --onnx" in err and "choose another --out" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("make,match", [
    (lambda p: p.write_text("not numpy"), "is not a .npy file (no numpy header)"),
    (lambda p: p.write_bytes(b"\x93NUMPY\x01\x00garbage"), "is not a .npy array"),
    (lambda p: np.savez(open(p, "wb"), a=np.zeros(1)), "is an .npz archive"),
    (lambda p: np.save(p, np.array(["a"])), "dtype <U1"),
    (lambda p: np.save(p, np.array([np.inf])), "NaN or infinite"),
    (lambda p: p.mkdir(), "is a folder, not a file"),
    (lambda p: None, "not found"),
])
def test_csim_inputs_are_checked_before_the_export(run, tmp_path, no_export, make, match):
    x = tmp_path / "x.npy"
    make(x)
    with pytest.raises(ConfigError) as e:
        flow.run_csim(run_dir=run, inputs=x)
    assert match in str(e.value)


def test_csim_outputs_and_report_are_checked_before_the_export(run, tmp_path, no_export):
    with pytest.raises(ConfigError, match="--outputs .* is a folder"):
        flow.run_csim(run_dir=run, outputs=tmp_path)
    with pytest.raises(ConfigError, match="must end in .json"):
        flow.run_csim(run_dir=run, report=tmp_path / "r.txt")
    with pytest.raises(HostswError, match="not a hostsw hls project"):
        flow.run_csim(run_dir=run, project=tmp_path)


def test_default_report_folder_read_only_says_use_report(tmp_path, monkeypatch):
    _read_only(monkeypatch, tmp_path)
    with pytest.raises(OutputError, match="give --report FILE.json"):
        preflight.writable_folder(tmp_path, "give --report FILE.json in a writable folder")


def test_hls_out_is_checked_before_the_export(run, tmp_path, monkeypatch, capsys):
    from hostsw.cli import main
    monkeypatch.setattr("hostsw.export.flow.ensure_export", lambda *a: pytest.fail("exported"))
    (tmp_path / "mine.txt").write_text("x")
    assert main(["hls", str(run), "--out", str(tmp_path)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
