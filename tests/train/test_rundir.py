"""What a run directory is, and that a fresh run never overwrites anything else."""

import pytest

from hostsw.errors import ConfigError
from hostsw.train import config_from_dict
from hostsw.train.rundir import RUN_MARKERS, discard, is_run_dir, start_fresh

CFG = {"model": "mlp", "dataset": "digits", "epochs": 1}


def test_a_users_folder_with_a_config_yaml_is_never_overwritten(tmp_path):
    (tmp_path / "config.yaml").write_text("# mine\n")
    (tmp_path / "notes.txt").write_text("mine\n")
    with pytest.raises(ConfigError, match="holds files that are not a hostsw run"):
        start_fresh(tmp_path, config_from_dict(dict(CFG)))
    assert (tmp_path / "config.yaml").read_text() == "# mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "notes.txt"]


def test_a_file_is_not_a_run_folder(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        start_fresh(tmp_path / "f", config_from_dict(dict(CFG)))


def test_a_started_run_without_checkpoint_may_be_restarted_and_a_finished_one_not(tmp_path):
    cfg = config_from_dict(dict(CFG))
    run = start_fresh(tmp_path / "r", cfg)
    assert is_run_dir(run.path) and sorted(p.name for p in run.path.iterdir()) == sorted(
        RUN_MARKERS)
    start_fresh(tmp_path / "r", cfg)  # only what a start writes: reusable
    run.summary.write_text("{}")
    with pytest.raises(ConfigError, match="already holds a run: pass --resume"):
        start_fresh(tmp_path / "r", cfg)


def test_a_failed_start_removes_the_folders_it_created(tmp_path):
    run = start_fresh(tmp_path / "a" / "b" / "run", config_from_dict(dict(CFG)))
    discard(run)
    assert list(tmp_path.iterdir()) == []


def test_only_a_run_directory_can_be_resumed(tmp_path):
    from hostsw.train.rundir import open_for_resume
    (tmp_path / "config.yaml").write_text("model: mlp\n")
    with pytest.raises(ConfigError, match="not a hostsw run directory \\(no metrics.jsonl\\)"):
        open_for_resume(tmp_path)
