"""Board test helpers: a training bitstream folder whose vendor build is FAKED (no Vivado here):
the rendered folder gets fixture register maps, fixture reports and a placeholder bitstream, then
the real ``manifest finish`` step hashes it. The mock device runs the kernels in C simulation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def fake_build(folder: Path, timing: str = "timing_summary_met.rpt") -> dict:
    """What `make` would leave, from fixtures (the register-map fixture is tier 8's; the other
    tiers' headers have the same layout, as their arguments are the same)."""
    from hostsw.board.manifest import finish, read_manifest
    m = read_manifest(folder)
    (folder / "drivers").mkdir(exist_ok=True)
    (folder / "reports").mkdir(exist_ok=True)
    header = (FIXTURES / "xhostsw_mac_t8_hw.h").read_text()
    for top, e in m["kernels"].items():
        text = (FIXTURES / "xhostsw_infer_hw.h").read_text() if top == "hostsw_infer" else \
            header.replace("HOSTSW_MAC_T8", top.upper())
        (folder / e["regmap"]).write_text(text)
    shutil.copy(FIXTURES / timing, folder / "reports" / "timing_summary.rpt")
    shutil.copy(FIXTURES / "utilization.rpt", folder / "reports" / "utilization.rpt")
    bit = folder / m["bitstream"]
    bit.write_bytes(b"FAKE BITSTREAM for tests: not a Xilinx .bit\n")
    if bit.suffix == ".bit":
        bit.with_suffix(".hwh").write_text("<!-- FAKE .hwh for tests -->\n")
    return finish(folder)


@pytest.fixture
def built_training(tmp_path):
    """(folder, manifest) of a faked-built training folder for ``board`` with ``tiers``."""
    from hostsw.board.render import BitstreamConfig, render

    def make(board="zcu104", tiers=(8, 16, 32), name="bs"):
        out, _ = render(BitstreamConfig(design="training", board=board, out=str(tmp_path / name),
                                        tiers=list(tiers)))
        return out, fake_build(out)
    return make
