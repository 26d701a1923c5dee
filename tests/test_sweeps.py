"""Sweep specs: expansion into cells, bad specs, the in-process runner's table and resume."""

import csv
import json

import pytest

from groklab.cli.main import main
from groklab.errors import ConfigError
from groklab.runs.results import COST_KEYS
from groklab.sweeps import load_spec
from groklab.sweeps.run import run_sweep

TINY_BASE = """
base:
  set: {task.p: 7, model.d_model: 16, model.n_layers: 1, model.dropout: 0.0,
        train.batch_size: 8, train.epochs: 2}
"""


def write(tmp_path, text, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_grid_times_zip_expands_into_cells(tmp_path):
    spec = load_spec(write(tmp_path, TINY_BASE + """
seeds: [3, 4]
grid:
  optim.name: [adamw, muon]
  optim.weight_decay: [0.1, 1.0]
zip:
  optim.learning_rate: [0.001, 0.003]
  optim.warmup_steps: [5, 50]
stop_at: 0.9
"""))
    cells = spec.cells()
    assert len(cells) == 2 * 2 * 2
    got = {(c.config.optim.name, c.config.optim.weight_decay, c.config.optim.learning_rate,
            c.config.optim.warmup_steps) for c in cells}
    assert got == {(n, w, lr, ws) for n in ("adamw", "muon") for w in (0.1, 1.0)
                   for lr, ws in ((0.001, 5), (0.003, 50))}
    assert all(c.config.seeds == (3, 4) and c.config.train.stop_at == 0.9 for c in cells)
    assert all(c.config.task.p == 7 for c in cells)
    assert len({c.name for c in cells}) == len(cells)


@pytest.mark.parametrize("text, match", [
    ("grid:\n  optim.nme: [1]\n", "unknown config key 'optim.nme'"),
    ("zip:\n  optim.learning_rate: [0.1, 0.2]\n  optim.warmup_steps: [1]\n", "one length"),
    ("grid:\n  optim.name: adamw\n", "must be a non-empty list"),
    ("axes: {}\n", "unknown key\\(s\\) axes"),
    ("seeds: [0]\nnum_seeds: 2\n", "seeds or num_seeds"),
    ("grid:\n  optim.name: [sgdd]\n", "sgdd"),
])
def test_bad_specs_name_the_value(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_spec(write(tmp_path, text))


@pytest.mark.slow
def test_sweep_writes_the_table_and_skips_or_resumes_cells(tmp_path, capsys):
    spec_path = write(tmp_path, TINY_BASE + """
num_seeds: 2
grid:
  optim.weight_decay: [0.1, 1.0]
""")
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec_path), "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 2 * 2
    assert {r["optim.weight_decay"] for r in rows} == {"0.1", "1.0"}
    assert {r["seed"] for r in rows} == {"0", "1"}
    assert all(r["budget_steps"] for r in rows) and "final_val_acc" in rows[0]
    manifest = json.loads((out / "manifest.json").read_text())
    assert [c["status"] for c in manifest["cells"]] == ["completed", "completed"]
    # finished cells are skipped; an interrupted one resumes from its checkpoint
    first = out / manifest["cells"][0]["dir"]
    before = (first / "metrics.jsonl").read_bytes()
    second = out / manifest["cells"][1]["dir"] / "summary.json"
    s = json.loads(second.read_text())
    s["status"] = "interrupted"
    second.write_text(json.dumps(s))
    capsys.readouterr()
    rows2 = run_sweep(load_spec(spec_path), out, log=print)
    log = capsys.readouterr().out
    assert "done (completed), skipped" in log and "resuming" in log
    assert (first / "metrics.jsonl").read_bytes() == before
    assert len(rows2) == 4
    # another spec into the same directory is refused
    other = write(tmp_path, TINY_BASE + "num_seeds: 1\n", "other.yaml")
    with pytest.raises(ConfigError, match="holds another sweep"):
        run_sweep(load_spec(other), out)


# ----- cells batched into one program, kill / resume, the Ray backend -----

BATCH_SPEC = """
base:
  set: {task.name: add, task.p: 11, task.train_fraction: 0.6, model.d_model: 32,
        model.n_heads: 2, model.n_layers: 1, model.d_mlp: 64, model.dropout: 0.0,
        train.batch_size: 32, train.epochs: 60}
seeds: [0, 1]
grid:
  optim.weight_decay: [0.1, 1.0]
  optim.learning_rate: [0.003, 0.01]
stop_at: 0.4
"""  # two cells stop early (at different epochs), two run the whole budget


def _fingerprint(out):
    """Everything a sweep's results are: the table, each cell's metrics, summary milestones,
    status and checkpoint steps."""
    table = [{k: v for k, v in row.items() if k not in COST_KEYS}  # measured, not reproduced
             for row in csv.DictReader((out / "results.csv").open())]
    cells = {}
    for d in sorted((out / "cells").iterdir()):
        s = json.loads((d / "summary.json").read_text())
        cells[d.name] = ((d / "metrics.jsonl").read_text(), s["status"], s["step"], s["seeds"],
                         sorted(int(x.name) for x in (d / "checkpoints" / "params").iterdir()))
    return table, cells


@pytest.fixture(scope="module")
def batched_sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("batched")
    out = root / "out"
    logs = []
    run_sweep(load_spec(write(root, BATCH_SPEC)), out, log=logs.append)
    return out, logs


@pytest.mark.slow
def test_cells_differing_in_lr_and_wd_share_one_program(batched_sweep):
    out, logs = batched_sweep
    assert "in 1 compiled program(s)" in logs[0]
    assert "batched into shared programs: optim.learning_rate, optim.weight_decay" in logs[0]
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["groups"]) == 1 and len(manifest["groups"][0]["cells"]) == 4
    statuses = sorted(c["status"] for c in manifest["cells"])
    assert statuses == ["completed", "completed", "stopped_early", "stopped_early"]
    assert not (out / "groups").exists()  # the group directory is gone once every cell is out
    cell = out / manifest["cells"][3]["dir"]
    s = json.loads((cell / "summary.json").read_text())
    assert s["batch"]["group"] == "group_000" and s["config"]["seeds"] == [0, 1]
    assert s["config"]["rng_seeds"] == [] and s["config"]["per_seed"] == {}


