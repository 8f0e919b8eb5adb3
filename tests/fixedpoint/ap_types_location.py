"""Where hls4ml ships the ap_types headers (the reference for every fixed-point oracle test)."""

import importlib.util
from pathlib import Path


def ap_types_dir() -> Path | None:
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "templates" / "vivado" / "ap_types"
    return d if (d / "ap_fixed.h").is_file() else None
