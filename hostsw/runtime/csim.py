"""The csim back-end: the hls/ training kernels compiled with g++ / clang++ against hls4ml's
bundled ap_types (the fast simulation copy, see hostsw.export.csim) into a shared library cached
by content hash, called once per operation with whole int64 arrays.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from hostsw.errors import ConfigError, ToolchainError
from hostsw.export import csim as hls_csim
from hostsw.runtime.backend import MacBackend
from hostsw.runtime.engine_source import (BRIDGE_REGISTERS, KERNEL_HEADERS, hls_include_dir,
                                          render_bridge, render_config, render_top,
                                          render_top_header)
from hostsw.runtime.spec import EngineLimits, Geometry, Mode, OutSpec

_FORMAT = "hostsw-mac-engine-1"
_STATUS = {1: "bad mode", 2: "bad dimensions", 3: "a dimension above the compiled maximum",
           4: "a precision the engine cannot take", 100: "an operand outside its tier's range",
           101: "a tier that was not built"}


def ap_types_dir() -> Path:
    spec = find_spec("hls4ml")
    if spec is None or not spec.submodule_search_locations:
        raise ToolchainError("hls4ml is not installed (its ap_types headers build the C "
                             "simulation): pip install hls4ml==1.3.0")
    d = Path(list(spec.submodule_search_locations)[0]) / "templates" / "vivado" / "ap_types"
    if not (d / "ap_int.h").is_file():
        raise ToolchainError(f"hls4ml's ap_types headers are missing ({d}): reinstall hls4ml")
    return d


@dataclass
class EngineLibrary:
    path: Path
    compile_s: float
    cached: bool
    compiler: str
    flags: list
    ap_types: str


def engine_sources(limits: EngineLimits) -> dict[str, str]:
    inc = hls_include_dir()
    files = {name: (inc / name).read_text() for name in KERNEL_HEADERS}
    files["hostsw_mac_config.h"] = render_config(limits)
    files["hostsw_mac_top.h"] = render_top_header(limits)
    files["hostsw_mac_top.cpp"] = render_top(limits)
    files["hostsw_mac_bridge.cpp"] = render_bridge(limits)
    return files


def build_engine(limits: EngineLimits | None = None, cache_dir: Path | None = None,
                 cxx: str | None = None, opt_flag: str | None = None,
                 exact_ap_types: bool | None = None) -> EngineLibrary:
    """Compile (or reuse from the cache) the engine library for ``limits``."""
    limits = limits or EngineLimits()
    cxx = hls_csim.find_compiler(cxx)
    flags = hls_csim.build_flags(cxx, opt_flag or "-O2")
    exact = hls_csim.exact_ap_types_default() if exact_ap_types is None else exact_ap_types
    src_ap = ap_types_dir()
    variant = "original"
    if not exact:
        text = (src_ap / "etc" / "ap_private.h").read_text()
        variant = "patched" if hls_csim.patch_ap_private(text) is not None else "original"
    files = engine_sources(limits)
    h = hashlib.sha256()
    for part in [_FORMAT, hls_csim._compiler_id(cxx), " ".join(flags), variant,
                 hls_csim.patch_digest() if variant == "patched" else "",
                 hls_csim._cpu_id() if "-march=native" in flags else ""]:
        h.update(part.encode() + b"\0")
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    h.update((src_ap / "etc" / "ap_private.h").read_bytes())
    key = h.hexdigest()[:24]
    cache = Path(cache_dir) if cache_dir else hls_csim.default_cache_dir().parent / "mac-engine"
    final = cache / key
    lib = final / "libhostsw-mac.so"
    if lib.is_file():
        return EngineLibrary(lib, 0.0, True, cxx, flags, variant)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(prefix=f".build-{key}-", dir=cache))
    except OSError as e:
        raise ToolchainError(f"cannot write the engine cache {cache}: {e.strerror or e}; set "
                             f"{hls_csim.CACHE_ENV}") from None
    try:
        for name, text in files.items():
            (build / name).write_text(text)
        if variant == "patched":
            hls_csim.write_sim_ap_types(src_ap, build / "ap_types")
        else:
            shutil.copytree(src_ap, build / "ap_types")
        cmd = [cxx, *flags, "-pthread", "-shared", "-Iap_types", "-I.", "hostsw_mac_bridge.cpp", "-o",
               "libhostsw-mac.so"]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=build, capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        (build / "build.log").write_text(" ".join(cmd) + "\n" + r.stdout + r.stderr)
        if r.returncode != 0:
            first = hls_csim._first_errors(r.stdout + r.stderr, 3)
            log = cache / f"build-error-{key}.log"
            os.replace(build / "build.log", log)
            shutil.rmtree(build, ignore_errors=True)
            raise ToolchainError(f"{Path(cxx).name} failed to compile the training kernels: "
                                 f"{first} -- full log in {log}")
        shutil.rmtree(build / "ap_types", ignore_errors=True)
        try:
            os.rename(build, final)
        except OSError:  # built concurrently by another process
            shutil.rmtree(build, ignore_errors=True)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return EngineLibrary(lib, elapsed, False, cxx, flags, variant)


_LIBS: dict[str, ctypes.CDLL] = {}


def _load(path: Path):
    lib = _LIBS.get(str(path))
    if lib is None:
        lib = ctypes.CDLL(str(path))
        i64p = np.ctypeslib.ndpointer(np.int64, flags="C_CONTIGUOUS")
        lib.hostsw_mac_call.argtypes = [ctypes.c_int, ctypes.c_int, i64p, i64p, ctypes.c_long, i64p,
                                        ctypes.c_long, ctypes.c_void_p, i64p, ctypes.c_long,
                                        ctypes.c_void_p, ctypes.c_long]
        lib.hostsw_mac_call.restype = ctypes.c_int64
        _LIBS[str(path)] = lib
    return lib


class CsimBackend(MacBackend):
    """The HLS kernels in C simulation (bit-exact with ``reference``)."""

    name = "csim"
    hardware = True

    def __init__(self, limits: EngineLimits | None = None, threads: int | None = None,
                 **build_kwargs):
        super().__init__(limits)
        #: simulation threads per call (default: $HOSTSW_CSIM_THREADS, else the CPU cores, at
        #: most 4); the results do not depend on it
        env = os.environ.get("HOSTSW_CSIM_THREADS")
        self.threads = int(threads or (env and int(env)) or min(4, os.cpu_count() or 1))
        self.library = build_engine(self.limits, **build_kwargs)
        self._lib = _load(self.library.path)

    def _run(self, mode, tier, g: Geometry, a, b, bias, bias_shift, out0: OutSpec,
             out1: OutSpec | None):
        regs = [int(mode), *g.registers(), bias_shift, *out0.registers(),
                *(out1.registers() if out1 is not None else [0, 1, 1, 0, 0, 0])]
        assert len(regs) == BRIDGE_REGISTERS
        r = np.array(regs, dtype=np.int64)
        shape = {Mode.FWD: g.y_shape, Mode.BWD_DATA: g.x_shape, Mode.BWD_WEIGHT: g.w_shape}[mode]
        y = np.empty(shape, dtype=np.int64)
        y2 = np.empty(g.out_ch, dtype=np.int64) if out1 is not None else None
        bias_arr = None if bias is None else np.ascontiguousarray(bias, dtype=np.int64)
        cycles = self._lib.hostsw_mac_call(
            tier, self.threads, r, a.reshape(-1), a.size, b.reshape(-1), b.size,
            None if bias_arr is None else bias_arr.ctypes.data, y.reshape(-1), y.size,
            None if y2 is None else y2.ctypes.data, 0 if y2 is None else y2.size)
        if cycles < 0:
            raise ConfigError(f"the tier-{tier} engine refused a {mode.name.lower()} call: "
                              f"{_STATUS.get(-cycles, f'status {-cycles}')}")
        return y, y2, int(cycles)

    def describe(self) -> dict:
        return {**super().describe(), "compiler": Path(self.library.compiler).name,
                "flags": self.library.flags, "ap_types": self.library.ap_types,
                "library": str(self.library.path)}
