"""The board sub-commands without a board or vendor tools: one line naming what is missing, a
complete folder where one was asked for, nothing half-written, and no import of pynq."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hostsw.cli import main


def test_build_without_tools_leaves_ready_folder(tmp_path, cli_fails, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # make is here; no Vitis/Vivado
    out = tmp_path / "bitstreams" / "training" / "zcu104"
    err = cli_fails(["bitstream", "build", "--design", "training", "--board", "zcu104",
                     "--out", str(out)], "vitis_hls and vivado are not on PATH")
    assert f"make -C {out}" in err
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "rendered" and (out / "Makefile").is_file()
    cli_fails(["bitstream", "build", "--design", "training", "--board", "u50",
               "--out", str(tmp_path / "u50")], "vitis_hls and v++ are not on PATH")


def _stub(bin_dir, name, body=""):
    p = bin_dir / name
    p.write_text("#!/bin/sh\n" + body)
    p.chmod(0o755)


def test_build_names_exactly_the_missing_tool(tmp_path, cli_fails, monkeypatch):
    """vitis_hls present, vivado absent: the line names vivado alone, not a present tool."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stub(bin_dir, "vitis_hls", "exit 0\n")
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    err = cli_fails(["bitstream", "build", "--design", "training", "--board", "pynq-z2",
                     "--out", str(tmp_path / "b")], "vivado is not on PATH")
    assert "vitis_hls is not" not in err and "vitis_hls and" not in err


@pytest.mark.skipif(shutil.which("tclsh") is None or shutil.which("make") is None,
                    reason="needs make and tclsh")
def test_build_with_faked_vendor_tools(tmp_path, monkeypatch, capsys):
    """STUB vitis_hls / vivado (shell scripts leaving what the real tools leave, from the
    fixtures) on a PATH whose python3 is not this environment's: make runs the whole chain and
    its last step (`$(PYTHON) -m hostsw.board.manifest finish`) runs with hostsw's interpreter."""
    fix = Path(__file__).parent / "fixtures"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stub(bin_dir, "vitis_hls",
          "mkdir -p drivers reports\n"
          "for k in $(sed -n 's/^set kernels {\\(.*\\)}/\\1/p' build_ip.tcl); do\n"
          "  K=$(echo $k | tr a-z A-Z)\n"
          f"  sed \"s/HOSTSW_MAC_T8/$K/\" {fix}/xhostsw_mac_t8_hw.h > drivers/x${{k}}_hw.h\n"
          "done\n")
    _stub(bin_dir, "vivado",
          'case "$*" in *build_bitstream.tcl*)\n'
          f"  mkdir -p reports; cp {fix}/timing_summary_met.rpt reports/timing_summary.rpt\n"
          f"  cp {fix}/utilization.rpt reports/utilization.rpt\n"
          "  echo FAKE > hostsw_training.bit; echo FAKE > hostsw_training.hwh;;\n"
          "esac\n")
    _stub(bin_dir, "python3", "echo 'this python3 has no hostsw' >&2; exit 1\n")
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    out = tmp_path / "b"
    assert main(["bitstream", "build", "--design", "training", "--board", "zcu104", "--tiers",
                 "8", "16", "--out", str(out)]) == 0, capsys.readouterr().err
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "built" and m["timing"]["wns_ns"] == 0.412
    assert {"drivers/xhostsw_mac_t8_hw.h", "drivers/xhostsw_mac_t16_hw.h",
            "hostsw_training.bit"} <= set(m["files"])
    assert "WNS 0.412 ns" in capsys.readouterr().out


def test_render_only_and_bad_input(tmp_path, cli_fails, capsys):
    out = tmp_path / "b"
    assert main(["bitstream", "build", "--design", "training", "--board", "kv260", "--out",
                 str(out), "--tiers", "8", "--render-only"]) == 0
    assert "kv260" in capsys.readouterr().out
    cli_fails(["bitstream", "build", "--design", "training", "--board", "kv260", "--out",
               str(out), "--render-only"], "--force")
    cli_fails(["bitstream", "build", "--design", "training", "--board", "zcu9", "--out",
               str(tmp_path / "x")], "unknown board 'zcu9'")
    cli_fails(["bitstream", "build", "--design", "training", "--board", "zcu104", "--run",
               str(tmp_path), "--out", str(tmp_path / "y")], "not a hostsw run directory")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_cli_never_imports_pynq():
    code = ("import sys, hostsw, hostsw.board.render, hostsw.board.estimate, hostsw.runtime.board\n"
            "from hostsw.cli import main\n"
            "for argv in (['--help'], ['bitstream', 'build', '--help'], ['bench', '--help'],"
            " ['estimate', '--help'], ['deploy', '--help']):\n"
            "    try: main(argv)\n"
            "    except SystemExit: pass\n"
            "print('PYNQ' if 'pynq' in sys.modules or 'pyxrt' in sys.modules else 'CLEAN')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.stdout.strip().splitlines()[-1] == "CLEAN", r.stderr


def test_readme_board_section_commands_parse():
    """Every `hostsw ...` command the README's "On a board" section names is a sub-command that
    accepts those flags (parsed, not run), and the section goes from train to bench."""
    import re
    import shlex
    from hostsw.cli import build_parser
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = text.index("## On a board")
    section = text[start:text.index("\n## ", start + 1)]
    flat = re.sub(r"\s*\n\s*", " ", section)
    cmds = re.findall(r"`((?:[A-Z_]+=\S+ )*hostsw [a-z][^`]*)`", flat)
    seen = set()
    for c in cmds:
        argv = [a for a in shlex.split(c) if not re.match(r"^[A-Z_]+=", a)][1:]
        if len(argv) == 1:  # a sub-command named in prose ("from `hostsw train`")
            continue
        try:
            args, extra = build_parser().parse_known_args(argv)
        except SystemExit:
            raise AssertionError(f"README command does not parse: {c}") from None
        assert not extra, (c, extra)
        seen.add(argv[0])
        root = Path(__file__).resolve().parents[2]
        if argv[0] == "train":  # runs meant for the board switch precision between epochs
            from hostsw.precision import PrecisionBoard, build_controller
            from hostsw.train.config import apply_overrides, load_config
            cfg = apply_overrides(load_config(args.config), args.set)
            ctl = build_controller(cfg.controller.name, cfg.controller.params, PrecisionBoard({}))
            assert not ctl.switches_within_epoch(), f"--backend board would refuse: {c}"
        if argv[:2] == ["bitstream", "build"] and not args.out:  # over a committed folder?
            out = root / "bitstreams" / args.design / args.board
            assert not out.exists() or args.force, f"{out} is committed: needs --force: {c}"
    assert {"train", "estimate", "bitstream", "deploy", "bench"} <= seen, seen
