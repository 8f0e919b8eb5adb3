"""The board back-end: the training MAC engine on an FPGA, one IP per datapath tier, driven
through ``hostsw.board`` (PYNQ on Zynq, pyxrt on Alveo, or a mock device in tests).

The bitstream folder is ``$HOSTSW_BITSTREAM`` (built by ``hostsw bitstream build --design
training``); its manifest is verified (board ``$HOSTSW_BOARD`` when set, tiers, every file's
sha256) before the bitstream is loaded. The engine's compiled limits are the manifest's, so a
layer that does not fit fails before training starts, as on the other engines.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hostsw.errors import ToolchainError
from hostsw.runtime.backend import MacBackend
from hostsw.runtime.spec import EngineLimits, Geometry, Mode, OutSpec

BITSTREAM_ENV = "HOSTSW_BITSTREAM"
BOARD_ENV = "HOSTSW_BOARD"
TIMEOUT_ENV = "HOSTSW_BOARD_TIMEOUT_S"


class BoardBackend(MacBackend):
    name = "board"
    hardware = True

    def __init__(self, limits: EngineLimits | None = None, device=None,
                 bitstream: str | Path | None = None, board: str | None = None):
        from hostsw.board import device as board_device
        from hostsw.board.driver import DriverConfig, HlsKernel
        from hostsw.board.manifest import read_manifest, verify
        from hostsw.board.regmap import parse_hw_header
        folder = bitstream or os.environ.get(BITSTREAM_ENV)
        if not folder:
            raise ToolchainError(f"--backend board needs a built training bitstream: set "
                                 f"{BITSTREAM_ENV}=bitstreams/training/<board> (made by `hostsw "
                                 "bitstream build --design training --board B`) or use --backend "
                                 "csim, the same kernels in C simulation")
        folder = Path(folder)
        board = board or os.environ.get(BOARD_ENV) or read_manifest(folder).get("board")
        m = verify(folder, board, tiers=list(limits.tiers) if limits else None, design="training")
        built = EngineLimits(**{**m["limits"], "tiers": tuple(m["limits"]["tiers"])})
        super().__init__(built)
        self.folder, self.manifest = folder, m
        self.device = device if device is not None else board_device.open_device(m["family"])
        self.device.load(folder / m["bitstream"])
        cfg = DriverConfig(timeout_s=float(os.environ.get(TIMEOUT_ENV, "10")))
        self.kernels: dict[int, HlsKernel] = {}
        for top, e in m["kernels"].items():
            tier = int(top.rsplit("_t", 1)[1])
            self.kernels[tier] = HlsKernel(self.device, e["ip"], parse_hw_header(folder / e["regmap"]),
                                           cfg)

    def _run(self, mode, tier, g: Geometry, a, b, bias, bias_shift, out0: OutSpec,
             out1: OutSpec | None):
        from hostsw.board.driver import OUT_DTYPE, TIER_DTYPE, engine_scalars
        scalars = engine_scalars(int(mode), g.registers(), bias is not None, bias_shift,
                                 out0.registers(), out1.registers() if out1 is not None else None)
        dt = TIER_DTYPE[tier]
        y_shape = {Mode.FWD: g.y_shape, Mode.BWD_DATA: g.x_shape, Mode.BWD_WEIGHT: g.w_shape}[mode]
        outs, cycles = self.kernels[tier].run(
            scalars,
            {"a": a.astype(dt), "b": b.astype(dt),
             "bias": None if bias is None else np.asarray(bias, dtype=np.int64)},
            {"y": (y_shape, OUT_DTYPE), "y2": None if out1 is None else ((g.out_ch,), OUT_DTYPE)})
        return outs["y"].astype(np.int64), outs.get("y2"), int(cycles)

    def close(self) -> None:
        self.device.close()

    def describe(self) -> dict:
        return {**super().describe(), "device": self.device.name,
                "mock": bool(getattr(self.device, "is_mock", False)),
                "bitstream": str(self.folder), "board": self.manifest["board"],
                "clock_mhz": self.manifest["clock_mhz"]}
