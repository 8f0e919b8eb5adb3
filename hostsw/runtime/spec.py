"""What one MAC-engine call is: the phase, the geometry, and the precisions of its operands and
outputs. Back-ends receive these; the engine's compiled limits are checked against them here, once,
before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from hostsw.errors import ConfigError
from hostsw.fixedpoint import FixedPoint, check_overflow, check_rounding, dither_key

#: datapath tiers a build may contain: the widest operand (bits, signed or unsigned) each takes
TIERS: tuple[int, ...] = (8, 16, 32)
#: the kernels' exact accumulator (hls/include/hostsw_mac.h kAccWidth)
ACC_WIDTH = 128


class Mode(IntEnum):
    """The engine's mode register (hostsw::MacMode)."""

    FWD = 0
    BWD_DATA = 1
    BWD_WEIGHT = 2


ROUNDING_CODE = {"nearest": 0, "floor": 1, "stochastic": 2}
OVERFLOW_CODE = {"saturate": 0, "saturate_sym": 1, "wrap": 2}


@dataclass(frozen=True)
class Geometry:
    """A Conv2d call (a Dense layer is H = W = KH = KW = 1)."""

    batch: int
    in_ch: int
    in_h: int
    in_w: int
    out_ch: int
    k_h: int = 1
    k_w: int = 1
    stride: int = 1
    pad: int = 0

    def __post_init__(self) -> None:
        for name in ("batch", "in_ch", "in_h", "in_w", "out_ch", "k_h", "k_w", "stride"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"geometry {name}={getattr(self, name)} must be >= 1")
        if self.pad < 0 or self.k_h > self.in_h + 2 * self.pad or \
                self.k_w > self.in_w + 2 * self.pad:
            raise ConfigError(f"geometry: a {self.k_h}x{self.k_w} kernel with pad {self.pad} does "
                              f"not fit a {self.in_h}x{self.in_w} input")

    @property
    def out_h(self) -> int:
        return (self.in_h + 2 * self.pad - self.k_h) // self.stride + 1

    @property
    def out_w(self) -> int:
        return (self.in_w + 2 * self.pad - self.k_w) // self.stride + 1

    @property
    def fan_in(self) -> int:
        return self.in_ch * self.k_h * self.k_w

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        return (self.batch, self.in_ch, self.in_h, self.in_w)

    @property
    def y_shape(self) -> tuple[int, int, int, int]:
        return (self.batch, self.out_ch, self.out_h, self.out_w)

    @property
    def w_shape(self) -> tuple[int, int, int, int]:
        return (self.out_ch, self.in_ch, self.k_h, self.k_w)

    def macs(self) -> int:
        return self.batch * self.out_h * self.out_w * self.out_ch * self.fan_in

    def registers(self) -> list[int]:
        return [self.batch, self.in_ch, self.in_h, self.in_w, self.out_ch, self.k_h, self.k_w,
                self.stride, self.pad]


@dataclass(frozen=True)
class OutSpec:
    """The output requantization of one result tensor: from the exact product grid (frac
    ``acc_frac``) onto ``fixed_point`` with ``rounding`` / ``overflow``; stochastic rounding draws
    the dither of (seed, tensor_id, step) at each row-major output index."""

    fixed_point: FixedPoint
    acc_frac: int
    rounding: str = "nearest"
    overflow: str = "saturate"
    seed: int = 0
    tensor_id: int = 0
    step: int = 0

    def __post_init__(self) -> None:
        check_rounding(self.rounding)
        check_overflow(self.overflow)
        fp = self.fixed_point
        if fp.bits > (64 if fp.signed else 63):
            raise ConfigError(f"kernel output {fp} is wider than the 64-bit output word")
        if not -64 <= self.shift < ACC_WIDTH:
            raise ConfigError(f"kernel output grid 2^-{fp.frac} is {self.shift} bits from the "
                              f"product grid 2^-{self.acc_frac}: use a shift in -64..{ACC_WIDTH - 1}")

    @property
    def shift(self) -> int:
        return self.acc_frac - self.fixed_point.frac

    def registers(self) -> list[int]:
        key = dither_key(self.seed, self.tensor_id, self.step)
        return [self.shift, self.fixed_point.bits, int(self.fixed_point.signed),
                ROUNDING_CODE[self.rounding], OVERFLOW_CODE[self.overflow], key]


