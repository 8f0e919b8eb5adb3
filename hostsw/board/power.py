"""Board power: rail readers per board and energy as the integral of (P - P_idle) dt.

Readers return watts. ZCU104: ``pynq.get_rails()`` (through the device); ZCU102: the INA226
monitors in Linux hwmon (``power1_input`` in microwatts); Alveo: XRT's electrical info (through
the device); PYNQ-Z2 has no sensor: an external meter's CSV (``time_s,power_w``) recorded during
the run. Sampling is a Python thread (milliseconds at best), so benchmarks run long loops and
subtract the idle power measured just before.
"""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path

import numpy as np

from hostsw.errors import ConfigError


def energy_above_idle(t_s, p_w, p_idle_w: float) -> float:
    """Joules of (P - P_idle) over the samples (trapezoidal rule, unevenly spaced times)."""
    t, p = np.asarray(t_s, dtype=np.float64), np.asarray(p_w, dtype=np.float64)
    if t.shape != p.shape or t.size < 2:
        raise ConfigError("energy needs at least two power samples (time and power of the same "
                          "length): run a longer loop or sample faster")
    if np.any(np.diff(t) < 0):
        raise ConfigError("power samples are not in time order")
    d = p - p_idle_w
    return float(np.sum((d[1:] + d[:-1]) * 0.5 * np.diff(t)))


def hwmon_ina226(root: Path = Path("/sys/class/hwmon")):
    """A reader summing every INA226 hwmon channel (ZCU102), watts."""
    chans = [d / "power1_input" for d in Path(root).glob("hwmon*")
             if (d / "name").is_file() and (d / "name").read_text().strip().startswith("ina226")]
    if not chans:
        raise ConfigError(f"no INA226 power monitor under {root}: run on a ZCU102 with the "
                          "ina2xx hwmon driver loaded, or give --power-csv")
    return lambda: sum(int(c.read_text()) for c in chans) * 1e-6


def device_rails(device, rail: str | None = None):
    """A reader of the device's rails (PYNQ get_rails / XRT electrical): one rail or their sum."""
    def read():
        rails = device.power_w()
        if not rails:
            raise ConfigError(f"{device.name} reports no power rails: give --power-csv")
        if rail and rail not in rails:
            raise ConfigError(f"{device.name} has no power rail {rail!r} (it reports "
                              f"{', '.join(sorted(rails))}): check the board's sensor "
                              "configuration, or give --power-csv")
        return rails[rail] if rail else sum(rails.values())
    return read


def read_meter_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """An external meter's trace: columns ``time_s`` and ``power_w``."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        t = np.array([float(r["time_s"]) for r in rows])
        p = np.array([float(r["power_w"]) for r in rows])
    except (OSError, KeyError, ValueError) as e:
        raise ConfigError(f"cannot read the power CSV {path} ({e}): it needs columns time_s and "
                          "power_w") from None
    return t, p


class Sampler:
    """Samples ``reader`` every ``interval_s`` in a thread between start() and stop()."""

    def __init__(self, reader, interval_s: float = 0.01, clock=time.perf_counter):
        self.reader, self.interval_s, self.clock = reader, interval_s, clock
        self.t: list[float] = []
        self.p: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self):
        while not self._stop.is_set():
            self.t.append(self.clock())
            self.p.append(float(self.reader()))
            self._stop.wait(self.interval_s)

    def start(self) -> "Sampler":
        self.t.append(self.clock())
        self.p.append(float(self.reader()))  # a reader that fails, fails here, not in the thread
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> tuple[np.ndarray, np.ndarray]:
        self._stop.set()
        if self._thread:
            self._thread.join()
        return np.array(self.t), np.array(self.p)
