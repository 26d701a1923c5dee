"""One writer per run directory, and settings that must be finite numbers.

A run directory is held by the process writing it (``RunDir.lock``: an exclusive flock on the
directory itself): a second ``train`` into it, or a ``--resume`` while it is still training, is
a one-line error that touches nothing. NaN or ±inf in any setting is refused before anything is
written."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from groklab.cli.main import main
from groklab.errors import ConfigError
from groklab.runs.rundir import RunDir

SRC = Path(__file__).parents[1] / "src"
TINY = ["--quiet", "--p", "7", "--set", "model.d_model=16", "--set", "model.n_layers=1",
        "--batch_size", "8"]


def test_a_locked_run_directory_refuses_a_second_writer(tmp_path):
    run = RunDir(tmp_path)
    held = run.lock()
    with pytest.raises(ConfigError, match=f"being written by groklab process {os.getpid()};"):
        RunDir(tmp_path).lock()
    run.unlock(held)
    again = RunDir(tmp_path).lock()  # free once the first writer let go
    RunDir.unlock(again)
    assert sorted(os.listdir(tmp_path)) == []  # the lock adds no file


@pytest.mark.parametrize("flag, value, message", [
    ("--learning_rate", "nan", "optim.learning_rate=nan is not a finite number"),
    ("--weight_decay", "inf", "optim.weight_decay=inf is not a finite number"),
    ("--set", "optim.b1=-inf", "optim.b1=-inf is not a finite number"),
    ("--set", "distill.temperature=nan", "distill.temperature=nan is not a finite number"),
    ("--per_seed", "learning_rate=1e-3,nan", "per_seed.learning_rate[1]=nan is not a finite"),
    ("--set", "train.epochs=1e400", "train.epochs='1e400' must be an integer"),
])
def test_non_finite_settings_are_one_line_errors(tmp_path, capsys, flag, value, message):
    out = tmp_path / "run"
    code = main(["train", *TINY, "--seeds", "0,1", flag, value, "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not out.exists()


@pytest.mark.slow
def test_resume_or_a_new_run_while_a_run_trains_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-m", "groklab", "train", *TINY, "--epochs", "400",
                             "--out", str(run)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 180
        while not (run / "metrics.jsonl").exists() and time.time() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        config = (run / "config.yaml").read_bytes()
        code = main(["train", *TINY, "--epochs", "400", "--out", str(run), "--resume"])
        err = capsys.readouterr().err.strip().splitlines()
        holder = f"being written by groklab process {proc.pid};"  # the holder's PID is named
        assert code == 2 and len(err) == 1 and holder in err[0], err
        assert main(["train", *TINY, "--out", str(run)]) == 2  # a new run: it holds one
        assert "already holds a run" in capsys.readouterr().err
        assert (run / "config.yaml").read_bytes() == config
        assert proc.poll() is None  # the first writer goes on, undisturbed
    finally:
        proc.terminate()
        proc.wait(timeout=120)
    # once it has stopped (interrupted by SIGTERM), the run resumes
    assert main(["train", *TINY, "--epochs", "2", "--out", str(run), "--resume"]) == 0
