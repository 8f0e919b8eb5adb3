import json
import math
from pathlib import Path

import pytest
from report_fixtures import LAYERS, init_rows, make_metrics, write_run

from hostsw.errors import ConfigError, HostswError, OutputError
from hostsw.report import RunRecord, load_run, render_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def table_row(text, first_cell):
    """The line of a fixed-width table whose first cell is ``first_cell``."""
    for line in text.splitlines():
        cells = line.split()
        if cells and cells[0].rstrip("*") == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in:\n{text}")


def section(text, title):
    """The lines of one report section (up to the next blank line)."""
    start = text.index(title)
    end = text.find("\n\n", start)
    return text[start: end if end >= 0 else None]


# -- load_run -----------------------------------------------------------------------------------
def test_load_run_reads_all_files(adapt_run):
    run = load_run(adapt_run)
    assert isinstance(run, RunRecord)
    assert run.path == adapt_run
    assert run.config["controller"]["name"] == "adapt"
    assert len(run.metrics) == 4 and run.metrics[0]["epoch"] == 1
    assert len(run.precision) == 15 + 10
    assert run.summary["prt"]["q_min"] == 4
    assert (run.model, run.dataset, run.controller, run.seed, run.epochs) == (
        "lenet5", "mnist", "adapt", 1, 4)
    assert run.last_step == 1876


def test_load_run_accepts_str_and_empty_jsonl(tmp_path, static8_run):
    (static8_run / "precision.jsonl").write_text("")
    (static8_run / "metrics.jsonl").write_text("\n")
    run = load_run(str(static8_run))
    assert run.metrics == [] and run.precision == []
    assert run.summary["test_accuracy"] == 0.9876


# -- text ---------------------------------------------------------------------------------------
def test_static8_text(static8_run):
    text = render_report(load_run(static8_run))
    header = text.splitlines()[2]
    for part in ("model: lenet5", "dataset: mnist", "controller: static", "epochs: 3", "seed: 0"):
        assert part in header
    assert "final test accuracy: 98.76%" in text
    # per-epoch table: epoch 3 row
    assert table_row(text, "3") == ["3*", "1407", "0.0553", "98.30%", "0.0402", "98.76%", "0.01", "11.8"]
    assert table_row(text, "1")[:6] == ["1", "469", "0.2901", "91.02%", "0.0915", "97.12%"]
    # final precision table: every layer, ap_fixed-ish with auto for dynamic frac
    for layer in LAYERS:
        assert table_row(text, layer)[:4] == [layer, "<8,6>", "<8,auto>", "<8,auto>"]
    cost = section(text, "Cost estimates")
    assert "BitOPs vs fp32:" in cost and "0.0625x" in cost and "16.00x fewer" in cost
    assert "0.2500x" in cost and "speedup 4.00x" in cost
    assert "0.0712x" in cost and "ASIC 45nm" in cost
    assert "60.3 KiB" in cost and "241.3 KiB" in cost
    assert "Plot:" not in text  # no png_path -> no PNG
    assert not (static8_run / "report.png").exists()


def test_fp32_text(fp32_run):
    text = render_report(load_run(fp32_run))
    assert "controller: fp32" in text
    for layer in LAYERS:
        assert table_row(text, layer)[:7] == [layer, "fp32", "fp32", "fp32", "32.00", "32.00", "32.00"]
    cost = section(text, "Cost estimates")
    assert "1.0000x" in cost and "fewer" not in cost
    assert "precision changes after init: none" in text
    assert "PRT" not in text


