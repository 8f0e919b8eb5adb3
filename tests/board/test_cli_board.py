"""The board sub-commands without a board or vendor tools: one line naming what is missing, a
complete folder where one was asked for, nothing half-written, and no import of pynq."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from hostsw.cli import main


def test_build_without_tools_leaves_ready_folder(tmp_path, cli_fails, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # make is here; no Vitis/Vivado
    out = tmp_path / "bitstreams" / "training" / "zcu104"
    err = cli_fails(["bitstream", "build", "--design", "training", "--board", "zcu104",
                     "--out", str(out)], "vitis_hls is not on PATH")
    assert "vivado" in err and f"make -C {out}" in err
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "rendered" and (out / "Makefile").is_file()
    err = cli_fails(["bitstream", "build", "--design", "training", "--board", "u50",
                     "--out", str(tmp_path / "u50")], "vitis_hls is not on PATH")
    assert "v++" in err


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
