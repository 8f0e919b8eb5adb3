"""``hostsw``: thin sub-commands over the library functions.

User mistakes (``HostswError``) print one line and exit 2, with no traceback and nothing
half-written; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hostsw import __version__
from hostsw.errors import ConfigError, HostswError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def _default_out(name: str, stamp: str | None = None) -> Path:
    """runs/<name>-<time> (``stamp``: the time every rank of a torchrun launch shares)."""
    from hostsw.train.rundir import run_stamp
    return Path("runs") / f"{name}-{stamp or run_stamp()}"


def _train_setup(args: argparse.Namespace):
    """Everything ``train`` checks before any work: (options, config), config None with --resume
    (its own checks need the run directory)."""
    from hostsw.cli_distributed import check_dist_timeout
    from hostsw.train import TrainOptions, load_config
    from hostsw.train.config import check_epochs_flag
    opts = TrainOptions(device=args.device, progress=not args.no_progress, download=args.download,
                        threads=args.threads, backend=args.backend, verify=args.verify).validate()
    check_epochs_flag(args.epochs)
    check_dist_timeout(args.dist_timeout)
    if args.resume is not None:
        if args.config is not None or args.set:
            raise ConfigError("--resume continues a run with its saved config: drop --preset/"
                              "--config/--set (use --epochs to extend it)")
        for key, flag in _RESUME_IGNORES:
            if getattr(args, key) is not None:
                fix = (f"edit {key} in {Path(args.resume) / 'config.yaml'}" if key == "data_dir"
                       else "drop it" if key == "out" else
                       "start a new run (--out NEW_DIR) to change it")
                raise ConfigError(f"{flag} cannot be used with --resume (the run keeps its "
                                  f"config.yaml and directory): {fix}")
        return opts, None
    if args.config is None:
        raise ConfigError("name a preset (--preset lenet5-mnist-static8; `hostsw presets` "
                          "lists them) or a YAML file (--config FILE)")
    cfg = load_config(args.config)
    if args.set:
        from hostsw.train.config import apply_overrides
        cfg = apply_overrides(cfg, args.set)
    for key in ("epochs", "batch_size", "seed", "limit_train", "limit_test", "data_dir"):
        value = getattr(args, key)
        if value is not None:
            setattr(cfg, key, value)
    if args.lr is not None:
        cfg.optimizer.lr = args.lr
    cfg.validate()
    if cfg.data_dir is not None:
        from hostsw.data.registry import check_data_folder
        if not Path(cfg.data_dir).is_dir():
            flag = "--data-dir" if args.data_dir is not None else "data_dir:"
            raise ConfigError(f"{flag} {cfg.data_dir} is not a folder: give the folder with the "
                              "dataset files, or drop it to use the default source")
        check_data_folder(cfg.dataset, Path(cfg.data_dir), args.download)
    return opts, cfg


def cmd_train(args: argparse.Namespace) -> int:
    from hostsw.train import resume, train
    opts, cfg = _train_setup(args)
    if cfg is None:
        out = args.run_path = Path(args.resume)
        summary = resume(out, opts, epochs=args.epochs)
    else:
        out = args.run_path = Path(args.out) if args.out else \
            _default_out(cfg.name, getattr(args, "out_stamp", None))
        summary = train(cfg, out, opts)
    acc = summary["test_accuracy"]
    cost = summary["cost"]
    print(f"run: {out}")
    print(f"test accuracy {100 * acc:.2f}%  BitOPs {cost['bitops_rel_fp32']:.4f} of fp32  "
          f"wall {summary['wall_time_s']:.1f} s")
    print(f"report: hostsw report {out}")
    return 0


def _train_command(args: argparse.Namespace) -> int:
    """``train``: with --nproc N the flags and the config are checked here, once, before N
    processes start (each would otherwise fail alike, after the launch)."""
    from hostsw.cli_distributed import distributed
    if (args.nproc or 1) > 1:
        _, cfg = _train_setup(args)
        if cfg is not None and args.out is None:  # one folder for all N, named in any message
            args.out = str(_default_out(cfg.name))
            args.argv += ["--out", args.out]
    return distributed(cmd_train)(args)


#: train flags that --resume cannot honour (the run's config.yaml decides), with their spelling
_RESUME_IGNORES = (("out", "--out"), ("lr", "--lr"), ("batch_size", "--batch-size"),
                   ("seed", "--seed"), ("limit_train", "--limit-train"),
                   ("limit_test", "--limit-test"), ("data_dir", "--data-dir"))


def cmd_crosscheck(args: argparse.Namespace) -> int:
    from hostsw.runtime.crosscheck import crosscheck
    from hostsw.train import load_config
    from hostsw.train.config import apply_overrides, check_epochs_flag
    cfg = load_config(args.config)
    if args.set:
        cfg = apply_overrides(cfg, args.set)
    check_epochs_flag(args.epochs)
    if args.epochs is not None:
        cfg.epochs = args.epochs
    cfg.validate()
    log = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    r = crosscheck(cfg, Path(args.out), tuple(args.backends), log=log)
    a, b = r["backends"]
    for name in (a, b):
        run = r["runs"][name]
        eng = run["engine"] or {}
        calls = sum((eng.get("calls") or {}).values())
        print(f"{name:10s} {run['seconds']:6.1f} s  test accuracy {100 * run['test_accuracy']:.2f}%"
              + (f"  {calls} engine calls, tiers {sorted(eng['macs_by_tier'])}" if eng else ""))
    verdict = "IDENTICAL" if r["identical"] else "DIFFERENT"
    print(f"{a} vs {b} after {r['steps']} steps: {verdict} ({r['tensors']} tensors, {r['values']} "
          f"values: weights and optimizer state; {r['precision_log_rows']} precision-log rows)")
    if not r["identical"]:
        print(f"  differing: {', '.join(r['differing_tensors']) or 'logs/metrics'}")
    print(f"runs and crosscheck.json: {args.out}")
    return 0 if r["identical"] else 1


def cmd_report(args: argparse.Namespace) -> int:
    from hostsw.report import load_run, render_report
    run_dir = Path(args.run_dir)
    from hostsw.export import preflight
    run = load_run(run_dir)
    png = None if args.no_plot else Path(args.png) if args.png else run_dir / "report.png"
    if args.png:
        preflight.output_file("--png", png, ".png")
    elif png is not None:
        preflight.writable_folder(run_dir, "give --png FILE.png elsewhere, or --no-plot")
    print(render_report(run, png_path=png))
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from hostsw.train import load_config, list_presets
    from hostsw.report.table import text_table
    rows = []
    for name in list_presets():
        cfg = load_config(name)
        rows.append([name, cfg.model, cfg.norm or "-", cfg.dataset, cfg.controller.name,
                     cfg.epochs, cfg.batch_size])
    print("\n".join(text_table(["preset", "model", "norm", "dataset", "controller", "epochs",
                                "batch"], rows, "<<<<<>>", indent="")))
    return 0


def _plan_table(plan: dict) -> str:
    from hostsw.report.table import text_table
    rows = [[name, e["weight"], e["act"], e["bias"] or "-", e["accumulator"]]
            for name, e in plan["layers"].items()]
    return "\n".join(text_table(["layer", "weight", "act (input)", "bias", "accumulator"], rows))


def cmd_export(args: argparse.Namespace) -> int:
    from hostsw.export import ExportConfig, export_run
    cfg = ExportConfig(opset=args.opset, verify_samples=args.verify_samples).validate()
    facts = export_run(Path(args.run_dir), Path(args.out) if args.out else None, cfg)
    print(f"QONNX model: {facts['model_file']}")
    print(f"precision plan: {facts['plan_file']} (sha256 {facts['precision_plan_sha256'][:16]})")
    print(_plan_table(facts["plan"]))
    n = facts.get("verify_samples", 0)
    if "qonnx_equals_reference_rate" in facts:
        print(f"checked on {n} test images:")
        if "reference_equals_software_float64_rate" in facts:
            print("  the exact reference (integer arithmetic on the graph) == the software model "
                  "in float64 on every image")
        else:
            print(f"  the exact reference vs the software model: same argmax on "
                  f"{100 * facts['reference_argmax_agreement']:.1f}% (BatchNormalization's float "
                  "scale is not exact arithmetic)")
        if facts["qonnx_float32_exact"]:
            print(f"  qonnx execution (float32, exact here: every tensor within "
                  f"{facts['widest_tensor_bits']} bits) == the exact reference on every image")
        else:
            why = (f"this graph's widest sums ({facts['widest_tensor_bits']} bits > 24)"
                   if facts["widest_tensor_bits"] > 24 else "its BatchNormalization scale")
            print(f"  qonnx execution runs in float32, which rounds {why}: same argmax on "
                  f"{100 * facts['qonnx_argmax_agreement']:.1f}% of the images, max |diff| "
                  f"{facts['qonnx_max_abs_diff']:.3g}; C simulation is checked against the exact "
                  "reference")
    return 0


def _hls_config(args: argparse.Namespace):
    from hostsw.export import HlsConfig
    return HlsConfig(backend=args.backend, io_type=args.io_type, reuse_factor=args.reuse_factor,
                     strategy=args.strategy, part=args.part, clock_ns=args.clock_ns).validate()


def _source(args: argparse.Namespace) -> tuple[Path | None, Path | None]:
    if (args.run_dir is None) == (args.onnx is None):
        raise ConfigError("give a RUN_DIR or --onnx FILE (exactly one of them)")
    return (Path(args.run_dir) if args.run_dir else None,
            Path(args.onnx) if args.onnx else None)


def cmd_hls_training(args: argparse.Namespace) -> int:
    from hostsw.runtime.project import TrainingProjectConfig, write_training_project
    if args.run_dir is None or args.onnx is not None:
        raise ConfigError("--training needs a RUN_DIR (the training kernels are sized from the "
                          "run's model and precision log), not --onnx")
    from hostsw.export import preflight
    _hls_config(args)  # the shared options (clock, part) are checked alike
    preflight.run_dir(Path(args.run_dir))
    preflight.new_folder("--out", Path(args.out))
    cfg = TrainingProjectConfig(part=args.part if args.part != _DEFAULT_PART else
                                TrainingProjectConfig.part, clock_ns=args.clock_ns)
    m = write_training_project(Path(args.run_dir), Path(args.out), cfg)
    print(f"training-kernel project: {m['project']}")
    print(f"  engine: {m['organisation']}")
    print(f"  tiers: {', '.join(map(str, m['tiers']))} (from the precision log); tops "
          f"{', '.join(m['tops'])}")
    for name, g in m["layers"].items():
        print(f"  {name:8s} {g['in_ch']}x{g['in_h']}x{g['in_w']} -> {g['out_ch']} "
              f"k{g['k_h']}x{g['k_w']} s{g['stride']} p{g['pad']}  final bits {g['final_bits']}")
    print(f"  test bench: {len(m['vectors'])} reference vectors in {m['project']}/tb/vectors")
    print(f"synthesize: cd {m['project']} && vitis_hls -f build.tcl   |   bench with g++: "
          "see README (hls/tests/mac_engine_tb.cpp)")
    return 0


_DEFAULT_PART = "xcu250-figd2104-2L-e"


def cmd_hls(args: argparse.Namespace) -> int:
    if args.training:
        return cmd_hls_training(args)
    from hostsw.export.convert import build_project, format_table
    from hostsw.export.flow import ensure_export
    from hostsw.export import preflight
    cfg = _hls_config(args)
    run_dir, onnx_path = _source(args)
    out = preflight.new_folder("--out", Path(args.out))  # before the export
    if run_dir is not None:
        preflight.run_exportable(preflight.run_dir(run_dir), "hls")
        onnx_path = ensure_export(run_dir)
    else:
        preflight.input_file("--onnx", onnx_path, ".onnx")
    rows = build_project(onnx_path, out, cfg)
    print(f"hls4ml project ({cfg.backend}, {cfg.io_type}, reuse {cfg.reuse_factor}, "
          f"{cfg.resolved_strategy}): {out}")
    print(format_table(rows))
    tool = "vitis_hls" if cfg.backend == "Vitis" else "vivado_hls"
    print(f"synthesize: cd {out} && {tool} -f build_prj.tcl   |   C simulation: "
          f"hostsw csim {'--onnx ' + str(onnx_path) if run_dir is None else run_dir} "
          f"--project {out}")
    return 0


def cmd_csim(args: argparse.Namespace) -> int:
    from hostsw.export import CsimConfig
    from hostsw.export.flow import run_csim
    run_dir, onnx_path = _source(args)
    samples = args.samples if args.samples is not None else (None if args.inputs else 1000)
    cfg = CsimConfig(samples=samples, jobs=args.jobs, opt_flag=args.opt and "-" + args.opt,
                     exact_ap_types=args.exact_ap_types).validate()
    log = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    r = run_csim(run_dir=run_dir, onnx_path=onnx_path,
                 inputs=Path(args.inputs) if args.inputs else None,
                 outputs=Path(args.outputs) if args.outputs else None,
                 report=Path(args.report) if args.report else None,
                 project=Path(args.project) if args.project else None,
                 cfg=cfg, hls_cfg=_hls_config(args), log=log)
    pct = lambda v: "-" if v is None else f"{100 * v:.2f}%"
    print(f"C simulation of {r['samples']} samples: bit-exact {pct(r['exact_match_rate'])} "
          f"(max |diff| {r['max_abs_diff']}), argmax agreement {pct(r['argmax_agreement'])}")
    if r["software_accuracy"] is not None:
        print(f"accuracy: C sim {pct(r['csim_accuracy'])}, software {pct(r['software_accuracy'])}")
    compiled = "cached" if r["compile_cached"] else f"{r['compile_s']:.1f} s"
    print(f"compile: {compiled} ({r['compiler']}, {r['ap_types']} ap_types); simulation "
          f"{r['samples_per_s']} samples/s on {r['jobs']} process(es); project {r['project']}")
    if r.get("outputs"):
        print(f"outputs: {r['outputs']}")
    print(f"report: {r['report']}")
    return 0 if r["exact_match_rate"] in (None, 1.0) else 1


def _add_hls_options(q: argparse.ArgumentParser) -> None:
    q.add_argument("--backend", default="Vitis", choices=["Vitis", "Vivado"],
                   help="hls4ml backend (default Vitis)")
    q.add_argument("--io-type", dest="io_type", default="io_parallel",
                   choices=["io_parallel", "io_stream"], help="hls4ml I/O type (default io_parallel)")
    q.add_argument("--reuse-factor", dest="reuse_factor", type=int, default=1, metavar="N",
                   help="hls4ml ReuseFactor (default 1: fully parallel)")
    q.add_argument("--strategy", choices=["Latency", "Resource"],
                   help="hls4ml Strategy (default Latency for reuse 1, else Resource)")
    q.add_argument("--part", default=_DEFAULT_PART, help="FPGA part")
    q.add_argument("--clock-ns", dest="clock_ns", type=float, default=5.0, metavar="NS",
                   help="clock period in ns (default 5)")


class _Parser(argparse.ArgumentParser):
    """argparse with the user-error contract: a usage mistake prints ``hostsw: error: ...`` and
    one line pointing at --help (not the whole usage block), exit 2. Sub-parsers inherit it."""

    def error(self, message: str):
        self.exit(EXIT_USER_ERROR, f"hostsw: error: {message}\n"
                  f"run '{self.prog} --help' for usage\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="hostsw",
        description="Low-precision FPGA training flow: train with per-layer fixed point, report.")
    p.add_argument("--version", action="version", version=f"hostsw {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a model (preset or YAML) into a run directory",
                       description="Train with a precision controller; writes config.yaml, "
                       "metrics.jsonl, precision.jsonl, checkpoint.pt and summary.json.")
    src = t.add_mutually_exclusive_group()
    src.add_argument("--preset", dest="config", metavar="NAME",
                     help="a named preset (see `hostsw presets`)")
    src.add_argument("--config", dest="config", metavar="FILE", help="a YAML config file")
    t.add_argument("--out", metavar="DIR", help="run directory (default runs/<name>-<time>)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run exactly")
    t.add_argument("--device", default="auto", help="auto (GPU if present), cpu or cuda")
    t.add_argument("--epochs", type=int, help="override the number of epochs")
    t.add_argument("--batch-size", dest="batch_size", type=int, help="override the batch size")
    t.add_argument("--lr", type=float, help="override the learning rate")
    t.add_argument("--seed", type=int, help="override the seed")
    t.add_argument("--limit-train", dest="limit_train", type=int, metavar="N",
                   help="train on the first N samples only (smoke runs)")
    t.add_argument("--limit-test", dest="limit_test", type=int, metavar="N",
                   help="evaluate on the first N test samples only")
    t.add_argument("--data-dir", dest="data_dir", metavar="DIR",
                   help="folder with the dataset files (idx / cifar-10-batches-py)")
    t.add_argument("--download", action="store_true",
                   help="download a missing dataset (CIFAR-10; needs internet access)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value (repeatable), e.g. --set controller.apply_at=epoch "
                   "or --set bifurcation.grad_w=16 (VALUE is YAML)")
    t.add_argument("--backend", default="software",
                   choices=["software", "reference", "csim", "board"],
                   help="MAC engine: software (torch, default), reference (exact integers), csim "
                   "(the hls/ kernels in C simulation, bit-exact with reference) or board")
    t.add_argument("--verify", choices=["reference", "csim", "board"],
                   help="recompute every engine call on this back-end too and compare every "
                   "output value, plus a stochastic-rounding probe (e.g. --backend csim --verify "
                   "reference); counts go to summary.json")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads for torch (default: one per core; use fewer on a busy machine)")
    from hostsw.cli_distributed import add_distributed_options
    add_distributed_options(t)
    t.set_defaults(func=_train_command)

    x = sub.add_parser("crosscheck", help="train one config on two back-ends and compare exactly",
                       description="Train the same config from the same seed on two back-ends "
                       "(default csim and reference, which must agree bit for bit) and compare "
                       "weights, optimizer state, precision logs and metrics. Exit 0 when "
                       "identical, 1 when not, 2 on a usage error.")
    xsrc = x.add_mutually_exclusive_group(required=True)
    xsrc.add_argument("--preset", dest="config", metavar="NAME", help="a named preset")
    xsrc.add_argument("--config", dest="config", metavar="FILE", help="a YAML config file")
    x.add_argument("--out", metavar="DIR", required=True, help="folder for the two runs (new)")
    x.add_argument("--backends", nargs=2, default=["csim", "reference"], metavar="B",
                   choices=["software", "reference", "csim", "board"])
    x.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value (repeatable)")
    x.add_argument("--epochs", type=int, help="override the number of epochs")
    x.add_argument("--quiet", action="store_true", help="no per-epoch lines on stderr")
    x.set_defaults(func=cmd_crosscheck)

    r = sub.add_parser("report", help="print a run's tables and write report.png",
                       description="Accuracy per epoch, per-layer precision, cost vs float32; "
                       "a PNG with accuracy and bits per layer over training.")
    r.add_argument("run_dir", metavar="RUN_DIR")
    plot = r.add_mutually_exclusive_group()
    plot.add_argument("--png", metavar="FILE",
                      help="where to write the plot (default RUN_DIR/report.png)")
    plot.add_argument("--no-plot", action="store_true", help="text only")
    r.set_defaults(func=cmd_report)

    ps = sub.add_parser("presets", help="list the named training presets",
                        description="List the presets shipped inside the package.")
    ps.set_defaults(func=cmd_presets)

    e = sub.add_parser("export", help="export a trained run to QONNX with its learned precisions",
                       description="Brevitas QONNX export of the run's final model: every Quant "
                       "node carries the layer's learned <bits, frac>. Writes model.qonnx.onnx, "
                       "precision_plan.json and export_config.json.")
    e.add_argument("run_dir", metavar="RUN_DIR")
    e.add_argument("--out", metavar="FILE", help="QONNX file (default RUN_DIR/model.qonnx.onnx)")
    e.add_argument("--opset", type=int, default=13, help="ONNX opset (default 13)")
    e.add_argument("--verify-samples", dest="verify_samples", type=int, default=16, metavar="N",
                   help="test images checked under qonnx execution (default 16)")
    e.set_defaults(func=cmd_export)

    h = sub.add_parser("hls", help="generate the hls4ml ap_fixed project (Vitis / Vivado HLS)",
                       description="QONNX -> hls4ml project with exact types derived from the "
                       "model (input = first Quant type, exact accumulators). Prints the per-layer "
                       "ap_fixed types. RUN_DIR is exported first if needed.")
    h.add_argument("run_dir", metavar="RUN_DIR", nargs="?")
    h.add_argument("--onnx", metavar="FILE", help="a QONNX file instead of a run directory")
    h.add_argument("--out", metavar="DIR", required=True, help="project folder (new or empty)")
    h.add_argument("--training", action="store_true",
                   help="write the training-kernel project instead (fwd / bwd-data / bwd-weight "
                   "MAC engine with runtime precision, sized from the run; tcl + test bench)")
    _add_hls_options(h)
    h.set_defaults(func=cmd_hls)

    c = sub.add_parser("csim", help="compile (clang++ or g++) and compare C simulation bit for "
                       "bit", description="Compile the hls4ml project ($CXX, else clang++ or g++; "
                       "cached by content hash) and run it. With RUN_DIR: the run's test set "
                       "against the exact reference and the software model. With --onnx and "
                       "--inputs X.npy (NCHW float): write the "
                       "C-sim outputs to --outputs. Writes csim.json. Exit status 0 when every "
                       "sample is bit-exact, 1 when some differ, 2 on a usage or tool error.")
    c.add_argument("run_dir", metavar="RUN_DIR", nargs="?")
    c.add_argument("--onnx", metavar="FILE", help="a QONNX file instead of a run directory")
    c.add_argument("--inputs", metavar="X.npy", help="NCHW float inputs (default: test set / "
                   "random inputs in the input quantizer's range)")
    c.add_argument("--outputs", metavar="Y.npy", help="write the C-sim outputs here (float64, "
                   "the layout of the ONNX output)")
    c.add_argument("--samples", type=int, metavar="N",
                   help="samples to simulate (default 1000; all of --inputs)")
    c.add_argument("--project", metavar="DIR", help="an existing `hostsw hls` project (default: "
                   "generate one, cached)")
    c.add_argument("--jobs", type=int, metavar="N", help="worker processes (default: CPU cores)")
    c.add_argument("--opt", default=None, choices=["O0", "O1", "O2", "O3", "Os"],
                   help="optimisation level (default O2 with clang++, O1 with g++: the fastest "
                   "build + run of each, docs/BENCHMARKS.md)")
    c.add_argument("--exact-ap-types", action="store_true",
                   help="build on hls4ml's unmodified ap_types headers (about 10x slower; "
                   "cross-checks the simulation copy, see hostsw/export/csim.py)")
    c.add_argument("--report", metavar="FILE",
                   help="csim.json path (default RUN_DIR/csim.json or beside the ONNX file)")
    c.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    _add_hls_options(c)
    c.set_defaults(func=cmd_csim)

    from hostsw.cli_board import add_board_commands  # bitstream, estimate, bench
    add_board_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    import warnings
    # an optional Brevitas accelerator we do not use
    warnings.filterwarnings("ignore", message="fast_hadamard_transform")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what --nproc relaunches
    if extra:  # reported by the sub-command's parser, so the hint names its --help
        subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        (subs.choices.get(args.command) or parser).error(
            f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER_ERROR
    try:
        return args.func(args)
    except HostswError as e:
        print(f"hostsw: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(_interrupted_message(args), file=sys.stderr)
        return EXIT_INTERRUPTED


def _interrupted_message(args: argparse.Namespace) -> str:
    """What Ctrl-C left behind, for the sub-command that was running."""
    if args.command == "train":
        run = getattr(args, "run_path", None)
        if run is not None and (run / "config.yaml").is_file():
            return f"hostsw: interrupted; continue with `hostsw train --resume {run}`"
        return "hostsw: train interrupted before the run started; nothing was written: rerun it"
    if args.command == "crosscheck":
        return (f"hostsw: crosscheck interrupted; its runs in {args.out} are incomplete: rerun it "
                "with a new --out")
    return (f"hostsw: {args.command} interrupted; nothing was kept (no complete output was "
            f"written): rerun `hostsw {args.command}`")


if __name__ == "__main__":
    sys.exit(main())
