"""Checks of a stage's input and output paths before any export, compile or simulation starts.

A mistake in ``--inputs`` or an unwritable report folder must cost the user a second, not the
minutes of an export and a compile that come first. Every check raises a one-line
``ConfigError`` / ``OutputError`` that names the path and a fix that exists for the command.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hostsw.errors import ConfigError, OutputError
from hostsw.io.tempdirs import first_existing


def input_file(flag: str, path: Path, suffix: str | None = None) -> Path:
    """An existing regular file (with ``suffix`` when given)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{flag} {path} not found")
    if not path.is_file():
        raise ConfigError(f"{flag} {path} is a folder, not a file")
    if suffix is not None and path.suffix != suffix:
        raise ConfigError(f"{flag} {path}: expected a {suffix} file")
    if not os.access(path, os.R_OK):
        raise ConfigError(f"{flag} {path} is not readable: check its permissions")
    return path


def output_file(flag: str, path: Path, suffix: str | None = None) -> Path:
    """A file that can be (re)written: not a folder, its folder creatable and writable."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{flag} {path} is a folder: give a file name"
                          + (f" ending in {suffix}" if suffix else ""))
    if suffix is not None and path.suffix != suffix:
        raise ConfigError(f"{flag} {path}: the file name must end in {suffix}")
    writable_folder(path.parent, f"choose another {flag}")
    return path


def writable_folder(folder: Path, fix: str) -> Path:
    """``folder`` exists and is writable, or could be created under a writable ancestor."""
    base = first_existing(folder)
    if not base.is_dir():
        raise OutputError(f"cannot write to {folder}: {base} is a file, not a folder; {fix}")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write to {folder}: {base} is read-only; {fix}")
    return Path(folder)


def new_folder(flag: str, path: Path) -> Path:
    """A folder to be created: absent or empty, under a writable parent."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise OutputError(f"{flag} {path} exists and is not empty: choose another {flag} or "
                          "remove it")
    writable_folder(path.parent, f"choose another {flag}")
    return path


def run_dir(path: Path) -> Path:
    """A trained hostsw run directory (config.yaml and checkpoint.pt)."""
    from hostsw.train.rundir import RunDir
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"run directory {path} does not exist")
    RunDir(path).load_config()  # names what makes it no run directory
    if not (path / "checkpoint.pt").is_file():
        raise ConfigError(f"{path} has no checkpoint.pt yet: train it first "
                          f"(hostsw train --resume {path})")
    return path


def run_exportable(path: Path, command: str) -> None:
    """``command`` exports a run into the run directory when its QONNX file is missing or
    stale: then the run directory must be writable."""
    from hostsw.export.qonnx_export import MODEL_FILE
    path = Path(path)
    onnx_path, ck = path / MODEL_FILE, path / "checkpoint.pt"
    if onnx_path.is_file() and onnx_path.stat().st_mtime >= ck.stat().st_mtime:
        return
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"{command} must export {path} first, but the run directory is "
                          f"read-only: make it writable, or run `hostsw export {path} --out "
                          f"FILE.onnx` and then `hostsw {command} --onnx FILE.onnx`")


def npy_array(flag: str, path: Path) -> np.ndarray:
    """A .npy file of finite real numbers (no pickles), read without converting it."""
    path = input_file(flag, path)
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic[:2] == b"PK":
        raise ConfigError(f"{flag} {path} is an .npz archive: give one .npy array "
                          "(numpy.save)")
    if magic != b"\x93NUMPY":
        raise ConfigError(f"{flag} {path} is not a .npy file (no numpy header): save the array "
                          "with numpy.save")
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"{flag} {path} is not a .npy array ({why}): save it with numpy.save"
                          ) from None
    if x.dtype == bool or not (np.issubdtype(x.dtype, np.integer)
                               or np.issubdtype(x.dtype, np.floating)):
        raise ConfigError(f"{flag} {path} has dtype {x.dtype}: give real numbers (float32 or "
                          "float64)")
    if x.size == 0:
        raise ConfigError(f"{flag} {path} is empty (shape {x.shape}): give at least one sample")
    if not np.all(np.isfinite(x)):
        raise ConfigError(f"{flag} {path} holds NaN or infinite values: give finite numbers")
    return x
