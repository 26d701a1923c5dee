"""The command line: one-line errors with exit code 2 and nothing written; the run directory
contract; reproduction from config.yaml; kill -9 then --resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from groklab.cli.main import main

TINY = ["--p", "7", "--set", "model.d_model=16", "--set", "model.n_layers=1",
        "--batch_size", "8", "--quiet"]


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("groklab: error: "), err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


@pytest.mark.parametrize("argv, fragments", [
    (["--operation", "frobnicate"], ["unknown task 'frobnicate'", "div"]),
    (["--operation", "div", "--p", "96"], ["p=96 is not prime", "div"]),
    (["--train_fraction", "1.5"], ["train_fraction=1.5", "(0, 1)"]),
    (["--set", "model.d_model=100", "--set", "model.n_heads=3"],
     ["d_model=100 is not divisible by n_heads=3"]),
    (["--preset", "gpt5"], ["unknown preset 'gpt5'", "seed-teacher"]),
    (["--set", "model.colour=blue"], ["unknown config key 'model.colour'"]),
    (["--set", "nonsense"], ["--set 'nonsense' must look like key=value"]),
    (["--optimizer", "lion"], ["unknown optimizer 'lion'", "adamw"]),
    (["--epochs", "0"], ["train.epochs=0"]),
    (["--seeds", "0,x"], ["--seeds '0,x'"]),
    (["--per_seed", "learning_rate=1e-3,1e-2"], ["per_seed.learning_rate", "one value per seed"]),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(capsys, tmp_path, argv, fragments):
    out = tmp_path / "run"
    code, _, err = cli(capsys, "train", "--out", str(out), "--quiet", *argv)
    assert_one_line_error(code, err, *fragments)
    assert not out.exists()


def test_malformed_and_missing_config_files(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: [unclosed\n")
    code, _, err = cli(capsys, "train", "--config", str(bad), "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "bad.yaml", "malformed")
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[task\nname = 'div'\n")
    code, _, err = cli(capsys, "train", "--config", str(bad_toml), "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "bad.toml", "malformed")
    code, _, err = cli(capsys, "train", "--config", str(tmp_path / "nope.yaml"))
    assert_one_line_error(code, err, "nope.yaml", "does not exist")
    wrong_key = tmp_path / "wrong.toml"
    wrong_key.write_text("[task]\nname = 'div'\nmodulus = 7\n")
    code, _, err = cli(capsys, "train", "--config", str(wrong_key), "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "unknown config key 'task.modulus'")
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_run_directory_contract_and_reproduction(capsys, tmp_path):
    out = tmp_path / "run"
    code, stdout, _ = cli(capsys, "train", *TINY, "--epochs", "4", "--num_seeds", "2",
                          "--out", str(out), "--pdf")
    assert code == 0 and "run directory" in stdout
    for name in ("config.yaml", "split.npz", "metrics.jsonl", "summary.json",
                 "figures/curves.png", "figures/curves_logx.png", "figures/curves.pdf"):
        assert (out / name).exists(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed"
    for key in ("groklab_version", "config", "wall_time_s", "compile_time_s", "steps_per_s",
                "peak_rss_mb"):
        assert key in summary
    assert 50 < summary["peak_rss_mb"] < 24_000  # a process that ran JAX, in MB
    seed0 = summary["seeds"][0]
    assert set(seed0["steps_to_val_acc"]) == {"0.5", "0.9", "0.95", "0.99"}
    assert set(seed0["final"]) == {"train_acc", "val_acc", "train_loss", "val_loss",
                                   "weight_norm"}
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 4 * 2
    for key in ("step", "epoch", "seed", "train_loss", "train_acc", "val_loss", "val_acc", "lr",
                "weight_norm", "grad_norm"):
        assert key in records[0]
    split = np.load(out / "split.npz", allow_pickle=False)
    assert split["train_idx"].shape == (2, 21) and split["val_idx"].shape == (2, 21)
    assert not np.array_equal(split["train_idx"][0], split["train_idx"][1])
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["task"]["p"] == 7 and cfg["seeds"] == [0, 1] and cfg["model"]["d_vocab"] == 9
    steps = sorted(int(p.name) for p in (out / "checkpoints" / "params").iterdir()
                   if p.name.isdigit())
    assert steps[-1] == 12 and 3 in steps  # final + log-spaced (first eval)

    # re-running from the saved config reproduces the metrics exactly
    out2 = tmp_path / "again"
    code, _, _ = cli(capsys, "train", "--config", str(out / "config.yaml"), "--out", str(out2),
                     "--quiet")
    assert code == 0
    assert (out2 / "metrics.jsonl").read_text() == (out / "metrics.jsonl").read_text()

    # the directory now holds a run: refuse to overwrite it, refuse a changed resume
    code, _, err = cli(capsys, "train", *TINY, "--epochs", "4", "--out", str(out))
    assert_one_line_error(code, err, "already holds a run", "--resume")
    code, _, err = cli(capsys, "train", *TINY, "--num_seeds", "2", "--learning_rate", "0.01",
                       "--out", str(out), "--resume")
    assert_one_line_error(code, err, "cannot resume", "optim.learning_rate")


@pytest.mark.slow
def test_resume_without_a_run_or_checkpoint(capsys, tmp_path):
    code, _, err = cli(capsys, "train", *TINY, "--out", str(tmp_path / "empty"), "--resume")
    assert_one_line_error(code, err, "nothing to resume")
    run = tmp_path / "no_ckpt"
    run.mkdir()
    code, _, _ = cli(capsys, "train", *TINY, "--epochs", "2", "--out", str(run / "r"))
    assert code == 0
    import shutil

    # the training state lost but parameters saved (e.g. a kill between the two saves of the
    # first checkpoint): a one-line warning, and the run is recomputed from step 0, exactly
    first = (run / "r" / "metrics.jsonl").read_text()
    shutil.rmtree(run / "r" / "checkpoints" / "state")
    code, _, err = cli(capsys, "train", *TINY, "--epochs", "2", "--out", str(run / "r"),
                       "--resume")
    assert code == 0, err
    assert "groklab: warning:" in err and "starting again from step 0" in err
    assert "Traceback" not in err
    assert (run / "r" / "metrics.jsonl").read_text() == first
    # killed before its first checkpoint (config and split written, nothing saved): --resume
    # starts again from step 0 and records exactly what the run would have
    shutil.rmtree(run / "r" / "checkpoints")
    (run / "r" / "summary.json").unlink()
    (run / "r" / "metrics.jsonl").write_text(first.splitlines(keepends=True)[0][:20])
    code, _, err = cli(capsys, "train", *TINY, "--epochs", "2", "--out", str(run / "r"),
                       "--resume")
    assert code == 0, err
    assert (run / "r" / "metrics.jsonl").read_text() == first


@pytest.mark.slow
def test_resume_needs_only_the_run_directory(capsys, tmp_path):
    run = tmp_path / "r"
    assert cli(capsys, "train", *TINY, "--epochs", "2", "--out", str(run))[0] == 0
    code, _, err = cli(capsys, "train", "--out", str(run), "--resume", "--epochs", "3")
    assert code == 0, err  # the saved config.yaml is the base; --epochs extends the budget
    assert json.loads((run / "summary.json").read_text())["epoch"] == 3


@pytest.mark.slow
def test_kill_9_then_resume_matches_an_uninterrupted_run(capsys, tmp_path):
    args = [*TINY, "--epochs", "300", "--num_seeds", "2", "--set", "train.checkpoint_every=60"]
    full = tmp_path / "full"
    assert cli(capsys, "train", *args, "--out", str(full))[0] == 0

    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "groklab", "train", *args, "--out",
                             str(killed)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    state_dir = killed / "checkpoints" / "state"
    deadline = time.time() + 120
    while time.time() < deadline:
        steps = [p for p in state_dir.glob("*") if p.name.isdigit()] if state_dir.exists() else []
        if any(int(p.name) >= 120 for p in steps):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["status"] == "interrupted"  # readable after kill -9
    assert summary["step"] < 900, "the run finished before it could be killed"

    code, _, _ = cli(capsys, "train", *args, "--out", str(killed), "--resume")
    assert code == 0
    assert (killed / "metrics.jsonl").read_text() == (full / "metrics.jsonl").read_text()
    assert json.loads((killed / "summary.json").read_text())["seeds"] == \
        json.loads((full / "summary.json").read_text())["seeds"]


@pytest.mark.slow
def test_tasks_and_presets_commands(capsys, tmp_path):
    code, out, _ = cli(capsys, "tasks", "--p", "97")
    assert code == 0 and "9,312" in out and "14,400" in out and "s5_conjugate" in out
    assert "[a, op, b, op, c, =]" in out  # definitions are printed verbatim, not as markup
    code, out, _ = cli(capsys, "presets")
    assert code == 0 and "550,272" in out and "144,064" in out
    dest = tmp_path / "div.csv"
    code, out, _ = cli(capsys, "tasks", "export", "div", "--p", "5", "--out", str(dest))
    lines = dest.read_text().splitlines()
    assert code == 0 and lines[0] == "tokens,label" and len(lines) == 1 + 20
    code, _, err = cli(capsys, "tasks", "export", "div", "--p", "6", "--out", str(dest))
    assert_one_line_error(code, err, "p=6 is not prime")