@dataclass(frozen=True)
class Operand:
    """An integer operand tensor k (value k * 2**-frac) of precision ``fixed_point``."""

    k: np.ndarray
    fixed_point: FixedPoint

    @property
    def frac(self) -> int:
        return self.fixed_point.frac


@dataclass(frozen=True)
class EngineLimits:
    """The compiled maxima of one engine build (the CONFIG_T of every tier). The defaults fit
    LeNet-5 and the MLPs at batch 256 (fc1's 120 x 400 weights; conv1's 256 x 28 x 28 output
    pixels)."""

    #: longest dot product (fwd: Ci*KH*KW; bwd-data: Co*KH*KW)
    max_fan_in: int = 1024
    #: weights of one layer (Co*Ci*KH*KW): the on-chip weight / weight-gradient buffer
    max_weights: int = 65536
    max_out_ch: int = 256
    #: elements of any input or output tensor of a call
    max_tensor: int = 1 << 21
    #: bwd-weight reduction length B*OH*OW
    max_reduction: int = 1 << 20
    #: elements of one sample's input or output (C*H*W): the on-chip scatter accumulators
    max_image: int = 8192
    #: MACs per cycle of the pipelined loops (array partitioning factor)
    unroll: int = 8
    #: datapath tiers built
    tiers: tuple[int, ...] = TIERS

    def __post_init__(self) -> None:
        for t in self.tiers:
            if t not in TIERS:
                raise ConfigError(f"unknown datapath tier {t}: use {', '.join(map(str, TIERS))}")
        if list(self.tiers) != sorted(set(self.tiers)):
            raise ConfigError("tiers must be listed once each, smallest first")

    def check(self, layer: str, g: Geometry) -> None:
        """One line naming the layer and the limit it breaks, before any work starts."""
        checks = (
            ("fan-in (in_ch*k_h*k_w)", g.fan_in, self.max_fan_in),
            ("backward fan-in (out_ch*k_h*k_w)", g.out_ch * g.k_h * g.k_w, self.max_fan_in),
            ("weights", g.out_ch * g.fan_in, self.max_weights),
            ("output channels", g.out_ch, self.max_out_ch),
            ("input tensor size", int(np.prod(g.x_shape)), self.max_tensor),
            ("output tensor size", int(np.prod(g.y_shape)), self.max_tensor),
            ("weight-gradient reduction (batch*out_h*out_w)", g.batch * g.out_h * g.out_w,
             self.max_reduction),
            ("input size per sample (in_ch*in_h*in_w)", g.in_ch * g.in_h * g.in_w,
             self.max_image),
            ("output size per sample (out_ch*out_h*out_w)", g.out_ch * g.out_h * g.out_w,
             self.max_image),
        )
        for what, value, limit in checks:
            if value > limit:
                raise ConfigError(f"layer {layer}: {what} {value} exceeds the engine's compiled "
                                  f"maximum {limit}: use a smaller batch or layer, or rebuild the "
                                  "engine with larger EngineLimits")

    def tier_for(self, bits: int, what: str = "operand") -> int:
        """The smallest built tier that holds a ``bits``-bit operand (signed or unsigned)."""
        for t in self.tiers:
            if bits <= t:
                return t
        need = next((t for t in TIERS if bits <= t), None)
        fix = f"build the engine with tier {need}" if need else \
            f"no tier holds more than {TIERS[-1]} bits: lower the precision"
        raise ConfigError(f"{what} of {bits} bits is wider than every built tier "
                          f"({', '.join(map(str, self.tiers))}): {fix}")


@dataclass
class CallStats:
    """What a back-end did (for the precision log, reports and the benchmark)."""

    calls: dict = field(default_factory=dict)  # (mode name, tier) -> count
    macs: dict = field(default_factory=dict)  # tier -> MACs
    cycles: int = 0
    seconds: float = 0.0

    def add(self, mode: Mode, tier: int, macs: int, cycles: int, seconds: float) -> None:
        key = f"{mode.name.lower()}/t{tier}"
        self.calls[key] = self.calls.get(key, 0) + 1
        self.macs[tier] = self.macs.get(tier, 0) + macs
        self.cycles += int(cycles)
        self.seconds += seconds
