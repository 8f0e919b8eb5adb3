"""``hostsw bitstream build``, ``hostsw estimate``, ``hostsw deploy`` and ``hostsw bench``: thin sub-commands over
hostsw.board (registered by hostsw.cli). Nothing here imports pynq: the device is opened only
inside a command that needs one."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hostsw.errors import ConfigError, OutputError


def cmd_bitstream(args: argparse.Namespace) -> int:
    from hostsw.board.boards import board_spec
    from hostsw.board.render import BitstreamConfig, build, render
    cfg = BitstreamConfig(design=args.design, board=args.board, run_dir=args.run, out=args.out,
                          clock_mhz=args.clock_mhz, tiers=args.tiers or [], force=args.force,
                          render_only=args.render_only).validate()
    spec = board_spec(cfg.board)
    folder, m = render(cfg)
    print(f"bitstream folder: {folder} ({m['design']} for {m['board']}, {m['part']}, "
          f"{m['clock_mhz']:g} MHz, kernels {', '.join(m['kernels'])})")
    if cfg.render_only:
        print(f"rendered only: build it with `make -C {folder}`")
        return 0
    build(folder, spec)
    m = json.loads((folder / "manifest.json").read_text())
    print(f"built: {m['bitstream']}, WNS {m['timing']['wns_ns']} ns, manifest {folder}/manifest.json")
    return 0


def cmd_estimate(args: argparse.Namespace) -> int:
    from hostsw.board.estimate import (EstimateConfig, check_reports_used, estimate_inference,
                                       estimate_training, format_estimate)
    from hostsw.io import atomic_write_json
    cfg = EstimateConfig(board=args.board, clock_mhz=args.clock_mhz,
                         reuse_factor=args.reuse_factor, reports=args.reports or []).validate()
    run_dir = Path(args.run_dir)
    t = estimate_training(run_dir, cfg)
    i = estimate_inference(run_dir, cfg)
    check_reports_used(cfg, t)
    out = Path(args.out) if args.out else run_dir / "estimate.json"
    try:
        atomic_write_json(out, {"label": "estimate", "training": t, "inference": i})
    except OSError as e:
        raise OutputError(f"cannot write {out}: {e.strerror or e}") from None
    print(format_estimate(t, i))
    print(f"estimate.json: {out}")
    return 0


def _sampler_factory(board: str, device, power_csv: str | None):
    from hostsw.board.boards import board_spec
    from hostsw.board.power import Sampler, device_rails, hwmon_ina226
    spec = board_spec(board)
    kind = spec.power
    if power_csv or kind == "external_csv":
        return None
    reader = hwmon_ina226() if kind == "hwmon_ina226" else \
        device_rails(device, spec.power_rail or None)
    return lambda: Sampler(reader, 0.005)


def cmd_bench(args: argparse.Namespace) -> int:
    from hostsw.board.bench import (BenchConfig, add_meter_power, bench_markdown, open_inference,
                                    run_bench, training_step_workload, write_bench)
    from hostsw.board.boards import board_spec
    from hostsw.runtime.board import BoardBackend
    spec = board_spec(args.board)
    cfg = BenchConfig(iterations=args.iterations, idle_s=args.idle_s, bits=args.bits,
                      samples=args.samples).validate()
    if args.design == "inference" and not args.run:
        raise ConfigError("--design inference needs --run RUN_DIR (the network the inference "
                          "folder was built from)")
    if args.run and not (Path(args.run) / "config.yaml").is_file():
        raise ConfigError(f"{args.run} is not a hostsw run directory (no config.yaml)")
    folder = Path(args.bitstream) if args.bitstream else \
        Path("bitstreams") / args.design / spec.name
    if args.design == "inference":
        work, m, dev = open_inference(Path(args.run), spec.name, folder, cfg.samples)
        clock, close = m["clock_mhz"], dev.close
    else:
        be = BoardBackend(bitstream=folder, board=spec.name)
        dev, clock, close = be.device, be.manifest["clock_mhz"], be.close
        try:
            work = training_step_workload(be, Path(args.run)) if args.run else be
        except BaseException:
            close()
            raise
    try:
        factory = _sampler_factory(spec.name, dev, args.power_csv)
        r = run_bench(work, cfg, factory, clock_mhz=clock)
    finally:
        close()
    r["board"], r["bitstream"], r["clock_mhz"] = spec.name, str(folder), clock
    if args.power_csv:
        from hostsw.board.power import read_meter_csv
        t, p = read_meter_csv(Path(args.power_csv))
        add_meter_power(r, t, p, cfg.idle_s)
    elif r["power"] is not None:
        r["power"]["source"] = {"pynq_rails": "pynq get_rails()", "hwmon_ina226":
                                "INA226 via Linux hwmon", "xrt_electrical": "XRT electrical"
                                }[spec.power] + (f", rail {spec.power_rail}" if spec.power_rail
                                                 else ", every rail summed")
    elif spec.power == "external_csv":
        r["power_note"] = f"{spec.name} has no power sensor: record an external meter and pass " \
                          "--power-csv (columns time_s,power_w; idle first, --idle-s long)"
    out = Path(args.out) if args.out else Path("runs") / f"bench-{spec.name}"
    try:
        write_bench(r, out)
    except OSError as e:
        raise OutputError(f"cannot write {out}: {e.strerror or e}; choose another --out") from None
    print(bench_markdown(r), end="")
    print(f"bench.json: {out / 'bench.json'}")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    from hostsw.board.boards import board_spec
    from hostsw.board.deploy import deploy
    spec = board_spec(args.board)
    folder = Path(args.bitstream) if args.bitstream else Path("bitstreams") / "inference" / spec.name
    r = deploy(Path(args.run_dir), spec.name, folder, samples=args.samples)
    what = "MOCK device (not a board)" if r["label"] == "mock" else r["device"]
    print(f"{r['samples']} test images on {what}: bit-exact vs C simulation "
          f"{100 * r['bit_exact_rate']:.2f}% (max |diff| {r['max_abs_diff']}), argmax agreement "
          f"{100 * r['argmax_agreement']:.2f}%, accuracy {100 * r['accuracy_board']:.2f}%")
    print(f"deploy.json: {Path(args.run_dir) / 'deploy.json'}")
    return 0 if r["bit_exact_rate"] == 1.0 else 1


def add_board_commands(sub) -> None:
    b = sub.add_parser("bitstream", help="render (and build, with the vendor tools) a bitstream "
                       "folder bitstreams/<design>/<board>/",
                       description="Render Makefile + tcl + manifest.json for a board; run make "
                       "when Vitis HLS and Vivado (Zynq) or v++ (Alveo) are on PATH.")
    bsub = b.add_subparsers(dest="action", metavar="ACTION", required=True)
    bb = bsub.add_parser("build", help="render the folder and build it")
    bb.add_argument("--design", required=True, choices=["training", "inference"])
    bb.add_argument("--board", required=True, help="pynq-z2, zcu104, zcu102, kv260, u50, u250")
    bb.add_argument("--run", metavar="RUN_DIR", help="size the design from a trained run")
    bb.add_argument("--out", metavar="DIR", help="default bitstreams/<design>/<board>")
    bb.add_argument("--clock-mhz", dest="clock_mhz", type=float, help="PL clock (board default)")
    bb.add_argument("--tiers", type=int, nargs="+", metavar="T",
                    help="training datapath tiers (default: the run's, else 8 16 32)")
    bb.add_argument("--force", action="store_true", help="re-render an existing folder")
    bb.add_argument("--render-only", dest="render_only", action="store_true",
                    help="do not run the vendor tools")
    bb.set_defaults(func=cmd_bitstream)

    e = sub.add_parser("estimate", help="analytic latency / DSP / energy ESTIMATE of a run on a "
                       "board (no board needed)",
                       description="Training engine per epoch (cycles, time, MAC energy) and the "
                       "hls4ml network per inference. Every figure is an estimate; a synthesis "
                       "report (--reports) replaces the analytic resources.")
    e.add_argument("run_dir", metavar="RUN_DIR")
    e.add_argument("--board", default="zcu104")
    e.add_argument("--clock-mhz", dest="clock_mhz", type=float)
    e.add_argument("--reuse-factor", dest="reuse_factor", type=int, default=1)
    e.add_argument("--reports", metavar="DIR", action="append",
                   help="(repeatable) built bitstream folders (reports/*_csynth.xml: the training engine's, "
                   "the inference wrapper's) or a synthesized hls4ml project (read with hls4ml's "
                   "parse_vivado_report): their figures replace the analytic ones")
    e.add_argument("--out", metavar="FILE", help="default RUN_DIR/estimate.json")
    e.set_defaults(func=cmd_estimate)

    d = sub.add_parser("deploy", help="run the trained network on a board and check it against "
                       "C simulation bit for bit", description="Verifies the inference folder's "
                       "manifest (board, sha256, the run's precision plan), runs test images on "
                       "the board, compares with the C simulation; writes RUN_DIR/deploy.json. "
                       "Exit 0 when bit-exact, 1 when not, 2 on a usage or tool error.")
    d.add_argument("run_dir", metavar="RUN_DIR")
    d.add_argument("--board", required=True)
    d.add_argument("--bitstream", metavar="DIR", help="default bitstreams/inference/<board>")
    d.add_argument("--samples", type=int, default=256)
    d.set_defaults(func=cmd_deploy)

    n = sub.add_parser("bench", help="MEASURE latency, throughput and energy on a board",
                       description="Needs a board (pynq on Zynq, pyxrt on Alveo) and a built "
                       "folder. Unit of work: one engine call (default), one training step of "
                       "--run's model (every MAC call at its final precisions), or one inference "
                       "(--design inference --run RUN_DIR). Energy per unit is the integral of "
                       "(P - P_idle) dt over the loop; writes bench.json and bench.md.")
    n.add_argument("--board", required=True)
    n.add_argument("--design", choices=["training", "inference"], default="training")
    n.add_argument("--run", metavar="RUN_DIR", help="training: bench one training step of this "
                   "run; inference: the run the inference folder was built from")
    n.add_argument("--bitstream", metavar="DIR", help="default bitstreams/<design>/<board>")
    n.add_argument("--samples", type=int, default=256, help="inference: samples per call")
    n.add_argument("--iterations", type=int, default=200)
    n.add_argument("--idle-s", dest="idle_s", type=float, default=2.0)
    n.add_argument("--bits", type=int, default=8, choices=[8, 16, 32])
    n.add_argument("--power-csv", dest="power_csv", metavar="FILE",
                   help="external meter trace (time_s,power_w): idle first, then the loop")
    n.add_argument("--out", metavar="DIR", help="default runs/bench-<board>")
    n.set_defaults(func=cmd_bench)
