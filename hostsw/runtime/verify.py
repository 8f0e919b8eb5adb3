"""Run every engine call on two back-ends and compare every output value (``--verify``).

The training result comes from the primary back-end; the check back-end (normally ``reference``)
recomputes each call. Each call is also replayed on both with a stochastic-rounding output 7 bits
coarser than the one training asked for (the dither of every output element is exercised on real
training operands, not only the exact outputs that training uses). Any difference is an error
naming the call; the counts go to summary.json.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from hostsw.fixedpoint import FixedPoint
from hostsw.runtime.backend import MacBackend
from hostsw.runtime.spec import Mode, OutSpec

PROBE_SHIFT = 7


class BitMismatchError(RuntimeError):
    """Two engines that must agree bit for bit did not (a bug in one of them)."""


def _probe(o: OutSpec) -> OutSpec:
    fp = o.fixed_point
    return replace(o, fixed_point=FixedPoint.wide_type(fp.bits, fp.frac - PROBE_SHIFT, fp.signed),
                   rounding="stochastic", tensor_id=o.tensor_id + 1000)


class VerifyingBackend(MacBackend):
    def __init__(self, primary: MacBackend, check: MacBackend):
        super().__init__(primary.limits)
        self.primary, self.check = primary, check
        self.name = primary.name
        self.stats = primary.stats  # the calls training made
        self.counts = {"calls": 0, "values": 0, "stochastic_probe_values": 0, "mismatches": 0}

    def _compare(self, mode, tier, got, want, what: str) -> int:
        n = 0
        for a, b in zip(got, want):
            if a is None and b is None:
                continue
            n += a.size
            if not np.array_equal(a, b):
                bad = int((a != b).sum())
                self.counts["mismatches"] += bad
                raise BitMismatchError(
                    f"{self.primary.name} and {self.check.name} differ in {bad} of {a.size} "
                    f"values of a tier-{tier} {mode.name.lower()} call ({what}): please report "
                    "this with the run directory")
        return n

    def _run(self, mode, tier, g, a, b, bias, bias_shift, out0, out1):
        y, y2, cycles = self.primary._run(mode, tier, g, a, b, bias, bias_shift, out0, out1)
        ref = self.check._run(mode, tier, g, a, b, bias, bias_shift, out0, out1)
        self.counts["values"] += self._compare(mode, tier, (y, y2), ref[:2], "training output")
        p0, p1 = _probe(out0), (None if out1 is None else _probe(out1))
        if p0.shift < 128:
            got = self.primary._run(mode, tier, g, a, b, bias, bias_shift, p0, p1)[:2]
            want = self.check._run(mode, tier, g, a, b, bias, bias_shift, p0, p1)[:2]
            self.counts["stochastic_probe_values"] += self._compare(
                mode, tier, got, want, "stochastic probe")
        self.counts["calls"] += 1
        return y, y2, cycles

    def describe(self) -> dict:
        return {**self.primary.describe(), "verified_against": self.check.name,
                "verification": dict(self.counts)}


__all__ = ["BitMismatchError", "VerifyingBackend", "Mode"]
