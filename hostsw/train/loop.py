"""The software training loop: data -> model with runtime precision -> controller -> run dir.

The loop is the same for every controller: forward and backward through the quantized layers,
optimizer step on the fp32 master weights, cost accounting with the precisions in force, and the
controller's hooks after each step and epoch. Checkpoints are written at every epoch end; resuming
reproduces an uninterrupted run exactly (data order depends only on seed and epoch, quantizer
dither counters are in the model state).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm

import hostsw
from hostsw.cost import CostMeter, count_macs, model_size
from hostsw.data import DATASETS, Split, load_dataset
from hostsw.errors import ConfigError, TrainingDivergedError
from hostsw.io.allocator import keep_freed_memory
from hostsw.io import (append_jsonl, atomic_torch_save, atomic_write_json, atomic_write_text,
                       read_jsonl, truncate_jsonl)
from hostsw.models import build_model
from hostsw.precision import PrecisionBoard, build_controller
from hostsw.quant.layers import quant_layers
from hostsw.quant.precision import Precision
from hostsw.runtime import ENGINE_BACKENDS, build_backend, check_backend
from hostsw.runtime.attach import attach, layer_tiers
from hostsw.train.batches import eval_batches, train_batches
from hostsw.train import distributed as dist
from hostsw.train.config import TrainConfig, check_epochs_flag, config_from_dict, dump_config
from hostsw.train.optim import build_optimizer, build_scheduler, step_scheduler
from hostsw.train.rundir import (RunDir, discard, open_for_resume, read_checkpoint,
                                 start_fresh)


@dataclass
class TrainOptions:
    """How to run (not what to train): these do not change the result of a run."""

    device: str = "auto"
    progress: bool = True
    #: download a dataset that is missing (CIFAR-10, on machines with internet access)
    download: bool = False
    #: CPU threads for torch (None: torch's default, one per core). On a machine shared with other
    #: busy processes fewer threads avoid oversubscription, which slows training 10-50x
    threads: int | None = None
    #: the MAC engine: software (torch, default) | reference (exact integers) | csim (the hls/
    #: kernels in C simulation) | board. reference and csim compute identical integers
    backend: str = "software"
    #: recompute every engine call on this back-end too and compare every value (e.g. csim
    #: checked against reference); None = no check
    verify: str | None = None
    #: called with one line per epoch (default: print to stderr)
    log: Callable[[str], None] = field(default=lambda s: print(s, file=sys.stderr, flush=True))

    def validate(self) -> "TrainOptions":
        """The options on their own, before any work (no run folder, no engine compile yet)."""
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads {self.threads}: use 1 or more")
        resolve_device(self.device)
        check_backend(self.backend)
        if self.verify is not None:
            check = check_backend(self.verify)
            if self.backend == "software":
                raise ConfigError("--verify compares two engines: use it with --backend csim (or "
                                  "reference)")
            if check in ("software", self.backend):
                raise ConfigError(f"--verify {check}: name another engine back-end than "
                                  f"--backend {self.backend} (reference, csim or board)")
        return self


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda requested but no CUDA GPU is available: use --device cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}: use auto, cpu or cuda") from None


def _limit(split: Split, n: int | None) -> Split:
    if n is None or n >= len(split):
        return split
    return Split(split.x[:n], split.y[:n])


def evaluate(model: torch.nn.Module, split: Split, batch_size: int,
             device: torch.device) -> tuple[float, float]:
    """(mean loss, accuracy) in eval mode."""
    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for x, y in eval_batches(split, batch_size, device):
            out = model(x)
            loss_sum += F.cross_entropy(out, y, reduction="sum").item()
            correct += (out.argmax(1) == y).sum().item()
    return loss_sum / len(split), correct / len(split)


def layer_density(layers) -> dict[str, float]:
    """Fraction of non-zero weights in each layer's quantized copy."""
    out = {}
    for name, m in layers.items():
        w = m.quantized_weight()
        out[name] = float((w != 0).sum().item()) / w.numel()
    return out


