"""``hostsw bitstream build``: render ``bitstreams/<design>/<board>/`` and run the vendor tools.

The folder is rendered into a temporary sibling and renamed into place (a failure leaves nothing);
then, when every tool the board's flow needs is on PATH, ``make`` builds the bitstream, checks
timing and finishes the manifest. When a tool is missing the ready-to-run folder stays and the
command ends with one line naming the tool.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from hostsw.board import flows
from hostsw.board.boards import BoardSpec, board_spec, check_design
from hostsw.board.manifest import rendered_manifest, write_manifest
from hostsw.errors import ConfigError, OutputError, ToolchainError
from hostsw.io import atomic_write_text
from hostsw.io.atomic import _umask
from hostsw.io.tempdirs import remove_created_parents, staging_dir
from hostsw.runtime.engine_source import top_name, write_engine_sources
from hostsw.runtime.spec import TIERS, EngineLimits


@dataclass
class BitstreamConfig:
    """What one bitstream folder is rendered for."""

    design: str
    board: str
    #: a run directory: sizes the training tiers from its precision log / the inference network
    run_dir: str | None = None
    out: str | None = None
    clock_mhz: float | None = None
    #: training datapath tiers (default: those the run needs, else all)
    tiers: list = field(default_factory=list)
    #: re-render over an existing folder
    force: bool = False
    #: render only, do not run the tools even when present
    render_only: bool = False

    def validate(self) -> "BitstreamConfig":
        check_design(self.design)
        board_spec(self.board)
        if self.clock_mhz is not None and not 10 <= self.clock_mhz <= 800:
            raise ConfigError(f"--clock-mhz {self.clock_mhz}: use 10..800")
        for t in self.tiers:
            if t not in TIERS:
                raise ConfigError(f"tier {t}: use {', '.join(map(str, TIERS))}")
        if self.design == "inference" and not self.run_dir:
            raise ConfigError("--design inference needs --run RUN_DIR (the trained network)")
        if self.run_dir:
            check_run_dir(Path(self.run_dir))
        return self


def check_run_dir(run: Path) -> None:
    """A trained run (its config.yaml loads), checked before any work."""
    from hostsw.train.rundir import RunDir
    RunDir(run).load_config()


def tools_needed(spec: BoardSpec) -> list[str]:
    return ["make", "vitis_hls", "vivado"] if spec.family == "zynq" else ["make", "vitis_hls", "v++"]


def missing_tools(spec: BoardSpec) -> list[str]:
    return [t for t in tools_needed(spec) if shutil.which(t) is None]


def default_out(cfg: BitstreamConfig) -> Path:
    return Path("bitstreams") / cfg.design / board_spec(cfg.board).name


def _training_tiers(cfg: BitstreamConfig) -> list[int]:
    if cfg.tiers:
        return sorted(set(cfg.tiers))
    if not cfg.run_dir:
        return list(TIERS)
    from hostsw.io import read_jsonl
    from hostsw.runtime.project import tiers_needed
    rows = read_jsonl(Path(cfg.run_dir) / "precision.jsonl")
    layers = sorted({r["layer"] for r in rows if r.get("layer")})
    return tiers_needed(rows, layers)


def _render_training(tmp: Path, spec: BoardSpec, tiers: list[int], limits: EngineLimits) -> list[str]:
    write_engine_sources(tmp / "src", limits)
    return [top_name(t) for t in tiers]


def _render_flow(tmp: Path, spec: BoardSpec, kernels: list[str], clock_mhz: float,
                 design: str) -> str:
    cflags = "-Ihls/firmware" if design == "inference" else ""
    bitfile = f"hostsw_{design}.bit" if spec.family == "zynq" else f"hostsw_{design}.xclbin"
    zynq = spec.family == "zynq"
    clock_ns = round(1000.0 / clock_mhz, 4)
    files = {
        "build_ip.tcl": flows.BUILD_IP.substitute(
            kernels=" ".join(kernels), part=spec.part, clock_ns=clock_ns, cflags=cflags,
            flow_target="vivado" if zynq else "vitis",
            export=(flows.EXPORT_ZYNQ if zynq else flows.EXPORT_ALVEO).replace("$$", "$")),
        "check_timing.tcl": flows.CHECK_TIMING,
    }
    if zynq:
        rule = flows.ZYNQ_BITSTREAM_RULE.substitute()
        files["block_design.tcl"] = flows.BLOCK_DESIGN.substitute(
            kernels=" ".join(kernels), part=spec.part, board_part=spec.board_part,
            ps_ip=spec.ps_ip, clock_mhz=clock_mhz, **flows.ZYNQ_PS[spec.ps_ip])
        files["build_bitstream.tcl"] = flows.BUILD_BITSTREAM.substitute(
            bitfile=bitfile, hwh=bitfile[:-4] + ".hwh")
    else:
        memory = "HBM[0]" if spec.name == "u50" else "DDR[0]"
        conn = [f"nk={k}:1:{k}_0" for k in kernels]
        for k in kernels:
            # m_axi bundles: the engine's gmem0..2 (a, b + bias, y + y2); the wrapper's x, y
            conn += [f"sp={k}_0.m_axi_gmem{i}:{memory}" for i in range(2 if design == "inference" else 3)]
        rule = flows.ALVEO_BITSTREAM_RULE.substitute(platform=spec.platform, bitfile=bitfile)
        files["link.cfg"] = flows.LINK_CFG.substitute(memory=memory, connectivity="\n".join(conn),
                                                       clock_hz=int(clock_mhz * 1e6))
    files["Makefile"] = flows.MAKEFILE.substitute(design=design, board=spec.name,
                                                  bitstream_rule=rule)
    for name, text in files.items():
        atomic_write_text(tmp / name, text)
    return bitfile


def render(cfg: BitstreamConfig) -> tuple[Path, dict]:
    """Render the folder atomically; returns (folder, rendered manifest)."""
    cfg = cfg.validate()
    spec = board_spec(cfg.board)
    out = Path(cfg.out) if cfg.out else default_out(cfg)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not cfg.force:
        raise OutputError(f"{out} exists and is not empty: re-render it with --force or choose "
                          "another --out")
    clock = cfg.clock_mhz or spec.clock_mhz
    parent = out.parent
    tmp, existed = staging_dir(parent, f".{out.name}.")
    old = None
    try:
        plan_sha, tiers, limits = None, [], None
        if cfg.design == "training":
            tiers = _training_tiers(cfg)
            limits = replace(EngineLimits(), tiers=tuple(tiers))
            kernels = _render_training(tmp, spec, tiers, limits)
        else:
            from hostsw.board.inference import render_inference
            kernels, plan_sha = render_inference(tmp, Path(cfg.run_dir), spec, clock)
        bitfile = _render_flow(tmp, spec, kernels, clock, cfg.design)
        manifest = rendered_manifest(tmp, spec, cfg.design, clock, kernels, tiers,
                                     asdict(limits) if limits else None, plan_sha, bitfile)
        write_manifest(tmp, manifest)
        (tmp / ".owner").unlink()
        tmp.chmod(0o777 & ~_umask())
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not out.exists():
            old.rename(out)
        if not out.exists():
            remove_created_parents(parent, existed)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return out, manifest


def build(folder: Path, spec: BoardSpec) -> None:
    """Run ``make`` in a rendered folder; one line naming the missing tool when one is."""
    missing = missing_tools(spec)
    if missing:
        names = " and ".join(missing) if len(missing) <= 2 else \
            ", ".join(missing[:-1]) + " and " + missing[-1]
        raise ToolchainError(f"{names} {'is' if len(missing) == 1 else 'are'} not on PATH: "
                             f"{folder} is rendered and ready; source the Vitis/Vivado "
                             f"settings64.sh (this flow needs {', '.join(tools_needed(spec))}) "
                             f"and run `make -C {folder}`")
    # the manifest step runs `$(PYTHON) -m hostsw.board.manifest`: this interpreter has hostsw
    r = subprocess.run(["make", "-C", str(folder), f"PYTHON={sys.executable}"],
                       capture_output=True, text=True)
    log = folder / "build.log"
    log.write_text(r.stdout + r.stderr)
    if r.returncode != 0:
        errs = [ln for ln in (r.stdout + r.stderr).splitlines() if "ERROR" in ln][:1]
        what = errs[0].strip() if errs else f"make exit {r.returncode}"
        raise ToolchainError(f"the build failed ({what}): full log in {log}")
