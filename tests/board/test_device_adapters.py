"""The real-device adapters (hostsw.board.device) against FAKE ``pyxrt`` and ``pynq`` modules that
implement only the binding surface the specs and XRT's pyxrt.cpp document (no hardware here).
The expected argument indices are those of the engine's C signature (hostsw_mac_t<T>(mode, batch,
in_ch, in_h, in_w, out_ch, k_h, k_w, stride, pad, a, b, bias, use_bias, bias_shift, y, y2, use_y2,
shift0..key0, shift1..key1)), counted by hand."""

from __future__ import annotations

import json
import sys
import types
from enum import Enum
from pathlib import Path

import numpy as np
import pytest

from hostsw.board.driver import BoardTimeoutError, DriverConfig, HlsKernel
from hostsw.board.regmap import parse_hw_header
from hostsw.errors import ToolchainError

FIX = Path(__file__).parent / "fixtures"


# ---------------------------------------------------------------- a FAKE pyxrt (XRT's pybind11)
class _Sync(Enum):
    XCL_BO_SYNC_BO_TO_DEVICE = 0
    XCL_BO_SYNC_BO_FROM_DEVICE = 1


class _State(Enum):
    ERT_CMD_STATE_NEW = 1
    ERT_CMD_STATE_COMPLETED = 4
    ERT_CMD_STATE_ERROR = 5
    ERT_CMD_STATE_ABORT = 6
    ERT_CMD_STATE_TIMEOUT = 8
    ERT_CMD_STATE_NORESPONSE = 9


def fake_pyxrt(log: list, polls_until_done: int | None = 2, on_start=None):
    x = types.ModuleType("pyxrt")
    x.xclBOSyncDirection, x.ert_cmd_state = _Sync, _State
    x.xrt_info_device = types.SimpleNamespace(electrical="electrical")

    class device:
        def __init__(self, index):
            log.append(("device", index))

        def load_xclbin(self, path):
            log.append(("load_xclbin", path))
            return "uuid-1"

        def get_info(self, key):
            return json.dumps({"power_consumption_watts": "23.5"})

    class bo:
        normal = "normal"
        _next = 0x4000_0000

        def __init__(self, dev, size, flags, group):
            self.size, self.group = size, group
            self.mem = np.zeros(size, dtype=np.int8)
            self._addr = bo._next
            bo._next += 0x10000
            log.append(("bo", size, group))

        def address(self):
            return self._addr

        def write(self, buf, seek):
            b = np.frombuffer(memoryview(buf).cast("B"), dtype=np.int8)
            self.mem[seek:seek + b.size] = b
            log.append(("bo.write", self._addr, b.size))

        def read(self, size, skip):
            log.append(("bo.read", self._addr, size))
            return self.mem[skip:skip + size].copy()

        def sync(self, direction):
            log.append(("bo.sync", self._addr, direction.name))

    class kernel:
        def __init__(self, dev, uid, name):
            log.append(("kernel", uid, name))
            self.name = name

        def group_id(self, i):
            return 7  # the memory bank link.cfg put every port in

    class run:
        def __init__(self, k):
            self.args, self.polls = {}, 0

        def set_arg(self, i, v):
            self.args[i] = v

        def start(self):
            log.append(("start", dict(self.args)))
            if on_start:
                on_start(self.args)

        def state(self):
            self.polls += 1
            if polls_until_done is not None and self.polls >= polls_until_done:
                return _State.ERT_CMD_STATE_COMPLETED
            return _State.ERT_CMD_STATE_NEW

    x.device, x.bo, x.kernel, x.run = device, bo, kernel, run
    return x


def _t8_call(kernel: HlsKernel):
    a = np.arange(6, dtype=np.int16).reshape(2, 3) - 3
    b = np.ones((4, 3), dtype=np.int16)
    scalars = {"mode": 0, "batch": 2, "in_ch": 3, "in_h": 1, "in_w": 1, "out_ch": 4, "k_h": 1,
               "k_w": 1, "stride": 1, "pad": 0, "use_bias": 0, "bias_shift": 0, "use_y2": 0,
               "shift0": -2, "bits0": 8, "signed0": 1, "rounding0": 2, "overflow0": 0,
               "key0": 0xFFFFFFF0, "shift1": 0, "bits1": 1, "signed1": 1, "rounding1": 0,
               "overflow1": 0, "key1": 0}
    return kernel.run(scalars, {"a": a, "b": b, "bias": None}, {"y": ((2, 4), np.int64),
                                                                "y2": None})


