"""Bitstream folders: what is rendered, that it parses (tclsh, make -n), that rendering is atomic,
the manifest the (faked) build finishes, and each verification failure as one line."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from hostsw.board import render as render_mod
from hostsw.board.boards import BOARDS
from hostsw.board.manifest import ManifestError, verify
from hostsw.board.render import BitstreamConfig, render
from hostsw.errors import ConfigError, OutputError

FIX = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_render_every_board(tmp_path, board):
    out, m = render(BitstreamConfig(design="training", board=board, out=str(tmp_path / board)))
    zynq = BOARDS[board].family == "zynq"
    expect = {"Makefile", "build_ip.tcl", "check_timing.tcl", "manifest.json"} | (
        {"block_design.tcl", "build_bitstream.tcl"} if zynq else {"link.cfg"})
    assert expect <= {p.name for p in out.iterdir()}
    assert m["status"] == "rendered" and m["board"] == board and m["part"] == BOARDS[board].part
    assert m["tiers"] == [8, 16, 32] and set(m["kernels"]) == {"hostsw_mac_t8", "hostsw_mac_t16",
                                                               "hostsw_mac_t32"}
    assert "src/hostsw_mac_top.cpp" in m["files"] and len(m["files"]["Makefile"]["sha256"]) == 64
    if shutil.which("tclsh"):  # every tcl file is complete Tcl (braces, quotes)
        for tcl in out.glob("*.tcl"):
            r = subprocess.run(["tclsh"], input=f"set f [open {{{tcl}}}]\nset t [read $f]\n"
                               "puts [info complete $t]\n", capture_output=True, text=True)
            assert r.stdout.strip() == "1", tcl
    r = subprocess.run(["make", "-n", "-C", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert ("vivado" if zynq else "v++") in r.stdout and "hostsw.board.manifest finish" in r.stdout
    if not zynq:
        assert f"--platform {BOARDS[board].platform}" in r.stdout
        sp = [ln for ln in (out / "link.cfg").read_text().splitlines() if ln.startswith("sp=")]
        assert len(sp) == 3 * 3 and "sp=hostsw_mac_t16_0.m_axi_gmem2:" + \
            ("HBM[0]" if board == "u50" else "DDR[0]") in sp


@pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not installed (Debian tcl)")
def test_check_timing_tcl_runs(tmp_path):
    out, _ = render(BitstreamConfig(design="training", board="zcu104", out=str(tmp_path / "b")))
    ok = subprocess.run(["tclsh", "check_timing.tcl", str(FIX / "timing_summary_met.rpt")],
                        cwd=out, capture_output=True, text=True)
    bad = subprocess.run(["tclsh", "check_timing.tcl", str(FIX / "timing_summary_failed.rpt")],
                         cwd=out, capture_output=True, text=True)
    assert ok.returncode == 0 and "timing met" in ok.stdout
    assert bad.returncode == 1 and "timing NOT met" in bad.stdout


def test_render_is_atomic(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("injected failure")
    monkeypatch.setattr(render_mod, "_render_flow", boom)
    with pytest.raises(RuntimeError):
        render(BitstreamConfig(design="training", board="zcu104", out=str(tmp_path / "a" / "b")))
    assert list(tmp_path.iterdir()) == []  # no folder, no temp folder, no created parent


def test_rerender_needs_force(tmp_path):
    cfg = BitstreamConfig(design="training", board="u250", out=str(tmp_path / "b"))
    render(cfg)
    with pytest.raises(OutputError, match="--force"):
        render(cfg)
    cfg.force = True
    render(cfg)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_bad_config():
    with pytest.raises(ConfigError, match="unknown board 'zcu999'"):
        BitstreamConfig(design="training", board="zcu999").validate()
    with pytest.raises(ConfigError, match="needs --run"):
        BitstreamConfig(design="inference", board="zcu104").validate()


def test_finish_and_verify(built_training):
    folder, m = built_training()
    assert m["status"] == "built" and m["timing"]["wns_ns"] == 0.412
    assert m["utilisation"]["dsp"]["used"] == 216
    assert {"hostsw_training.bit", "hostsw_training.hwh", "drivers/xhostsw_mac_t16_hw.h",
            "reports/timing_summary.rpt"} <= set(m["files"])
    assert m["git_sha"] and m["hls4ml_version"] == "1.3.0"
    assert verify(folder, "zcu104", tiers=[8, 32])["board"] == "zcu104"


def _one_line(e):
    assert "\n" not in str(e.value)
    return str(e.value)


def test_verify_failures(built_training):
    folder, _ = built_training(tiers=(8, 16))
    with pytest.raises(ManifestError) as e:
        verify(folder, "zcu102")
    assert "built for zcu104, not zcu102" in _one_line(e)
    with pytest.raises(ManifestError) as e:
        verify(folder, "zcu104", tiers=[8, 32])
    assert "needs [32]" in _one_line(e)
    with pytest.raises(ManifestError) as e:
        verify(folder, "zcu104", plan_sha256="ab" * 32)
    assert "another precision plan (stale" in _one_line(e)
    (folder / "hostsw_training.bit").write_bytes(b"tampered")
    with pytest.raises(ManifestError) as e:
        verify(folder, "zcu104")
    assert "does not match its sha256" in _one_line(e)
    (folder / "hostsw_training.bit").unlink()
    with pytest.raises(ManifestError, match="listed in the manifest but missing"):
        verify(folder, "zcu104")


def test_not_built_and_timing_failure(tmp_path):
    from tests.board.conftest import fake_build
    out, _ = render(BitstreamConfig(design="training", board="zcu104", out=str(tmp_path / "b")))
    with pytest.raises(ManifestError, match="rendered but not built"):
        verify(out, "zcu104")
    with pytest.raises(ManifestError, match=r"timing is not met \(WNS -0.231 ns\)"):
        fake_build(out, timing="timing_summary_failed.rpt")
    assert json.loads((out / "manifest.json").read_text())["status"] == "rendered"


def test_binaries_are_git_ignored():
    """Only the Makefile, tcl, link.cfg and manifest.json of a bitstream folder can be committed
    (specs/board.md): the bitstreams, the rendered sources (src/, the inference design's hls4ml
    project hls/ with its weights and ONNX model), reports and tool outputs are ignored."""
    root = Path(__file__).resolve().parents[2]
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    d = "bitstreams/inference/zcu104/"
    ignored = [d + p for p in ("hostsw_inference.bit", "hostsw_inference.hwh", "k.xclbin",
                               "hls/model.canonical.onnx", "hls/firmware/weights/w2.h",
                               "src/hostsw_infer_top.cpp", "reports/util.rpt", "xo/k.xo",
                               "ip/k.zip", "drivers/xhostsw_infer_hw.h", "build.log")]
    kept = [d + p for p in ("Makefile", "build_ip.tcl", "check_timing.tcl", "manifest.json",
                            "link.cfg")]
    r = subprocess.run(["git", "check-ignore", "--no-index", *ignored, *kept], cwd=root,
                       capture_output=True, text=True)
    assert sorted(r.stdout.split()) == sorted(ignored)
