"""Fused fake-quantizer: scale, dither, round, saturate and scale back in one pass per tensor.

``hostsw.fixedpoint.quantize`` runs the stochastic rounding of every error tensor as ~15 separate
full-tensor torch passes (the hash dither, compare, floor, clamp); on LeNet-5 that doubled the
training step. ``csrc/fused_quant.cpp`` is the same float algorithm in one vectorized C++ loop
(OpenMP over torch's thread count), built once per (source, compiler, flags, CPU) into
``$HOSTSW_CACHE_DIR/fused`` (default ``~/.cache/hostsw/fused``) and loaded with ctypes. It is
checked bit for bit against ``hostsw.fixedpoint`` when it is loaded (a wrong build is never used)
and by tests/quant/test_fused.py (the float32 stochastic threshold for all 2**32 inputs). The
loops are branch-free so the compiler vectorizes them (float32 and uint32 lanes only; built with
-ffp-contract=off and -fno-trapping-math, never fast-math). The same library has the range pass
of the auto-frac quantizers (``tensor_range``: torch.aminmax's numbers in one vectorized pass).

Everything else takes the pure-torch path of ``hostsw.fixedpoint`` with identical results:
tensors on other devices than the CPU (``--device cuda``), dtypes other than float32/float64,
``wrap`` overflow, and machines where the library cannot be built (then one line on stderr says
why). ``HOSTSW_FUSED=0`` forces the torch path; ``use_fused(False)`` does it in-process.
scripts/bench_train_overhead.py measured this against the alternative, ``torch.compile`` of the
reference function (docs/BENCHMARKS.md, train-overhead).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch

from hostsw import fixedpoint
from hostsw.fixedpoint import FixedPoint, dither_key

_SOURCE = Path(__file__).with_name("csrc") / "fused_quant.cpp"
ENV_SWITCH = "HOSTSW_FUSED"
_FORMAT = "hostsw-fused-quant-4"
_ROUNDING = {"nearest": 0, "floor": 1, "stochastic": 2}
_DTYPES = (torch.float32, torch.float64)
#: the kernel's flat index is 32-bit (as the int32 dither of hostsw.fixedpoint)
_MAX_NUMEL = 1 << 31


@dataclass(frozen=True)
class FusedStatus:
    """Whether the fused kernel is in use, and if not, why (shown once on stderr)."""

    available: bool
    reason: str = ""
    library: str = ""
    compiler: str = ""
    flags: tuple[str, ...] = ()
    build_s: float = 0.0
    cached: bool = False


_lock = threading.Lock()
#: "lib": the loaded CDLL or None (after a failed build), "status": its FusedStatus
_state: dict = {}
_enabled_override: list = []
_ENV_KEY = os.environ.encodekey(ENV_SWITCH) if hasattr(os.environ, "encodekey") else ENV_SWITCH


def _cache_dir() -> Path:
    env = os.environ.get("HOSTSW_CACHE_DIR")
    root = Path(env).expanduser() if env else Path("~/.cache/hostsw").expanduser()
    return root / "fused"


_OFF = ("0", "false", "no", "off")
#: (raw environment value, enabled) of the last look-up: os.environ's str interface costs more
#: than a small tensor's quantization, its underlying mapping does not
_env_seen: list = [object(), True]


def enabled() -> bool:
    """False when ``HOSTSW_FUSED=0`` (read at every call) or ``use_fused(False)`` asks for the
    reference path."""
    if _enabled_override:
        return _enabled_override[-1]
    data = getattr(os.environ, "_data", None)
    if data is None or not hasattr(os.environ, "encodekey"):  # not CPython's os.environ
        return os.environ.get(ENV_SWITCH, "1").strip() not in _OFF
    raw = data.get(_ENV_KEY)
    if raw is not _env_seen[0]:
        value = "1" if raw is None else os.environ.decodevalue(raw)
        _env_seen[:] = [raw, value.strip() not in _OFF]
    return _env_seen[1]


@contextmanager
def use_fused(on: bool):
    """Run a block with the fused kernel switched on or off (the benchmark's reference path);
    the results are the same either way."""
    _enabled_override.append(bool(on))
    try:
        yield
    finally:
        _enabled_override.pop()


def _flags(cxx: str) -> list[str]:
    from hostsw.export.csim import _accepts
    flags = ["-std=c++17", "-O3", "-fPIC", "-shared", "-w"]
    if not _accepts(cxx, "-ffp-contract=off"):
        return flags  # no -march=native without it: a fused multiply-add would change results
    flags.append("-ffp-contract=off")
    # -fno-trapping-math lets floor vectorize (values unchanged; only FP exception flags, which
    # nothing reads, may differ)
    flags += [f for f in ("-fno-trapping-math", "-march=native", "-fopenmp") if _accepts(cxx, f)]
    return flags


def build_library(cache_dir: Path | None = None, cxx: str | None = None) -> FusedStatus:
    """Compile (or reuse from the cache) the fused kernel; raises ToolchainError / OSError."""
    from hostsw.errors import ToolchainError
    from hostsw.export.csim import _compiler_id, _cpu_id, find_compiler
    # g++ first: its OpenMP runtime is the libgomp torch already loaded (one thread pool);
    # clang++ would need libomp
    cxx = find_compiler(cxx or os.environ.get("CXX") or shutil.which("g++"))
    flags = _flags(cxx)
    text = _SOURCE.read_bytes()
    h = hashlib.sha256()
    for part in (_FORMAT, _compiler_id(cxx), " ".join(flags),
                 _cpu_id() if "-march=native" in flags else ""):
        h.update(part.encode() + b"\0")
    h.update(text)
    key = h.hexdigest()[:24]
    cache = Path(cache_dir) if cache_dir else _cache_dir()
    final = cache / key / "libhostsw-fused.so"
    if final.is_file():
        return FusedStatus(True, library=str(final), compiler=cxx, flags=tuple(flags), cached=True)
    cache.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".build-{key}-", dir=cache))
    try:
        t0 = time.perf_counter()
        r = subprocess.run([cxx, *flags, str(_SOURCE), "-o", str(build / final.name)],
                           capture_output=True, text=True, timeout=300)
        elapsed = time.perf_counter() - t0
        if r.returncode != 0:
            first = (r.stderr or r.stdout).strip().splitlines()[:1]
            raise ToolchainError(f"{Path(cxx).name} failed on {_SOURCE.name}: "
                                 f"{first[0] if first else 'exit ' + str(r.returncode)}")
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(build / final.name, final)  # atomic: a concurrent build writes the same bytes
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return FusedStatus(True, library=str(final), compiler=cxx, flags=tuple(flags),
                       build_s=elapsed)


def _bind(path: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(path)
    args = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
            ctypes.c_int64, ctypes.c_int64, ctypes.c_int, ctypes.c_int, ctypes.c_uint32,
            ctypes.c_int, ctypes.c_void_p]
    for name in ("hostsw_fq_f32", "hostsw_fq_f64"):
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, ctypes.c_int
    lib.hostsw_fq_threshold_f32.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    lib.hostsw_fq_threshold_f32.restype = None
    for name in ("hostsw_range_f32", "hostsw_range_f64"):
        fn = getattr(lib, name)
        fn.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int]
        fn.restype = ctypes.c_int
    return lib



def _self_check() -> str:
    """'' if the loaded kernel equals ``fixedpoint._quantize_reference`` on a small tensor in every
    mode, else what differs (a build with e.g. fast-math defaults must never be used)."""
    g = torch.Generator().manual_seed(12)
    for dtype in _DTYPES:
        x = torch.randn(4099, generator=g, dtype=dtype) * 3
        x[:9] = torch.tensor([0.0, -0.0, 2.5, -2.5, float("inf"), float("nan"), -1e-30, 1e-30,
                              -2.0 ** -140], dtype=dtype)
        for rounding in _ROUNDING:
            for frac, overflow in ((3, "saturate"), (-2, "saturate_sym"), (9, "saturate_sym")):
                fp = FixedPoint(6, frac)
                want = fixedpoint._quantize_reference(x, fp, rounding, overflow, 7, 3, 11)
                got = _run(_state["lib"], x, fp, rounding, overflow, 7, 3, 11, None, None)
                if not torch.equal(torch.nan_to_num(want, nan=7.5), torch.nan_to_num(got, nan=7.5)):
                    return f"self-check differs from hostsw.fixedpoint ({dtype}, {rounding}, {frac})"
        finite = x[~torch.isnan(x)]
        out = (ctypes.c_double * 3)()
        fn = _state["lib"].hostsw_range_f32 if dtype == torch.float32 else \
            _state["lib"].hostsw_range_f64
        fn(finite.data_ptr(), finite.numel(), ctypes.addressof(out), 1)
        want = torch.aminmax(finite)
        if (out[0], out[1], out[2]) != (want.min.item(), want.max.item(), 0.0):
            return f"self-check: range differs from torch.aminmax ({dtype})"
        fn(x.data_ptr(), x.numel(), ctypes.addressof(out), 1)
        if out[2] != 1.0:
            return f"self-check: range missed a NaN ({dtype})"
        _run(_state["lib"], finite, FixedPoint(6, 3), "stochastic", "saturate", 7, 3, 11, None,
             None, ctypes.addressof(out))
        if (out[0], out[1], out[2]) != (want.min.item(), want.max.item(), 0.0):
            return f"self-check: the quantizer's range differs from torch.aminmax ({dtype})"
    return ""


def library() -> ctypes.CDLL | None:
    """The loaded kernel, or None (reference path): built on first use (thread-safe); a failure
    is noted once on stderr."""
    if not enabled():
        return None
    if "lib" in _state:
        return _state["lib"]
    with _lock:
        if "lib" not in _state:
            st = _load()
            _state["status"] = st
            if not st.available:
                print(f"hostsw: fused quantizer unavailable ({st.reason}); using the pure-torch "
                      "quantizer (same results, slower)", file=sys.stderr)
    return _state["lib"]


def status() -> FusedStatus:
    """How the kernel was built (or why not); builds it if that has not happened yet."""
    library()
    return _state.get("status") or FusedStatus(False, f"{ENV_SWITCH}=0")


def _load() -> FusedStatus:
    try:
        st = build_library()
        _state["lib"] = _bind(st.library)
    except Exception as e:  # noqa: BLE001 - any build/load failure means: use the torch path
        _state["lib"] = None
        return FusedStatus(False, " ".join(str(e).split()) or type(e).__name__)
    problem = _self_check()
    if problem:
        _state["lib"] = None
        return FusedStatus(False, problem, st.library, st.compiler, st.flags)
    return st


def _usable(x: torch.Tensor, overflow: str) -> bool:
    return (overflow != "wrap" and x.is_cpu and x.dtype in _DTYPES
            and 0 < x.numel() < _MAX_NUMEL and not (x.requires_grad and torch.is_grad_enabled()))


@lru_cache(maxsize=None)
def _one_frac(frac: int) -> int:
    """Address of a persistent int32 holding ``frac`` (one row: no tensor per call; the array
    lives as long as the cache does)."""
    arr = (ctypes.c_int32 * 1)(frac)
    _ONE_FRAC.append(arr)
    return ctypes.addressof(arr)


_ONE_FRAC: list[ctypes.Array] = []


@lru_cache(maxsize=4096)
def _int_bounds(fp: FixedPoint, overflow: str) -> tuple[int, int]:
    """The saturation range of the integer codes (per call otherwise: two properties)."""
    lo = -fp.max_int if (overflow == "saturate_sym" and fp.signed and fp.bits > 1) else fp.min_int
    return lo, fp.max_int


def _run(lib, x: torch.Tensor, fp: FixedPoint, rounding: str, overflow: str, seed,
         tensor_id: int, step: int, fracs: torch.Tensor | None, fix_underflow: bool | None,
         range_out: int | None = None):
    if not x.is_contiguous():
        x = x.contiguous()
    y = torch.empty_like(x)  # (x is contiguous: so is y, with the same strides)
    if fracs is None:
        rows, fracs_ptr = 1, _one_frac(fp.frac)
    else:
        rows, fracs_ptr = int(fracs.numel()), fracs.data_ptr()
    lo, hi = _int_bounds(fp, overflow)
    if fix_underflow is None:
        fix_underflow = fp.frac < 0 and rounding != "nearest"
    key = dither_key(0 if seed is None else int(seed), tensor_id, step) \
        if rounding == "stochastic" else 0
    fn = lib.hostsw_fq_f32 if x.dtype == torch.float32 else lib.hostsw_fq_f64
    rc = fn(x.data_ptr(), y.data_ptr(), rows, x.numel() // rows, fracs_ptr, lo,
            hi, _ROUNDING[rounding], int(fix_underflow), key, torch.get_num_threads(),
            range_out)
    if rc != 0:
        raise RuntimeError(f"fused quantizer rejected its arguments (code {rc})")
    return y


_RANGE_OUT = threading.local()


def _range_buffer() -> ctypes.Array:
    out = getattr(_RANGE_OUT, "buf", None)
    if out is None:
        out = _RANGE_OUT.buf = (ctypes.c_double * 3)()
    return out


def quantize_and_range(x: torch.Tensor, fp: FixedPoint, rounding: str, overflow: str,
                       seed: int | None, tensor_id: int, step: int
                       ) -> tuple[torch.Tensor, float, float] | None:
    """``try_quantize`` that also returns ``tensor_range(x)`` from the same pass, or None where the
    kernel does not apply or x holds a NaN (then nothing is reused: the caller takes its usual
    path). For auto-frac quantizers that quantize with the frac they expect and check it against
    the range (one pass instead of a range pass and a quantizer pass when it holds)."""
    if x.requires_grad:
        x = x.detach()
    if not _usable(x, overflow):
        return None
    lib = library()
    if lib is None:
        return None
    out = _range_buffer()
    y = _run(lib, x, fp, rounding, overflow, seed, tensor_id, step, None, None,
             ctypes.addressof(out))
    if out[2] != 0.0:
        return None
    return y, out[0], out[1]


def tensor_range(x: torch.Tensor) -> tuple[float, float]:
    """``torch.aminmax(x)`` as two Python floats (exact), in one vectorized pass where the kernel
    applies (CPU float32/float64, the library loaded); torch's otherwise, and for tensors that
    hold a NaN (so NaN propagates exactly as before). -0.0 and 0.0 may come out either way."""
    x = x.detach()
    lib = library() if (x.is_cpu and x.dtype in _DTYPES
                        and 0 < x.numel() < _MAX_NUMEL) else None
    if lib is not None:
        out = _range_buffer()
        x = x.contiguous()
        fn = lib.hostsw_range_f32 if x.dtype == torch.float32 else lib.hostsw_range_f64
        if fn(x.data_ptr(), x.numel(), ctypes.addressof(out), torch.get_num_threads()) == 0 \
                and out[2] == 0.0:
            return out[0], out[1]
    lo, hi = torch.aminmax(x)
    return lo.item(), hi.item()


def try_quantize(x: torch.Tensor, fp: FixedPoint, rounding: str = "nearest",
                 overflow: str = "saturate", seed: int | None = None, tensor_id: int = 0,
                 step: int = 0) -> torch.Tensor | None:
    """``fixedpoint._quantize_reference(x, fp, ...)`` bit for bit in one pass, or None where the
    kernel does not apply (``fixedpoint.quantize`` then runs the reference)."""
    if not _usable(x, overflow):
        return None
    lib = library()
    if lib is None:
        return None
    return _run(lib, x, fp, rounding, overflow, seed, tensor_id, step, None, None)


def quantize_rows(rows: torch.Tensor, fracs: torch.Tensor, bits: int, rounding: str,
                  seed: int | None = None, tensor_id: int = 0, step: int = 0) -> torch.Tensor:
    """Row i of the 2-d ``rows`` on the signed saturating grid ``<bits, fracs[i]>`` with the dither
    of the flat element index: PSQ's ``quantize(rows * 2**f, bits, 0) * 2**-f`` in one pass."""
    lib = library() if _usable(rows, "saturate") and rows.dim() == 2 and rows.shape[1] else None
    if lib is None:
        dt, dev = rows.dtype, rows.device
        up = torch.ldexp(torch.ones(len(fracs), dtype=dt, device=dev), fracs)[:, None]
        down = torch.ldexp(torch.ones(len(fracs), dtype=dt, device=dev), -fracs)[:, None]
        k = fixedpoint._quantize_reference(rows * up, FixedPoint(bits, 0, True), rounding,
                                           "saturate", seed, tensor_id, step)
        return k.mul_(down)
    # frac 0 for the bounds, the rows' grids from ``fracs``, no underflow stand-in: the reference
    # quantizes the pre-scaled rows at frac 0
    return _run(lib, rows, FixedPoint(bits, 0, True), rounding, "saturate", seed, tensor_id, step,
                fracs.to(device="cpu", dtype=torch.int32).contiguous(), False)


fixedpoint.register_fast_path(try_quantize)
