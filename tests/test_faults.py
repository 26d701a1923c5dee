"""Fault injection: kills at chosen moments (between evaluations, in the middle of a metrics line,
inside a checkpoint, between a checkpoint and its summary), damaged checkpoints and metrics
files, and a full disk. Every scenario must end either identical to an uninterrupted run, or
with a one-line error after which ``--resume`` completes it identically: no record lost, none
duplicated (docs/reliability.md)."""

import csv
import errno
import json
import os
import random
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from groklab.cli.main import main
from groklab.runs.checkpoints import Checkpoints
from groklab.runs.files import write_atomic
from groklab.runs.metrics import MetricsCheck

SRC = Path(__file__).parents[1] / "src"
SCRIPT = Path(__file__).parent / "scripts" / "faulty_train.py"
# div mod 7: 42 rows, 21 train; batch 8 → 3 steps and one evaluation per epoch. Checkpoints:
# log-spaced (evaluations 1, 2, 4, 8 → steps 3, 6, 12, 24), every 6 steps, and the last one.
TINY = ["--quiet", "--p", "7", "--set", "model.d_model=16", "--set", "model.n_layers=1",
        "--set", "model.dropout=0.1", "--batch_size", "8", "--num_seeds", "2",
        "--set", "train.checkpoint_every=6"]
EPOCHS, SHORT = 12, 8
EVAL_STEPS = [3 * k for k in range(1, EPOCHS + 1)]
CHECKPOINT_STEPS = [3, 6, 12, 18, 24, 30, 36]


def train(capsys, out: Path, epochs: int, *extra) -> tuple[int, str]:
    code = main(["train", *TINY, "--epochs", str(epochs), "--out", str(out), *extra])
    return code, capsys.readouterr().err


def lines(run: Path) -> list[str]:
    return (run / "metrics.jsonl").read_text().splitlines()


def summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Uninterrupted runs of SHORT and EPOCHS epochs."""
    root = tmp_path_factory.mktemp("reference")
    for epochs in (SHORT, EPOCHS):
        assert main(["train", *TINY, "--epochs", str(epochs), "--out",
                     str(root / str(epochs))]) == 0
    return root


def assert_same_run(run: Path, ref: Path) -> None:
    got = lines(run)
    keys = [(json.loads(x)["step"], json.loads(x)["seed"]) for x in got]
    assert len(keys) == len(set(keys)), "a record was written twice"
    assert got == lines(ref)  # byte-identical, record for record: nothing lost
    assert summary(run)["status"] == "completed"
    assert summary(run)["seeds"] == summary(ref)["seeds"]


def assert_warned(err: str, *parts: str) -> None:
    assert "Traceback" not in err, err
    warnings = [x for x in err.splitlines() if x.startswith("groklab: warning:")]
    assert any(all(p in w for p in parts) for w in warnings), err


def resumed_from_short(capsys, reference, tmp_path, damage) -> tuple[Path, str]:
    """A copy of the completed SHORT run, damaged by ``damage(run)``, resumed to EPOCHS."""
    run = tmp_path / "run"
    shutil.copytree(reference / str(SHORT), run)
    damage(run)
    code, err = train(capsys, run, EPOCHS, "--resume")
    assert code == 0, err
    return run, err


# ----- kills -----

_rng = random.Random(17)  # the "random" moments, fixed so that a failure can be replayed
KILLS = [
    ("kill-after-metrics", _rng.choice([s for s in EVAL_STEPS if s not in CHECKPOINT_STEPS])),
    ("kill-after-metrics", 12),  # its records written, its checkpoint not yet
    ("kill-mid-metrics", _rng.choice(EVAL_STEPS[1:-1])),
    ("kill-after-params", _rng.choice(CHECKPOINT_STEPS[1:-1])),
    ("kill-after-state", _rng.choice(CHECKPOINT_STEPS[1:-1])),
]


@pytest.mark.slow
@pytest.mark.parametrize("fault, step", KILLS)
def test_a_kill_then_resume_matches_an_uninterrupted_run(capsys, reference, tmp_path, fault,
                                                          step):
    run = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), fault, str(step), "--", "train", *TINY, "--epochs",
         str(EPOCHS), "--out", str(run)],
        env={**os.environ, "PYTHONPATH": str(SRC)}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-3000:]
    if fault == "kill-mid-metrics":  # half of the step's first line is on disk
        assert not (run / "metrics.jsonl").read_text().endswith("\n")
    else:
        assert max(json.loads(x)["step"] for x in lines(run)) == step
    code, err = train(capsys, run, EPOCHS, "--resume")
    assert code == 0 and "Traceback" not in err, err
    assert_same_run(run, reference / str(EPOCHS))


# ----- damaged checkpoints -----

def _truncate_arrays(step_dir: Path) -> None:
    for f in (step_dir / "state").rglob("*"):
        if f.is_file() and f.parent.name == "d":
            os.truncate(f, f.stat().st_size // 2)


def _flip_a_byte(step_dir: Path) -> None:
    # the largest array file; a flipped byte still decodes: only the checksum can tell
    f = max((f for f in (step_dir / "state").rglob("*") if f.is_file() and f.parent.name == "d"),
            key=lambda f: f.stat().st_size)
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))


def _cut_manifest(step_dir: Path) -> None:
    os.truncate(step_dir / "state" / "manifest.ocdbt", 3)


def _remove_item(step_dir: Path) -> None:
    shutil.rmtree(step_dir / "state")


DAMAGES = {"truncated arrays": _truncate_arrays, "a flipped byte": _flip_a_byte,
           "a cut manifest": _cut_manifest, "the state item removed": _remove_item}


@pytest.mark.slow
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_latest_state_falls_back_to_the_previous_one(capsys, reference, tmp_path,
                                                               damage):
    last = 3 * SHORT
    run, err = resumed_from_short(
        capsys, reference, tmp_path,
        lambda run: DAMAGES[damage](run / "checkpoints" / "state" / str(last)))
    assert_warned(err, f"checkpoint at step {last}", "trying an older one")
    assert_same_run(run, reference / str(EPOCHS))


@pytest.mark.slow
def test_every_state_damaged_starts_again_from_step_0_exactly(capsys, reference, tmp_path):
    def damage(run):
        for d in (run / "checkpoints" / "state").iterdir():
            _flip_a_byte(d)

    run, err = resumed_from_short(capsys, reference, tmp_path, damage)
    assert_warned(err, "starting again from step 0")
    assert_same_run(run, reference / str(EPOCHS))


@pytest.mark.slow
def test_a_half_written_checkpoint_left_by_a_kill_is_ignored(capsys, reference, tmp_path):
    def damage(run):  # what a kill inside Orbax's write leaves: a temporary directory
        tmp = run / "checkpoints" / "state" / "27.orbax-checkpoint-tmp-1234"
        shutil.copytree(run / "checkpoints" / "state" / str(3 * SHORT), tmp)
        _truncate_arrays(tmp)

    run, err = resumed_from_short(capsys, reference, tmp_path, damage)
    assert "Traceback" not in err and "warning" not in err, err
    assert_same_run(run, reference / str(EPOCHS))


def test_a_damaged_parameter_checkpoint_is_refused_in_one_line(capsys, reference, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(reference / str(SHORT), run)
    step_dir = run / "checkpoints" / "params" / str(3 * SHORT)
    f = max((f for f in (step_dir / "params").rglob("*") if f.is_file() and f.parent.name == "d"),
            key=lambda f: f.stat().st_size)
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    from groklab.errors import ConfigError

    ckpts = Checkpoints(run / "checkpoints")
    try:
        with pytest.raises(ConfigError, match=f"params/{3 * SHORT}: its arrays do not match"):
            ckpts.restore_params(3 * SHORT)
        ckpts.restore_params(3 * (SHORT - 2))  # the others are intact
    finally:
        ckpts.close()


# ----- damaged metrics -----

@pytest.mark.slow
def test_a_damaged_middle_line_is_set_aside_and_its_records_recomputed(capsys, reference,
                                                                        tmp_path):
    bad = "{\"step\": 9, \"seed\": 0, \"train_lo\x00\x00\x00"

    def damage(run):
        text = lines(run)
        text[5] = bad  # the record of step 9, seed 1
        (run / "metrics.jsonl").write_text("\n".join(text) + "\n")

    run, err = resumed_from_short(capsys, reference, tmp_path, damage)
    assert_warned(err, "line 6 is not a metrics record", "metrics.rejected.txt")
    assert_same_run(run, reference / str(EPOCHS))
    assert (run / "metrics.rejected.txt").read_text() == f"line 6: {bad}\n"  # kept, not lost


def test_the_metrics_check_flags_what_a_report_should_show(tmp_path):
    path = tmp_path / "metrics.jsonl"
    recs = [{"step": s, "seed": k, "val_acc": 0.5} for s in (3, 6, 9) for k in (0, 1)]
    text = [json.dumps(r) for r in recs]
    text.insert(2, "garbage")  # line 3
    text.append(json.dumps(recs[0]))  # step 3 seed 0 again, after step 9: a duplicate
    text.append(json.dumps({"step": 12, "seed": 0})[:10])  # a cut-off last line
    path.write_text("\n".join(text))
    check = MetricsCheck.read(path, seeds=(0, 1))
    assert [n for n, _ in check.bad_lines] == [3]
    assert check.cut_tail
    problems = check.problems()
    assert any("1 damaged line(s) skipped (line 3)" in p for p in problems), problems
    assert any("cut off" in p for p in problems), problems
    assert any("duplicated record(s) (step 3 seed 0" in p for p in problems), problems
    assert any("out of order at line 8 (seed 0: step 3 after step 9)" in p for p in problems)
    # a resume may restart at step 3 (before the damaged line), not later; step 3's records are
    # whole (the later copy is identical), and kept once each
    assert check.why_not_resumable_at(3) is None
    assert check.why_not_resumable_at(6) == "line 3 is damaged"
    assert [(r["step"], r["seed"]) for r in check.kept(3)] == [(3, 0), (3, 1)]


def test_a_step_missing_a_seed_is_not_a_restart_point(tmp_path):
    path = tmp_path / "metrics.jsonl"
    recs = [{"step": s, "seed": k} for s in (3, 6) for k in (0, 1)][:-1]  # step 6 lacks seed 1
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    check = MetricsCheck.read(path, seeds=(0, 1))
    assert check.why_not_resumable_at(3) is None
    assert "step 6 has records for seeds [0], expected [0, 1]" == check.why_not_resumable_at(6)
    assert check.why_not_resumable_at(9) == "no records at step 9"
    assert check.problems() == ["1 step(s) without a record for every seed (first: step 6)"]


# ----- a full disk -----

@pytest.mark.slow
def test_a_full_disk_during_a_checkpoint_is_one_line_and_resume_completes(
        capsys, reference, tmp_path, monkeypatch):
    """ENOSPC raised where checkpoints are written (see the tmpfs test for a real disk)."""
    save_params = Checkpoints.save_params

    def no_space_at_18(self, step, params, metadata):
        if step == 18:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.dir))
        save_params(self, step, params, metadata)

    run = tmp_path / "run"
    monkeypatch.setattr(Checkpoints, "save_params", no_space_at_18)
    code, err = train(capsys, run, EPOCHS)
    monkeypatch.undo()
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("groklab: error: no space left") and "checkpoint 18" in err
    assert "--resume" in err
    code, err = train(capsys, run, EPOCHS, "--resume")
    assert code == 0 and "Traceback" not in err, err
    assert_same_run(run, reference / str(EPOCHS))


def _can_mount_a_tmpfs() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                            "mount -t tmpfs -o size=1m tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _can_mount_a_tmpfs(), reason="cannot mount a tmpfs here (no unshare or "
                    "no user namespaces); the mocked ENOSPC test covers the error path")
def test_a_full_tmpfs_during_a_checkpoint_is_one_line_and_resume_completes(reference,
                                                                            tmp_path):
    """A real full disk: a 64 MB tmpfs in a private mount namespace, filled up once step 18's
    records are written, so that step 18's checkpoint meets ENOSPC in Orbax/TensorStore."""
    mnt, kept = tmp_path / "mnt", tmp_path / "kept"
    mnt.mkdir()
    train_args = " ".join(["train", *TINY, "--epochs", str(EPOCHS), "--out", f"{mnt}/run"])
    script = f"""
        mount -t tmpfs -o size=64m tmpfs {mnt} || exit 90
        {sys.executable} {SCRIPT} fill-disk 18 -- {train_args} 2> {tmp_path}/first.err
        echo $? > {tmp_path}/first.code
        rm {mnt}/filler
        {sys.executable} -m groklab {train_args} --resume 2> {tmp_path}/second.err
        echo $? > {tmp_path}/second.code
        cp -r {mnt}/run {kept}
    """
    proc = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
                          env={**os.environ, "PYTHONPATH": str(SRC)}, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = (tmp_path / "first.err").read_text()
    assert (tmp_path / "first.code").read_text().strip() == "2", first[-3000:]
    assert len(first.strip().splitlines()) == 1, first[-3000:]
    assert first.startswith("groklab: error: no space left") and "--resume" in first
    second = (tmp_path / "second.err").read_text()
    assert (tmp_path / "second.code").read_text().strip() == "0", second[-3000:]
    assert "Traceback" not in second
    assert_same_run(kept, reference / str(EPOCHS))


