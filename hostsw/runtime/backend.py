"""The MAC back-end interface: forward, backward-data and backward-weight of one layer.

Every back-end takes integer operands with their precisions and returns the integer results of
the engine's single output requantization (``OutSpec``). This base class does what is the same for
all of them: checks against the compiled limits, routing each call to the smallest datapath tier
that holds both operands, bias alignment, and the call statistics. Subclasses implement ``_run``
(the engine call itself): ``reference`` in exact integer arithmetic, ``csim`` through the HLS
kernels compiled into a shared library, ``board`` on an FPGA.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod

import numpy as np

from hostsw.errors import ConfigError
from hostsw.runtime.spec import CallStats, EngineLimits, Geometry, Mode, Operand, OutSpec

#: the engine's bias register holds 64-bit words shifted left by at most this many bits
MAX_BIAS_SHIFT = 64


class MacBackend(ABC):
    """One MAC engine. ``hardware`` back-ends switch precision only between epochs."""

    name: str = ""
    hardware: bool = True

    def __init__(self, limits: EngineLimits | None = None):
        self.limits = limits or EngineLimits()
        self.stats = CallStats()

    # --- the three operations ----------------------------------------------------------------
    def fwd(self, g: Geometry, x: Operand, w: Operand, bias: Operand | None,
            out: OutSpec) -> np.ndarray:
        """y = x (*) w + bias on the product grid frac_x + frac_w, requantized by ``out``."""
        self._check_grid(out, x.frac + w.frac, "fwd")
        bias_k, bias_shift = None, 0
        if bias is not None:
            bias_shift = x.frac + w.frac - bias.frac
            if not 0 <= bias_shift <= MAX_BIAS_SHIFT:
                raise ConfigError(f"bias grid 2^-{bias.frac} is {bias_shift} bits from the "
                                  f"product grid: the engine aligns it by 0..{MAX_BIAS_SHIFT}")
            bias_k = np.ascontiguousarray(bias.k, dtype=np.int64).reshape(g.out_ch)
        return self._call(Mode.FWD, g, x, w, bias_k, bias_shift, out, None)[0]

    def bwd_data(self, g: Geometry, dy: Operand, w: Operand, out: OutSpec) -> np.ndarray:
        """dx = dy (*)^T w on the grid frac_dy + frac_w, requantized by ``out``."""
        self._check_grid(out, dy.frac + w.frac, "bwd-data")
        return self._call(Mode.BWD_DATA, g, dy, w, None, 0, out, None)[0]

    def bwd_weight(self, g: Geometry, dy: Operand, x: Operand, out: OutSpec,
                   out_bias: OutSpec | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """dw = sum over batch and pixels of dy x (grid frac_dy + frac_x), db = sum of dy."""
        self._check_grid(out, dy.frac + x.frac, "bwd-weight")
        if out_bias is not None:
            self._check_grid(out_bias, dy.frac, "bias gradient")
        return self._call(Mode.BWD_WEIGHT, g, dy, x, None, 0, out, out_bias)

    # --- shared ------------------------------------------------------------------------------
    @staticmethod
    def _check_grid(out: OutSpec, acc_frac: int, what: str) -> None:
        if out.acc_frac != acc_frac:
            raise ValueError(f"{what}: OutSpec.acc_frac={out.acc_frac} but the operands' product "
                             f"grid is {acc_frac}")

    def tier(self, a_bits: int, b_bits: int) -> int:
        return self.limits.tier_for(max(a_bits, b_bits), "an operand")

    def _call(self, mode: Mode, g: Geometry, a: Operand, b: Operand, bias_k, bias_shift: int,
              out0: OutSpec, out1: OutSpec | None):
        self.limits.check(f"({mode.name.lower()} call)", g)
        tier = self.tier(a.fixed_point.bits, b.fixed_point.bits)
        shapes = {Mode.FWD: (g.x_shape, g.w_shape), Mode.BWD_DATA: (g.y_shape, g.w_shape),
                  Mode.BWD_WEIGHT: (g.y_shape, g.x_shape)}[mode]
        ak = np.ascontiguousarray(a.k, dtype=np.int64).reshape(shapes[0])
        bk = np.ascontiguousarray(b.k, dtype=np.int64).reshape(shapes[1])
        for what, k, fp in (("first", ak, a.fixed_point), ("second", bk, b.fixed_point)):
            if k.size and (int(k.min()) < fp.min_int or int(k.max()) > fp.max_int):
                raise ValueError(f"{mode.name.lower()}: the {what} operand holds integers outside "
                                 f"its precision {fp} (a host-side bug)")
        t0 = time.perf_counter()
        y, y2, cycles = self._run(mode, tier, g, ak, bk, bias_k, bias_shift, out0, out1)
        self.stats.add(mode, tier, g.macs(), cycles, time.perf_counter() - t0)
        return y, y2

    @abstractmethod
    def _run(self, mode: Mode, tier: int, g: Geometry, a: np.ndarray, b: np.ndarray,
             bias: np.ndarray | None, bias_shift: int, out0: OutSpec,
             out1: OutSpec | None) -> tuple[np.ndarray, np.ndarray | None, int]:
        """(y, y2, cycles) with y shaped as the mode's output; cycles 0 where not counted."""

    def close(self) -> None:
        """Release devices or libraries (nothing for software back-ends)."""

    def describe(self) -> dict:
        return {"backend": self.name, "tiers": list(self.limits.tiers)}
