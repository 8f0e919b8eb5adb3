"""Readers of the vendor tools' reports: Vitis HLS ``<top>_csynth.xml`` (the schema hls4ml's
``parse_vivado_report`` reads, with the same keys), Vivado's ``report_timing_summary`` and
``report_utilization`` text. Everything read here is a tool's figure, labelled ``synthesis``
(HLS estimate after scheduling) or ``implementation`` (after place and route)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from hostsw.errors import ConfigError

TIMING_MET = "All user specified timing constraints are met."


def parse_csynth_xml(path: Path) -> dict:
    """The keys of hls4ml's ``CSynthesisReport`` from one ``<top>_csynth.xml``."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        raise ConfigError(f"cannot read the synthesis report {path}: {e}; rerun csynth") from None

    def text(xpath: str) -> str:
        node = root.find(xpath)
        if node is None or node.text is None:
            raise ConfigError(f"{path} has no {xpath.lstrip('./')}: not a Vitis HLS csynth.xml")
        return node.text.strip()

    perf = "./PerformanceEstimates"
    r = {"TopModelName": text("./UserAssignments/TopModelName"),
         "Part": text("./UserAssignments/Part"),
         "TargetClockPeriod": text("./UserAssignments/TargetClockPeriod"),
         "EstimatedClockPeriod": text(f"{perf}/SummaryOfTimingAnalysis/EstimatedClockPeriod"),
         "BestLatency": text(f"{perf}/SummaryOfOverallLatency/Best-caseLatency"),
         "WorstLatency": text(f"{perf}/SummaryOfOverallLatency/Worst-caseLatency"),
         "IntervalMin": text(f"{perf}/SummaryOfOverallLatency/Interval-min"),
         "IntervalMax": text(f"{perf}/SummaryOfOverallLatency/Interval-max")}
    res, avail = root.find("./AreaEstimates/Resources"), root.find("./AreaEstimates/AvailableResources")
    if res is None:
        raise ConfigError(f"{path} has no AreaEstimates/Resources: not a Vitis HLS csynth.xml")
    for child in res:
        r[child.tag] = child.text.strip()
    for child in (avail if avail is not None else []):
        r["Available" + child.tag] = child.text.strip()
    return r


def synthesis_figures(r: dict) -> dict:
    """Numbers from a CSynthesisReport dict ('?' latencies, as for dynamic loop bounds, -> None)."""
    def num(v):
        try:
            return int(v)
        except (TypeError, ValueError):
            return None
    return {"source": "synthesis", "target_clock_ns": float(r["TargetClockPeriod"]),
            "estimated_clock_ns": float(r["EstimatedClockPeriod"]),
            "latency_cycles_best": num(r.get("BestLatency")),
            "latency_cycles_worst": num(r.get("WorstLatency")),
            "interval_cycles_min": num(r.get("IntervalMin")),
            "interval_cycles_max": num(r.get("IntervalMax")),
            **{k.lower(): num(r.get(k)) for k in ("LUT", "FF", "DSP", "BRAM_18K", "URAM")}}


def parse_timing_summary(text: str) -> dict:
    """WNS/TNS/WHS from a ``report_timing_summary`` and whether every constraint is met."""
    m = re.search(r"WNS\(ns\)\s+TNS\(ns\).*?\n[\s-]+\n\s*(-?[\d.]+)\s+(-?[\d.]+)\s+\d+\s+\d+\s+"
                  r"(-?[\d.]+)", text, re.S)
    if not m:
        raise ConfigError("the timing report has no Design Timing Summary table (WNS(ns) ...): "
                          "write it with report_timing_summary")
    return {"wns_ns": float(m.group(1)), "tns_ns": float(m.group(2)),
            "whs_ns": float(m.group(3)), "met": TIMING_MET in text}


_UTIL_ROWS = {"lut": ("CLB LUTs", "Slice LUTs"), "ff": ("CLB Registers", "Slice Registers"),
              "dsp": ("DSPs",), "bram_tile": ("Block RAM Tile",), "uram": ("URAM",)}


def parse_utilization(text: str) -> dict:
    """Used / available of LUT, FF, DSP, BRAM tiles, URAM from a ``report_utilization``."""
    out = {}
    for key, names in _UTIL_ROWS.items():
        for name in names:
            m = re.search(r"^\|\s*" + re.escape(name) + r"\*?\s*\|\s*([\d.]+)\s*\|(?:[^|\n]*\|)*?"
                          r"\s*([\d.]+)\s*\|\s*([\d.<]+)\s*\|\s*$", text, re.M)
            if m:
                used = float(m.group(1))
                out[key] = {"used": int(used) if used.is_integer() else used,
                            "available": int(float(m.group(2)))}
                break
    if not out:
        raise ConfigError("the utilisation report has no LUT/FF/DSP rows: write it with "
                          "report_utilization")
    return out
