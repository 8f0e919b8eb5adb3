"""Run directories for the report tests, laid out exactly the way the training loop writes them.

The layout is not typed in here: it comes from real tiny training runs (``hostsw train`` through
the library API on the LeNet-5/MNIST presets, 256 training images, one step; trained once per test
session, about a second each). Each fixture starts from the real run's summary.json / config.yaml
and replaces only the VALUES the report tests check by hand-chosen ones; ``assert_same_schema``
then checks that the fixture still has exactly the real file's schema (same keys at every level,
same JSON types; null matches any scalar or list, as the trainer writes null for fp32 / unknown).
Metrics and precision rows are checked against the real rows' keys the same way. If the trainer's
layout changes, the fixtures follow it (or fail here, naming the key), instead of silently testing
the report against a layout no run has.
"""

from __future__ import annotations

import atexit
import copy
import functools
import json
import shutil
import tempfile
from pathlib import Path

import yaml

LAYERS = ["conv1", "conv2", "fc1", "fc2", "fc3"]
STEPS_PER_EPOCH = 469  # MNIST 60k / batch 128

#: the real runs the fixtures are modelled on (controller -> preset)
REAL_PRESETS = {"fp32": "lenet5-mnist-fp32", "static": "lenet5-mnist-static8",
                "adapt": "lenet5-mnist-adapt"}


# -- the real runs -------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _real_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="hostsw-report-real-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


@functools.lru_cache(maxsize=None)
def real_run(controller: str) -> dict:
    """{"config", "summary", "metrics", "precision"} of a real tiny run (trained on first use)."""
    from hostsw.io import read_jsonl
    from hostsw.train import TrainOptions, load_config, train

    preset = REAL_PRESETS[controller]
    cfg = load_config(preset)
    cfg.epochs, cfg.limit_train, cfg.limit_test = 1, 256, 128
    out = _real_root() / preset
    train(cfg.validate(), out, TrainOptions(progress=False, log=lambda s: None))
    return {"config": yaml.safe_load((out / "config.yaml").read_text()),
            "summary": json.loads((out / "summary.json").read_text()),
            "metrics": read_jsonl(out / "metrics.jsonl"),
            "precision": read_jsonl(out / "precision.jsonl")}


def schema(value):
    """Keys at every level and JSON types of the leaves (int and float are both ``number``)."""
    if isinstance(value, dict):
        return {str(k): schema(v) for k, v in value.items()}
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    raise TypeError(f"not a JSON value: {value!r}")