def test_xrt_device_drives_a_run_by_argument_index(monkeypatch):
    from hostsw.board.device import XrtDevice
    log = []

    def on_start(args):  # the "kernel": y = 5 everywhere
        y = args[15]
        y.mem[:] = np.full(y.size // 8, 5, dtype=np.int64).view(np.int8)
    monkeypatch.setitem(sys.modules, "pyxrt", fake_pyxrt(log, on_start=on_start))
    dev = XrtDevice()
    dev.load("k.xclbin")
    rm = parse_hw_header(FIX / "xhostsw_mac_t8_hw.h")
    k = HlsKernel(dev, "hostsw_mac_t8_0", rm, DriverConfig(timeout_s=1.0))
    outs, ret = _t8_call(k)
    # XRT's "<kernel>:{<compute unit>}" name of the CU link.cfg made (nk=hostsw_mac_t8:1:..._0)
    assert ("kernel", "uuid-1", "hostsw_mac_t8:{hostsw_mac_t8_0}") in log
    args = next(e[1] for e in log if e[0] == "start")
    assert sorted(args) == list(range(30))
    assert [args[i] for i in range(10)] == [0, 2, 3, 1, 1, 4, 1, 1, 1, 0]
    bos = [e for e in log if e[0] == "bo"]
    # a (2x3 int16 = 12 bytes), b (4x3 int16 = 24), y (2x4 int64 = 64), in the bank of group 7
    assert [(e[1], e[2]) for e in bos[:3]] == [(12, 7), (24, 7), (64, 7)]
    assert args[10].size == 12 and args[11].size == 24 and args[15].size == 64
    assert args[12].size == 4096 and args[16].size == 4096  # null bias / y2: unused bos
    assert args[18] == -2 and args[23] == 0xFFFFFFF0 - (1 << 32)  # signed 32-bit ints
    # inputs written and synced to the device before the start; y synced back after it
    order = [e[0] + (":" + e[2] if e[0] == "bo.sync" else "") for e in log
             if e[0] in ("bo.sync", "start")]
    assert order == ["bo.sync:XCL_BO_SYNC_BO_TO_DEVICE"] * 2 + ["start",
                                                                  "bo.sync:XCL_BO_SYNC_BO_FROM_DEVICE"]
    assert np.array_equal(outs["y"], np.full((2, 4), 5)) and ret == 0  # no ap_return via pyxrt
    assert dev.power_w() == {"card": 23.5}


def test_xrt_run_that_never_completes(monkeypatch):
    from hostsw.board.device import XrtDevice
    monkeypatch.setitem(sys.modules, "pyxrt", fake_pyxrt([], polls_until_done=None))
    dev = XrtDevice()
    dev.load("k.xclbin")
    k = HlsKernel(dev, "hostsw_mac_t8_0", parse_hw_header(FIX / "xhostsw_mac_t8_hw.h"),
                  DriverConfig(timeout_s=0.05))
    with pytest.raises(BoardTimeoutError, match="no ap_done"):
        _t8_call(k)


def test_no_pyxrt_is_one_line(monkeypatch):
    from hostsw.board.device import XrtDevice
    monkeypatch.setitem(sys.modules, "pyxrt", None)  # import fails
    with pytest.raises(ToolchainError, match="source /opt/xilinx/xrt/setup.sh"):
        XrtDevice()


# ---------------------------------------------------------------- a FAKE pynq (specs/board.md)
def fake_pynq(log: list, ips=("hostsw_mac_t8_0",), devices=(object(),)):
    p = types.ModuleType("pynq")
    p.Device = types.SimpleNamespace(devices=list(devices))

    class PynqBuffer(np.ndarray):
        def flush(self):
            log.append(("flush", self.device_address))

        def invalidate(self):
            log.append(("invalidate", self.device_address))

        def freebuffer(self):
            log.append(("freebuffer", self.device_address))

    def allocate(shape, dtype):
        b = np.zeros(shape, dtype=dtype).view(PynqBuffer)
        b.device_address = 0x3000_0000 + 0x1000 * len([e for e in log if e[0] == "allocate"])
        log.append(("allocate", tuple(np.atleast_1d(shape)), np.dtype(dtype).name))
        return b

    class DefaultIP:
        def __init__(self, name):
            self.name = name

        def write(self, offset, value):
            log.append(("write", self.name, offset, value))

        def read(self, offset):
            return 0x4  # ap_idle

    class Overlay:
        def __init__(self, path):
            log.append(("Overlay", path))
            self.ip_dict = {n: {} for n in ips}
            for n in ips:
                setattr(self, n, DefaultIP(n))

        def free(self):
            log.append(("free_overlay",))

    rail = types.SimpleNamespace(power=types.SimpleNamespace(value=14.2))
    p.allocate, p.Overlay = allocate, Overlay
    p.get_rails = lambda: {"12V": rail, "1V8": types.SimpleNamespace(power=None)}
    return p


def test_pynq_device(monkeypatch, tmp_path):
    from hostsw.board.device import PynqDevice
    log = []
    monkeypatch.setitem(sys.modules, "pynq", fake_pynq(log))
    bit = tmp_path / "hostsw_training.bit"
    bit.write_bytes(b"x")
    dev = PynqDevice()
    with pytest.raises(ToolchainError, match="hostsw_training.hwh is missing"):
        dev.load(bit)
    bit.with_suffix(".hwh").write_text("<x/>")
    dev.load(bit)
    assert ("Overlay", str(bit)) in log
    regs = dev.ip("hostsw_mac_t8_0")
    regs.write(0x18, -2)  # a negative int is written as its 32-bit word
    assert log[-1] == ("write", "hostsw_mac_t8_0", 0x18, 0xFFFFFFFE)
    b = dev.allocate((2, 3), np.int16)
    assert b.address == 0x3000_0000 and log[-1] == ("allocate", (2, 3), "int16")
    b.flush(), b.invalidate(), b.free()
    assert [e[0] for e in log[-3:]] == ["flush", "invalidate", "freebuffer"]
    assert dev.power_w() == {"12V": 14.2}  # rails without a power sensor are left out
    with pytest.raises(ToolchainError, match="no IP 'nope'"):
        dev.ip("nope")


def test_pynq_without_a_device(monkeypatch):
    from hostsw.board.device import PynqDevice
    monkeypatch.setitem(sys.modules, "pynq", fake_pynq([], devices=()))
    with pytest.raises(ToolchainError, match="PYNQ_REMOTE_DEVICES"):
        PynqDevice()
