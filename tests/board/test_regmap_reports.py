"""Register maps and vendor reports read from real-format FIXTURES (tests/board/fixtures, each
file says it is a fixture); expected numbers are the ones written in those files."""

from pathlib import Path

import pytest

from hostsw.board.regmap import parse_hw_header
from hostsw.board.reports import (parse_csynth_xml, parse_timing_summary, parse_utilization,
                                  synthesis_figures)
from hostsw.errors import ConfigError

FIX = Path(__file__).parent / "fixtures"


def test_header_offsets():
    rm = parse_hw_header(FIX / "xhostsw_mac_t8_hw.h")
    assert rm.top == "hostsw_mac_t8"
    assert rm.ctrl.offset == 0x000
    assert (rm.ap_return.offset, rm.ap_return.bits) == (0x010, 64)
    assert (rm.arg("mode").offset, rm.arg("mode").bits) == (0x018, 32)
    assert (rm.arg("pad").offset, rm.arg("a").offset, rm.arg("a").bits) == (0x060, 0x068, 64)
    assert (rm.arg("b").offset, rm.arg("bias").offset, rm.arg("use_bias").offset) == \
        (0x074, 0x080, 0x08c)
    assert (rm.arg("y").offset, rm.arg("y2").offset, rm.arg("key1").offset) == (0x09c, 0x0a8, 0x114)
    assert len(rm.args) == 30
    with pytest.raises(ConfigError, match="no argument 'nope'"):
        rm.arg("nope")


def test_header_that_is_not_one(tmp_path):
    p = tmp_path / "x_hw.h"
    p.write_text("#define FOO 1\n")
    with pytest.raises(ConfigError, match="not a Vitis HLS driver header"):
        parse_hw_header(p)


def test_csynth_xml_fixture():
    r = parse_csynth_xml(FIX / "hostsw_mac_t8_csynth.xml")
    assert r["TopModelName"] == "hostsw_mac_t8" and r["DSP"] == "24"
    f = synthesis_figures(r)
    assert f["source"] == "synthesis"
    assert (f["target_clock_ns"], f["estimated_clock_ns"]) == (5.0, 3.65)
    assert (f["latency_cycles_best"], f["latency_cycles_worst"]) == (17, None)  # '?': dynamic
    assert (f["interval_cycles_min"], f["dsp"], f["lut"], f["ff"], f["bram_18k"]) == \
        (18, 24, 27115, 18342, 193)


def test_csynth_xml_matches_hls4ml_reader(tmp_path):
    """The same file under hls4ml's project layout gives the same values through hls4ml's own
    ``parse_vivado_report`` (the reader the estimate uses for hls4ml projects)."""
    from hls4ml.report import parse_vivado_report
    prj = tmp_path / "p"
    rep = prj / "myproject_prj" / "solution1" / "syn" / "report"
    rep.mkdir(parents=True)
    (prj / "project.tcl").write_text('set project_name "myproject"\nset backend "vitis"\n')
    (prj / "myproject_prj" / "solution1.aps").write_text("")
    (prj / "myproject_prj" / "vivado_hls.app").write_text(
        '<project><solutions><solution name="solution1"/></solutions></project>')
    (rep / "myproject_csynth.xml").write_text((FIX / "hostsw_mac_t8_csynth.xml").read_text())
    theirs = parse_vivado_report(str(prj))["CSynthesisReport"]
    ours = parse_csynth_xml(rep / "myproject_csynth.xml")
    for k in ("TargetClockPeriod", "EstimatedClockPeriod", "BestLatency", "WorstLatency",
              "IntervalMin", "DSP", "LUT", "FF", "BRAM_18K", "AvailableDSP"):
        assert theirs[k] == ours[k], k


def test_timing_and_utilisation():
    ok = parse_timing_summary((FIX / "timing_summary_met.rpt").read_text())
    assert ok == {"wns_ns": 0.412, "tns_ns": 0.0, "whs_ns": 0.010, "met": True}
    bad = parse_timing_summary((FIX / "timing_summary_failed.rpt").read_text())
    assert bad["met"] is False and bad["wns_ns"] == -0.231
    u = parse_utilization((FIX / "utilization.rpt").read_text())
    assert u["lut"] == {"used": 41237, "available": 230400}
    assert u["ff"] == {"used": 52310, "available": 460800}
    assert u["dsp"] == {"used": 216, "available": 1728}
    assert u["bram_tile"] == {"used": 96.5, "available": 312}
    with pytest.raises(ConfigError, match="no Design Timing Summary"):
        parse_timing_summary("nothing")
