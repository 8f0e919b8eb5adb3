"""MAC back-ends behind one small interface (see ARCHITECTURE.md, "the back-end seam").

``software`` is the torch fake-quant path of the layers themselves (no engine object);
``reference`` (exact integers), ``csim`` (the hls/ kernels in C simulation) and ``board`` are
engines: the layers hand them integer operands through ``hostsw.runtime.function``.
"""

from __future__ import annotations

from hostsw.errors import ConfigError
from hostsw.runtime.backend import MacBackend
from hostsw.runtime.spec import EngineLimits, Geometry, Mode, Operand, OutSpec, TIERS

BACKENDS: tuple[str, ...] = ("software", "reference", "csim", "board")
#: back-ends that compute the same integers (a run may resume on another one of them)
ENGINE_BACKENDS: tuple[str, ...] = ("reference", "csim", "board")


def check_backend(name: str) -> str:
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}: use one of {', '.join(BACKENDS)}")
    return name


def build_backend(name: str, limits: EngineLimits | None = None) -> MacBackend | None:
    """The engine for ``name`` (None for ``software``); compiles the C simulation if needed."""
    check_backend(name)
    if name == "software":
        return None
    if name == "reference":
        from hostsw.runtime.reference import ReferenceBackend
        return ReferenceBackend(limits)
    if name == "csim":
        from hostsw.runtime.csim import CsimBackend
        return CsimBackend(limits)
    from hostsw.runtime.board import BoardBackend
    return BoardBackend(limits)


__all__ = ["BACKENDS", "ENGINE_BACKENDS", "EngineLimits", "Geometry", "MacBackend", "Mode",
           "Operand", "OutSpec", "TIERS", "build_backend", "check_backend"]
