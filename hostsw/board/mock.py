"""MOCK devices for tests and dry runs: no hardware, no bitstream; everything they compute is
computed on the host and is never a measurement.

``MockZynqDevice`` behaves like a PYNQ board towards the drivers: register files that decode
``ap_start`` / ``ap_done`` / ``ap_idle`` (ap_done clear-on-read), buffers whose device copy is
updated only by ``flush`` and read back only by ``invalidate`` (a driver that forgets either sees
stale data), and a log of every register write and buffer event so tests can assert the protocol.
On ap_start of a training-engine IP it decodes the argument registers with the IP's register map
and runs the HLS kernels through the C-simulation library (``hostsw.runtime.csim``): the results
are bit-identical to what the board computes only because csim is (tests/csim).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from hostsw.board.device import Buffer, Device, RegisterFile
from hostsw.board.driver import GEOMETRY_ARGS, OUT_ARGS
from hostsw.board.regmap import AP_DONE, AP_IDLE, AP_READY, AP_START, RegisterMap


@dataclass
class MockIp:
    regmap: RegisterMap
    #: the training engine's datapath tier this IP was built for (0: the inference wrapper)
    tier: int
    #: the inference wrapper's host executable: (x int32 k-values, y int64 out, n)
    infer: Callable | None = None


class _MockBuffer(Buffer):
    def __init__(self, dev: "MockZynqDevice", shape, dtype):
        self._dev = dev
        self.array = np.zeros(shape, dtype=dtype)
        self.address = dev._next_address
        dev._next_address += (max(1, self.array.nbytes) + 0xFFF) & ~0xFFF
        dev.memory[self.address] = np.zeros_like(self.array)
        dev.log("allocate", self.address, tuple(self.array.shape), np.dtype(dtype).name)

    def flush(self):
        self._dev.memory[self.address][...] = self.array
        self._dev.log("flush", self.address)

    def invalidate(self):
        self.array[...] = self._dev.memory[self.address]
        self._dev.log("invalidate", self.address)

    def free(self):
        self._dev.memory.pop(self.address, None)
        self._dev.log("free", self.address)


class _MockRegisters(RegisterFile):
    def __init__(self, dev: "MockZynqDevice", name: str):
        self._dev, self._name = dev, name
        self.words: dict[int, int] = {}
        self.ctrl = AP_IDLE

    def read(self, offset):
        ip = self._dev.ips[self._name]
        if offset == ip.regmap.ctrl.offset:
            v = self.ctrl
            self.ctrl &= ~(AP_DONE | AP_READY)  # clear on read
            return v
        return self.words.get(offset, 0)

    def write(self, offset, value):
        assert 0 <= value <= 0xFFFFFFFF, f"register write of {value} is not a 32-bit word"
        self._dev.log("write", self._name, offset, value)
        ip = self._dev.ips[self._name]
        if offset == ip.regmap.ctrl.offset:
            if value & AP_START:
                self._dev.log("start", self._name)
                self.ctrl = 0
                if not self._dev.hang:
                    self._dev._execute(self._name, self)
                    self.ctrl = AP_DONE | AP_IDLE | AP_READY
            return
        self.words[offset] = value

    def arg(self, name: str, signed: bool = True) -> int:
        r = self._dev.ips[self._name].regmap.arg(name)
        v = 0
        for i in range(r.words):
            v |= self.words.get(r.offset + 4 * i, 0) << (32 * i)
        return v - (1 << r.bits) if signed and v >> (r.bits - 1) else v


Executor = Callable[..., tuple]


@dataclass
class MockZynqDevice(Device):
    """A MOCK Zynq board (see the module doc). ``hang=True``: a kernel that never finishes."""

    ips: dict = field(default_factory=dict)
    executor: Executor | None = None
    hang: bool = False
    events: list = field(default_factory=list)
    memory: dict = field(default_factory=dict)
    loaded: list = field(default_factory=list)
    #: MOCK rail powers: a callable returning {rail: watts}
    rails: Callable | None = None
    name: str = "MockZynqDevice (MOCK: kernels run by the C simulation on the host)"
    is_mock: bool = True

    def __post_init__(self):
        self._next_address = 0x1000_0000
        self._regs: dict[str, _MockRegisters] = {}

    def power_w(self):
        return self.rails() if self.rails else {}

    def log(self, *event):
        self.events.append(event)

    def load(self, bitstream):
        self.loaded.append(Path(bitstream))
        self.log("load", str(bitstream))

    def ip(self, name, regmap=None):
        if name not in self.ips:
            raise KeyError(f"mock device has no IP {name!r}")
        return self._regs.setdefault(name, _MockRegisters(self, name))

    def allocate(self, shape, dtype):
        return _MockBuffer(self, shape, dtype)

    def _buffer(self, regs: _MockRegisters, name: str) -> np.ndarray | None:
        addr = regs.arg(name, signed=False)
        if addr == 0:
            return None
        if addr not in self.memory:
            raise AssertionError(f"pointer register {name} holds 0x{addr:x}, not an allocated "
                                 "buffer")
        return self.memory[addr]

    def _execute(self, name: str, regs: _MockRegisters) -> None:
        ip = self.ips[name]
        if ip.tier == 0:
            n = regs.arg("n")
            y = self._buffer(regs, "y")
            ip.infer(self._buffer(regs, "x"), y, n)
            self._return(ip, regs, n)
            return
        out1 = [regs.arg(f"{k}1") for k in OUT_ARGS]
        r = [regs.arg("mode"), *[regs.arg(k) for k in GEOMETRY_ARGS], regs.arg("bias_shift"),
             *[regs.arg(f"{k}0") for k in OUT_ARGS], *out1]
        r[16] &= 0xFFFFFFFF  # the dither keys are unsigned 32-bit words
        r[22] &= 0xFFFFFFFF
        a, b = self._buffer(regs, "a"), self._buffer(regs, "b")
        bias = self._buffer(regs, "bias") if regs.arg("use_bias") else None
        y = self._buffer(regs, "y")
        y2 = self._buffer(regs, "y2") if regs.arg("use_y2") else None
        if self.executor is None:
            self.executor = csim_executor()
        out, out2, cycles = self.executor(ip.tier, np.array(r, dtype=np.int64), a, b, bias, y.size,
                                    None if y2 is None else y2.size)
        y.reshape(-1)[...] = out
        if y2 is not None:
            y2[...] = out2
        self._return(ip, regs, cycles)

    @staticmethod
    def _return(ip: MockIp, regs: _MockRegisters, value: int) -> None:
        ret = ip.regmap.ap_return
        if ret is not None:
            v = int(value) & ((1 << ret.bits) - 1)
            for i in range(ret.words):
                regs.words[ret.offset + 4 * i] = (v >> (32 * i)) & 0xFFFFFFFF

    def writes(self, ip: str | None = None) -> list[tuple[int, int]]:
        """(offset, value) of every register write (of one IP), in order."""
        return [(e[2], e[3]) for e in self.events if e[0] == "write" and ip in (None, e[1])]


def mock_for_folder(folder: Path, hang: bool = False) -> MockZynqDevice:
    """A MOCK device with the IPs (register maps, tiers) of a built training bitstream folder."""
    from hostsw.board.manifest import read_manifest
    from hostsw.board.regmap import parse_hw_header
    from hostsw.runtime.spec import EngineLimits
    folder = Path(folder)
    m = read_manifest(folder)
    ips = {e["ip"]: MockIp(parse_hw_header(folder / e["regmap"]), int(top.rsplit("_t", 1)[1]))
           for top, e in m["kernels"].items()}
    limits = EngineLimits(**{**m["limits"], "tiers": tuple(m["limits"]["tiers"])})
    return MockZynqDevice(ips=ips, executor=None if hang else csim_executor(limits), hang=hang)


def mock_inference_device(folder: Path) -> MockZynqDevice:
    """A MOCK device whose inference IP runs the folder's wrapper (src/hostsw_infer_top.cpp and
    the hls4ml project it includes) compiled for the host: the same C++ the IP is built from."""
    from hostsw.board.inference import TOP
    from hostsw.board.manifest import read_manifest
    from hostsw.board.regmap import parse_hw_header
    folder = Path(folder)
    m = read_manifest(folder)
    e = m["kernels"][TOP]
    return MockZynqDevice(ips={e["ip"]: MockIp(parse_hw_header(folder / e["regmap"]), 0,
                                               wrapper_executor(folder))})


def wrapper_executor(folder: Path) -> Callable:
    import ctypes
    import subprocess
    import tempfile
    from hostsw.export import csim as hls_csim
    cxx = hls_csim.find_compiler(None)
    build = Path(tempfile.mkdtemp(prefix="hostsw-mock-infer-"))
    (build / "bridge.cpp").write_text(
        '#include "hostsw_infer_top.cpp"\nextern "C" long long hostsw_infer_call(const int32_t *x, '
        'int64_t *y, int n) { return hostsw_infer(x, y, n); }\n')
    lib = build / "libinfer.so"
    fw = Path(folder) / "hls" / "firmware"
    cmd = [cxx, "-O1", "-std=c++14", "-fPIC", "-shared", f"-I{Path(folder) / 'src'}", f"-I{fw}",
           f"-I{fw / 'ap_types'}", f'-DWEIGHTS_DIR="{(fw / "weights").resolve()}"',
           str(build / "bridge.cpp"), "-o", str(lib)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError("the inference wrapper does not compile: " + r.stderr[-2000:])
    so = ctypes.CDLL(str(lib))
    i32p = np.ctypeslib.ndpointer(np.int32, flags="C_CONTIGUOUS")
    i64p = np.ctypeslib.ndpointer(np.int64, flags="C_CONTIGUOUS")
    so.hostsw_infer_call.argtypes = [i32p, i64p, ctypes.c_int]
    so.hostsw_infer_call.restype = ctypes.c_longlong
    import shutil
    shutil.rmtree(build, ignore_errors=True)  # the library stays mapped

    def run(x, y, n):
        xs = np.ascontiguousarray(x, dtype=np.int32).reshape(-1)
        ys = np.zeros(y.size, dtype=np.int64)
        so.hostsw_infer_call(xs, ys, n)
        y.reshape(-1)[...] = ys
    return run


def csim_executor(limits=None) -> Executor:
    """Run a decoded engine call through the C-simulation library (compiled once, cached)."""
    from hostsw.runtime.csim import _load, build_engine
    lib = _load(build_engine(limits).path)

    def run(tier, regs, a, b, bias, ny, ny2):
        a64 = np.ascontiguousarray(a, dtype=np.int64).reshape(-1)
        b64 = np.ascontiguousarray(b, dtype=np.int64).reshape(-1)
        bias64 = None if bias is None else np.ascontiguousarray(bias, dtype=np.int64)
        y = np.empty(ny, dtype=np.int64)
        y2 = np.empty(ny2, dtype=np.int64) if ny2 else None
        cycles = lib.hostsw_mac_call(tier, 1, regs, a64, a64.size, b64, b64.size,
                                     None if bias64 is None else bias64.ctypes.data, y, y.size,
                                     None if y2 is None else y2.ctypes.data, ny2 or 0)
        if cycles < 0:
            raise AssertionError(f"the engine refused the call (status {-cycles})")
        return y, y2, cycles
    return run