@pytest.mark.slow
def test_batched_cells_equal_one_program_per_cell(batched_sweep, tmp_path):
    """A member of a shared program is exactly the run it stands for: the same table, metrics,
    milestones, stop step and checkpoints as one compile per cell (bitwise on this CPU)."""
    out, _ = batched_sweep
    spec = load_spec(write(tmp_path, BATCH_SPEC + "batch_cells: false\n"))
    logs = []
    run_sweep(spec, tmp_path / "out", log=logs.append)
    assert "in 4 compiled program(s)" in logs[0]
    assert _fingerprint(tmp_path / "out") == _fingerprint(out)


class _Killed(BaseException):
    """Stands for kill -9: nothing after it runs, no cleanup."""


@pytest.mark.slow
@pytest.mark.parametrize("where", ["after_cell", "inside_cell"])
def test_batched_group_resumes_after_a_kill(batched_sweep, tmp_path, monkeypatch, where):
    from groklab.experiments import writer as writer_mod
    from groklab.sweeps import group as group_mod

    out, _ = batched_sweep
    spec_path = write(tmp_path, BATCH_SPEC)
    real_write, real_plot = group_mod._SplitOff._write, writer_mod.plot_training_curves
    calls = {"write": 0, "plot": 0}

    def write_then_die(self, *a):
        real_write(self, *a)
        calls["write"] += 1
        raise _Killed  # the first cell is out, the others are still training

    def die_mid_cell(*a, **k):
        calls["plot"] += 1
        if calls["plot"] == 3:  # the second cell's figures: checkpoints written, not renamed
            raise _Killed
        return real_plot(*a, **k)

    if where == "after_cell":
        monkeypatch.setattr(group_mod._SplitOff, "_write", write_then_die)
    else:
        monkeypatch.setattr(writer_mod, "plot_training_curves", die_mid_cell)
    with pytest.raises(_Killed):
        run_sweep(load_spec(spec_path), tmp_path / "out", log=lambda line: None)
    monkeypatch.undo()
    done = [d.name for d in (tmp_path / "out" / "cells").iterdir()]
    assert len([d for d in done if not d.startswith(".")]) == 1
    first = next((tmp_path / "out" / "cells").glob("0*"))
    before = (first / "metrics.jsonl").read_bytes()
    logs = []
    run_sweep(load_spec(spec_path), tmp_path / "out", log=logs.append)
    assert any("resuming" in line for line in logs)
    assert (first / "metrics.jsonl").read_bytes() == before  # the finished cell is not redone
    assert _fingerprint(tmp_path / "out") == _fingerprint(out)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # ray.init: fork + exec
def test_ray_backend_gives_the_local_table(batched_sweep, tmp_path):
    """Two groups (max_members 4) as two Ray tasks on a local Ray instance started here."""
    ray = pytest.importorskip("ray")
    out, _ = batched_sweep
    spec = load_spec(write(tmp_path, BATCH_SPEC + "max_members: 4\n"))
    logs = []
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        run_sweep(spec, tmp_path / "out", log=logs.append, backend="ray")
    finally:
        ray.shutdown()
    assert "in 2 compiled program(s)" in logs[0] and "backend ray" in logs[0]
    assert any("2 task(s) submitted" in line for line in logs)
    assert _fingerprint(tmp_path / "out") == _fingerprint(out)


def test_unknown_backend_and_bad_batch_options_are_one_line_errors(tmp_path):
    spec = load_spec(write(tmp_path, TINY_BASE))
    with pytest.raises(ConfigError, match="'spark' is not a backend"):
        run_sweep(spec, tmp_path / "out", backend="spark")
    assert not (tmp_path / "out").exists()
    for text, match in (("batch_cells: 2\n", "batch_cells=2"),
                        ("max_members: 0\n", "max_members=0")):
        with pytest.raises(ConfigError, match=match):
            load_spec(write(tmp_path, TINY_BASE + text))
