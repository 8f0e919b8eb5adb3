"""The run directory: one folder per training run, every file written atomically or appended.

    config.yaml      the typed config that produced the run
    metrics.jsonl    one row per epoch
    precision.jsonl  one row per precision change
    checkpoint.pt    model, optimizer, scheduler, controller and cost-meter state (end of epoch)
    summary.json     final figures (written when the run completes)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from hostsw.errors import ConfigError
from hostsw.io import atomic_write_text, ensure_writable_dir
from hostsw.io.tempdirs import first_existing, remove_created_parents
from hostsw.train.config import TrainConfig, config_from_dict, dump_config, parse_yaml



def run_stamp() -> str:
    """The time of day that names a default run folder (runs/<name>-<stamp>)."""
    return time.strftime("%Y%m%d-%H%M%S")

@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def precision(self) -> Path:
        return self.path / "precision.jsonl"

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def summary(self) -> Path:
        return self.path / "summary.json"

    def load_config(self) -> TrainConfig:
        if not self.config.is_file():
            raise ConfigError(f"{self.path} is not a hostsw run directory (no config.yaml)")
        try:
            data = parse_yaml(self.config.read_text())
        except yaml.YAMLError as e:
            raise ConfigError(f"{self.config} is not valid YAML: "
                              f"{str(getattr(e, 'problem', None) or e).splitlines()[0]}") from None
        if not isinstance(data, dict) or not is_run_dir(self.path):
            missing = [f for f in RUN_MARKERS if not (self.path / f).is_file()]
            why = f"no {missing[0]}" if missing else "its config.yaml is not a training config"
            raise ConfigError(f"{self.path} is not a hostsw run directory ({why})")
        return config_from_dict(data)


#: what ``start_fresh`` writes first: a folder holding all of them is a hostsw run directory
RUN_MARKERS = ("config.yaml", "metrics.jsonl", "precision.jsonl")


def is_run_dir(path: Path) -> bool:
    return Path(path).is_dir() and all((Path(path) / f).is_file() for f in RUN_MARKERS)


def check_fresh_out(path: Path) -> None:
    """A new run may go into a folder that does not exist, an empty one, or a run directory that
    never reached its first checkpoint (it holds only what a start writes); anything else holds
    a run or the user's own files and is never overwritten."""
    run = RunDir(Path(path))
    if run.path.exists() and not run.path.is_dir():
        raise ConfigError(f"--out {run.path} is a file, not a folder: choose a new folder for the "
                          "run")
    if not run.path.is_dir():
        return
    if run.checkpoint.exists() or run.summary.exists():
        raise ConfigError(f"{run.path} already holds a run: pass --resume {run.path} to continue "
                          "it, or choose another --out")
    entries = sorted(p.name for p in run.path.iterdir())
    if entries and not (is_run_dir(run.path) and set(entries) <= set(RUN_MARKERS)):
        foreign = [e for e in entries if e not in RUN_MARKERS] or entries
        raise ConfigError(f"--out {run.path} holds files that are not a hostsw run "
                          f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}): "
                          "choose a new or empty folder")


def start_fresh(path: Path, cfg: TrainConfig) -> RunDir:
    """Create (or reuse an empty, never-checkpointed) run directory for a new run."""
    run = RunDir(Path(path))
    check_fresh_out(run.path)
    object.__setattr__(run, "existed", first_existing(run.path))
    ensure_writable_dir(run.path)
    atomic_write_text(run.config, dump_config(cfg))
    for f in (run.metrics, run.precision):
        atomic_write_text(f, "")
    return run


def discard(run: RunDir) -> None:
    """Remove what ``start_fresh`` wrote, when the run could not even start (bad config, missing
    dataset): a failed start leaves nothing behind."""
    for f in (run.config, run.metrics, run.precision):
        f.unlink(missing_ok=True)
    existed = getattr(run, "existed", None)
    if existed is not None:  # the folders it created, the run's own and empty parents
        remove_created_parents(run.path.absolute(), existed)


def open_for_resume(path: Path) -> RunDir:
    run = RunDir(Path(path))
    if not run.path.is_dir():
        raise ConfigError(f"cannot resume: {run.path} does not exist")
    if not is_run_dir(run.path):
        missing = next(f for f in RUN_MARKERS if not (run.path / f).is_file())
        raise ConfigError(f"cannot resume: {run.path} is not a hostsw run directory (no "
                          f"{missing}): start a run with --preset/--config --out DIR")
    ensure_writable_dir(run.path, fix=f"make {run.path} writable (chmod u+w) to resume it")
    return run


#: checkpoint entries a resumed or exported run needs (a file without them is not a hostsw
#: checkpoint)
CHECKPOINT_KEYS = ("config", "epoch", "step", "wall_time_s", "best_test_accuracy", "model",
                   "optimizer", "scheduler", "controller", "cost_meter")


def read_checkpoint(run: RunDir) -> dict:
    """checkpoint.pt as a dict, or a one-line ConfigError naming the file and the fix (never
    torch's internals: a truncated file's own message is several hundred characters)."""
    import torch
    path = run.checkpoint
    fix = f"restore it from a backup, or delete it to retrain (`hostsw train --resume {run.path}`)"
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # truncated, corrupt or not a torch file
        raise ConfigError(f"cannot read {path} (corrupt or truncated): {fix}") from None
    missing = [k for k in CHECKPOINT_KEYS if k not in ck] if isinstance(ck, dict) else ["model"]
    if missing or not isinstance(ck.get("config"), dict):
        what = f"no {missing[0]!r} entry" if missing else "no config"
        raise ConfigError(f"{path} is not a hostsw checkpoint ({what}): {fix}")
    return ck