class Trainer:
    def __init__(self, cfg: TrainConfig, run: RunDir, options: TrainOptions):
        self.cfg, self.run, self.opts = cfg, run, options.validate()
        keep_freed_memory()
        if options.threads is not None:
            torch.set_num_threads(options.threads)
        self.dist = dist.current()
        self.device = dist.rank_device(resolve_device(options.device), self.dist)
        torch.manual_seed(cfg.seed)
        info = DATASETS[cfg.dataset]
        train, test = load_dataset(cfg.dataset, root=cfg.data_dir, download=options.download)
        self.train_split = _limit(train, cfg.limit_train)
        self.test_split = _limit(test, cfg.limit_test)
        self.model = build_model(cfg.model, info.input_shape, info.num_classes, cfg.norm)
        self.layers = quant_layers(self.model)
        for m in self.layers.values():
            m.set_seed(cfg.seed)
        dist.seed_error_streams(self.layers, cfg.seed, self.dist)
        self.meter = CostMeter(count_macs(self.model, info.input_shape))
        self.model.to(self.device)
        self._bits = None
        self.board = PrecisionBoard(self.layers, run.precision if self.dist.is_main else None,
                                    on_change=self._invalidate)
        self.controller = build_controller(cfg.controller.name, cfg.controller.params, self.board)
        self.controller.set_horizon(cfg.epochs, math.ceil(len(self.train_split) / cfg.batch_size))
        self.controller.set_macs(self.meter.macs)
        self.controller.configure()
        unknown = sorted(set(cfg.bifurcation.layers) - set(self.layers))
        if unknown:
            raise ConfigError(f"bifurcation.layers names {unknown[0]!r}, which is not a MAC layer "
                              f"of {cfg.model}: use one of {', '.join(self.layers)}")
        self.backend_name = check_backend(options.backend)
        dist.check_world(cfg.batch_size, len(self.train_split), self.dist.world_size,
                         self.backend_name)
        if self.dist.active and self.controller.parameters():
            raise ConfigError(f"the {cfg.controller.name} controller trains its own parameters, "
                              "which data-parallel runs do not all-reduce yet: drop --nproc")
        self.backend = None
        self.geometries: dict = {}
        if self.backend_name != "software":
            self._setup_engine(info.input_shape)
        self.optimizer = build_optimizer(
            [*self.model.parameters(), *self.controller.parameters()], cfg.optimizer)
        self.scheduler = build_scheduler(self.optimizer, cfg.lr_schedule, cfg.epochs)
        #: what the steps call: DDP (gradient all-reduce) around the model with several ranks
        self.net = dist.wrap_model(self.model, self.device, self.dist)
        self.epoch = 0
        self.step = 0
        self.wall_time = 0.0
        self.best_test_accuracy = 0.0

    def _invalidate(self) -> None:
        self._bits = None

    def _setup_engine(self, input_shape: tuple) -> None:
        """Validate everything the engine needs before any work (one-line errors), then build it
        (the csim back-end compiles here, once per content hash)."""
        name = self.backend_name
        if self.controller.switches_within_epoch():
            hint = self.controller.epoch_switch_hint
            raise ConfigError(f"the {self.cfg.controller.name} controller switches precision "
                              f"every step, but the {name} back-end switches only between "
                              f"epochs: add --set controller.{hint.replace(': ', '=')} (or "
                              f"`{hint}` in the controller section of a YAML config)")
        for m in self.layers.values():
            if m.grad_quant.quantizer_name != "ptq":
                raise ConfigError(f"grad_quantizer {m.grad_quant.quantizer_name} is not supported "
                                  f"by the {name} back-end (per-sample grids): use ptq")
        from hostsw.runtime.attach import check_model
        check_model(self.model, name)
        self.backend = build_backend(name)
        if self.opts.verify is not None:  # a valid pair (TrainOptions.validate)
            from hostsw.runtime.verify import VerifyingBackend
            self.backend = VerifyingBackend(self.backend, build_backend(self.opts.verify))
        self.geometries = attach(self.model, self.layers, self.backend, input_shape,
                                 dist.local_batch(self.cfg.batch_size, self.dist))
        self.board.epoch_switching = True
        self.board.tier_of = lambda layer: layer_tiers(self.layers[layer], self.backend, layer)

    def _check_tiers(self) -> dict:
        """Every layer's phases fit a built tier (a clear error before the epoch starts)."""
        return {name: layer_tiers(m, self.backend, name) for name, m in self.layers.items()}

    def _apply_bifurcation(self) -> None:
        for name in self.layers:
            bits = self.cfg.bifurcation.bits_for(name)
            if bits is not None:
                self.board.set(name, "grad_w", Precision(bits), "bifurcation", force_log=True)

    # --- checkpoints -------------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        if not self.dist.is_main:  # one writer; the others wait in fit's barrier
            return
        atomic_torch_save(self.run.checkpoint, {
            "hostsw_version": hostsw.__version__,
            "config": self.cfg.to_dict(),
            "epoch": self.epoch, "step": self.step, "wall_time_s": self.wall_time,
            "best_test_accuracy": self.best_test_accuracy,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "controller": self.controller.state_dict(),
            "cost_meter": self.meter.state_dict(),
            "backend": self.backend_name,
            "world_size": self.dist.world_size,
        })

    def load_checkpoint(self, ck: dict | None = None) -> None:
        """Restore the state saved at the last epoch end (``ck``: already read by
        ``read_checkpoint``, else read here)."""
        if ck is None:
            ck = read_checkpoint(self.run)
        check_resumable(self.run, ck, self.backend_name, self.dist.world_size)
        self.model.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        if self.scheduler is not None and ck["scheduler"] is not None:
            self.scheduler.load_state_dict(ck["scheduler"])
        self.controller.load_state_dict(ck["controller"])
        self.meter.load_state_dict(ck["cost_meter"])
        self.epoch, self.step = ck["epoch"], ck["step"]
        self.board.step, self.board.epoch = self.step, self.epoch
        self.wall_time, self.best_test_accuracy = ck["wall_time_s"], ck["best_test_accuracy"]
        if not self.dist.is_main:
            return
        # drop rows written after the checkpoint by the interrupted run
        truncate_jsonl(self.run.metrics, lambda r: r["epoch"] <= self.epoch)
        truncate_jsonl(self.run.precision, lambda r: r["step"] <= self.step)

    # --- training ----------------------------------------------------------------------------
    def _l1_penalty(self) -> torch.Tensor | float:
        if self.cfg.optimizer.l1 <= 0:
            return 0.0
        return self.cfg.optimizer.l1 * sum(m.weight.abs().sum() for m in self.layers.values())

    def train_epoch(self) -> tuple[float, float]:
        """One epoch: (mean training loss, training accuracy)."""
        steps = self.epoch_steps()
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return done.value

    def epoch_steps(self):
        """``train_epoch`` one step at a time: a generator that yields after every step and
        returns (loss, accuracy) (scripts/bench_train_overhead.py interleaves the steps of several
        runs this way, so that a shared machine's drift hits them alike)."""
        self.model.train()
        self.board.epoch = self.epoch
        if self.backend is not None:
            self._check_tiers()
        batches = dist.shard_batches(
            train_batches(self.train_split, self.cfg.batch_size, self.cfg.seed, self.epoch,
                          self.cfg.augment, self.device), self.dist)
        n_batches = math.ceil(len(self.train_split) / self.cfg.batch_size)
        bar = tqdm(batches, total=n_batches, desc=f"epoch {self.epoch}/{self.cfg.epochs}",
                   leave=False, file=sys.stderr,
                   # a bar only on a terminal: in CI logs or `| tee` it would leave frozen lines
                   # (the per-epoch line is printed either way)
                   disable=not (self.opts.progress and sys.stderr.isatty()))
        self.board.in_epoch = True
        try:
            return (yield from self._run_steps(bar))
        finally:
            self.board.in_epoch = False

    def _run_steps(self, bar):
        loss_sum, correct, seen = 0.0, 0, 0
        density = layer_density(self.layers)
        for x, y in bar:
            self.controller.on_step_begin()
            out = self.net(x)
            loss = F.cross_entropy(out, y)
            # the global batch's loss, accuracy and size (this rank's alone with one process)
            loss_value, batch_correct, n = dist.step_totals(
                loss.item(), int((out.argmax(1) == y).sum().item()), len(y), self.dist)
            if not math.isfinite(loss_value):
                raise TrainingDivergedError(
                    f"loss became {loss_value} at step {self.step + 1} (epoch {self.epoch}): lower "
                    "the learning rate or raise the precision; the last good checkpoint is "
                    f"{self.run.checkpoint if self.run.checkpoint.exists() else 'not written yet'}")
            self.optimizer.zero_grad(set_to_none=True)
            dist.rank_share(loss + self._l1_penalty() + self.controller.loss_penalty(),
                            self.dist).backward()
            self.controller.on_after_backward()
            self.optimizer.step()
            self.step += 1
            self.board.step = self.step
            if self._bits is None:
                self._bits = self.board.bits()
            # charge the step with the precisions it ran at, then let the controller decide
            self.meter.add_step(n, self.controller.sample_bits(self._bits), density,
                                self.controller.take_overhead())
            self.board.batch_accuracy = batch_correct / n
            self.controller.on_step_end(loss_value)
            loss_sum += loss_value * n
            correct += batch_correct
            seen += n
            if self.opts.progress:
                bar.set_postfix(loss=f"{loss_value:.4f}", acc=f"{correct / seen:.4f}", refresh=False)
            yield
        return loss_sum / seen, correct / seen

    def fit(self) -> dict:
        start_epoch = self.epoch
        if start_epoch == 0:
            self._apply_bifurcation()
            self.controller.on_train_begin()
        for self.epoch in range(start_epoch + 1, self.cfg.epochs + 1):
            t0 = time.perf_counter()
            train_loss, train_acc = self.train_epoch()
            test_loss, test_acc = evaluate(self.model, self.test_split, self.cfg.eval_batch_size,
                                           self.device)
            epoch_time = time.perf_counter() - t0
            self.wall_time += epoch_time
            self.best_test_accuracy = max(self.best_test_accuracy, test_acc)
            row = {"epoch": self.epoch, "step": self.step, "train_loss": train_loss,
                   "train_accuracy": train_acc, "test_loss": test_loss, "test_accuracy": test_acc,
                   "lr": self.optimizer.param_groups[0]["lr"], "epoch_time_s": epoch_time,
                   "wall_time_s": self.wall_time}
            if self.dist.is_main:
                append_jsonl(self.run.metrics, row)
                self.opts.log(f"epoch {self.epoch:3d}/{self.cfg.epochs}  loss {train_loss:.4f}  "
                              f"train {100 * train_acc:6.2f}%  test {100 * test_acc:6.2f}%  "
                              f"({epoch_time:.1f} s)")
            self.controller.on_epoch_end(row)
            step_scheduler(self.scheduler, test_loss)
            dist.check_precision_state(self.layers, self.dist, self.epoch)
            self.save_checkpoint()
            dist.barrier(self.dist)
        return self.write_summary()

    def write_summary(self) -> dict:
        metrics = read_jsonl(self.run.metrics)
        weights = {n: m.quantized_weight() for n, m in self.layers.items()}
        wbits = {n: m.precision("weight").bits for n, m in self.layers.items()}
        cost = self.meter.summary()
        cost["model_size"] = model_size(weights, wbits)
        summary = {
            "test_accuracy": metrics[-1]["test_accuracy"] if metrics else None,
            "best_test_accuracy": self.best_test_accuracy,
            "epochs": self.epoch, "steps": self.step,
            "controller": self.cfg.controller.name,
            "model": self.cfg.model, "dataset": self.cfg.dataset, "seed": self.cfg.seed,
            "preset": self.cfg.name,
            "wall_time_s": self.wall_time,
            "final_precision": self.board.final_precision(),
            "sparsity": {n: float((w == 0).sum().item()) / w.numel() for n, w in weights.items()},
            "cost": cost,
            "controller_summary": self.controller.summary(),
            "device": str(self.device),
            "backend": self.backend_name,
            "hostsw_version": hostsw.__version__,
            "world_size": self.dist.world_size,
            "ranks": dist.gather_objects({"rank": self.dist.rank, "device": str(self.device),
                                          "backend": self.backend_name,
                                          "dist_backend": self.dist.backend}, self.dist),
        }
        if self.backend is not None:
            st = self.backend.stats
            summary["engine"] = {**self.backend.describe(), "calls": dict(st.calls),
                                 "macs_by_tier": {str(k): v for k, v in st.macs.items()},
                                 "cycles": st.cycles, "engine_seconds": st.seconds,
                                 "tiers": self._check_tiers()}
        if self.dist.is_main:
            atomic_write_json(self.run.summary, summary)
        return summary


