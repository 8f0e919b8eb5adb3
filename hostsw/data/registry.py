"""Dataset names, their static facts, and the single entry point :func:`load_dataset`."""

from __future__ import annotations

import os
from pathlib import Path

from hostsw.errors import ConfigError, DatasetNotFoundError
from hostsw.data.errors import DatasetFormatError
from hostsw.data import cifar10, digits, fashion, mnist
from hostsw.data.paths import user_root
from hostsw.data.split import DatasetInfo, Split

DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo("mnist", (1, 28, 28), 10, "MNIST handwritten digits, 60k train / 10k test, 28x28 grey"),
    "fashion-mnist": DatasetInfo("fashion-mnist", (1, 28, 28), 10, "Fashion-MNIST clothing, 60k train / 10k test, 28x28 grey"),
    "digits": DatasetInfo("digits", (1, 8, 8), 10, "scikit-learn 8x8 digits, 1,437 train / 360 test (stratified 80/20)"),
    "cifar10": DatasetInfo("cifar10", (3, 32, 32), 10, "CIFAR-10 objects, 50k train / 10k test, 32x32 RGB"),
}

_LOADERS = {"mnist": mnist.load, "fashion-mnist": fashion.load, "digits": digits.load, "cifar10": cifar10.load}


def check_data_folder(name: str, root: Path, download: bool = False) -> None:
    """A data folder the user named (--data-dir, data_dir:) must hold the dataset: falling back to
    the default source would train on other files than the ones named, without a word."""
    if name == "digits":
        raise ConfigError("the digits dataset ships with scikit-learn and reads no files: drop "
                          "--data-dir (data_dir: in the config)")
    if name == "cifar10":
        if not (download or cifar10.in_folder(root)):
            raise DatasetNotFoundError(cifar10.MISSING.format(where=root))
        return
    module = mnist if name == "mnist" else fashion
    if not module.in_folder(root):
        raise DatasetNotFoundError(
            f"--data-dir {root} holds no {name} idx files (train-images-idx3-ubyte[.gz] and the "
            f"other three, there or in {module.SUBDIRS[0]}/): point it at them, or drop it to use "
            "the default source")


def load_dataset(name: str, root: str | os.PathLike | None = None, download: bool = False) -> tuple[Split, Split]:
    """Return (train, test) for a dataset in :data:`DATASETS`.

    ``root`` (default: $HOSTSW_DATA_DIR) is a folder with user-provided files; each dataset also
    has an offline fallback. ``download=True`` lets CIFAR-10 fetch itself (needs internet).
    Results are cached per process and shared: do not modify the returned tensors in place.
    Raises ConfigError for an unknown name, DatasetNotFoundError when the data is not available,
    DatasetFormatError when a file is present but malformed.
    """
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    if root is not None:
        check_data_folder(name, Path(root).expanduser(), download)
    train, test = _LOADERS[name](user_root(root), download)
    info = DATASETS[name]
    for split in (train, test):
        if tuple(split.x.shape[1:]) != info.input_shape:
            raise DatasetFormatError(f"{name}: loaded images have shape {tuple(split.x.shape[1:])}, expected {info.input_shape}")
        if len(split) and (int(split.y.min()) < 0 or int(split.y.max()) >= info.num_classes):
            raise DatasetFormatError(f"{name}: labels outside 0..{info.num_classes - 1}")
    return train, test
