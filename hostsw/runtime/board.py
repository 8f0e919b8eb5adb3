"""The board back-end: the same kernels on an FPGA through PYNQ / XRT.

The interface is fixed here so that ``--backend board`` is a flag like the others; the drivers
(bitstreams, register maps read from the HLS driver headers, buffers) come with the board
deployment work. Until then selecting it is a one-line error.
"""

from __future__ import annotations

from hostsw.errors import ToolchainError
from hostsw.runtime.backend import MacBackend


class BoardBackend(MacBackend):
    name = "board"
    hardware = True

    def __init__(self, limits=None, device=None):
        raise ToolchainError("the board back-end is not available yet (no bitstream or PYNQ/XRT "
                             "driver for the training engine): use --backend csim, which runs "
                             "the same kernels in C simulation")

    def _run(self, *args, **kwargs):  # pragma: no cover - never constructed
        raise NotImplementedError
