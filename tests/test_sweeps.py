"""Sweep specs: expansion into cells, bad specs, the in-process runner's table and resume."""

import csv
import json

import pytest

from groklab.cli.main import main
from groklab.errors import ConfigError
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
