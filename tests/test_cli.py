"""The hostsw command line: --help everywhere, one-line errors with exit 2, no half-written output."""

import pytest

from hostsw.cli import build_parser, main

SUBCOMMANDS = ["train", "report", "presets", "export", "hls", "csim"]


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_help_for_every_subcommand(sub, capsys):
    with pytest.raises(SystemExit) as e:
        main([sub, "--help"])
    assert e.value.code == 0
    assert "usage: hostsw " + sub in capsys.readouterr().out


def test_subcommands_are_the_documented_ones():
    actions = [a for a in build_parser()._actions if a.dest == "command"][0]
    assert set(SUBCOMMANDS) <= set(actions.choices)


def _fails(argv, capsys, match):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("hostsw: error: ") and match in err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_unknown_preset(capsys, tmp_path):
    _fails(["train", "--preset", "lenet7", "--out", str(tmp_path / "o")], capsys, "unknown preset")
    assert not (tmp_path / "o").exists()


def test_malformed_yaml(capsys, tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("model: [mlp\n")
    _fails(["train", "--config", str(f), "--out", str(tmp_path / "o")], capsys, "not valid YAML")
    assert not (tmp_path / "o").exists()


def test_bits_zero(capsys, tmp_path):
    f = tmp_path / "zero.yaml"
    f.write_text("model: mlp\ndataset: digits\nepochs: 1\ncontroller: {name: static, weight: 0}\n")
    _fails(["train", "--config", str(f), "--out", str(tmp_path / "o"), "--no-progress"], capsys,
           "bits=0")
    assert not (tmp_path / "o").exists()  # a run that cannot start leaves nothing behind


def test_missing_dataset(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    f = tmp_path / "c.yaml"
    f.write_text("model: alexnet\ndataset: cifar10\nepochs: 1\n")
    _fails(["train", "--config", str(f), "--data-dir", str(empty), "--out", str(tmp_path / "o")],
           capsys, "CIFAR-10")
    assert not (tmp_path / "o").exists()


def test_unwritable_output_directory(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    _fails(["train", "--preset", "mlp-digits-static8", "--out", str(blocker / "run")], capsys,
           "cannot write to output directory")


def test_resume_missing_run(capsys, tmp_path):
    _fails(["train", "--resume", str(tmp_path / "nope")], capsys, "does not exist")


def test_report_on_non_run(capsys, tmp_path):
    _fails(["report", str(tmp_path)], capsys, "not a hostsw run directory")


def test_threads_zero(capsys, tmp_path):
    _fails(["train", "--preset", "mlp-digits-static8", "--threads", "0", "--out",
            str(tmp_path / "o")], capsys, "--threads 0")
    assert not (tmp_path / "o").exists()


def test_train_and_report_end_to_end(capsys, tmp_path):
    import torch
    out = tmp_path / "run"
    threads = torch.get_num_threads()
    try:
        assert main(["train", "--preset", "mlp-digits-static8", "--epochs", "2", "--out",
                     str(out), "--no-progress", "--threads", "1"]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    assert "test accuracy" in capsys.readouterr().out
    assert main(["report", str(out)]) == 0
    text = capsys.readouterr().out
    assert "fc1" in text and "0.0625" in text
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv,hint", [
    (["train", "--bogus"], "run 'hostsw train --help' for usage"),
    (["train", "--epochs", "x"], "run 'hostsw train --help' for usage"),
    (["frob"], "run 'hostsw --help' for usage"),
    (["csim", "--jobs", "two"], "run 'hostsw csim --help' for usage"),
])
def test_argparse_errors_are_one_line_plus_hint(argv, hint, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("hostsw: error: ") and lines[1] == hint
    assert "usage:" not in captured.err and captured.out == ""


def test_interrupted_train_names_the_run_directory(capsys, tmp_path, monkeypatch):
    from hostsw.train import Trainer

    def interrupt(self):
        raise KeyboardInterrupt
    monkeypatch.setattr(Trainer, "fit", interrupt)
    out = tmp_path / "run"
    assert main(["train", "--preset", "mlp-digits-static8", "--limit-train", "128",
                 "--limit-test", "64", "--no-progress", "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert f"hostsw train --resume {out}`" in err and "RUN_DIR" not in err


@pytest.mark.parametrize("sub,target", [("export", "hostsw.export.export_run"),
                                        ("csim", "hostsw.export.flow.run_csim")])
def test_interrupted_export_or_csim_does_not_suggest_resume(sub, target, capsys, tmp_path,
                                                             monkeypatch):
    def interrupt(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(target, interrupt)
    assert main([sub, str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert "--resume" not in err and f"{sub} interrupted" in err and "rerun" in err
    assert err.count("\n") == 1


def test_nproc_launch_leaves_no_agent_folders(tmp_path, monkeypatch):
    """torch's elastic agent makes ``torchelastic_*`` in $TMPDIR and never removes it."""
    import argparse
    import tempfile
    from pathlib import Path
    from hostsw.cli_distributed import launch
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    seen = []

    def fake_launch(config, entrypoint):
        seen.append(Path(config.logs_specs.root_log_dir))
        assert seen[-1].is_dir()
        return lambda *argv: None
    monkeypatch.setattr("torch.distributed.launcher.api.elastic_launch", fake_launch)
    assert launch(argparse.Namespace(nproc=2, resume=None, out="o"), ["train"]) == 0
    assert seen and list(tmp_path.iterdir()) == []


def test_nproc_runs_share_one_default_run_folder(monkeypatch):
    """Without --out every launched process would pick its own runs/<name>-<time>, and a message
    about a process that died would name none of them."""
    import hostsw.cli_distributed as cd
    got = []
    monkeypatch.setattr(cd, "launch", lambda args, argv: got.append((args.out, argv)) or 0)
    assert main(["train", "--preset", "mlp-digits-static8", "--nproc", "2"]) == 0
    (out, argv), = got
    assert out.startswith("runs/mlp-digits-static8-") and argv[-2:] == ["--out", out]
