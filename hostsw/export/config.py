"""Typed configurations of the export stages, saved as JSON beside each stage's output.

Pattern: FINN's ``DataflowBuildConfig`` -- one dataclass per stage, ``#:`` field docs, checked on
construction, written next to the artifact so a result always says how it was made.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from hostsw.errors import ConfigError
from hostsw.io import atomic_write_json

BACKENDS = ("Vitis", "Vivado")
IO_TYPES = ("io_parallel", "io_stream")
STRATEGIES = ("Latency", "Resource")


@dataclass
class ExportConfig:
    """``hostsw export``: Brevitas -> QONNX."""

    #: ONNX opset of the exported graph (Brevitas' QONNX export is tested with 13..17)
    opset: int = 13
    #: test images run through qonnx execution and the software model to check they agree
    verify_samples: int = 16

    def validate(self) -> "ExportConfig":
        if not 11 <= self.opset <= 20:
            raise ConfigError(f"opset={self.opset}: use 11..20")
        if self.verify_samples < 0:
            raise ConfigError(f"verify_samples={self.verify_samples} must be >= 0")
        return self


@dataclass
class HlsConfig:
    """``hostsw hls``: QONNX -> hls4ml project (ap_fixed forward network)."""

    backend: str = "Vitis"
    io_type: str = "io_parallel"
    #: hls4ml ReuseFactor (1 = fully parallel multipliers)
    reuse_factor: int = 1
    #: hls4ml Strategy; null = Latency for reuse_factor 1, Resource otherwise
    strategy: str | None = None
    part: str = "xcu250-figd2104-2L-e"
    clock_ns: float = 5.0
    project_name: str = "myproject"

    def validate(self) -> "HlsConfig":
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend={self.backend!r}: use {' or '.join(BACKENDS)}")
        if self.io_type not in IO_TYPES:
            raise ConfigError(f"io_type={self.io_type!r}: use {' or '.join(IO_TYPES)}")
        if self.reuse_factor < 1:
            raise ConfigError(f"reuse_factor={self.reuse_factor} must be >= 1")
        if self.strategy is not None and self.strategy not in STRATEGIES:
            raise ConfigError(f"strategy={self.strategy!r}: use {' or '.join(STRATEGIES)}")
        if not 0.1 <= self.clock_ns <= 1000:  # 10 GHz .. 1 MHz; refuses nan and inf too
            raise ConfigError(f"--clock-ns {self.clock_ns}: give a clock period in ns in "
                              "[0.1, 1000], e.g. 5")
        if not self.project_name.isidentifier():
            raise ConfigError(f"project_name={self.project_name!r} must be a C identifier")
        if not self.part.strip():
            raise ConfigError("part must not be empty")
        return self

    @property
    def resolved_strategy(self) -> str:
        if self.strategy is not None:
            return self.strategy
        return "Latency" if self.reuse_factor == 1 else "Resource"


@dataclass
class CsimConfig:
    """``hostsw csim``: compile the project (clang++ or g++) and compare it with the exact
    reference."""

    #: test samples to simulate (RUN_DIR mode); null = the whole test set
    samples: int | None = 1000
    #: worker processes running the compiled model (null = one per CPU core)
    jobs: int | None = None
    #: optimisation flag; null = -O2 with clang++, -O1 with g++ (the fastest build + run for each;
    #: scripts/bench_csim.py measures them side by side)
    opt_flag: str | None = None
    #: build on hls4ml's unmodified ap_types headers instead of the simulation copy (about 10x
    #: slower; a cross-check: hostsw/export/csim.py says why the copy is exact)
    exact_ap_types: bool = False
    #: folder of compiled projects keyed by content hash (null = $HOSTSW_CACHE_DIR or
    #: ~/.cache/hostsw/csim)
    cache_dir: str | None = None

    def validate(self) -> "CsimConfig":
        if self.samples is not None and self.samples < 1:
            raise ConfigError(f"samples={self.samples} must be >= 1")
        if self.jobs is not None and self.jobs < 1:
            raise ConfigError(f"jobs={self.jobs} must be >= 1")
        if self.opt_flag not in (None, "-O0", "-O1", "-O2", "-O3", "-Os"):
            raise ConfigError(f"opt_flag={self.opt_flag!r}: use -O0, -O1, -O2, -O3 or -Os")
        return self


def save_config(cfg, path: Path, **extra) -> None:
    """Write a stage config (plus ``extra`` facts such as input paths) as JSON, atomically."""
    data = {"stage": type(cfg).__name__, **dataclasses.asdict(cfg), **extra}
    atomic_write_json(Path(path), data)


def load_config(cls, path: Path):
    """Read a config written by ``save_config`` (unknown keys are ignored)."""
    data = json.loads(Path(path).read_text())
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names}).validate()
