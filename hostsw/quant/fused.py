"""One-pass fake quantization for the training quantizers (a faster copy, not new semantics).

``hostsw.fixedpoint.quantize`` runs scale, dither, round, saturate and scale back as separate
full-tensor passes; on CPU those passes are most of the fake-quantization cost of a step.
``csrc/fused_quant.cpp`` does them in one pass (OpenMP over chunks), mirroring
``fixedpoint._quantize_tensor`` operation for operation; tests/quant/test_fused.py checks it bit
for bit against that reference. Only contiguous-able CPU float32/float64 tensors with a saturating
overflow take the fast path; everything else (GPU, wrap, other dtypes, tensors that need autograd)
goes to the reference. The library is JIT-built once by ``torch.utils.cpp_extension`` into
``$HOSTSW_CACHE_DIR/fused`` (default ``~/.cache/hostsw/fused``); if it cannot be built the
reference is used with one note on stderr. ``HOSTSW_FUSED=0`` forces the reference.
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

import torch

from hostsw.fixedpoint import FixedPoint, quantize

_SOURCE = Path(__file__).parent / "csrc" / "fused_quant.cpp"
_ROUNDING = {"nearest": 0, "floor": 1, "stochastic": 2}
_VERSION = 1
_state: dict = {}


def cache_dir() -> Path:
    base = os.environ.get("HOSTSW_CACHE_DIR")
    return (Path(base) if base else Path.home() / ".cache" / "hostsw") / "fused"


def enabled() -> bool:
    """False when ``HOSTSW_FUSED=0`` asks for the reference path."""
    return os.environ.get("HOSTSW_FUSED", "1").strip() not in ("0", "false", "no", "off")


def _build() -> ctypes.CDLL:
    from torch.utils.cpp_extension import load
    build = cache_dir()
    build.mkdir(parents=True, exist_ok=True)
    name = "hostsw_fused_quant"
    # -ffp-contract=off: no fused multiply-adds, so every product rounds as torch's does
    flags = ["-O3", "-ffp-contract=off", "-fno-fast-math", "-fopenmp"]
    load(name, [str(_SOURCE)], extra_cflags=flags, extra_ldflags=["-fopenmp"],
         build_directory=str(build), is_python_module=False, verbose=False)
    lib = ctypes.CDLL(str(build / f"{name}.so"))
    for fn, ptr in (("hostsw_fq_f32", ctypes.c_void_p), ("hostsw_fq_f64", ctypes.c_void_p)):
        f = getattr(lib, fn)
        f.restype = ctypes.c_int
        f.argtypes = [ptr, ptr, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64,
                      ctypes.c_int64, ctypes.c_int, ctypes.c_int, ctypes.c_uint32, ctypes.c_int]
    lib.hostsw_fq_version.restype = ctypes.c_int
    if lib.hostsw_fq_version() != _VERSION:
        raise RuntimeError(f"stale library in {build} (version {lib.hostsw_fq_version()})")
    return lib


def library() -> ctypes.CDLL | None:
    """The built library, or None (reference path); builds on first use, notes a failure once."""
    if not enabled():
        return None
    if "lib" not in _state:
        try:
            _state["lib"] = _build()
        except Exception as exc:  # any build/load failure: the reference path is always correct
            _state["lib"] = None
            msg = str(exc).strip().splitlines()
            print(f"hostsw: fused quantizer unavailable ({msg[-1] if msg else type(exc).__name__}); "
                  "using the pure-torch path (slower, same results)", file=sys.stderr)
    return _state["lib"]


def _usable(x: torch.Tensor, overflow: str) -> bool:
    return (overflow != "wrap" and x.device.type == "cpu" and x.numel() > 0
            and x.dtype in (torch.float32, torch.float64)
            and not (x.requires_grad and torch.is_grad_enabled()) and x.numel() < 1 << 31)


def _bounds(fp: FixedPoint, overflow: str) -> tuple[int, int]:
    lo = fp.min_int
    if overflow == "saturate_sym" and fp.signed and fp.bits > 1:
        lo = -fp.max_int
    return lo, fp.max_int


def _run(lib, x: torch.Tensor, fracs: torch.Tensor, fp: FixedPoint, rounding: str,
         overflow: str, fix_underflow: bool, seed: int | None, tensor_id: int,
         step: int) -> torch.Tensor:
    from hostsw.fixedpoint import dither_key
    x = x.contiguous()
    y = torch.empty_like(x, memory_format=torch.contiguous_format)
    fracs = fracs.to(torch.int32).contiguous()
    rows = fracs.numel()
    lo, hi = _bounds(fp, overflow)
    key = dither_key(0 if seed is None else int(seed), tensor_id, step) if \
        rounding == "stochastic" else 0
    fn = lib.hostsw_fq_f32 if x.dtype == torch.float32 else lib.hostsw_fq_f64
    rc = fn(x.data_ptr(), y.data_ptr(), rows, x.numel() // rows, fracs.data_ptr(), lo, hi,
            _ROUNDING[rounding], int(fix_underflow), key, torch.get_num_threads())
    if rc:
        raise RuntimeError(f"fused quantizer rejected its arguments (rc={rc})")
    return y


def fast_quantize(x: torch.Tensor, fp: FixedPoint, rounding: str, overflow: str,
                  seed: int | None = None, tensor_id: int = 0, step: int = 0) -> torch.Tensor:
    """``quantize(x, fp..., rounding, overflow, seed, tensor_id, step)``, in one pass if it can."""
    lib = library() if _usable(x, overflow) else None
    if lib is None:
        return quantize(x, fp.bits, fp.frac, fp.signed, rounding, overflow, seed, tensor_id, step)
    fracs = torch.tensor([fp.frac], dtype=torch.int32)
    return _run(lib, x, fracs, fp, rounding, overflow, fp.frac < 0 and rounding != "nearest",
                seed, tensor_id, step)


def fast_quantize_rows(rows: torch.Tensor, fracs: torch.Tensor, bits: int, rounding: str,
                       seed: int | None = None, tensor_id: int = 0,
                       step: int = 0) -> torch.Tensor:
    """Per-row grids (PSQ): row i of the 2-d ``rows`` on ``<bits, fracs[i]>``, signed, saturate.

    Equals ``quantize(rows * 2**fracs[:, None], bits, 0, ...) * 2**-fracs[:, None]`` (the
    reference in ``grad_quantizers.quantize_psq``) with the whole tensor's dither stream.
    """
    fp = FixedPoint(bits, 0, True)
    lib = library() if _usable(rows, "saturate") and rows.dim() == 2 else None
    if lib is None:
        up = torch.ldexp(torch.ones(len(fracs), dtype=rows.dtype, device=rows.device), fracs)
        down = torch.ldexp(torch.ones(len(fracs), dtype=rows.dtype, device=rows.device), -fracs)
        k = quantize(rows * up[:, None], bits, 0, True, rounding, "saturate", seed, tensor_id,
                     step)
        return k.mul_(down[:, None])
    return _run(lib, rows, fracs.cpu(), fp, rounding, "saturate", False, seed, tensor_id, step)