def test_adapt_text_changes_sparsity_prt_and_extras(adapt_run):
    text = render_report(load_run(adapt_run))
    assert "final test accuracy: 98.58%" in text and "controller: adapt" in text
    assert table_row(text, "4")[0] == "4*"
    assert table_row(text, "conv1") == ["conv1", "<7,auto>", "<8,auto>", "<16,auto>", "7.10",
                                        "8.00", "30.20", "5.0%", "3"]
    assert table_row(text, "fc1") == ["fc1", "<4,2>", "<6,auto>", "fp32", "4.90", "7.20", "32.00",
                                      "45.7%", "4"]
    assert "sparsity" in text
    assert "precision changes after init: 10 (push-down 8, push-up 2)" in text
    prt = section(text, "Precision range test")
    assert "q_min = 4 bits" in prt and "91.20% <- q_min" in prt and "30.00%" in prt
    cost = section(text, "Cost estimates")
    assert "0.0417x" in cost and "23.98x fewer" in cost and "speedup 3.20x" in cost
    assert "weight density 67.9%" in cost and "0.1017x" in cost
    assert '"lookback": 50' in section(text, "Other summary fields")


def test_in_progress_run_without_summary(tmp_path):
    """No summary.json yet: header from config, final precision from the last precision rows."""
    cfg = {"name": "x", "model": "lenet5", "dataset": "mnist", "epochs": 10, "seed": 3,
           "controller": {"name": "adapt"}}
    prec = init_rows((8, None), (8, None), (None, None)) + [
        {"step": 300, "epoch": 1, "layer": "fc1", "kind": "weight", "bits": 5, "frac": 4,
         "signed": True, "reason": "push-down"}]
    metrics = make_metrics([(0.5, 0.8, 0.3, 0.9), (0.3, 0.9, float("nan"), 0.95)])
    metrics.append({**metrics[-1], "test_accuracy": 0.9512})  # resumed run rewrote epoch 2
    d = write_run(tmp_path / "run", config=cfg, metrics=metrics, precision=prec)
    text = render_report(load_run(d))
    assert "controller: adapt" in text and "seed: 3" in text and "epochs: 2" in text
    assert "no summary.json" in text
    assert "final test accuracy: 95.12%" in text
    assert table_row(text, "2")[4:6] == ["nan", "95.12%"]
    assert sum(1 for l in text.splitlines() if l.split()[:1] in (["2"], ["2*"])) == 1
    assert table_row(text, "fc1")[:4] == ["fc1", "<5,4>", "<8,auto>", "fp32"]
    assert "Cost estimates" not in text


def test_summary_only_run_renders(tmp_path, static8_run):
    (static8_run / "metrics.jsonl").unlink()
    (static8_run / "precision.jsonl").unlink()
    (static8_run / "config.yaml").unlink()
    text = render_report(load_run(static8_run), png_path=tmp_path / "r.png")
    assert "metrics.jsonl is empty" in text and "98.76%" in text
    assert (tmp_path / "r.png").read_bytes()[:8] == PNG_MAGIC


# -- PNG ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("fixture", ["fp32_run", "static8_run", "adapt_run"])
def test_png_written_atomically(fixture, request):
    run_dir = request.getfixturevalue(fixture)
    png = run_dir / "report.png"
    text = render_report(load_run(run_dir), png_path=png)
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 20_000
    assert f"Plot: {png}" in text
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_png_overwrites_and_creates_parent(tmp_path, adapt_run):
    png = tmp_path / "plots" / "deep" / "r.png"
    render_report(load_run(adapt_run), png_path=png)
    png.write_bytes(b"old")
    render_report(load_run(adapt_run), png_path=png)
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_png_for_empty_run(tmp_path):
    d = write_run(tmp_path / "empty", metrics=[], precision=[])
    text = render_report(load_run(d), png_path=d / "report.png")
    assert "(metrics.jsonl is empty)" in text and "(no precision recorded)" in text
    assert (d / "report.png").read_bytes()[:8] == PNG_MAGIC


def test_png_unwritable_is_output_error(tmp_path, static8_run):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write report plot"):
        render_report(load_run(static8_run), png_path=blocker / "report.png")


def test_plot_series_fall_back_to_summary_precision(static8_run):
    from hostsw.report.plot import bit_series, build_figure

    (static8_run / "precision.jsonl").write_text("")
    run = load_run(static8_run)
    series, source = bit_series(run)
    assert source.startswith("summary.json")
    assert series[("conv1", "weight")] == [(0, 8), (1407, 8)]
    fig = build_figure(run)
    assert len(fig.axes) >= 3


