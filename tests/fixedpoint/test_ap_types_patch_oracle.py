"""The C-simulation copy of ap_types (hostsw.export.csim) against hls4ml's unmodified headers.

The copy adds a non-volatile twin before each volatile ``ap_private::clearUnusedBits`` (see
hostsw/export/csim.py for why it is sound). The oracle program hls/csim/ap_types_patch_oracle.cpp
is compiled twice, on the original headers and on the patched copy that ``write_sim_ap_types``
writes, and the two programs must print identical digests: ap_int / ap_uint built from every raw
pattern a char / short word holds (widths 1..16) and from edge and random 64-bit words (all widths
up to 64, plus wide multi-word types), integer arithmetic and bit operations, ap_fixed casts in
every quantisation and overflow mode, products and accumulation.

The binaries are cached in pytest's cache folder under a hash of the sources, headers, patch,
compiler and call list (first build ~40 s of CPU per header set with clang++ or g++ at -O0; the two
sets build in parallel). The default simulation compiler runs in every ``-m csim`` session; the
other one (when installed) is marked slow.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hostsw.export import csim

from ap_types_location import ap_types_dir

pytestmark = pytest.mark.csim

REPO = Path(__file__).resolve().parents[2]
ORACLE_SRC = REPO / "hls" / "csim" / "ap_types_patch_oracle.cpp"
# -O0: template instantiation dominates the build; the programs run in a few seconds
CXXFLAGS = ["-std=c++17", "-O0", "-w"]
VARIANTS = ("original", "patched")
Q_MODES = ["AP_RND", "AP_RND_ZERO", "AP_RND_MIN_INF", "AP_RND_INF", "AP_RND_CONV", "AP_TRN",
           "AP_TRN_ZERO"]


def oracle_calls() -> list[str]:
    """What the oracle runs: one C++ call per line (see the .cpp header for each test)."""
    calls = []
    for w in list(range(1, 65)) + [65, 96, 128, 150]:  # every one-word width, several multi-word
        calls += [f"int_construct<{w}, true>();", f"int_construct<{w}, false>();"]
    for w in (1, 7, 8, 9, 16, 17, 20, 31, 32, 33, 63, 64, 65, 128):
        calls += [f"int_ops<{w}, true>();", f"int_ops<{w}, false>();"]
    # products of 65..128 bits (the patch's __int128 branch): mixed widths and signedness, as the
    # training kernels' tiers multiply them (ap_int<17> x ap_int<17>, ap_int<33> x ap_uint<16>, ...)
    for w1, w2 in ((17, 17), (33, 33), (33, 16), (17, 48), (64, 64), (64, 1), (40, 30), (9, 60)):
        for s1 in ("true", "false"):
            for s2 in ("true", "false"):
                calls.append(f"int_mul<{w1}, {s1}, {w2}, {s2}>();")
    for w, i, s in ((20, 6, "true"), (8, 2, "false")):  # every quantisation x overflow mode
        calls += [f"fixed_q<{w}, {i}, {s}, {q}>();" for q in Q_MODES]
    for w in (1, 3, 5, 12, 16, 17, 19, 24, 32, 40, 64, 100):
        calls += [f"fixed_ops<{w}, {w // 2}, true, AP_TRN, AP_WRAP>();",
                  f"fixed_ops<{w}, {w + 3}, false, AP_RND_CONV, AP_SAT>();"]
    for w in (4, 18, 33, 70):
        calls.append(f"fixed_ops<{w}, -2, true, AP_RND, AP_SAT_SYM>();")
    return calls


@pytest.fixture(scope="module")
def ap_types() -> Path:
    d = ap_types_dir()
    if d is None:
        pytest.fail("hls4ml's ap_types headers not found: run scripts/setup.sh "
                    "(pip install hls4ml==1.3.0)", pytrace=False)
    return d


def _compilers() -> list:
    """The default simulation compiler, then the other of g++ / clang++ (slow) when installed."""
    default = shutil.which(os.environ.get("CXX", "")) if os.environ.get("CXX") else None
    default = default or shutil.which("clang++") or shutil.which("g++")
    others = [c for c in (shutil.which("g++"), shutil.which("clang++")) if c and c != default]
    params = [pytest.param(default, id="default-cxx")] if default else []
    params += [pytest.param(c, id=Path(c).name, marks=pytest.mark.slow) for c in others]
    return params or [pytest.param(None, id="no-cxx")]


def _key(cxx: str, ap_types: Path, calls: list[str]) -> str:
    h = hashlib.sha256()
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    for part in (version, " ".join(CXXFLAGS), "\n".join(calls), csim.patch_digest()):
        h.update(part.encode() + b"\0")
    for f in [ORACLE_SRC, *sorted(ap_types.rglob("*.h"))]:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _build(workdir: Path, cxx: str, ap_types: Path, calls: list[str]) -> dict[str, Path]:
    """Both programs, compiled in parallel: variant -> executable."""
    (workdir / "calls.inc").write_text("\n".join(calls) + "\n")
    assert csim.write_sim_ap_types(ap_types, workdir / "sim_ap_types")
    headers = {"original": ap_types, "patched": workdir / "sim_ap_types"}
    exes = {v: workdir / f"oracle-{v}" for v in VARIANTS}
    procs = {v: subprocess.Popen([cxx, *CXXFLAGS, "-I", str(headers[v]), "-I", str(workdir),
                                  '-DHOSTSW_ORACLE_CALLS="calls.inc"', str(ORACLE_SRC), "-o",
                                  str(exes[v])],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for v in VARIANTS}
    logs = {v: p.communicate()[0] for v, p in procs.items()}
    failed = [f"{v}:\n{logs[v][-4000:]}" for v, p in procs.items() if p.returncode != 0]
    if failed:
        pytest.fail("compiling the ap_types patch oracle failed:\n" + "\n".join(failed))
    return exes


@pytest.fixture(scope="module", params=_compilers())
def oracle(request, ap_types, tmp_path_factory) -> dict[str, Path]:
    """variant -> oracle executable, for one compiler."""
    cxx = request.param
    if cxx is None:
        pytest.fail("no C++ compiler: apt-get install g++ (the C simulation needs it)", pytrace=False)
    calls = oracle_calls()
    key = _key(cxx, ap_types, calls)
    cache = getattr(request.config, "cache", None)
    folder = Path(cache.mkdir("hostsw_ap_types_patch_oracle")) / key if cache is not None \
        else None
    if folder is not None and all((folder / f"oracle-{v}").is_file() for v in VARIANTS):
        return {v: folder / f"oracle-{v}" for v in VARIANTS}
    exes = _build(tmp_path_factory.mktemp("ap_types_patch_oracle"), cxx, ap_types, calls)
    if folder is None:
        return exes
    folder.mkdir(parents=True, exist_ok=True)
    for v, exe in exes.items():  # atomic: a cached binary is always complete
        tmp = folder / f".oracle-{v}.{os.getpid()}.tmp"
        shutil.copy2(exe, tmp)
        os.replace(tmp, folder / f"oracle-{v}")
    return {v: folder / f"oracle-{v}" for v in VARIANTS}


def _run(exe: Path) -> list[str]:
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{exe.name} failed (rc={r.returncode}): {r.stdout[-500:]}{r.stderr}"
    return r.stdout.splitlines()


# --- the patch itself ----------------------------------------------------------------------------
def test_patch_only_adds_non_volatile_twins(ap_types):
    original = (ap_types / "etc" / "ap_private.h").read_text()
    patched = csim.patch_ap_private(original)
    assert patched is not None and patched != original
    assert patched.count("#define HOSTSW_SIM_AP_TYPES 1") == 1
    # removing the marker and the inserted twins gives the original back, byte for byte
    restored = patched.replace(csim._MARKER, csim._GUARD)
    for _, twin in csim._INSERTIONS[1:]:
        assert restored.count(twin) == 1
        restored = restored.replace(twin, "")
    for head, branch, tail in csim._INNER_INSERTIONS:
        assert restored.count(head + branch + tail) == 1
        restored = restored.replace(head + branch + tail, head + tail)
    assert restored == original
    # every twin is a non-volatile clearUnusedBits placed right before its volatile original
    for old, twin in csim._INSERTIONS[1:]:
        assert twin + old in patched
        head = [ln for ln in twin.splitlines() if "clearUnusedBits" in ln]
        assert head == ["  INLINE void clearUnusedBits(void)"]


def test_patch_refuses_an_unknown_header(ap_types, tmp_path):
    text = (ap_types / "etc" / "ap_private.h").read_text()
    changed = text.replace("VAL = (ValType)(\n        _AP_S", "VAL = (ValType)(\n  _AP_S", 1)
    assert changed != text and csim.patch_ap_private(changed) is None
    assert csim.patch_ap_private(text + csim._CLEAR_WORD) is None  # twice: ambiguous
    src = tmp_path / "ap_types"
    shutil.copytree(ap_types, src)
    (src / "etc" / "ap_private.h").write_text(changed)
    assert not csim.write_sim_ap_types(src, tmp_path / "sim")
    assert not (tmp_path / "sim").exists()


# --- the oracle ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_patched_ap_types_equal_original(oracle):
    out = {v: _run(exe) for v, exe in oracle.items()}
    # each program says which headers it was compiled on (guards against an include-path mistake
    # that would compare the original with itself)
    assert out["original"][0] == "headers original"
    assert out["patched"][0] == "headers hostsw-simulation-copy"
    original, patched = out["original"][1:], out["patched"][1:]
    n = len(original)
    assert n == len(patched) > 0
    diff = [f"original: {a}\n patched: {b}" for a, b in zip(original, patched) if a != b]
    assert not diff, f"{len(diff)} of {n} digests differ:\n" + "\n".join(diff[:20])
    # the harness measures something: a line per test and type, distinct digests, many values
    assert n >= len(oracle_calls())
    assert len({line.split()[-1] for line in original}) > 0.9 * n
    assert sum(int(line.split()[-2]) for line in original) > 10_000_000