def train(cfg: TrainConfig, out: Path, options: TrainOptions | None = None) -> dict:
    """Train a fresh run into ``out``; returns summary.json's content."""
    cfg.validate()  # again: a config edited after loading is checked before a folder exists
    ctx = dist.current()
    run = dist.main_first(lambda: start_fresh(out, cfg), ctx) or RunDir(Path(out))
    try:
        trainer = Trainer(cfg, run, options or TrainOptions())
    except BaseException:
        if ctx.is_main:
            discard(run)
        raise
    return trainer.fit()


#: config keys a resumed run may change: they alter neither the trained state nor its trajectory
#: (eval_batch_size: eval mode uses the grids of the last training step, so only how the test
#: pass is batched changes; data_dir: where the same dataset's files are read from; name: a
#: label). ``epochs`` has its own rules (``_check_epochs``); every other change is refused.
RESUME_SAFE_KEYS = ("eval_batch_size", "data_dir", "name")
#: controllers and lr schedules that do not plan over the run's length (set_horizon): a run that
#: uses only these may be extended or shortened on resume. cpt (cycle period), progressive
#: (final_epochs), muppet (no switch in the last epoch) and cosine plan over ``epochs``.
HORIZON_FREE_CONTROLLERS = ("fp32", "static", "adapt")
HORIZON_FREE_SCHEDULES = ("none", "step", "plateau")


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


