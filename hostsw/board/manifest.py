"""``manifest.json`` of a bitstream folder: written when the folder is rendered
(``status: rendered``), completed by the build's last step (``python -m hostsw.board.manifest
finish DIR``: tool versions, timing slack, utilisation, sha256 and size of every file), and
verified by the runtime before anything is loaded onto a board."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import hostsw
from hostsw.board.boards import BoardSpec
from hostsw.errors import HostswError
from hostsw.io import atomic_write_json

MANIFEST = "manifest.json"
FORMAT = "hostsw.bitstream/1"
#: what the build leaves that is hashed (the tool work trees are not)
HASHED_DIRS = ("src", "drivers", "reports", "hls", "firmware")


class ManifestError(HostswError):
    """A bitstream folder that does not match what the runtime is asked to load."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _git_sha() -> str:
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                           cwd=Path(hostsw.__file__).parent, timeout=10)
        return r.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _hls4ml_version() -> str | None:
    try:
        from importlib.metadata import version
        return version("hls4ml")
    except Exception:
        return None


def file_table(folder: Path) -> dict:
    """{relative path: {sha256, size}} of the folder's top-level files and HASHED_DIRS."""
    folder = Path(folder)
    paths = [p for p in folder.iterdir() if p.is_file() and p.name != MANIFEST
             and not p.name.startswith(".") and p.suffix not in (".log", ".jou")]
    for d in HASHED_DIRS:
        if (folder / d).is_dir():
            paths += [p for p in (folder / d).rglob("*") if p.is_file()]
    return {str(p.relative_to(folder)): {"sha256": sha256_file(p), "size": p.stat().st_size}
            for p in sorted(paths)}


def rendered_manifest(folder: Path, spec: BoardSpec, design: str, clock_mhz: float,
                      kernels: list[str], tiers: list[int], limits: dict | None,
                      plan_sha256: str | None, bitfile: str) -> dict:
    return {
        "format": FORMAT, "status": "rendered", "design": design, "board": spec.name,
        "family": spec.family, "part": spec.part, "platform": spec.platform or None,
        "clock_mhz": clock_mhz,
        "inference_flow": spec.inference_flow if design == "inference" else None,
        "inference_flow_note": spec.inference_note if design == "inference" else None,
        "hostsw_version": hostsw.__version__, "hls4ml_version": _hls4ml_version(),
        "git_sha": _git_sha(), "precision_plan_sha256": plan_sha256,
        "tiers": tiers, "limits": limits,
        "kernels": {k: {"ip": f"{k}_0", "regmap": f"drivers/x{k}_hw.h"} for k in kernels},
        "bitstream": bitfile, "tools": None, "timing": None, "utilisation": None,
        "rendered_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "built_at": None,
        "files": file_table(folder),
    }


def write_manifest(folder: Path, manifest: dict) -> None:
    atomic_write_json(Path(folder) / MANIFEST, manifest)


def read_manifest(folder: Path) -> dict:
    path = Path(folder) / MANIFEST
    try:
        m = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"{path} does not exist: render the folder with `hostsw bitstream "
                            "build`") from None
    except (OSError, ValueError) as e:
        raise ManifestError(f"cannot read {path} ({e}): re-render it with `hostsw bitstream "
                            "build --force`") from None
    if m.get("format") != FORMAT:
        raise ManifestError(f"{path} is not a {FORMAT} manifest: re-render the folder")
    return m


def _tool_version(tool: str) -> str | None:
    if shutil.which(tool) is None:
        return None
    try:
        r = subprocess.run([tool, "-version"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"v?(\d{4}\.\d(?:\.\d)?)", r.stdout + r.stderr)
    return m.group(1) if m else (r.stdout.splitlines() or ["?"])[0].strip()


def finish(folder: Path) -> dict:
    """The build's last step: tool versions, timing, utilisation, file hashes; status built."""
    from hostsw.board.reports import parse_timing_summary, parse_utilization
    folder = Path(folder)
    m = read_manifest(folder)
    bit = folder / m["bitstream"]
    if not bit.is_file():
        raise ManifestError(f"{bit} was not produced: the build did not finish (see build.log)")
    timing = parse_timing_summary((folder / "reports" / "timing_summary.rpt").read_text())
    if not timing["met"]:
        raise ManifestError(f"timing is not met (WNS {timing['wns_ns']} ns): lower --clock-mhz "
                            "and rebuild")
    m["timing"] = timing
    m["utilisation"] = parse_utilization((folder / "reports" / "utilization.rpt").read_text())
    tools = ("vitis_hls", "vivado") if m["family"] == "zynq" else ("vitis_hls", "v++")
    m["tools"] = {t: _tool_version(t) for t in tools}
    for k, e in m["kernels"].items():
        if not (folder / e["regmap"]).is_file():
            raise ManifestError(f"{e['regmap']} (the register map of {k}) is missing: rerun make ip")
    m["files"] = file_table(folder)
    m["status"] = "built"
    m["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    write_manifest(folder, m)
    return m


def verify(folder: Path, board: str, tiers: list[int] | None = None,
           plan_sha256: str | None = None, design: str | None = None) -> dict:
    """Check a built folder before loading it: one ManifestError line per mismatch."""
    folder = Path(folder)
    m = read_manifest(folder)
    if m.get("status") != "built":
        raise ManifestError(f"{folder} is rendered but not built (no bitstream): run "
                            f"`make -C {folder}` where Vitis/Vivado are installed")
    if design is not None and m["design"] != design:
        raise ManifestError(f"{folder} holds the {m['design']} design, not {design}: use "
                            f"bitstreams/{design}/{board}")
    if m["board"] != board:
        raise ManifestError(f"{folder} was built for {m['board']}, not {board}: use "
                            f"bitstreams/{m['design']}/{board} or pass --board {m['board']}")
    missing = sorted(set(tiers or []) - set(m.get("tiers") or []))
    if missing:
        raise ManifestError(f"{folder} has datapath tiers {m.get('tiers')} but the run needs "
                            f"{missing}: rebuild with `hostsw bitstream build --design training "
                            f"--board {board} --run RUN_DIR`")
    if plan_sha256 is not None and m.get("precision_plan_sha256") != plan_sha256:
        raise ManifestError(f"{folder} was built from another precision plan (stale: "
                            f"{str(m.get('precision_plan_sha256'))[:12]} vs the run's "
                            f"{plan_sha256[:12]}): rebuild it with `hostsw bitstream build "
                            "--design inference --run RUN_DIR --force`")
    for name, e in m["files"].items():
        p = folder / name
        if not p.is_file():
            raise ManifestError(f"{p} is listed in the manifest but missing: rebuild the folder")
        if p.stat().st_size != e["size"] or sha256_file(p) != e["sha256"]:
            raise ManifestError(f"{p} does not match its sha256 in the manifest (changed after "
                                "the build): rebuild the folder, never edit a built one")
    if m["bitstream"] not in m["files"]:
        raise ManifestError(f"the manifest does not list {m['bitstream']}: rebuild the folder")
    return m


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] != "finish":
        print("usage: python -m hostsw.board.manifest finish DIR", file=sys.stderr)
        return 2
    try:
        m = finish(Path(argv[1]))
    except (HostswError, OSError) as e:
        print(f"hostsw: error: {e}", file=sys.stderr)
        return 2
    print(f"manifest: {Path(argv[1]) / MANIFEST} (WNS {m['timing']['wns_ns']} ns, "
          f"{len(m['files'])} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
