"""C simulation on the patched ap_types copy vs hls4ml's unmodified headers (hostsw.export.csim).

Hand-built QONNX graphs (no training): each is compiled twice, on the simulation copy of ap_types
and with ``exact_ap_types=True``, and both libraries must give identical outputs, equal to the
exact reference, on inputs that span and overflow the input quantizer's range. Plus the build
options: the opt-out switches, the cache key, the fallback for an unknown ap_private.h, the
compiler choice, and that the project written for synthesis is never modified.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from onnx import helper

from hostsw.cli import main
from hostsw.errors import ToolchainError
from hostsw.export import HlsConfig, analyze, build_project
from hostsw.export import csim
from hostsw.export.csim import CsimModel, compile_project, library_ap_types
from hostsw.export.flow import random_inputs
from hostsw.export.graph import needs_channels_last, to_channels_last
from hostsw.export.reference import ExactReference

from qonnx_builders import conv_net, mlp, save

def _hls_ready(model):
    """The builders omit attributes that ONNX defaults but hls4ml's converter requires."""
    for node in model.graph.node:
        if node.op_type not in ("Conv", "MaxPool"):
            continue
        have = {a.name for a in node.attribute}
        k = len(next(a for a in node.attribute if a.name == "kernel_shape").ints)
        defaults = {"pads": [0] * 2 * k}
        if node.op_type == "Conv":
            defaults.update(strides=[1] * k, dilations=[1] * k, group=1)
        node.attribute.extend(helper.make_attribute(name, value)
                              for name, value in defaults.items() if name not in have)
    return model


MODELS = {
    "conv": lambda: conv_net(),
    "conv-bn-residual": lambda: conv_net(bn=True, residual=True),
    "conv-avg": lambda: conv_net(avg=True, act_rounding="FLOOR"),
    "mlp": lambda: mlp(),
}
CASES = [("conv", "io_parallel"), ("conv-bn-residual", "io_stream"), ("conv-avg", "io_parallel"),
         ("mlp", "io_parallel")]


@pytest.fixture(scope="module")
def cache(request, tmp_path_factory) -> Path:
    """Compiled projects cached by content hash across sessions (pytest's cache folder)."""
    c = getattr(request.config, "cache", None)
    return Path(c.mkdir("hostsw-csim")) if c is not None else tmp_path_factory.mktemp("csim")


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    """(model, io_type) -> (project folder, analysis), generated on first use."""
    root = tmp_path_factory.mktemp("ap-types-projects")
    done: dict = {}

    def get(name: str, io_type: str):
        if (name, io_type) not in done:
            onnx_path = save(_hls_ready(MODELS[name]()), root / f"{name}.onnx")
            project = root / f"{name}-{io_type}"
            build_project(onnx_path, project, HlsConfig(io_type=io_type))
            done[(name, io_type)] = (project, analyze(onnx_path))
        return done[(name, io_type)]

    return get


def _tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode() + p.read_bytes())
    return h.hexdigest()


def _simulate(compiled: csim.CompiledProject, an, x: np.ndarray) -> np.ndarray:
    sim = CsimModel(compiled.library, int(np.prod(an.canon.input_shape[1:])),
                    int(np.prod(an.canon.output_shape[1:])))
    return sim.predict(to_channels_last(x, needs_channels_last(an.canon.model)), jobs=1)


@pytest.mark.csim
@pytest.mark.parametrize("name,io_type", CASES, ids=[f"{m}-{io}" for m, io in CASES])
def test_patched_and_original_ap_types_agree(projects, cache, name, io_type):
    project, an = projects(name, io_type)
    before = _tree_digest(project)
    fast = compile_project(project, cache_dir=cache)
    exact = compile_project(project, cache_dir=cache, exact_ap_types=True)
    assert (fast.ap_types, exact.ap_types) == ("patched", "original")
    assert library_ap_types(fast.library) == "patched"
    assert library_ap_types(exact.library) == "original"
    assert fast.key != exact.key
    x = random_inputs(an, 300, seed=1)
    y_fast, y_exact = _simulate(fast, an, x), _simulate(exact, an, x)
    ref = ExactReference(an.canon, an.types).run(x).reshape(len(x), -1)
    assert np.array_equal(y_fast, y_exact)
    assert np.array_equal(y_fast, ref)
    assert len(np.unique(y_fast.round(12), axis=0)) > 50  # the inputs exercise the model
    assert _tree_digest(project) == before  # the synthesis project is untouched
    assert not (fast.library.parent / "firmware" / "ap_types" / "etc" / "ap_private.h"
                ).read_text().count("HOSTSW_SIM_AP_TYPES")


