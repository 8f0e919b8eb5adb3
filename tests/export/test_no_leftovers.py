"""Interrupted export / hls / csim-compile stages leave no temp folders; stale ones are swept."""

import os
import time

import pytest

from hostsw.export import HlsConfig, build_project, export_run
from hostsw.io.tempdirs import OWNER_FILE, make_temp_dir
from tests.export.test_export import mlp_run  # noqa: F401  (module fixture)


def _dead_pid():
    import subprocess
    import sys
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _stale_and_fresh(parent, prefix):
    parent.mkdir(parents=True, exist_ok=True)
    stale = make_temp_dir(parent, prefix)
    (stale / OWNER_FILE).write_text(f"{_dead_pid()}\n")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    fresh = make_temp_dir(parent, prefix)  # live pid (ours)
    return stale, fresh


def _boom(*a, **k):
    raise KeyboardInterrupt


def test_interrupted_export_leaves_nothing_and_sweeps(mlp_run, tmp_path, monkeypatch):  # noqa: F811
    from hostsw.export import qonnx_export
    out = tmp_path / "x" / "y" / "m.onnx"
    monkeypatch.setattr(qonnx_export, "verify_export", _boom)
    with pytest.raises(KeyboardInterrupt):
        export_run(mlp_run, out)
    assert list(tmp_path.iterdir()) == []  # no temp folder, no created parents
    monkeypatch.undo()
    stale, fresh = _stale_and_fresh(out.parent, ".export-")
    export_run(mlp_run, out)
    assert not stale.exists() and fresh.is_dir() and out.is_file()


def test_interrupted_hls_leaves_nothing_and_sweeps(mlp_run, tmp_path, monkeypatch):  # noqa: F811
    from hostsw.export import convert
    onnx_path = mlp_run / "model.qonnx.onnx"
    if not onnx_path.exists():
        export_run(mlp_run)
    out = tmp_path / "a" / "b" / "c"
    monkeypatch.setattr(convert, "write_sidecars", _boom)
    with pytest.raises(KeyboardInterrupt):
        build_project(onnx_path, out, HlsConfig())
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    stale, fresh = _stale_and_fresh(out.parent, ".c.")
    build_project(onnx_path, out, HlsConfig())
    assert not stale.exists() and fresh.is_dir() and (out / "firmware").is_dir()


def test_interrupted_csim_compile_leaves_nothing(mlp_run, tmp_path, monkeypatch):  # noqa: F811
    from hostsw.export import csim
    onnx_path = mlp_run / "model.qonnx.onnx"
    if not onnx_path.exists():
        export_run(mlp_run)
    prj = tmp_path / "prj"
    build_project(onnx_path, prj, HlsConfig())
    cache = tmp_path / "cache"
    stale, fresh = _stale_and_fresh(cache, ".build-")
    monkeypatch.setattr(csim, "find_compiler", lambda cxx=None: "c++")
    monkeypatch.setattr(csim, "build_flags", lambda cxx, opt, native: [opt])

    def interrupted(project, name, build, *a):
        (build / "partial.o").write_text("x")
        raise KeyboardInterrupt
    monkeypatch.setattr(csim, "_build", interrupted)
    with pytest.raises(KeyboardInterrupt):
        csim.compile_project(prj, cache_dir=cache)
    assert sorted(cache.iterdir()) == [fresh]  # stale swept, ours removed, live one kept