# ----- file modes -----

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_files_get_the_mode_the_umask_allows(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == mode
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]  # no temporary file left


def test_a_run_directory_is_readable_by_the_group(reference):
    """Under the usual umask (022 in the suite's processes), every file of a run is 0644."""
    current = os.umask(0o022)
    os.umask(current)
    if current != 0o022:
        pytest.skip("the suite does not run under umask 022")
    run = reference / str(SHORT)
    files = [p for p in run.rglob("*") if p.is_file()]
    assert any(p.suffix == ".png" for p in files) and any("checkpoints" in p.parts for p in files)
    unreadable = [str(p.relative_to(run)) for p in files if not p.stat().st_mode & stat.S_IRGRP]
    assert unreadable == []


@pytest.mark.slow
def test_a_report_flags_a_damaged_metrics_file(capsys, reference, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(reference / str(SHORT), run)
    assert main(["report", str(run)]) == 0
    assert "Data integrity" not in (run / "report.md").read_text()  # a sound run: no section
    text = lines(run)
    text.insert(4, text[1])  # step 3 seed 1 written again, after step 6
    text[7] = "not json"
    (run / "metrics.jsonl").write_text("\n".join(text) + "\n")
    assert main(["report", str(run)]) == 0
    report = (run / "report.md").read_text()
    assert "## Data integrity" in report
    for part in ("1 damaged line(s) skipped (line 8)", "1 duplicated record(s) (step 3 seed 1)",
                 "steps out of order at line 5 (seed 1: step 3 after step 6)"):
        assert part in report, report
    assert "Data integrity" in (run / "report.html").read_text()


# ----- an interrupted sweep -----

@pytest.mark.slow
def test_an_interrupted_sweep_exits_130_and_the_same_command_resumes_it(tmp_path):
    """SIGINT while a batched group of two cells trains: exit 130, the group interrupted at a
    checkpoint; the same command then resumes it and finishes both cells."""
    import signal
    import time

    spec = tmp_path / "spec.yaml"
    spec.write_text("name: s\nbase:\n  set: {task.p: 7, model.d_model: 16, model.n_layers: 1, "
                    "train.batch_size: 8, train.epochs: 600}\nseeds: [0]\n"
                    "grid:\n  optim.weight_decay: [0.1, 1.0]\n")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "groklab", "sweep", str(spec), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        metrics = [*out.glob("groups/*/metrics.jsonl"), *out.glob("cells/*/metrics.jsonl")]
        if metrics and metrics[0].read_text().count("\n") >= 5:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 130, stderr[-2000:]
    assert "run the same command again to resume" in stdout and "Traceback" not in stderr
    first = json.loads(next(out.glob("groups/*/summary.json")).read_text())
    assert first["status"] == "interrupted" and first["interrupted_by"] == "SIGINT"
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resuming" in again.stdout
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 2 and {r["status"] for r in rows} == {"completed"}


def test_a_reader_never_removes_a_checkpoint_being_written(reference, tmp_path):
    """Analysis, a teacher or the Python API may read a run while it trains: opening its
    checkpoints read-only must leave the writer's temporary directory (a checkpoint being
    saved) alone; only the run's own writer tidies up."""
    run = tmp_path / "run"
    shutil.copytree(reference / str(SHORT), run)
    saving = run / "checkpoints" / "params" / "27.orbax-checkpoint-tmp-99"
    shutil.copytree(run / "checkpoints" / "params" / str(3 * SHORT), saving)
    with Checkpoints(run / "checkpoints", read_only=True) as ckpts:
        assert 27 not in ckpts.param_steps()
        ckpts.restore_params(3 * SHORT)
    assert saving.is_dir()
    with Checkpoints(run / "checkpoints"):  # the writer's view: leftovers of a dead save go
        pass
    assert not saving.exists()
