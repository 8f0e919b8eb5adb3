"""The call protocol of an HLS top with m_axi buffers and s_axilite registers (ap_ctrl_hs):
one class for the training MAC engine (one IP per datapath tier) and the inference wrapper.

Order of one call: wait for ap_idle; copy the operands into device buffers and ``flush`` them;
write every scalar and pointer register (offsets from the HLS driver header); set ap_start; poll
ap_done with a deadline (a kernel that never finishes is a one-line error, not a hang); read the
cycle counter from ap_return; ``invalidate`` and copy out the results.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from hostsw.board.device import Buffer, Device, RegisterFile
from hostsw.board.regmap import AP_DONE, AP_IDLE, AP_START, RegisterMap
from hostsw.errors import HostswError

#: the m_axi word of an ap_int<T+1> operand of tier T (Vitis HLS pads to a power-of-two byte width)
TIER_DTYPE = {8: np.int16, 16: np.int32, 32: np.int64}
OUT_DTYPE = np.int64  # hostsw::out_t = ap_int<64>; the bias is int64 too


class BoardTimeoutError(HostswError, TimeoutError):
    """A kernel did not raise ap_done in time."""


@dataclass
class DriverConfig:
    #: seconds to wait for ap_done after ap_start
    timeout_s: float = 10.0
    #: seconds between polls of the control register (0: spin)
    poll_s: float = 0.0


class HlsKernel:
    """One HLS IP on a device: registers by argument name, buffers by pointer argument."""

    def __init__(self, device: Device, ip_name: str, regmap: RegisterMap,
                 cfg: DriverConfig | None = None):
        self.device, self.ip_name, self.regmap = device, ip_name, regmap
        self.cfg = cfg or DriverConfig()
        self.regs: RegisterFile = device.ip(ip_name, regmap)

    def write_arg(self, name: str, value: int) -> None:
        r = self.regmap.arg(name)
        v = int(value) & ((1 << (32 * r.words)) - 1)
        for i in range(r.words):
            self.regs.write(r.offset + 4 * i, (v >> (32 * i)) & 0xFFFFFFFF)

    def read_return(self) -> int:
        r = self.regmap.ap_return
        if r is None:
            return 0
        v = 0
        for i in range(r.words):
            v |= (self.regs.read(r.offset + 4 * i) & 0xFFFFFFFF) << (32 * i)
        return v - (1 << r.bits) if v >> (r.bits - 1) else v

    def run(self, scalars: dict[str, int], inputs: dict[str, np.ndarray | None],
            outputs: dict[str, tuple[tuple, type] | None]) -> tuple[dict[str, np.ndarray], int]:
        """One call; returns (outputs by name, ap_return). ``None`` pointers are written as 0."""
        ctrl = self.regmap.ctrl.offset
        if not self.regs.read(ctrl) & AP_IDLE:
            raise BoardTimeoutError(f"{self.ip_name} is not idle before ap_start (a previous "
                                    "call never finished): reload the bitstream")
        bufs: dict[str, Buffer] = {}
        try:
            for name, arr in inputs.items():
                if arr is None:
                    continue
                b = bufs[name] = self.device.allocate(arr.shape, arr.dtype)
                b.array[...] = arr
                b.flush()
            for name, spec in outputs.items():
                if spec is not None:
                    bufs[name] = self.device.allocate(*spec)
            for name, value in scalars.items():
                self.write_arg(name, value)
            for name in (*inputs, *outputs):
                self.write_arg(name, bufs[name].address if name in bufs else 0)
            self.regs.write(ctrl, AP_START)
            deadline = time.monotonic() + self.cfg.timeout_s
            while not self.regs.read(ctrl) & AP_DONE:
                if time.monotonic() > deadline:
                    raise BoardTimeoutError(
                        f"{self.ip_name} did not finish (no ap_done) within {self.cfg.timeout_s:g} "
                        "s of ap_start: check that the bitstream matches the manifest and its "
                        "clock is running, or raise the timeout (HOSTSW_BOARD_TIMEOUT_S)")
                if self.cfg.poll_s:
                    time.sleep(self.cfg.poll_s)
            ret = self.read_return()
            result = {}
            for name, spec in outputs.items():
                if spec is not None:
                    bufs[name].invalidate()
                    result[name] = np.array(bufs[name].array, copy=True)
            return result, ret
        finally:
            for b in bufs.values():
                b.free()


#: the scalar registers of the engine, in the order of runtime.spec's register lists
GEOMETRY_ARGS = ("batch", "in_ch", "in_h", "in_w", "out_ch", "k_h", "k_w", "stride", "pad")
OUT_ARGS = ("shift", "bits", "signed", "rounding", "overflow", "key")


def engine_scalars(mode: int, geometry_regs: list[int], use_bias: bool, bias_shift: int,
                   out0_regs: list[int], out1_regs: list[int] | None) -> dict[str, int]:
    """Argument name -> value of one engine call (the same numbers the C-simulation bridge gets)."""
    s = {"mode": int(mode), **dict(zip(GEOMETRY_ARGS, geometry_regs)),
         "use_bias": int(use_bias), "bias_shift": int(bias_shift), "use_y2": int(out1_regs is not None)}
    s.update({f"{k}0": v for k, v in zip(OUT_ARGS, out0_regs)})
    s.update({f"{k}1": v for k, v in zip(OUT_ARGS, out1_regs or [0, 1, 1, 0, 0, 0])})
    return s