def _compare(a, b, where: str, problems: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a.keys() - b.keys():
            problems.append(f"{where}.{k}: in the fixture, not in a real run")
        for k in b.keys() - a.keys():
            problems.append(f"{where}.{k}: in a real run, missing in the fixture")
        for k in a.keys() & b.keys():
            _compare(a[k], b[k], f"{where}.{k}", problems)
    elif isinstance(a, dict) or isinstance(b, dict):
        problems.append(f"{where}: {a if isinstance(a, str) else 'mapping'} in the fixture, "
                        f"{b if isinstance(b, str) else 'mapping'} in a real run")
    elif a != b and "null" not in (a, b):
        problems.append(f"{where}: {a} in the fixture, {b} in a real run")


def assert_same_schema(fixture, real, where: str, allowed_extra: tuple[str, ...] = ()) -> None:
    """The fixture has the real file's schema; ``allowed_extra``: top-level keys the trainer does
    not write but a report test needs (each one named and explained where it is passed)."""
    fixture = {k: v for k, v in fixture.items() if k not in allowed_extra}
    problems: list[str] = []
    _compare(schema(fixture), schema(real), where, problems)
    assert not problems, "fixture layout differs from a real run: " + "; ".join(sorted(problems))


def _replace(target: dict, values: dict, where: str) -> None:
    """Overwrite existing keys only: a fixture never invents a key the trainer does not write."""
    for k, v in values.items():
        assert k in target, f"{where}.{k} is not written by the training loop"
        target[k] = v


# -- writers -------------------------------------------------------------------------------------
def write_run(run_dir: Path, *, config=None, metrics=None, precision=None, summary=None) -> Path:
    """Write the files that are given (None = file absent; [] = empty file)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    if metrics is not None:
        (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metrics))
    if precision is not None:
        (run_dir / "precision.jsonl").write_text("".join(json.dumps(r) + "\n" for r in precision))
    if summary is not None:
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return run_dir


def make_metrics(accs, *, lr=0.1, epoch_time=11.5):
    """accs: [(train_loss, train_acc, test_loss, test_acc), ...] -> metrics rows."""
    rows, wall = [], 0.0
    for i, (trl, tra, tel, tea) in enumerate(accs, start=1):
        wall += epoch_time + 0.1 * i
        rows.append({
            "epoch": i, "step": i * STEPS_PER_EPOCH, "train_loss": trl, "train_accuracy": tra,
            "test_loss": tel, "test_accuracy": tea, "lr": lr / (10 ** (i // 3)),
            "epoch_time_s": epoch_time + 0.1 * i, "wall_time_s": round(wall, 3),
        })
    real = real_run("static")["metrics"][0]
    for r in rows:
        assert_same_schema(r, real, "metrics.jsonl row")
    return rows


def precision_row(step, layer, kind, bits, frac, reason):
    row = {"step": step, "epoch": step // STEPS_PER_EPOCH + (step > 0), "layer": layer,
           "kind": kind, "bits": bits, "frac": frac, "signed": kind != "act", "reason": reason}
    assert_same_schema(row, real_run("static")["precision"][0], "precision.jsonl row")
    return row


def init_rows(weight, act, grad, reason="init"):
    """Step-0 rows for every layer: weight/act/grad are (bits, frac) tuples (None bits = fp32).

    The training loop writes reason ``init`` for fp32 and AdaPT runs, ``static`` for static ones.
    """
    rows = []
    for layer in LAYERS:
        for kind, (bits, frac) in (("weight", weight), ("act", act), ("grad", grad)):
            rows.append(precision_row(0, layer, kind, bits, frac, reason))
    return rows


def config(name, controller, epochs, **params):
    """config.yaml as the training loop writes it (``controller: {name, params}``, the optimizer's
    lr under ``optimizer``), from a real run's file with the given values."""
    real = real_run("static")["config"]
    cfg = copy.deepcopy(real)
    _replace(cfg, {"name": name, "model": "lenet5", "dataset": "mnist", "epochs": epochs,
                   "batch_size": 128, "seed": 0, "limit_train": None, "limit_test": None,
                   "controller": {"name": controller, "params": dict(params)}}, "config")
    _replace(cfg["optimizer"], {"lr": 0.1}, "config.optimizer")
    assert_same_schema({k: v for k, v in cfg.items() if k != "controller"},
                       {k: v for k, v in real.items() if k != "controller"}, "config")
    assert cfg["controller"].keys() == real["controller"].keys()
    return cfg


def summary_like_real(controller: str, *, top: dict, cost: dict, model_size: dict,
                      extra: dict | None = None) -> dict:
    """A real run's summary.json with the given values (``extra``: top-level keys the trainer
    does not write, allowed by name)."""
    real = real_run(controller)["summary"]
    assert list(real["final_precision"]) == LAYERS, "LeNet-5's layer names changed"
    s = copy.deepcopy(real)
    _replace(s, top, "summary")
    _replace(s["cost"], cost, "summary.cost")
    _replace(s["cost"]["model_size"], model_size, "summary.cost.model_size")
    s.update(extra or {})
    assert_same_schema(s, real, "summary", allowed_extra=tuple(extra or ()))
    return s


# -- the three report fixtures -------------------------------------------------------------------
def build_fp32_run(run_dir: Path) -> Path:
    metrics = make_metrics([(0.2512, 0.9231, 0.0812, 0.9745), (0.0701, 0.9781, 0.0523, 0.9832),
                            (0.0488, 0.9849, 0.0431, 0.9861)])
    summary = summary_like_real(
        "fp32",
        top={"test_accuracy": 0.9861, "best_test_accuracy": 0.9861, "epochs": 3, "steps": 1407,
             "controller": "fp32", "model": "lenet5", "dataset": "mnist", "seed": 0,
             "preset": "lenet5_fp32", "wall_time_s": 35.1,
             "final_precision": {l: {"weight": None, "act": None, "grad": None} for l in LAYERS},
             "sparsity": {l: 0.0 for l in LAYERS}},
        cost={"bitops_rel_fp32": 1.0, "wl_cost_rel_fp32": 1.0, "adapt_speedup": 1.0,
              "energy_rel_fp32": 1.0,
              "avg_bits": {l: {"act": 32.0, "weight": 32.0, "grad": 32.0} for l in LAYERS}},
        model_size={"bits": 1976896, "bits_fp32": 1976896, "rel_fp32": 1.0,
                    "sparse_bits": 1976896, "sparse_rel_fp32": 1.0, "density": 1.0})
    return write_run(run_dir, config=config("lenet5_fp32", "fp32", 3), metrics=metrics,
                     precision=init_rows((None, None), (None, None), (None, None)), summary=summary)


def build_static8_run(run_dir: Path) -> Path:
    metrics = make_metrics([(0.2901, 0.9102, 0.0915, 0.9712), (0.0811, 0.9752, 0.0588, 0.9815),
                            (0.0553, 0.9830, 0.0402, 0.9876)])
    summary = summary_like_real(
        "static",
        top={"test_accuracy": 0.9876, "best_test_accuracy": 0.9876, "epochs": 3, "steps": 1407,
             "controller": "static", "model": "lenet5", "dataset": "mnist", "seed": 0,
             "preset": "lenet5_static8", "wall_time_s": 40.2,
             "final_precision": {l: {"weight": [8, 6], "act": [8, None], "grad": [8, None]}
                                 for l in LAYERS},
             "sparsity": {l: 0.0 for l in LAYERS}},
        cost={"bitops_rel_fp32": 0.0625, "wl_cost_rel_fp32": 0.25, "adapt_speedup": 4.0,
              "energy_rel_fp32": 0.0712,
              "avg_bits": {l: {"act": 8.0, "weight": 8.0, "grad": 8.0} for l in LAYERS}},
        model_size={"bits": 494224, "bits_fp32": 1976896, "rel_fp32": 0.25,
                    "sparse_bits": 494224, "sparse_rel_fp32": 0.25, "density": 1.0})
    params = {"weight": [8, "auto"], "act": [8, "auto"], "grad": [8, "auto"]}
    return write_run(run_dir, config=config("lenet5_static8", "static", 3, **params),
                     metrics=metrics,
                     precision=init_rows((8, 6), (8, None), (8, None), reason="static"),
                     summary=summary)


def _adapt_precision():
    """AdaPT-like: 8-bit weights/acts, fp32 grads at init; push-down / push-up per layer later."""
    rows = init_rows((8, None), (8, None), (None, None))

    def ch(step, layer, kind, bits, frac, reason):
        return precision_row(step, layer, kind, bits, frac, reason)

    rows += [
        ch(200, "conv1", "weight", 6, None, "push-down"),
        ch(200, "fc1", "weight", 6, None, "push-down"),
        ch(469, "conv1", "grad", 16, None, "push-down"),   # fp32 -> 16-bit grads
        ch(469, "conv2", "grad", 16, None, "push-down"),
        ch(700, "fc1", "weight", 4, 3, "push-down"),
        ch(700, "fc1", "act", 6, None, "push-down"),
        ch(938, "conv1", "weight", 7, None, "push-up"),
        ch(938, "fc1", "weight", 4, 2, "push-down"),       # frac only: no bits change
        ch(1200, "conv2", "grad", None, None, "push-up"),  # back to fp32
        ch(1500, "fc3", "weight", 5, None, "push-down"),
    ]
    return rows


def build_adapt_run(run_dir: Path) -> Path:
    metrics = make_metrics([(0.3101, 0.9011, 0.1012, 0.9688), (0.0902, 0.9720, 0.0611, 0.9801),
                            (0.0612, 0.9811, 0.0455, 0.9849), (0.0501, 0.9844, 0.0410, 0.9858)])
    final = {
        "conv1": {"weight": [7, None], "act": [8, None], "grad": [16, None]},
        "conv2": {"weight": [8, None], "act": [8, None], "grad": None},
        "fc1": {"weight": [4, 2], "act": [6, None], "grad": None},
        "fc2": {"weight": [8, None], "act": [8, None], "grad": None},
        "fc3": {"weight": [5, None], "act": [8, None], "grad": None},
    }
    avg = {l: {"act": 8.0, "weight": 7.1, "grad": 30.2} for l in LAYERS}
    avg["fc1"] = {"act": 7.2, "weight": 4.9, "grad": 32.0}
    # the AdaPT controller's own summary, in the layout it writes (strategy + per-layer state)
    real_ctrl = real_run("adapt")["summary"]["controller_summary"]
    ctrl = copy.deepcopy(real_ctrl)
    for layer, (bits, frac, decisions) in {"conv1": (7, 5, 3), "conv2": (8, 6, 2),
                                           "fc1": (4, 2, 4), "fc2": (8, 6, 1),
                                           "fc3": (5, 4, 1)}.items():
        _replace(ctrl["layers"][layer], {"bits": bits, "frac": frac, "lookback": 50,
                                         "resolution": 52, "decisions": decisions},
                 f"controller_summary.layers.{layer}")
    summary = summary_like_real(
        "adapt",
        top={"test_accuracy": 0.9858, "best_test_accuracy": 0.9858, "epochs": 4, "steps": 1876,
             "controller": "adapt", "model": "lenet5", "dataset": "mnist", "seed": 1,
             "preset": "lenet5_adapt", "wall_time_s": 61.3, "final_precision": final,
             "sparsity": {"conv1": 0.05, "conv2": 0.21, "fc1": 0.4567, "fc2": 0.12,
                          "fc3": 0.02},
             "controller_summary": ctrl},
        cost={"bitops_rel_fp32": 0.0417, "wl_cost_rel_fp32": 0.3125, "adapt_speedup": 3.2,
              "energy_rel_fp32": 0.0583, "avg_bits": avg},
        model_size={"bits": 296334, "bits_fp32": 1976896, "rel_fp32": 0.1499,
                    "sparse_bits": 201120, "sparse_rel_fp32": 0.1017, "density": 0.6787},
        # NOT written by the training loop (the cpt controller writes controller_summary.prt):
        # kept only because test_report.py reads summary["prt"] of this run; the report reads
        # both places (RunRecord.prt)
        extra={"prt": {"q_min": 4, "trials": [{"bits": 2, "train_accuracy": 0.3},
                                              {"bits": 3, "train_accuracy": 0.61},
                                              {"bits": 4, "train_accuracy": 0.912}]}})
    params = real_run("adapt")["config"]["controller"]["params"]
    return write_run(run_dir, config=config("lenet5_adapt", "adapt", 4, **params),
                     metrics=metrics, precision=_adapt_precision(), summary=summary)