@pytest.mark.csim
def test_opt_out_by_environment_and_cli(projects, cache, tmp_path, monkeypatch, capsys):
    project, an = projects("mlp", "io_parallel")
    assert compile_project(project, cache_dir=cache).ap_types == "patched"
    monkeypatch.setenv(csim.EXACT_ENV, "1")
    assert compile_project(project, cache_dir=cache).ap_types == "original"
    assert compile_project(project, cache_dir=cache, exact_ap_types=False).ap_types == "patched"
    monkeypatch.delenv(csim.EXACT_ENV)
    # hostsw csim --exact-ap-types (CsimConfig.exact_ap_types through the flow)
    monkeypatch.setenv("HOSTSW_CACHE_DIR", str(cache))
    onnx_path = save(_hls_ready(MODELS["mlp"]()), tmp_path / "mlp.onnx")
    for flag, want in (["--exact-ap-types"], "original"), ([], "patched"):
        report = tmp_path / f"csim-{want}.json"
        code = main(["csim", "--onnx", str(onnx_path), "--samples", "50", "--quiet", "--report",
                     str(report), *flag])
        assert code == 0, capsys.readouterr()
        r = json.loads(report.read_text())
        assert r["exact_match_rate"] == 1.0
        assert library_ap_types(Path(r["library"])) == want
        assert r["ap_types"] == want and r["compiler"].split()[0] in ("clang++", "g++")


@pytest.mark.slow
@pytest.mark.csim
def test_unknown_ap_private_falls_back_to_original(projects, cache, tmp_path):
    project, an = projects("mlp", "io_parallel")
    other = tmp_path / "other"
    shutil.copytree(project, other)
    f = other / "firmware" / "ap_types" / "etc" / "ap_private.h"
    f.write_text(f.read_text().replace("VAL = (ValType)(\n        _AP_S", "VAL = (ValType)(_AP_S",
                                       1))
    with pytest.warns(RuntimeWarning, match="not the ap_private.h"):
        compiled = compile_project(other, cache_dir=tmp_path / "cache")
    assert compiled.ap_types == "original" and library_ap_types(compiled.library) == "original"
    x = random_inputs(an, 50, seed=2)
    assert np.array_equal(_simulate(compiled, an, x),
                          ExactReference(an.canon, an.types).run(x).reshape(len(x), -1))


@pytest.mark.csim
def test_cache_key_names_every_build_input(projects, tmp_path):
    project, _ = projects("mlp", "io_parallel")
    cxx = csim.find_compiler()
    flags = csim.build_flags(cxx, "-O1")
    keys = {csim.content_hash(project, "myproject", flags, cxx, "patched"),
            csim.content_hash(project, "myproject", flags, cxx, "original"),
            csim.content_hash(project, "myproject", csim.build_flags(cxx, "-O2"), cxx, "patched"),
            csim.content_hash(project, "myproject", csim.build_flags(cxx, "-O1", native=False),
                              cxx, "patched")}
    assert len(keys) == 4


@pytest.mark.csim
def test_build_flags(monkeypatch):
    cxx = csim.find_compiler()
    flags = csim.build_flags(cxx, "-O2")
    assert flags[:4] == ["-std=c++17", "-O2", "-fPIC", "-w"]
    assert "-ffp-contract=off" in flags  # no fused multiply-add, with or without -march=native
    assert "-march=native" not in csim.build_flags(cxx, "-O2", native=False)
    monkeypatch.setattr(csim, "_accepts", lambda c, f: f != "-ffp-contract=off")
    assert "-march=native" not in csim.build_flags(cxx, "-O2")  # never without fp-contract=off


def test_compiler_choice(monkeypatch, tmp_path):
    found = {"clang++": "/x/clang++", "g++": "/x/g++", "my-cxx": "/x/my-cxx"}
    monkeypatch.setattr(csim.shutil, "which", lambda name: found.get(name))
    monkeypatch.delenv("CXX", raising=False)
    assert csim.find_compiler() == "/x/clang++"
    assert csim.find_compiler("g++") == "/x/g++"
    monkeypatch.setenv("CXX", "my-cxx")
    assert csim.find_compiler() == "/x/my-cxx"
    monkeypatch.delenv("CXX")
    del found["clang++"]
    assert csim.find_compiler() == "/x/g++"  # g++ alone keeps working
    del found["g++"]
    with pytest.raises(ToolchainError, match="not found on PATH"):
        csim.find_compiler()
    monkeypatch.setenv("CXX", "nope")
    with pytest.raises(ToolchainError, match="not found on PATH"):
        csim.find_compiler()