def test_plot_shows_act_panel_only_when_it_differs(static8_run, adapt_run):
    from hostsw.report.plot import build_figure

    def titles(d):
        return [a.get_title() for a in build_figure(load_run(d)).axes]

    t_static = titles(static8_run)
    assert any("weights" in t and "activations identical" in t for t in t_static)
    assert not any(t.startswith("activations") for t in t_static)
    t_adapt = titles(adapt_run)
    assert any(t.startswith("activations") for t in t_adapt)
    assert any(t.startswith("gradients") for t in t_adapt)


# -- errors -------------------------------------------------------------------------------------
def _one_line(err):
    msg = str(err.value)
    assert "\n" not in msg and isinstance(err.value, HostswError)
    return msg


def test_not_a_run_dir(tmp_path):
    (tmp_path / "config.yaml").write_text("name: x\n")
    with pytest.raises(ConfigError) as err:
        load_run(tmp_path)
    msg = _one_line(err)
    assert str(tmp_path) in msg and "not a hostsw run directory (no metrics.jsonl)" in msg
    assert "hostsw train" in msg


def test_missing_dir_and_file_path(tmp_path):
    with pytest.raises(ConfigError, match="not a hostsw run directory") as err:
        load_run(tmp_path / "nope")
    _one_line(err)
    f = tmp_path / "metrics.jsonl"
    f.write_text("{}\n")
    with pytest.raises(ConfigError, match="not a hostsw run directory"):
        load_run(f)


def test_malformed_metrics_line(fp32_run):
    lines = (fp32_run / "metrics.jsonl").read_text().splitlines()
    lines[1] = lines[1][:-5]  # truncate line 2
    (fp32_run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as err:
        load_run(fp32_run)
    msg = _one_line(err)
    assert "metrics.jsonl line 2" in msg and "malformed JSON" in msg


def test_malformed_precision_rows(fp32_run):
    p = fp32_run / "precision.jsonl"
    p.write_text(p.read_text() + "[1, 2]\n")
    with pytest.raises(ConfigError, match=r"precision.jsonl line 16: expected a JSON object"):
        load_run(fp32_run)
    p.write_text(json.dumps({"step": 0, "layer": "conv1", "bits": 8}) + "\n")
    with pytest.raises(ConfigError, match=r"precision.jsonl line 1: missing key\(s\) kind"):
        load_run(fp32_run)


def test_malformed_summary_and_config(fp32_run):
    (fp32_run / "summary.json").write_text('{"test_accuracy": 0.9,\n "epochs": }')
    with pytest.raises(ConfigError, match=r"summary.json line 2: malformed JSON") as err:
        load_run(fp32_run)
    _one_line(err)
    (fp32_run / "summary.json").unlink()
    (fp32_run / "config.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"config.yaml.*malformed YAML") as err:
        load_run(fp32_run)
    _one_line(err)


def test_nan_is_tolerated_in_table(fp32_run):
    rows = [json.loads(l) for l in (fp32_run / "metrics.jsonl").read_text().splitlines()]
    rows[0]["train_loss"] = math.inf
    (fp32_run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert table_row(render_report(load_run(fp32_run)), "1")[2] == "inf"


def test_hardware_section_names_the_compiler_that_built_the_simulation(static8_run):
    run_dir = static8_run if not hasattr(static8_run, "path") else static8_run.path
    csim = {"samples": 10, "exact_match_rate": 1.0, "argmax_agreement": 1.0,
            "compiler": "clang++ -std=c++17 -O2 -fPIC", "project": "p", "onnx": "m.onnx"}
    (Path(run_dir) / "csim.json").write_text(json.dumps(csim))
    text = render_report(load_run(run_dir), png_path=None)
    assert "Hardware (hls4ml ap_fixed project, clang++ C simulation)" in text
