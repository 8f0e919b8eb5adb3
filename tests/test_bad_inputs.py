"""The bad-input sweep across every sub-command (the list lives in scripts/bad_input_sweep.py):
exit 2, one ``hostsw: error:`` line naming the problem, no traceback, nothing left behind."""

import os
import tempfile

import pytest

from hostsw.cli import main
from scripts.bad_input_sweep import CASES, KNOWN_OPEN, argv_of, make_workspace, snapshot


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    return make_workspace(tmp_path_factory.mktemp("sweep") / "ws")


def test_the_sweep_is_large_and_covers_every_sub_command():
    import argparse
    from hostsw.cli import build_parser
    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    covered = {c.split()[0] for c, _ in CASES}
    assert len(CASES) >= 40
    assert set(subs.choices) <= covered, set(subs.choices) - covered
    assert any(c.startswith("hls --training") for c, _ in CASES)


@pytest.mark.parametrize("case,match", CASES + [
    pytest.param(c, m, marks=pytest.mark.xfail(strict=True, reason=why), id=c)
    for c, m, why in KNOWN_OPEN], ids=[c for c, _ in CASES] + [c for c, _, _ in KNOWN_OPEN])
def test_bad_input(places, case, match, capsys, monkeypatch):
    ws = places["ws"]
    monkeypatch.chdir(ws)
    monkeypatch.setenv("HOSTSW_CACHE_DIR", f"{ws}/cache")
    os.makedirs(f"{ws}/tmp", exist_ok=True)
    monkeypatch.setattr(tempfile, "tempdir", f"{ws}/tmp")  # temp folders land in the snapshot
    before = snapshot(ws)
    try:
        code = main(argv_of(case, places))
    except SystemExit as e:  # argparse
        code = e.code
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert code == 2, err
    assert lines and lines[0].startswith("hostsw: error: ") and match in lines[0], err
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].endswith("for usage")), err
    assert "Traceback" not in err
    assert snapshot(ws) == before, sorted(snapshot(ws) ^ before)