_UNSET = object()


def _show(v) -> str:
    return "unset" if v is _UNSET else "null" if v is None else str(v)


def config_changes(saved: TrainConfig, now: TrainConfig) -> list[tuple[str, object, object]]:
    """(dotted key, saved value, current value) for every config value that differs, epochs
    excluded; controller parameters are named controller.KEY."""
    a, b = _flatten(saved.to_dict()), _flatten(now.to_dict())
    out = []
    for key in list(a) + [k for k in b if k not in a]:
        if key == "epochs":
            continue
        va, vb = a.get(key, _UNSET), b.get(key, _UNSET)
        if va != vb:
            out.append((key.replace("controller.params.", "controller."), va, vb))
    return out


def _check_config(run: RunDir, saved: TrainConfig, cfg: TrainConfig, log) -> None:
    changes = config_changes(saved, cfg)
    refused = [c for c in changes if c[0] not in RESUME_SAFE_KEYS]
    if refused:
        key, was, now = refused[0]
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise ConfigError(f"{run.config} changes {key} ({_show(was)} -> {_show(now)}){more} since "
                          "the checkpoint, which a resumed run cannot honour: undo the edit, or "
                          f"start a new run with --config {run.config} --out NEW_DIR")
    if changes:
        log("resume: using " + ", ".join(f"{k} {_show(b)} (was {_show(a)})" for k, a, b in changes)
            + f" from the edited {run.config}; the trained state is unaffected")


