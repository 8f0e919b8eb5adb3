"""CIFAR-10: the standard python-pickle folder ``cifar-10-batches-py``, given by the user or downloaded.

Not available offline on the build machines; there it is tested with a tiny generated folder in the
same format. Each batch file is a pickled dict with ``b"data"`` (uint8 [N, 3072]; per row 1024 red,
then 1024 green, then 1024 blue values, each a row-major 32x32 plane) and ``b"labels"``.
Pickle runs code from the file: only point this at a folder you trust.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from hostsw.errors import DatasetNotFoundError
from hostsw.data.errors import DatasetFormatError
from hostsw.data.paths import DEFAULT_CACHE_DIR
from hostsw.data.split import Split, split_from_bytes

CHW = (3, 32, 32)
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
MISSING = "CIFAR-10 not found in {where}: pass --data-dir pointing at cifar-10-batches-py, or --download on a machine with internet"


def _is_batch_folder(folder: Path) -> bool:
    return all((folder / name).is_file() for name in TRAIN_BATCHES + (TEST_BATCH,))


def in_folder(root: Path) -> bool:
    """The batches are in ``root`` or its ``cifar-10-batches-py`` subfolder."""
    return any(_is_batch_folder(f) for f in (root / FOLDER, root))


def locate(root: Path | None) -> Path | None:
    """The ``cifar-10-batches-py`` folder under ``root`` (or ``root`` itself), else under the default cache."""
    bases = ([root] if root is not None else []) + [DEFAULT_CACHE_DIR.expanduser()]
    for base in bases:
        for folder in (base / FOLDER, base):
            if _is_batch_folder(folder):
                return folder
    return None


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError) as exc:
        raise DatasetFormatError(f"{path}: not a readable CIFAR-10 batch pickle ({exc})") from None
    if not isinstance(batch, dict):
        raise DatasetFormatError(f"{path}: not a CIFAR-10 batch (pickle holds {type(batch).__name__}, not dict)")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise DatasetFormatError(f"{path}: not a CIFAR-10 batch (no data/labels keys)")
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DatasetFormatError(f"{path}: expected uint8 data [N,3072] with N labels, got {data.dtype} {data.shape}, {len(labels)} labels")
    return data, np.asarray(labels)


def _read_split(folder: Path, names: tuple[str, ...]) -> Split:
    parts = [_read_batch(folder / n) for n in names]
    return split_from_bytes(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), CHW)


@functools.lru_cache(maxsize=None)
def _load_folder(folder: Path) -> tuple[Split, Split]:
    return _read_split(folder, TRAIN_BATCHES), _read_split(folder, (TEST_BATCH,))


def download_cifar10(dest: str | Path | None = None) -> Path:
    """Download and verify the CIFAR-10 python archive; extract to ``dest/cifar-10-batches-py``.

    Extraction goes to a temporary folder next to the target and is renamed into place, so an
    interrupted run never leaves a half-written dataset. Returns the batches folder.
    """
    dest = Path(dest).expanduser() if dest is not None else DEFAULT_CACHE_DIR.expanduser()
    target = dest / FOLDER
    if _is_batch_folder(target):
        return target
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".cifar10-") as tmp:
        archive = Path(tmp) / "cifar-10-python.tar.gz"
        try:
            with urllib.request.urlopen(URL, timeout=60) as response, open(archive, "wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as exc:
            raise DatasetNotFoundError(f"CIFAR-10 download from {URL} failed ({exc}); pass --data-dir pointing at cifar-10-batches-py instead") from None
        digest = hashlib.md5(archive.read_bytes()).hexdigest()
        if digest != MD5:
            raise DatasetNotFoundError(f"CIFAR-10 download from {URL} is corrupt (md5 {digest}, expected {MD5}); try again")
        with tarfile.open(archive, "r:gz") as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tmp, filter="data")
            else:  # Python without extraction filters: refuse anything outside tmp
                for member in tar.getmembers():
                    if member.name.startswith(("/", "..")) or ".." in Path(member.name).parts or not (member.isfile() or member.isdir()):
                        raise DatasetNotFoundError(f"CIFAR-10 archive from {URL} has an unsafe member {member.name!r}")
                tar.extractall(tmp)
        extracted = Path(tmp) / FOLDER
        if not _is_batch_folder(extracted):
            raise DatasetNotFoundError(f"CIFAR-10 archive from {URL} lacks {FOLDER}/ batches")
        try:
            extracted.rename(target)
        except OSError:
            if not _is_batch_folder(target):  # a concurrent download may have won the race
                raise
    return target


def load(root: Path | None, download: bool = False) -> tuple[Split, Split]:
    """(train 50k, test 10k); with ``download`` fetch into ``root`` (or the default cache) when missing."""
    folder = locate(root)
    if folder is None and download:
        folder = download_cifar10(root)
    if folder is None:
        where = ", ".join(str(p) for p in ([root] if root is not None else []) + [DEFAULT_CACHE_DIR])
        raise DatasetNotFoundError(MISSING.format(where=where))
    return _load_folder(folder.resolve())
