"""Temporary work folders that are removed on exit and swept by the next run when a kill left them.

``make_temp_dir(parent, prefix)`` creates ``parent/<prefix>XXXXXXXX`` holding a small ``.owner``
file with the creating pid; ``sweep_stale(parent, prefix, max_age_s)`` removes folders with that
prefix whose owner pid is dead, or (no owner file, e.g. made by an older version) that are older
than ``max_age_s``. Nothing else is touched. Usable by any stage (e.g. the mac-engine cache's
``.build-<key>-`` folders)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

OWNER_FILE = ".owner"
DEFAULT_MAX_AGE_S = 3600.0


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def make_temp_dir(parent: Path, prefix: str) -> Path:
    """Create a temporary folder in ``parent`` (which must exist) recording this process's pid."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    (tmp / OWNER_FILE).write_text(f"{os.getpid()}\n")
    return tmp


def owner_pid(folder: Path) -> int | None:
    try:
        return int((Path(folder) / OWNER_FILE).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def is_stale(folder: Path, max_age_s: float = DEFAULT_MAX_AGE_S, now: float | None = None) -> bool:
    pid = owner_pid(folder)
    if pid is not None:
        return pid != os.getpid() and not _alive(pid)
    try:
        age = (time.time() if now is None else now) - Path(folder).lstat().st_mtime
    except OSError:
        return False
    return age > max_age_s


def sweep_stale(parent: Path, prefix: str, max_age_s: float = DEFAULT_MAX_AGE_S) -> list[Path]:
    """Remove stale temp folders ``parent/<prefix>*`` (see module doc); the ones removed."""
    removed: list[Path] = []
    try:
        entries = list(Path(parent).iterdir())
    except OSError:
        return removed
    for p in entries:
        if not p.name.startswith(prefix) or p.is_symlink() or not p.is_dir():
            continue
        if is_stale(p, max_age_s):
            shutil.rmtree(p, ignore_errors=True)
            if not p.exists():
                removed.append(p)
    return removed


def remove_created_parents(path: Path, existed: Path) -> None:
    """Remove the empty folders from ``path`` up to (not including) ``existed``."""
    path, existed = Path(path), Path(existed)
    while path != existed and existed in path.parents:
        try:
            path.rmdir()
        except OSError:
            return
        path = path.parent


def first_existing(path: Path) -> Path:
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def staging_dir(parent: Path, prefix: str) -> tuple[Path, Path]:
    """Where an output is assembled before its atomic rename: ``parent`` (created with the
    folders above it), stale ``prefix`` folders of a killed run swept, and a new temp folder.
    Returns (temp folder, the deepest folder that existed before: what a failure cleans up to)."""
    from hostsw.errors import OutputError
    parent = Path(parent)
    existed = first_existing(parent)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        sweep_stale(parent, prefix)
        return make_temp_dir(parent, prefix), existed
    except OSError as e:
        raise OutputError(f"cannot write to {parent}: {e.strerror or e}; choose another --out") \
            from None
