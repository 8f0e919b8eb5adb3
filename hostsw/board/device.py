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
    def ip(self, name: str) -> RegisterFile: ...

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

    def ip(self, name):
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
    def __init__(self, pyxrt, device, shape, dtype, group):
        self._x = pyxrt
        self.array = np.zeros(shape, dtype=dtype)
        self._bo = pyxrt.bo(device, max(1, self.array.nbytes), pyxrt.bo.normal, group)
        self.address = int(self._bo.address())

    def flush(self):
        self._bo.write(self.array.reshape(-1).view(np.uint8), 0)
        self._bo.sync(self._x.xclBOSyncDirection.XCL_BO_SYNC_BO_TO_DEVICE)

    def invalidate(self):
        self._bo.sync(self._x.xclBOSyncDirection.XCL_BO_SYNC_BO_FROM_DEVICE)
        raw = np.asarray(self._bo.read(self.array.nbytes, 0), dtype=np.uint8)
        self.array[...] = raw.view(self.array.dtype).reshape(self.array.shape)


class _XrtRegisters(RegisterFile):
    def __init__(self, ip):
        self._ip = ip

    def read(self, offset):
        return int(self._ip.read_register(offset))

    def write(self, offset, value):
        self._ip.write_register(offset, int(value) & 0xFFFFFFFF)


class XrtDevice(Device):
    """An Alveo card through XRT's pyxrt (ships with XRT, not on PyPI): the kernel opened as an
    ``xrt::ip`` (user-managed control, the same register protocol as on Zynq)."""

    name = "xrt"

    def __init__(self, index: int = 0, memory_group: int = 0):
        try:
            import pyxrt
        except ImportError:
            raise ToolchainError("pyxrt is not importable: source /opt/xilinx/xrt/setup.sh "
                                 "(XRT ships pyxrt) on the Alveo host") from None
        self._x = pyxrt
        self.dev = pyxrt.device(index)
        self.group = memory_group
        self.uid = None

    def load(self, bitstream):
        self.uid = self.dev.load_xclbin(str(bitstream))

    def ip(self, name):
        return _XrtRegisters(self._x.ip(self.dev, self.uid, name))

    def allocate(self, shape, dtype):
        return _XrtBuffer(self._x, self.dev, shape, dtype, self.group)

    def power_w(self):
        import json
        info = json.loads(self.dev.get_info(self._x.xrt_info_device.electrical))
        return {"card": float(info["power_consumption_watts"])}


def open_device(family: str, remote: str | None = None) -> Device:
    """The real device for a board family (``zynq`` or ``alveo``)."""
    return PynqDevice(remote) if family == "zynq" else XrtDevice()
