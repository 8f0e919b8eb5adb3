import os
import subprocess
import sys
import time

from hostsw.io.tempdirs import OWNER_FILE, make_temp_dir, remove_created_parents, sweep_stale


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_sweep_removes_dead_owner_and_old_unowned_keeps_live(tmp_path):
    dead = make_temp_dir(tmp_path, ".export-")
    (dead / OWNER_FILE).write_text(f"{_dead_pid()}\n")
    old = tmp_path / ".export-legacy"
    old.mkdir()
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    young = tmp_path / ".export-young"
    young.mkdir()
    live = make_temp_dir(tmp_path, ".export-")
    os.utime(live, (time.time() - 7200, time.time() - 7200))
    other = tmp_path / ".other-x"
    other.mkdir()
    os.utime(other, (time.time() - 7200, time.time() - 7200))
    removed = sweep_stale(tmp_path, ".export-", 3600)
    assert sorted(removed) == sorted([dead, old])
    assert live.is_dir() and young.is_dir() and other.is_dir()


def test_remove_created_parents(tmp_path):
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    remove_created_parents(deep, tmp_path)
    assert list(tmp_path.iterdir()) == []
