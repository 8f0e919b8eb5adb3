"""Train one config on two back-ends from the same seed and compare the results exactly.

For engines that compute the same integers (csim and reference) every weight, optimizer buffer,
controller state and precision-log row must be identical; the report says how many values were
compared and how long each back-end took. ``hostsw crosscheck`` and the main job use it.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from hostsw.errors import ConfigError
from hostsw.io import atomic_write_json, read_jsonl
from hostsw.runtime import check_backend
from hostsw.train.config import TrainConfig


def _tensors(ck: dict):
    for k, v in ck["model"].items():
        yield f"model.{k}", v
    for pid, st in ck["optimizer"]["state"].items():
        for name, v in st.items():
            if torch.is_tensor(v):
                yield f"optimizer.{pid}.{name}", v


def compare_runs(a: Path, b: Path) -> dict:
    ca = torch.load(a / "checkpoint.pt", map_location="cpu", weights_only=False)
    cb = torch.load(b / "checkpoint.pt", map_location="cpu", weights_only=False)
    tb = dict(_tensors(cb))
    tensors = values = 0
    differ = []
    for name, v in _tensors(ca):
        tensors += 1
        values += v.numel()
        if name not in tb or not torch.equal(v, tb[name]):
            differ.append(name)
    pa, pb = read_jsonl(a / "precision.jsonl"), read_jsonl(b / "precision.jsonl")
    ma = [{k: v for k, v in r.items() if not k.endswith("time_s")} for r in read_jsonl(a / "metrics.jsonl")]
    mb = [{k: v for k, v in r.items() if not k.endswith("time_s")} for r in read_jsonl(b / "metrics.jsonl")]
    return {"identical": not differ and pa == pb and ma == mb and
            ca["controller"] == cb["controller"],
            "tensors": tensors, "values": values, "differing_tensors": differ[:10],
            "precision_log_rows": len(pa), "precision_logs_equal": pa == pb,
            "metrics_equal": ma == mb, "steps": ca["step"]}


def crosscheck(cfg: TrainConfig, out: Path, backends=("csim", "reference"),
               log=None) -> dict:
    """Train ``cfg`` once per back-end into out/<backend>; compare; write out/crosscheck.json.

    Both runs are set up (data, model, controller, engine) before either trains, so a back-end
    that cannot run this config fails in seconds, not after the other one's whole training, and
    leaves nothing behind. (Set-up order does not matter: training draws on no global random
    state, only on the seed's own generators.) ``seconds`` is each run's training, without its
    set-up (data loading, the csim engine's compile)."""
    from hostsw.train import TrainOptions
    from hostsw.train.loop import Trainer
    from hostsw.train.rundir import discard, start_fresh
    if len(backends) != 2 or backends[0] == backends[1]:
        raise ConfigError("crosscheck compares two different back-ends, e.g. csim reference")
    for b in backends:
        check_backend(b)
    from hostsw.export import preflight
    out = preflight.new_folder("--out", Path(out))
    cfg.validate()
    runs, trainers = [], {}
    try:
        for b in backends:
            runs.append(start_fresh(out / b, cfg))
            trainers[b] = Trainer(cfg, runs[-1], TrainOptions(progress=False, backend=b,
                                                              log=log or (lambda m: None)))
    except BaseException:
        for run in reversed(runs):  # the second run's folder first, then the first's (and out)
            discard(run)
        raise
    result = {"config": cfg.name, "backends": list(backends), "runs": {}}
    for b in backends:
        t0 = time.perf_counter()
        s = trainers.pop(b).fit()
        result["runs"][b] = {"seconds": time.perf_counter() - t0,
                             "test_accuracy": s["test_accuracy"],
                             "engine": {k: s["engine"][k] for k in ("calls", "macs_by_tier",
                                                                    "engine_seconds", "cycles")}
                             if "engine" in s else None}
    result.update(compare_runs(out / backends[0], out / backends[1]))
    atomic_write_json(out / "crosscheck.json", result)
    return result
