"""A run's life cycle from the outside: SIGTERM then --resume, a metrics file whose last line was
cut, and ``task.split_seed`` (one split shared by every seed)."""

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
from groklab.tasks import make_split, make_task

SRC = Path(__file__).parents[1] / "src"
# div mod 7: 7 · 6 = 42 rows, 21 of them train; batch 8 → 3 steps (and one eval) per epoch
TINY = ["--quiet", "--p", "7", "--set", "model.d_model=16", "--set", "model.n_layers=1",
        "--set", "model.dropout=0.1", "--batch_size", "8"]
STEPS_PER_EPOCH = 3


def train(*argv) -> None:
    code = main(["train", *TINY, *argv])
    assert code == 0


def lines(run: Path) -> list[str]:
    return (run / "metrics.jsonl").read_text().splitlines()


def summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def n_complete_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.slow
def test_sigterm_ends_interrupted_and_resume_matches_an_uninterrupted_run(tmp_path):
    epochs = 150
    args = ["--num_seeds", "2", "--epochs", str(epochs)]
    total = epochs * STEPS_PER_EPOCH
    run = tmp_path / "terminated"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    with (tmp_path / "stdout.txt").open("w") as out, (tmp_path / "stderr.txt").open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "groklab", "train", *TINY, *args,
                                 "--out", str(run)], env=env, stdout=out, stderr=err)
        deadline = time.time() + 180
        while proc.poll() is None and time.time() < deadline:
            if n_complete_lines(run / "metrics.jsonl") >= 3 * 2:  # three evals of two seeds
                break
            time.sleep(0.01)
        if proc.poll() is not None:
            pytest.fail(f"the run ended (code {proc.returncode}) before SIGTERM was sent: "
                        f"{(tmp_path / 'stderr.txt').read_text()[-2000:]}")
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=180)
    stdout = (tmp_path / "stdout.txt").read_text()
    # an interrupted run exits 128 + SIGTERM's number, as shells and schedulers expect
    assert code == 143, (tmp_path / "stderr.txt").read_text()[-2000:]
    s = summary(run)
    assert s["status"] == "interrupted" and s["interrupted_by"] == "SIGTERM"
    stopped = s["step"]
    assert 3 * STEPS_PER_EPOCH <= stopped < total, "SIGTERM came too late to interrupt the run"
    assert stopped % STEPS_PER_EPOCH == 0  # the current chunk is finished, then it stops
    assert f"interrupted at step {stopped} " in stdout
    records = [json.loads(x) for x in lines(run)]
    # every eval up to the stop, both seeds, nothing after it
    assert [(r["step"], r["seed"]) for r in records] == [
        (k * STEPS_PER_EPOCH, seed) for k in range(1, stopped // STEPS_PER_EPOCH + 1)
        for seed in (0, 1)]
    assert (run / "checkpoints" / "state" / str(stopped)).is_dir()

    full = tmp_path / "full"
    train(*args, "--out", str(full))
    assert summary(full)["status"] == "completed" and summary(full)["step"] == total

    train(*args, "--out", str(run), "--resume")
    resumed = summary(run)
    assert resumed["status"] == "completed" and resumed["step"] == total
    assert len(lines(full)) == 2 * epochs
    assert lines(run) == lines(full)  # byte-identical, record for record
    assert resumed["seeds"] == summary(full)["seeds"]


@pytest.fixture(scope="module")
def reference_8_epochs(tmp_path_factory):
    """An uninterrupted two-seed run of 8 epochs."""
    run = tmp_path_factory.mktemp("lifecycle") / "reference"
    train("--num_seeds", "2", "--epochs", "8", "--out", str(run))
    assert len(lines(run)) == 2 * 8
    return run


def four_epochs_then(run: Path, cut) -> None:
    """A completed 4-epoch run (final checkpoint at step 12) whose metrics.jsonl is rewritten by
    ``cut(text)``, then resumed to 8 epochs."""
    train("--num_seeds", "2", "--epochs", "4", "--out", str(run))
    assert summary(run)["step"] == 4 * STEPS_PER_EPOCH
    path = run / "metrics.jsonl"
    path.write_text(cut(path.read_text()))
    train("--num_seeds", "2", "--epochs", "8", "--out", str(run), "--resume")


@pytest.mark.slow
def test_a_partial_line_after_the_last_checkpoint_is_dropped_and_recomputed(
        tmp_path, reference_8_epochs):
    # a crash while appending the next eval's records: half of the step-15 line is on disk
    ref = lines(reference_8_epochs)
    assert json.loads(ref[8])["step"] == 15
    partial = ref[8][: len(ref[8]) // 2]
    run = tmp_path / "run"
    four_epochs_then(run, lambda text: text + partial)
    assert lines(run) == ref


@pytest.mark.slow
def test_a_cut_last_line_at_the_checkpointed_step_is_not_lost(tmp_path, reference_8_epochs):
    ref = lines(reference_8_epochs)
    run = tmp_path / "run"

    def cut_last_line(text: str) -> str:
        body = text.rstrip("\n")
        last = body.rsplit("\n", 1)[1]
        assert json.loads(last)["step"] == 12 and json.loads(last)["seed"] == 1
        return body[: len(body) - len(last) // 2]  # ends in the middle of the last record

    four_epochs_then(run, cut_last_line)
    got = [(r["step"], r["seed"]) for r in map(json.loads, lines(run))]
    assert len(got) == len(set(got)), "a record was written twice"
    assert lines(run) == ref


@pytest.mark.slow
def test_split_seed_gives_every_seed_the_same_split(tmp_path):
    task = make_task("div", 7)
    # independent of groklab: the split is the first half of a seeded permutation of the rows
    perm5 = np.random.default_rng(5).permutation(task.n_rows)
    expected = make_split(task, 0.5, seed=5).train_idx
    np.testing.assert_array_equal(expected, perm5[: task.n_rows // 2])

    shared = tmp_path / "shared"
    train("--seeds", "0,1,2", "--epochs", "1", "--set", "task.split_seed=5", "--out", str(shared))
    z = np.load(shared / "split.npz", allow_pickle=False)
    assert z["seeds"].tolist() == [0, 1, 2]
    assert z["train_idx"].shape == (3, 21)
    for k in range(3):
        np.testing.assert_array_equal(z["train_idx"][k], expected)
        np.testing.assert_array_equal(z["val_idx"][k], perm5[21:])
    assert yaml.safe_load((shared / "config.yaml").read_text())["task"]["split_seed"] == 5
    # the split is shared, the seeds are not: initializations (and so losses) still differ
    first = [json.loads(x) for x in lines(shared)[:3]]
    assert len({r["train_loss"] for r in first}) == 3

    own = tmp_path / "own"
    train("--seeds", "0,1,2", "--epochs", "1", "--out", str(own))
    z = np.load(own / "split.npz", allow_pickle=False)
    for k in range(3):
        np.testing.assert_array_equal(z["train_idx"][k], make_split(task, 0.5, seed=k).train_idx)
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert set(z["train_idx"][a].tolist()) != set(z["train_idx"][b].tolist())
