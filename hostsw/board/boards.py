"""The boards a bitstream can be built for: part, platform, clock, power source, and which flow
builds the inference design on each (hls4ml's accelerator backend or our own wrapper).

Why our own wrapper for inference everywhere today: the installed hls4ml 1.3.0 has no VitisUnified
backend, and its VivadoAccelerator backend runs ``vivado_hls`` (Vivado HLS <= 2020.1, gone from
Vitis HLS 2020.2 on); ZCU104 is not among its boards, and its Alveo path drives the card through
``pynq.Overlay``, which PYNQ >= 3.1 no longer supports. The wrapper (an m_axi / s_axilite top
around hls4ml's Vitis-backend ``myproject``) uses the same register protocol as the training
engine, so one driver serves both designs.
"""

from __future__ import annotations

from dataclasses import dataclass

from hostsw.errors import ConfigError


@dataclass(frozen=True)
class BoardSpec:
    """One board: what the tcl needs and what the runtime uses to talk to it."""

    name: str
    #: "zynq" (PS + PL, PYNQ, Vivado block design) or "alveo" (PCIe card, XRT, v++ link)
    family: str
    part: str
    #: Alveo shell (v++ --platform); empty for Zynq
    platform: str = ""
    #: Vivado board-part (block-design presets of the PS); empty for Alveo
    board_part: str = ""
    #: the Zynq PS IP of the block design
    ps_ip: str = ""
    clock_mhz: float = 200.0
    #: how power is read: "pynq_rails" (get_rails), "hwmon_ina226", "xrt_electrical", "external_csv"
    power: str = "external_csv"
    #: the rail that carries the whole board's power, where the readers report several rails
    #: that feed one another (ZCU104: 12V is the input; INT and 1V8 are derived from it, so a
    #: sum would count them twice); empty: sum every rail the reader reports
    power_rail: str = ""
    #: the inference flow and why (see the module doc)
    inference_flow: str = "hostsw-wrapper"
    inference_note: str = ""
    #: VivadoAccelerator's name for this board, where it has one
    hls4ml_board: str = ""


_WRAPPER_NOTE = ("hls4ml 1.3.0 has no VitisUnified; VivadoAccelerator needs vivado_hls (<= 2020.1)")

BOARDS: dict[str, BoardSpec] = {b.name: b for b in (
    BoardSpec("pynq-z2", "zynq", "xc7z020clg400-1", board_part="tul.com.tw:pynq-z2:part0:1.0",
              ps_ip="processing_system7", clock_mhz=100.0, power="external_csv",
              inference_note=_WRAPPER_NOTE + " (pynq-z2 is one of its boards: usable with "
              "Vivado 2020.1; users report a hang after 'Transfer OK', hls4ml #776)",
              hls4ml_board="pynq-z2"),
    BoardSpec("zcu104", "zynq", "xczu7ev-ffvc1156-2-e",
              board_part="xilinx.com:zcu104:part0:1.1", ps_ip="zynq_ultra_ps_e",
              clock_mhz=200.0, power="pynq_rails", power_rail="12V",
              inference_note=_WRAPPER_NOTE + "; zcu104 is not a VivadoAccelerator board"),
    BoardSpec("zcu102", "zynq", "xczu9eg-ffvb1156-2-e",
              board_part="xilinx.com:zcu102:part0:3.4", ps_ip="zynq_ultra_ps_e",
              clock_mhz=200.0, power="hwmon_ina226",
              inference_note=_WRAPPER_NOTE + " (zcu102 is one of its boards; output mismatches "
              "against simulation are reported there, hls4ml #282: deploy checks bit for bit)",
              hls4ml_board="zcu102"),
    BoardSpec("kv260", "zynq", "xck26-sfvc784-2LV-c",
              board_part="xilinx.com:kv260_som:part0:1.4", ps_ip="zynq_ultra_ps_e",
              clock_mhz=200.0, power="external_csv",
              inference_note=_WRAPPER_NOTE + " (VitisUnified would be the hls4ml path on kv260)"),
    BoardSpec("u50", "alveo", "xcu50-fsvh2104-2-e", platform="xilinx_u50_gen3x16_xdma_5_202210_1",
              clock_mhz=300.0, power="xrt_electrical",
              inference_note=_WRAPPER_NOTE + "; its Alveo path uses pynq.Overlay, unsupported on "
              "PYNQ >= 3.1 (hls4ml #670, #854)", hls4ml_board="alveo-u50"),
    BoardSpec("u250", "alveo", "xcu250-figd2104-2L-e", platform="xilinx_u250_gen3x16_xdma_4_1_202210_1",
              clock_mhz=300.0, power="xrt_electrical",
              inference_note=_WRAPPER_NOTE + "; its Alveo path uses pynq.Overlay, unsupported on "
              "PYNQ >= 3.1 (hls4ml #670, #854)", hls4ml_board="alveo-u250"),
)}

DESIGNS: tuple[str, ...] = ("training", "inference")


def board_spec(name: str) -> BoardSpec:
    key = name.lower().replace("_", "-")
    key = {"alveo-u50": "u50", "alveo-u250": "u250", "pynqz2": "pynq-z2"}.get(key, key)
    if key not in BOARDS:
        raise ConfigError(f"unknown board {name!r}: use one of {', '.join(BOARDS)}")
    return BOARDS[key]


def check_design(name: str) -> str:
    if name not in DESIGNS:
        raise ConfigError(f"unknown design {name!r}: use training or inference")
    return name
