"""Register maps read from the driver header Vitis HLS generates (``x<top>_hw.h``, UG1399).

The board drivers never hard-code an offset: every argument's address and width comes from the
``#define X<TOP>_<BUNDLE>_ADDR_<ARG>_DATA`` / ``_BITS_<ARG>_DATA`` lines of the header that the
IP export wrote (copied into the bitstream folder by the build). The control-register bits
(ap_start, ap_done, ap_idle, ap_ready) are the fixed UG1399 convention of ``ap_ctrl_hs``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from hostsw.errors import ConfigError

AP_START, AP_DONE, AP_IDLE, AP_READY = 0x1, 0x2, 0x4, 0x8

_ADDR = re.compile(r"^#define\s+X(\w+)_ADDR_(\w+)\s+(0x[0-9a-fA-F]+|\d+)\s*$")
_BITS = re.compile(r"^#define\s+X(\w+)_BITS_(\w+)\s+(\d+)\s*$")


@dataclass(frozen=True)
class Register:
    offset: int
    bits: int = 32

    @property
    def words(self) -> int:
        return (self.bits + 31) // 32


@dataclass(frozen=True)
class RegisterMap:
    """The s_axilite registers of one HLS top: ``ctrl`` (0x00 by convention, read from the header
    all the same), ``ap_return`` when the top returns a value, and one entry per argument."""

    top: str
    ctrl: Register
    args: dict
    ap_return: Register | None = None

    def arg(self, name: str) -> Register:
        try:
            return self.args[name]
        except KeyError:
            raise ConfigError(f"the register map of {self.top} has no argument {name!r}: the "
                              "bitstream was built from another kernel version; rebuild it with "
                              "`hostsw bitstream build`") from None


def parse_hw_header(path: Path, bundle: str = "CONTROL") -> RegisterMap:
    """Parse ``x<top>_hw.h``; ``bundle`` is the s_axilite bundle name (upper case)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read the register map {path}: {e.strerror or e}; rebuild the "
                          "bitstream folder (it copies the HLS driver header)") from None
    addrs: dict[str, int] = {}
    bits: dict[str, int] = {}
    prefix = None
    for line in text.splitlines():
        m = _ADDR.match(line.strip())
        if m and m.group(1).endswith("_" + bundle):
            prefix = prefix or m.group(1)[:-len(bundle) - 1]
            addrs[m.group(2)] = int(m.group(3), 0)
            continue
        m = _BITS.match(line.strip())
        if m and m.group(1).endswith("_" + bundle):
            bits[m.group(2)] = int(m.group(3))
    if "AP_CTRL" not in addrs:
        raise ConfigError(f"{path} is not a Vitis HLS driver header with an s_axilite "
                          f"{bundle.lower()} bundle (no {bundle}_ADDR_AP_CTRL): use the "
                          "x<top>_hw.h of the exported IP")
    args = {}
    for key, off in addrs.items():
        if key.endswith("_DATA"):
            args[key[:-5].lower()] = Register(off, bits.get(key, 32))
    ret = Register(addrs["AP_RETURN"], bits.get("AP_RETURN", 32)) if "AP_RETURN" in addrs else \
        (Register(addrs["AP_RETURN_0"], 64) if "AP_RETURN_0" in addrs else None)
    return RegisterMap(top=(prefix or "").lower(), ctrl=Register(addrs["AP_CTRL"]), args=args,
                       ap_return=ret)
