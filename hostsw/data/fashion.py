"""Fashion-MNIST (MIT licence): from a user idx folder, else the Debian ``dataset-fashion-mnist`` files."""

from __future__ import annotations

import functools
from pathlib import Path

from hostsw.errors import DatasetNotFoundError
from hostsw.data import idx
from hostsw.data.paths import candidates
from hostsw.data.split import Split, split_from_bytes

CHW = (1, 28, 28)
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
MISSING = "Fashion-MNIST not found: apt-get install dataset-fashion-mnist, or pass --data-dir with the idx files"


@functools.lru_cache(maxsize=None)
def _load_idx(folder: Path) -> tuple[Split, Split]:
    (xtr, ytr), (xte, yte) = idx.read_idx_set(idx.find_idx_set(folder), CHW[1:])
    return split_from_bytes(xtr, ytr, CHW), split_from_bytes(xte, yte, CHW)


#: subfolders of a data folder searched before the folder itself
SUBDIRS = ("fashion-mnist", "FashionMNIST/raw")


def in_folder(root: Path) -> bool:
    """The four idx files are in ``root`` or one of its ``SUBDIRS``."""
    return any(idx.find_idx_set(f) is not None for f in candidates(root, *SUBDIRS))


def load(root: Path | None, download: bool = False) -> tuple[Split, Split]:
    """(train 60k, test 10k). ``download`` is ignored: apt is the offline source."""
    # DEBIAN_DIR is read at call time so tests can point it elsewhere.
    for folder in candidates(root, *SUBDIRS) + [DEBIAN_DIR]:
        if idx.find_idx_set(folder) is not None:
            return _load_idx(folder.resolve())
    raise DatasetNotFoundError(MISSING)
