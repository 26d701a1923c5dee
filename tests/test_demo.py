"""``make demo`` (``python -m groklab.demo [key=value ...]``) end to end, on a tiny budget."""

import json
import re

import pytest
import yaml

from groklab.tasks import make_task

TINY = ["task.p=7", "model.d_model=16", "model.n_layers=1", "train.batch_size=8",
        "train.epochs=3"]


@pytest.mark.slow
def test_demo_lists_tasks_and_presets_then_trains_the_reference_experiment(
        capsys, monkeypatch, tmp_path):
    from groklab.demo import main as demo

    monkeypatch.chdir(tmp_path)  # the demo trains into ./runs/demo-<time>
    assert demo(TINY) == 0
    text = capsys.readouterr().out

    # 1. tasks (p = 97) and presets
    sections = ["1. tasks and presets", "2. a forward pass of seed-teacher on x/y mod 97",
                "3. the reference experiment"]
    positions = [text.index(s) for s in sections]
    assert positions == sorted(positions)
    listing = text[positions[0]:positions[1]]
    assert "groklab tasks (p = 97)" in listing
    for name, rows in (("div", "9,312"), ("add", "9,409"), ("s5_compose", "14,400")):
        assert re.search(rf"│ {name} .*│ +{rows} │", listing), name
    assert "550,272" in listing and "seed-teacher" in listing  # the presets' parameter counts

    # 2. the forward pass: the first four rows of x/y mod 97 and their labels
    div97 = make_task("div", 97)
    forward = " ".join(text[positions[1]:positions[2]].split())
    assert f"550,272 parameters; input rows {div97.tokens[:4].tolist()} → logits (4, 99)" \
        in forward
    assert f"vs labels {div97.labels[:4].tolist()}" in forward

    # 3. the run directory, trained with the demo's defaults under the overrides
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and re.fullmatch(r"demo-\d{8}-\d{6}", runs[0].name), runs
    run = runs[0]
    for name in ("config.yaml", "split.npz", "metrics.jsonl", "summary.json",
                 "figures/curves.png"):
        assert (run / name).exists(), name
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["seeds"] == [0, 1, 2] and cfg["task"]["p"] == 7
    assert cfg["train"]["epochs"] == 3 and cfg["train"]["stop_at"] == 0.99
    records = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["seed"]) for r in records] == [
        (e, s) for e in (1.0, 2.0, 3.0) for s in (0, 1, 2)]
    summary = json.loads((run / "summary.json").read_text())

    # the result table (each seed's final accuracies) and where things are
    rows = [[c.strip() for c in line.strip("│").split("│")]
            for line in text[positions[2]:].splitlines() if line.startswith("│")]
    assert [(r[0], r[-2], r[-1]) for r in rows] == [
        (str(r["seed"]), f"{100 * r['train_acc']:.2f}%", f"{100 * r['val_acc']:.2f}%")
        for r in records[-3:]]
    result = " ".join(text[positions[2]:].split())
    assert f"training into runs/{run.name}" in result
    assert f"{summary['status']} at step {summary['step']} (epoch {summary['epoch']:g})" in result
    grokked = sum(s["grokked"] for s in summary["seeds"])
    assert f"run directory: runs/{run.name} figure: runs/{run.name}/figures/curves.png" in result
    assert f"{grokked} of 3 seeds grokked (val ≥ 99 %); summary: runs/{run.name}/summary.json" \
        in result


def test_demo_with_a_bad_override_is_a_one_line_error(capsys, monkeypatch, tmp_path):
    from groklab.demo import main as demo

    monkeypatch.chdir(tmp_path)
    code = demo([*TINY, "model.colour=blue"])
    out, err = capsys.readouterr()
    err = err.strip().splitlines()
    assert code == 2 and out == ""  # nothing listed or run before the error
    assert len(err) == 1 and err[0].startswith("groklab: error: ") and "model.colour" in err[0]
    assert not (tmp_path / "runs").exists()