def check_resumable(run: RunDir, ck: dict, backend: str, world_size: int) -> None:
    """The checkpoint continues on this back-end and this many processes (checked before a
    Trainer is built: a csim engine would be compiled first)."""
    was = ck.get("backend", "software")
    if was != backend and not (was in ENGINE_BACKENDS and backend in ENGINE_BACKENDS):
        raise ConfigError(f"{run.path} was trained with --backend {was}; it cannot resume "
                          f"on {backend} (different arithmetic): resume with --backend {was}"
                          + (" (reference, csim and board compute identical integers and "
                             "may replace one another)" if was in ENGINE_BACKENDS else ""))
    was_world = ck.get("world_size", 1)
    if was_world != world_size:
        raise ConfigError(f"{run.path} was trained with {was_world} process(es); resume it with "
                          f"--nproc {was_world} (the error dither streams are per rank)")


def _check_metrics(run: RunDir, done: int) -> None:
    """metrics.jsonl holds one row per trained epoch (rows after the checkpoint, from a run killed
    before it, are dropped on resume); anything else was edited and would end in a wrong report."""
    epochs = [r.get("epoch") if isinstance(r, dict) else None for r in read_jsonl(run.metrics)]
    if [e for e in epochs if not (isinstance(e, int) and e > done)] != list(range(1, done + 1)):
        raise ConfigError(f"{run.metrics} does not hold one row for each of the {done} epochs "
                          f"{run.checkpoint} has trained: restore it from a backup, or start a "
                          f"new run with --config {run.config} --out NEW_DIR")


