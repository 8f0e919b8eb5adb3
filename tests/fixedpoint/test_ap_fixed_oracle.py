"""hostsw.fixedpoint.quantize against the ap_fixed / ap_ufixed headers that hls4ml bundles.

The oracle is hls/tests/ap_cast_oracle.cpp, compiled with g++ against
``<hls4ml>/templates/vivado/ap_types`` and hls/include/hostsw_fixed.h. Every (type, value) pair is
compared for exact equality (signed zeros compare equal: ap_fixed has no -0).

Types are template parameters, so the test writes the list of instantiations (a HOSTSW_CAST /
HOSTSW_STOCH line per type) and compiles it in a few shards in parallel. The binary is cached in
pytest's cache directory under a hash of the sources, the ap_types headers, the compiler and the
type list (first build ~40 s wall on 2 cores, ~70 s of CPU; afterwards free); with the cache disabled
(``-p no:cacheprovider``) it is built once per session in a tmp dir.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hostsw.fixedpoint import FixedPoint, dither_u32, lowbias32, quantize

from ap_types_location import ap_types_dir

pytestmark = pytest.mark.csim

REPO = Path(__file__).resolve().parents[2]
ORACLE_SRC = REPO / "hls" / "tests" / "ap_cast_oracle.cpp"
HLS_INCLUDE = REPO / "hls" / "include"
# -O0: instantiating ap_fixed's double constructor per type dominates; the run itself takes <1 s
CXXFLAGS = ["-std=c++14", "-O0", "-w", "-fno-exceptions", "-fno-rtti",
            "-fno-asynchronous-unwind-tables"]

Q_MODES = {"nearest": "AP_RND_CONV", "floor": "AP_TRN"}
O_MODES = {"saturate": "AP_SAT", "saturate_sym": "AP_SAT_SYM", "wrap": "AP_WRAP"}
ALL_BITS = list(range(1, 33))


def fracs_for(bits: int) -> list[int]:
    """frac < 0 (I > W), 0, typical, I = 0, frac > bits (I < 0); I = 1 for a few widths.

    (Each type costs ~25 ms of g++ time for ap_fixed's double constructor, hence not all fracs.)
    """
    fracs = {-3, 0, bits // 2, bits, bits + 3}
    if bits <= 4 or bits % 8 == 0:
        fracs.add(bits - 1)
    return sorted(fracs)


# (signed, bits, frac, rounding, overflow)
CAST_TYPES = [
    (signed, bits, frac, rounding, overflow)
    for bits in ALL_BITS
    for signed in (True, False)
    for frac in fracs_for(bits)
    for rounding in Q_MODES
    for overflow in O_MODES
]

# (signed, bits, frac, overflow, extra fraction bits of the exact input)
STOCH_TYPES = [
    (True, 8, 4, "saturate", 40),
    (True, 8, 4, "wrap", 3),
    (True, 8, 4, "saturate_sym", 32),
    (False, 6, 8, "saturate_sym", 1),
    (False, 6, 8, "saturate", 33),
    (True, 16, 0, "saturate_sym", 31),
    (True, 1, 0, "saturate", 12),
    (True, 1, 3, "wrap", 35),
    (True, 32, 16, "wrap", 20),
    (True, 24, 30, "saturate", 64),
    (False, 5, -2, "wrap", 60),
    (False, 12, 12, "saturate", 70),
    (True, 4, -3, "saturate", 2),
]
STOCH_KEYS = [(0, 0, 0), (1234, 7, 42), (2**40 + 5, -3, 2**33 + 9)]  # masked to 32 bits


def _type_lines() -> list[str]:
    lines = [
        f"HOSTSW_CAST({int(s)}, {b}, {b - f}, {Q_MODES[q]}, {O_MODES[o]}),"
        for s, b, f, q, o in CAST_TYPES
    ]
    lines += [
        f"HOSTSW_STOCH({int(s)}, {b}, {b - f}, {O_MODES[o]}, {extra}),"
        for s, b, f, o, extra in STOCH_TYPES
    ]
    return lines


def _build(workdir: Path, gxx: str, ap_types: Path, lines: list[str]) -> Path:
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    nshards = max(2, min(16, ncpu or 2))
    inc = ["-I", str(ap_types), "-I", str(HLS_INCLUDE), "-I", str(workdir)]
    jobs = []
    for i in range(nshards):
        (workdir / f"types_{i}.inc").write_text("\n".join(lines[i::nshards]) + "\n")
        jobs.append([gxx, *CXXFLAGS, *inc, "-DHOSTSW_ORACLE_NO_MAIN",
                     f'-DHOSTSW_ORACLE_TYPES="types_{i}.inc"', "-c", str(ORACLE_SRC),
                     "-o", str(workdir / f"shard_{i}.o")])
    jobs.append([gxx, *CXXFLAGS, *inc, "-c", str(ORACLE_SRC), "-o", str(workdir / "main.o")])
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for cmd in jobs]
    failed = []
    for cmd, p in zip(jobs, procs):
        out, _ = p.communicate()
        if p.returncode:
            failed.append(f"$ {' '.join(cmd)}\n{out[-4000:]}")
    if failed:
        pytest.fail("compiling the ap_fixed oracle failed:\n" + "\n".join(failed))
    exe = workdir / "ap_cast_oracle"
    objs = [str(workdir / f"shard_{i}.o") for i in range(nshards)] + [str(workdir / "main.o")]
    r = subprocess.run([gxx, *CXXFLAGS, *objs, "-o", str(exe)], capture_output=True, text=True)
    if r.returncode:
        pytest.fail(f"linking the ap_fixed oracle failed:\n{r.stdout}{r.stderr}")
    return exe


class Oracle:
    def __init__(self, exe: Path):
        self.exe = exe

    def query(self, requests: list[str]) -> list[list[str]]:
        r = subprocess.run([str(self.exe)], input="\n".join(requests) + "\n",
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"oracle failed (rc={r.returncode}): {r.stderr.strip()}"
        out = r.stdout.splitlines()
        assert len(out) == len(requests)
        return [line.split() for line in out]

    def cast_many(self, jobs) -> list[np.ndarray]:
        reqs = [f"cast {int(s)} {b} {b - f} {Q_MODES[q]} {O_MODES[o]} {len(v)} "
                + " ".join(float(x).hex() for x in v) for s, b, f, q, o, v in jobs]
        return [np.array([float.fromhex(t) for t in toks]) for toks in self.query(reqs)]

    def stochastic(self, signed, bits, frac, overflow, extra, key, values) -> np.ndarray:
        seed, tid, step = key
        req = (f"stoch {int(signed)} {bits} {bits - frac} {O_MODES[overflow]} {extra} "
               f"{seed} {tid} {step} {len(values)} " + " ".join(float(x).hex() for x in values))
        return np.array([float.fromhex(t) for t in self.query([req])[0]])


@pytest.fixture(scope="session")
def oracle(request, tmp_path_factory) -> Oracle:
    gxx = shutil.which(os.environ.get("CXX", "g++")) or shutil.which("g++")
    if gxx is None:
        pytest.fail("g++ not found: apt-get install g++ (the C simulation needs it)", pytrace=False)
    ap_types = ap_types_dir()
    if ap_types is None:
        pytest.fail("hls4ml's ap_types headers not found: run scripts/setup.sh "
                    "(pip install hls4ml==1.3.0)", pytrace=False)
    lines = _type_lines()
    h = hashlib.sha256()
    version = subprocess.run([gxx, "--version"], capture_output=True, text=True).stdout
    for part in (version, " ".join(CXXFLAGS), "\n".join(lines)):
        h.update(part.encode())
    for f in [ORACLE_SRC, *sorted(HLS_INCLUDE.glob("*.h")), *sorted(ap_types.rglob("*.h"))]:
        h.update(f.read_bytes())
    key = h.hexdigest()[:16]
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        cached = cache.mkdir("hostsw_ap_cast_oracle") / f"ap_cast_oracle-{key}"
        if cached.is_file():
            return Oracle(cached)
    # build in a private dir (parallel sessions must not share object files), then publish
    exe = _build(tmp_path_factory.mktemp("ap_cast_oracle"), gxx, ap_types, lines)
    if cache is None:
        return Oracle(exe)
    tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
    shutil.copy2(exe, tmp)
    os.replace(tmp, cached)  # atomic: a cached binary is always complete
    return Oracle(cached)


# --- value sets ----------------------------------------------------------------------------------
def cast_values(signed: bool, bits: int, frac: int, seed: int) -> np.ndarray:
    """Ties, their neighbours, grid edges, out-of-range and random values for one type."""
    fp = FixedPoint(bits, frac, signed)
    rng = np.random.default_rng(seed)
    step = fp.step
    kmin, kmax = fp.min_int, fp.max_int
    span = kmax - kmin + 1
    ks = set(range(kmin - 3, kmin + 4)) | set(range(-3, 4)) | set(range(kmax - 3, kmax + 4))
    ks |= {int(k) for k in rng.integers(kmin - 2 * span, kmax + 2 * span, 12)}
    ks |= {-kmax, -kmax - 1, -kmax + 1, 2 * kmax + 1, 2 * kmin - 1}
    vals: list[float] = []
    for k in sorted(ks):
        for off in (0.0, 0.25, 0.5, 0.75):
            x = math.ldexp(k + off, -frac)  # exact (|k| < 2**35)
            vals.append(x)
            if off in (0.0, 0.5):  # both neighbours of ties and of grid points
                vals += [math.nextafter(x, math.inf), math.nextafter(x, -math.inf)]
    big = math.ldexp(1.0, fp.int_bits)  # 2**I: first value beyond the signed range's magnitude
    for m in (1.0, 2.0, 256.0, 2.0**20, 2.0**40):
        vals += [big * m, -big * m, big * m + 3.5 * step, -(big * m + 3.5 * step)]
    # |k| far beyond int64 (wrap must still be exact: k mod 2**bits of the exact integer)
    for e in (20, 53, 62, 63, 64, 70, 100, 200):
        mant = int(rng.integers(1, 2**52)) | 1
        vals += [math.ldexp(mant, e - frac), -math.ldexp(mant, e - frac)]
    vals += [0.0, -0.0, 1e10, -1e10, 1e300, -1e300, 1.7e308, -1.7e308, math.inf, -math.inf,
             5e-324, -5e-324, 2.2250738585072014e-308, -2.2250738585072014e-308,
             math.ldexp(1.0, -frac - 60), -math.ldexp(1.0, -frac - 60), 0.1, -0.1, 1 / 3, -1 / 3]
    lo, hi = fp.min - span * step, fp.max + span * step
    vals += list(rng.uniform(lo, hi, 40))
    # fine-grid values: exact multiples of step / 2**j around the range (ties and near-ties)
    for j in (1, 2, 3, 8, 30):
        vals += [math.ldexp(int(k), -frac - j)
                 for k in rng.integers((kmin - span) << j, (kmax + span) << j, 6)]
    return np.array(vals, dtype=np.float64)


def _eq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a == b) | (np.isnan(a) & np.isnan(b))


# --- tests -----------------------------------------------------------------------------------
def test_oracle_is_ap_fixed(oracle):
    """Hand-checked casts: the harness really reaches ap_fixed (ties to even, saturation, wrap)."""
    cases = [
        # (signed, bits, frac, rounding, overflow, x, expected)
        (True, 8, 4, "nearest", "saturate", 0.09375, 0.125),     # 1.5 ulp -> 2 ulp (even)
        (True, 8, 4, "nearest", "saturate", 0.15625, 0.125),     # 2.5 ulp -> 2 ulp (even)
        (True, 8, 4, "nearest", "saturate", -0.09375, -0.125),
        (True, 8, 4, "floor", "saturate", -0.01, -0.0625),
        (True, 8, 4, "nearest", "saturate", 100.0, 7.9375),
        (True, 8, 4, "nearest", "saturate", -100.0, -8.0),
        (True, 8, 4, "nearest", "saturate_sym", -100.0, -7.9375),
        (True, 8, 4, "nearest", "wrap", 8.0, -8.0),
        (True, 8, 4, "floor", "wrap", 17.0, 1.0),
        (False, 8, 4, "nearest", "saturate", -3.0, 0.0),
        (False, 8, 4, "nearest", "saturate_sym", -3.0, 0.0),
        (False, 8, 4, "floor", "wrap", -1.0, 15.0),
        (True, 4, -3, "nearest", "saturate", 20.0, 16.0),        # grid of 8: 20 = 2.5 -> 2
        (True, 4, 7, "nearest", "saturate", 1.0, 0.0546875),     # fixed<4,-3>: max 7/128
        (True, 1, 0, "nearest", "saturate", 0.7, -1.0 + 1.0),   # 1 -> overflows to max = 0
        (True, 1, 0, "nearest", "wrap", 0.7, -1.0),              # 1 wraps to -1
    ]
    got = oracle.cast_many([(s, b, f, q, o, np.array([x])) for s, b, f, q, o, x, _ in cases])
    for case, g in zip(cases, got):
        assert g[0] == case[-1], f"ap_fixed{case[:5]}({case[5]}) = {g[0]}, expected {case[-1]}"


@pytest.mark.parametrize("bits", ALL_BITS)
def test_quantize_equals_ap_fixed_cast(oracle, bits):
    types = [t for t in CAST_TYPES if t[1] == bits]
    jobs = []
    for i, (s, b, f, q, o) in enumerate(types):
        jobs.append((s, b, f, q, o, cast_values(s, b, f, seed=1000 * b + 10 * i)))
    results = oracle.cast_many(jobs)
    bad, compared = [], 0
    for (s, b, f, q, o, vals), want in zip(jobs, results):
        got = quantize(vals, b, f, s, rounding=q, overflow=o)
        assert got.dtype == np.float64 and got.shape == vals.shape
        ok = _eq(got, want)
        compared += ok.size
        if not ok.all():
            i = np.flatnonzero(~ok)
            ex = ", ".join(f"x={vals[j]!r}: quantize={got[j]!r} ap={want[j]!r}" for j in i[:4])
            bad.append(f"{FixedPoint(b, f, s).ap_type(q, o)}: {i.size} mismatches ({ex})")
    assert not bad, f"{len(bad)} types disagree with ap_fixed:\n" + "\n".join(bad[:30])
    assert compared >= 100 * len(types)


def _stoch_values(signed, bits, frac, extra, seed) -> np.ndarray:
    """~3000 values exactly on the 2**-(frac+extra) grid, |x| < 2**60."""
    fp = FixedPoint(bits, frac, signed)
    rng = np.random.default_rng(seed)
    fine = frac + extra
    span = (fp.max_int - fp.min_int + 1) * fp.step
    lo, hi = fp.min - span / 2, fp.max + span / 2
    vals = list(rng.uniform(lo, hi, 1500))
    ks = rng.integers(fp.min_int - 4, fp.max_int + 5, 300)
    tiny = [math.ldexp(1.0, -fine), math.ldexp(3.0, -fine), math.ldexp(1.0, -fine + 1)]
    for k in ks:  # fraction parts at the edges of the threshold: 0+, 1-, 1/2
        x = math.ldexp(int(k), -frac)
        vals += [x, x + tiny[0], x - tiny[0], x + tiny[1], x - tiny[2], x + fp.step / 2]
    vals += [0.0, -0.0, -tiny[0], tiny[0], fp.max, fp.min, fp.max + fp.step, fp.min - fp.step]
    vals += list(rng.uniform(-span * 64, span * 64, 200))
    v = np.array(vals, dtype=np.float64)
    v = np.ldexp(np.floor(np.ldexp(v, fine)), -fine)  # onto the exact input grid
    assert np.all(np.abs(v) < 2.0**60)
    return v


@pytest.mark.parametrize("signed,bits,frac,overflow,extra", STOCH_TYPES)
def test_stochastic_equals_hostsw_fixed_h(oracle, signed, bits, frac, overflow, extra):
    vals = _stoch_values(signed, bits, frac, extra, seed=bits * 100 + extra)
    rounded_up = 0
    for key in STOCH_KEYS:
        want = oracle.stochastic(signed, bits, frac, overflow, extra, key, vals)
        got = quantize(vals, bits, frac, signed, rounding="stochastic", overflow=overflow,
                       seed=key[0], tensor_id=key[1], step=key[2])
        ok = _eq(got, want)
        if not ok.all():
            i = np.flatnonzero(~ok)
            ex = ", ".join(f"[{j}] x={vals[j]!r}: py={got[j]!r} c++={want[j]!r}" for j in i[:5])
            pytest.fail(f"{i.size}/{vals.size} stochastic mismatches for key {key}: {ex}")
        rounded_up += int(np.sum(want > quantize(vals, bits, frac, signed, "floor", overflow)))
    assert rounded_up > 0  # the dither really acts


def test_dither_stream_equals_cpp(oracle):
    for seed, tid, step in STOCH_KEYS + [(99, 2**31 + 7, 5)]:
        want = np.array(oracle.query([f"dither {seed} {tid} {step} 4096"])[0], dtype=np.int64)
        got = dither_u32(4096, seed, tid, step).numpy()
        np.testing.assert_array_equal(got, want)
    xs = [0, 1, 2, 0xFFFFFFFF, 0x80000000, 0x7FFFFFFF] + list(
        np.random.default_rng(3).integers(0, 2**32, 500))
    got = oracle.query(["lowbias " + str(len(xs)) + " " + " ".join(str(int(x)) for x in xs)])[0]
    assert [int(g) for g in got] == [lowbias32(int(x)) for x in xs]
