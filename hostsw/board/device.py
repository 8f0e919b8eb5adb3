"""What the drivers need from a board, and the two real implementations: PYNQ (Zynq, also
``pynq.remote`` from an x86 host) and XRT's pyxrt (Alveo). Tests pass a mock device
(``hostsw.board.mock``) through the same ``device=`` argument.

A device loads a bitstream, opens an IP's register file (``read(offset)`` / ``write(offset, v)``)
and allocates buffers the IP reaches over m_axi: ``buf.array`` is the host view, ``buf.address``
the physical address written into the pointer registers, ``flush()`` before the device reads,
``invalidate()`` after it writes. ``pynq`` and ``pyxrt`` are imported here only, lazily.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from hostsw.errors import ToolchainError


class Buffer(ABC):
    array: np.ndarray
    address: int

    @abstractmethod
    def flush(self) -> None: ...

    @abstractmethod
    def invalidate(self) -> None: ...

    def free(self) -> None:
        """Give the memory back (nothing by default)."""


class RegisterFile(ABC):
    @abstractmethod
    def read(self, offset: int) -> int: ...

    @abstractmethod
    def write(self, offset: int, value: int) -> None: ...


class Device(ABC):
    """A board the drivers talk to."""

    name: str = "device"
    #: True only for mocks: results computed on the host, never reported as measured
    is_mock: bool = False

    @abstractmethod
    def load(self, bitstream: Path) -> None:
        """Program the bitstream (.bit with its .hwh beside it, or .xclbin)."""

    @abstractmethod
    def ip(self, name: str, regmap=None) -> RegisterFile:
        """The register file of IP ``name``; ``regmap`` (hostsw.board.regmap.RegisterMap, from
        the generated driver header) for devices that need the argument layout."""

    @abstractmethod
    def allocate(self, shape, dtype) -> Buffer: ...

    def power_w(self) -> dict[str, float]:
        """Instantaneous rail powers in watts ({} when the board has no sensors)."""
        return {}

    def close(self) -> None:
        """Release the device."""


def _pynq():
    try:
        import pynq  # noqa: F401 -- the optional [board] extra
    except ImportError:
        raise ToolchainError("pynq is not installed: pip install 'hostsw[board]' on the board "
                             "(or on an x86 host with PYNQ_REMOTE_DEVICES=<board ip>)") from None
    return pynq


class _PynqBuffer(Buffer):
    def __init__(self, buf):
        self.array, self.address = buf, int(buf.device_address)

    def flush(self):
        self.array.flush()

    def invalidate(self):
        self.array.invalidate()

    def free(self):
        self.array.freebuffer()


class _PynqRegisters(RegisterFile):
    def __init__(self, ip):
        self._ip = ip

    def read(self, offset):
        return int(self._ip.read(offset))

    def write(self, offset, value):
        self._ip.write(offset, int(value) & 0xFFFFFFFF)


class PynqDevice(Device):
    """A Zynq board through PYNQ; ``remote`` (an IP address) drives it from an x86 host
    (``pynq.remote``, PYNQ >= 3.1)."""

    name = "pynq"

    def __init__(self, remote: str | None = None):
        if remote:
            os.environ["PYNQ_REMOTE_DEVICES"] = remote
        self._pynq = _pynq()
        if not self._pynq.Device.devices:
            raise ToolchainError("PYNQ finds no device: run on the board, or set "
                                 "PYNQ_REMOTE_DEVICES=<board ip> (pynq.remote) on the host")
        self.overlay = None

    def load(self, bitstream):
        bit = Path(bitstream)
        if not bit.with_suffix(".hwh").is_file():
            raise ToolchainError(f"{bit.with_suffix('.hwh').name} is missing beside {bit.name}: "
                                 "PYNQ needs it for the register map; rebuild the bitstream")
        self.overlay = self._pynq.Overlay(str(bit))

    def ip(self, name, regmap=None):
        if self.overlay is None or name not in self.overlay.ip_dict:
            have = ", ".join(self.overlay.ip_dict) if self.overlay else "no overlay loaded"
            raise ToolchainError(f"the overlay has no IP {name!r} ({have}): load the bitstream "
                                 "the manifest names")
        return _PynqRegisters(getattr(self.overlay, name))

    def allocate(self, shape, dtype):
        return _PynqBuffer(self._pynq.allocate(shape=shape, dtype=dtype))

    def power_w(self):
        rails = self._pynq.get_rails()
        return {name: float(r.power.value) for name, r in rails.items()
                if getattr(r, "power", None) is not None}

    def close(self):
        if self.overlay is not None:
            self.overlay.free()


class _XrtBuffer(Buffer):
    def __init__(self, dev: "XrtDevice", shape, dtype, group):
        x = dev._x
        self._x, self._dev = x, dev
        self.array = np.zeros(shape, dtype=dtype)
        self._bo = x.bo(dev.dev, max(1, self.array.nbytes), x.bo.normal, group)
        self.address = int(self._bo.address())
        dev._bos[self.address] = self._bo

    def flush(self):
        self._bo.write(self.array.reshape(-1).view(np.uint8), 0)
        self._bo.sync(self._x.xclBOSyncDirection.XCL_BO_SYNC_BO_TO_DEVICE)

    def invalidate(self):
        self._bo.sync(self._x.xclBOSyncDirection.XCL_BO_SYNC_BO_FROM_DEVICE)
        raw = np.asarray(self._bo.read(self.array.nbytes, 0)).view(np.uint8)
        self.array[...] = raw.view(self.array.dtype).reshape(self.array.shape)

    def free(self):
        self._dev._bos.pop(self.address, None)


class _XrtKernelRegisters(RegisterFile):
    """The drivers' register protocol over an XRT-managed kernel. pyxrt binds no register access
    (no xrt::ip, no read/write_register), so the argument registers written are collected and,
    at ap_start, handed to a ``pyxrt.run`` as arguments by index: the driver header lists them in
    the kernel's argument order (Vitis HLS assigns the offsets in that order). A pointer register
    holds a buffer's address and passes that buffer's bo (a null pointer: a small unused bo);
    scalars pass as signed 32-bit ints. ap_done is the run's COMPLETED state. ap_return is not
    readable through pyxrt: it reads 0 (no kernel cycle count on Alveo)."""

    def __init__(self, dev: "XrtDevice", kernel, regmap, name: str):
        self._dev, self._k, self._rm, self._name = dev, kernel, regmap, name
        self._args = sorted(regmap.args.items(), key=lambda kv: kv[1].offset)
        self._words: dict[int, int] = {}
        self._run = None
        self._null: dict[int, object] = {}

    def pointer_args(self) -> list[int]:
        return [i for i, (_, r) in enumerate(self._args) if r.bits == 64]

    def _value(self, r) -> int:
        return sum(self._words.get(r.offset + 4 * i, 0) << (32 * i) for i in range(r.words))

    def write(self, offset, value):
        from hostsw.board.regmap import AP_START
        if offset != self._rm.ctrl.offset:
            self._words[offset] = int(value) & 0xFFFFFFFF
            return
        if not value & AP_START:
            return
        x = self._dev._x
        run = x.run(self._k)
        for i, (name, r) in enumerate(self._args):
            v = self._value(r)
            if r.bits == 64:  # an m_axi pointer (offset=slave): its buffer object
                bo = self._dev._bos.get(v)
                if bo is None:
                    if v:
                        raise ToolchainError(f"{self._name}: pointer argument {name} holds "
                                             f"0x{v:x}, not a buffer of this device")
                    bo = self._null.get(i) or self._null.setdefault(
                        i, x.bo(self._dev.dev, 4096, x.bo.normal, self._k.group_id(i)))
                run.set_arg(i, bo)
            else:
                run.set_arg(i, v - (1 << 32) if v >> 31 else v)
        run.start()
        self._run = run

    def read(self, offset):
        from hostsw.board.regmap import AP_DONE, AP_IDLE
        if offset != self._rm.ctrl.offset:
            return 0
        if self._run is None:
            return AP_IDLE
        states = self._dev._x.ert_cmd_state
        st = self._run.state()
        if st == states.ERT_CMD_STATE_COMPLETED:
            self._run = None
            return AP_DONE | AP_IDLE
        if st in (states.ERT_CMD_STATE_ERROR, states.ERT_CMD_STATE_ABORT,
                  states.ERT_CMD_STATE_TIMEOUT, states.ERT_CMD_STATE_NORESPONSE):
            self._run = None
            raise ToolchainError(f"{self._name}: XRT reports the run {st}: check `xbutil "
                                 "examine` and reload the xclbin")
        return 0


class XrtDevice(Device):
    """An Alveo card through XRT's pyxrt (ships with XRT, not on PyPI): each IP is an XRT-managed
    kernel ``<kernel>:{<cu>}`` driven through ``pyxrt.run`` (see _XrtKernelRegisters)."""

    name = "xrt"

    def __init__(self, index: int = 0):
        try:
            import pyxrt
        except ImportError:
            raise ToolchainError("pyxrt is not importable: source /opt/xilinx/xrt/setup.sh "
                                 "(XRT ships pyxrt) on the Alveo host") from None
        self._x = pyxrt
        try:
            self.dev = pyxrt.device(index)
        except Exception as e:  # XRT's own error: no card, no driver
            raise ToolchainError(f"XRT opens no Alveo card {index} ({e}): check `xbutil "
                                 "examine`") from None
        self.uid = None
        self.group = 0
        self._bos: dict[int, object] = {}

    def load(self, bitstream):
        self.uid = self.dev.load_xclbin(str(bitstream))

    def ip(self, name, regmap=None):
        if regmap is None:
            raise ToolchainError(f"the XRT device needs the register map of {name} (its "
                                 "argument order)")
        kernel = name.rsplit("_", 1)[0] if name.rsplit("_", 1)[-1].isdigit() else name
        k = self._x.kernel(self.dev, self.uid, f"{kernel}:{{{name}}}")
        regs = _XrtKernelRegisters(self, k, regmap, name)
        ptrs = regs.pointer_args()
        if ptrs:  # link.cfg puts every m_axi port in one memory: the first one's group
            self.group = k.group_id(ptrs[0])
        return regs

    def allocate(self, shape, dtype):
        return _XrtBuffer(self, shape, dtype, self.group)

    def power_w(self):
        import json
        info = json.loads(self.dev.get_info(self._x.xrt_info_device.electrical))
        return {"card": float(info["power_consumption_watts"])}


def open_device(family: str, remote: str | None = None) -> Device:
    """The real device for a board family (``zynq`` or ``alveo``)."""
    return PynqDevice(remote) if family == "zynq" else XrtDevice()