def _check_epochs(run: RunDir, saved: TrainConfig, done: int, target: int, source: str) -> None:
    if target < done:
        raise ConfigError(f"{source} {target}: {run.path} has already trained {done} epochs; use "
                          f"{done} or more (a resumed run never discards epochs)")
    if target == saved.epochs:
        return
    planned = []
    if saved.lr_schedule.name not in HORIZON_FREE_SCHEDULES:
        planned.append(f"the {saved.lr_schedule.name} lr schedule")
    if saved.controller.name not in HORIZON_FREE_CONTROLLERS:
        planned.append(f"the {saved.controller.name} controller")
    if planned:
        raise ConfigError(f"{source} {target}: {' and '.join(planned)} of {run.path} "
                          f"{'is' if len(planned) == 1 else 'are'} planned over its "
                          f"{saved.epochs} epochs and cannot be re-planned on resume: resume with "
                          f"{saved.epochs} epochs, or start a new run with --config {run.config} "
                          f"--epochs {target} --out NEW_DIR")


def resume(out: Path, options: TrainOptions | None = None, epochs: int | None = None) -> dict:
    """Continue the run in ``out`` from its last checkpoint (or start it if none was written).

    config.yaml must still describe the checkpoint (only ``RESUME_SAFE_KEYS`` may change).
    ``epochs`` (or an edited ``epochs:`` in config.yaml) may extend or shorten a run whose
    controller and lr schedule do not plan over its length, never below the epochs already
    trained; an accepted change is written to config.yaml (atomically) before training goes on.
    """
    options = options or TrainOptions()
    check_epochs_flag(epochs)
    run = open_for_resume(out)
    cfg = run.load_config()
    ck = read_checkpoint(run) if run.checkpoint.exists() else None
    target = cfg.epochs if epochs is None else epochs
    if ck is not None:
        try:
            saved = config_from_dict(dict(ck["config"]))
        except ConfigError as e:
            raise ConfigError(f"{run.checkpoint} holds a config this hostsw cannot read ({e}): "
                              "resume it with the hostsw version that wrote it") from None
        _check_config(run, saved, cfg, options.log)
        check_resumable(run, ck, options.backend, dist.current().world_size)
        _check_metrics(run, int(ck["epoch"]))
        source = "--epochs" if epochs is not None else f"{run.config} epochs:"
        _check_epochs(run, saved, int(ck["epoch"]), target, source)
        if target != saved.epochs:
            options.log(f"resume: {run.path} continues to {target} epochs (was {saved.epochs}); "
                        f"{run.config} updated")
    if target != cfg.epochs:
        cfg.epochs = target
        if dist.current().is_main:
            atomic_write_text(run.config, dump_config(cfg))
    trainer = Trainer(cfg, run, options)
    if ck is not None:
        trainer.load_checkpoint(ck)
    elif trainer.dist.is_main:
        for f in (run.metrics, run.precision):
            truncate_jsonl(f, lambda r: False)
    return trainer.fit()
