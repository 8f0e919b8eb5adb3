"""Shared test fixtures."""

import pytest


@pytest.fixture
def kill_and_resume():
    """Train ``cfg`` into ``path``, interrupt it right after optimizer step ``kill_step`` (as a
    Ctrl-C or a killed process would), then resume it to the end.

    Returns (resume's summary, number of epochs in metrics.jsonl when the run was interrupted).
    """
    from hostsw.io import read_jsonl
    from hostsw.train import Trainer, resume
    from hostsw.train.rundir import start_fresh

    def run(cfg, path, kill_step, options):
        trainer = Trainer(cfg, start_fresh(path, cfg), options)
        original = trainer.controller.on_step_end

        def kill_at(loss):
            original(loss)
            if trainer.step == kill_step:
                raise KeyboardInterrupt
        trainer.controller.on_step_end = kill_at
        with pytest.raises(KeyboardInterrupt):
            trainer.fit()
        epochs_at_kill = len(read_jsonl(trainer.run.metrics))
        return resume(path, options), epochs_at_kill
    return run


@pytest.fixture
def cli_fails(capsys):
    """Run ``hostsw ARGV`` and check the user-error contract: exit 2, one line on stderr that
    starts with ``hostsw: error:`` and contains ``match``, no traceback. Returns the line."""
    from hostsw.cli import main

    def run(argv, match):
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2, err
        assert err.startswith("hostsw: error: ") and match in err, err
        assert err.count("\n") == 1 and "Traceback" not in err
        return err
    return run
