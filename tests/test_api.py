"""The Python API (groklab.load_run / load_sweep / train / sweep; docs/api.md), checked against
the run directory's files read independently (json, numpy) and against accuracies recomputed
from the model's own logits."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from flax import nnx

import groklab
from groklab.api.run import as_config, as_overrides, checkpoint_ref
from groklab.api.tables import INSTALL_HINT, pandas
from groklab.config import RunConfig, apply_overrides
from groklab.errors import ConfigError

needs_pandas = pytest.mark.skipif(importlib.util.find_spec("pandas") is None,
                                  reason="pandas is not installed (groklab[notebook])")

# Groks in about 150 full-batch steps: x+y mod 11, 108 training rows and 13 validation rows, one
# layer of width 32, AdamW with weight decay 3. Every evaluation is a checkpoint, so each seed's
# milestone step in summary.json has one.
GROKS = {
    "task": {"name": "add", "p": 11, "train_fraction": 0.9},
    "model": {"d_model": 32, "n_heads": 2, "d_mlp": 64, "n_layers": 1, "dropout": 0.0},
    "optim": {"learning_rate": 1e-2, "weight_decay": 3.0},
    "train": {"batch_size": 128, "steps": 400, "eval_every": 10, "checkpoint_every": 10,
              "stop_at": 0.99},
    "seeds": [0, 1],
}


# ----- without training -----


def test_import_groklab_is_light_and_exports_the_api_lazily():
    code = ("import sys, groklab\n"
            "assert 'jax' not in sys.modules and 'groklab.api' not in sys.modules\n"
            "assert {'load_run', 'load_sweep', 'train', 'sweep', 'Run', 'Sweep'} <= "
            "set(dir(groklab))\n"
            "print(groklab.__version__)\n"
            "f = groklab.load_run\n"
            "assert 'jax' in sys.modules and f is sys.modules['groklab.api'].load_run\n"
            "from groklab import stats, load_sweep\n"
            "try:\n"
            "    groklab.no_such_name\n"
            "except AttributeError as e:\n"
            "    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == [groklab.__version__, "module 'groklab' has no attribute 'no_such_name'"]


def test_missing_pandas_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` now raises ImportError
    with pytest.raises(ConfigError) as e:
        pandas()
    assert "pip install 'groklab[notebook]'" in str(e.value) and "\n" not in str(e.value)
    assert INSTALL_HINT == "pip install 'groklab[notebook]'"


@pytest.mark.parametrize("step, kind, value", [
    ("latest", None, None), (None, None, None), (120, "step", 120), (np.int64(7), "step", 7),
    ("120", "step", 120), ("step=40", "step", 40), ("epoch=2.5", "epoch", 2.5),
    ("val_acc=0.99", "val_acc", 0.99), (" val_acc = 0.5 ", "val_acc", 0.5),
])
def test_step_selectors(step, kind, value):
    ref = checkpoint_ref(Path("r"), step)
    assert (ref.path, ref.kind, ref.value) == (Path("r"), kind, value)


@pytest.mark.parametrize("step", ["val_acc=1.5", "val_acc=-0.1", "foo", "loss=0.1", "step=x",
                                  True, -1, 1.5, "epoch=nan", [1]])
def test_bad_step_selectors_are_one_line_errors(step):
    with pytest.raises(ConfigError, match=r"does not choose a checkpoint|is negative") as e:
        checkpoint_ref(Path("r"), step)
    assert "'latest', a step number, 'step=N', 'epoch=E' or 'val_acc=X'" in str(e.value)


def test_config_given_as_mapping_file_or_runconfig(tmp_path):
    expected = apply_overrides(RunConfig(), ["task.name=add", "task.p=11", "model.d_model=32",
                                             "seeds=[0, 1]"])
    data = {"task": {"name": "add", "p": 11}, "model": {"d_model": 32}, "seeds": (0, 1)}
    assert as_config(data) == expected
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    assert as_config(path) == as_config(str(path)) == expected
    assert as_config(expected) is expected
    over = apply_overrides(RunConfig(), as_overrides({"task.name": "add", "task.p": 11,
                                                      "model.d_model": np.int64(32),
                                                      "seeds": [0, 1]}))
    assert over == expected
    assert as_overrides(["task.p=11"]) == ["task.p=11"]
    with pytest.raises(ConfigError, match="must be a RunConfig"):
        as_config(3)
    with pytest.raises(ConfigError, match="'key=value'"):
        as_overrides("task.p=11")
    with pytest.raises(ConfigError, match="config file .*c2.json"):
        as_config(tmp_path / "c2.json")


def test_not_a_run_or_sweep_directory(tmp_path):
    with pytest.raises(ConfigError, match="not a groklab run directory: it holds no config"):
        groklab.load_run(tmp_path)
    with pytest.raises(ConfigError, match="not a groklab run directory: it does not exist"):
        groklab.load_run(tmp_path / "missing")
    with pytest.raises(ConfigError, match="not a groklab sweep directory: it holds no manifest"):
        groklab.load_sweep(tmp_path)


def test_a_bad_sweep_mapping_is_named_as_given_and_writes_nothing(tmp_path):
    with pytest.raises(ConfigError, match=r"^sweep spec: unknown key\(s\) bogus; allowed: "):
        groklab.sweep({"bogus": 1}, tmp_path / "sw", log=None)
    with pytest.raises(ConfigError, match="must be a sweep spec file, a mapping"):
        groklab.sweep(5, tmp_path / "sw", log=None)
    assert not (tmp_path / "sw").exists()


def test_an_out_that_cannot_be_written_is_refused_first(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=r"^out .*file/run' cannot be created: Not a directory"):
        groklab.train(GROKS, tmp_path / "file" / "run")
    with pytest.raises(ConfigError, match=r"^out .*file/sw' cannot be created: Not a directory"):
        groklab.sweep({"bogus": 1}, tmp_path / "file" / "sw", log=None)


# ----- a run that groks -----


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "add11"
    return groklab.train(GROKS, out, figures=False)


def records(run) -> list[dict]:
    return [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]


def recorded(run, seed: int, step: int) -> dict:
    (rec,) = [r for r in records(run) if r["seed"] == seed and r["step"] == step]
    return rec


def n_correct(logits: np.ndarray, labels: np.ndarray) -> int:
    return int((np.argmax(logits, -1) == labels).sum())


@pytest.mark.slow
def test_model_at_val_acc_099_is_the_summary_milestone_and_reproduces_val_acc(run):
    summary = json.loads((run.path / "summary.json").read_text())
    assert [s["grokked"] for s in summary["seeds"]] == [True, True]
    for s in summary["seeds"]:
        seed, milestone = s["seed"], s["steps_to_val_acc"]["0.99"]
        assert run.checkpoint_step(seed, "val_acc=0.99") == milestone
        model = run.model(seed, "val_acc=0.99")
        split = np.load(run.path / "split.npz")
        val = split["val_idx"][list(split["seeds"]).index(seed)]
        # the module itself, called directly (jitted: op by op, each operation compiles)
        logits = np.asarray(nnx.jit(lambda m, tokens: m(tokens))(model, run.task.tokens[val]))
        rec = recorded(run, seed, milestone)
        assert n_correct(logits, run.task.labels[val]) == round(rec["val_acc"] * len(val))
        assert rec["val_acc"] >= 0.99
        np.testing.assert_allclose(run.logits(seed, "val_acc=0.99", rows=val), logits,
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_logits_reproduce_train_and_val_accuracy_before_grokking(run):
    # checkpoints where a seed is part-way (val 0.5) and an early step where it has not
    # memorized yet: every count of correct rows must match the record, not just "all correct"
    for seed in run.seeds:
        split = run.split(seed)
        for step in ("val_acc=0.5", 10):
            at = run.checkpoint_step(seed, step)
            rec = recorded(run, seed, at)
            val = run.logits(seed, step, rows=split.val_idx)
            train = run.logits(seed, step, rows=split.train_idx)
            assert n_correct(val, run.task.labels[split.val_idx]) == round(
                rec["val_acc"] * split.n_val)
            assert n_correct(train, split.train_labels) == round(rec["train_acc"] * split.n_train)
        assert recorded(run, seed, 10)["val_acc"] < 0.99
    everything = run.logits(0, 10)
    assert everything.shape == (len(run.task.labels), run.task.d_vocab)
    assert everything.dtype == np.float32
    np.testing.assert_allclose(everything[run.split(0).val_idx],
                               run.logits(0, 10, rows=run.split(0).val_idx), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.slow
def test_latest_is_the_final_checkpoint_and_a_step_without_one_lists_the_saved_steps(run):
    steps = sorted(int(p.name) for p in (run.path / "checkpoints" / "params").iterdir())
    assert run.checkpoint_steps() == steps
    assert run.checkpoint_step(1, "latest") == steps[-1] == run.summary["step"]
    assert run.checkpoint_step(1, str(steps[2])) == run.checkpoint_step(1, f"step={steps[2]}") \
        == steps[2]
    with pytest.raises(ConfigError, match=r"no checkpoint at step 15; saved steps: 10, 20, "):
        run.model(0, 15)
    with pytest.raises(ConfigError, match=r"seed=7 is not a seed of run .*; its seeds: 0, 1"):
        run.model(7)
    with pytest.raises(ConfigError, match=r"rows=\[121\] must be a list of row indices in "
                                          r"\[0, 121\)"):
        run.logits(0, rows=[121])
    with pytest.raises(ConfigError, match="rows="):
        run.logits(0, rows=[[0, 1]])


@pytest.mark.slow
@needs_pandas
def test_metrics_and_checkpoints_frames_hold_the_files(run):
    recs = records(run)
    m = run.metrics
    assert len(m) == len(recs) and list(m.columns) == list(recs[0])
    for key in ("step", "seed", "epoch", "train_acc", "val_acc", "val_loss", "lr"):
        assert m[key].tolist() == [r[key] for r in recs], key
    c = run.checkpoints
    steps = run.checkpoint_steps()
    assert list(c.columns) == ["step", "epoch", "val_acc_seed0", "val_acc_seed1"]
    assert c.step.tolist() == steps
    # full batch: one step per epoch
    assert c.epoch.tolist() == [float(s) for s in steps]
    for seed in run.seeds:
        assert c[f"val_acc_seed{seed}"].tolist() == [recorded(run, seed, s)["val_acc"]
                                                     for s in steps]
    assert run.summary == json.loads((run.path / "summary.json").read_text())
    assert run.config == RunConfig.from_dict(yaml.safe_load((run.path / "config.yaml").read_text()))


@pytest.mark.slow
def test_frames_without_pandas_say_what_to_install(run, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    for attr in ("metrics", "checkpoints"):
        with pytest.raises(ConfigError, match=r"pip install 'groklab\[notebook\]'"):
            getattr(run, attr)
    assert run.checkpoint_steps()  # what needs no table still works
    assert run.model(0) is not None


@pytest.mark.slow
def test_split_is_the_recorded_one(run):
    split = np.load(run.path / "split.npz")
    seen = set()
    for i, seed in enumerate(split["seeds"].tolist()):
        s = run.split(seed)
        np.testing.assert_array_equal(s.train_idx, split["train_idx"][i])
        np.testing.assert_array_equal(s.val_idx, split["val_idx"][i])
        np.testing.assert_array_equal(s.train_labels, split["train_labels"][i])
        assert sorted(s.train_idx.tolist() + s.val_idx.tolist()) == list(range(121))
        seen.add(tuple(s.val_idx.tolist()))
    assert len(seen) == 2  # each seed splits with its own seed
    with pytest.raises(ConfigError, match="not a seed of run"):
        run.split(2)


@pytest.mark.slow
def test_train_refuses_a_directory_that_holds_a_run(run):
    before = (run.path / "metrics.jsonl").read_bytes()
    with pytest.raises(ConfigError, match="already holds a run"):
        groklab.train(GROKS, run.path)
    assert (run.path / "metrics.jsonl").read_bytes() == before


# ----- a sweep -----

SWEEP = {
    "base": {"set": {"task.name": "add", "task.p": 7, "model.d_model": 16, "model.n_layers": 1,
                     "model.dropout": 0.0, "train.batch_size": 64, "train.steps": 20,
                     "train.eval_every": 10}},
    "seeds": [0, 1],
    "grid": {"optim.weight_decay": [0.1, 1.0]},
}


@pytest.mark.slow
@needs_pandas
def test_sweep_from_a_mapping_and_load_sweep(tmp_path):
    out = tmp_path / "wd"
    lines = []
    sw = groklab.sweep(SWEEP, out, log=lines.append)
    assert lines and isinstance(sw, groklab.Sweep)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["name"] == "wd" and sw.manifest == manifest
    names = [c["name"] for c in manifest["cells"]]
    assert list(sw.runs) == names and len(names) == 2
    results = sw.results
    assert len(results) == 4 and results["seed"].tolist() == [0, 1, 0, 1]
    assert results["cell_name"].tolist() == [names[0]] * 2 + [names[1]] * 2
    assert results["optim.weight_decay"].tolist() == [0.1, 0.1, 1.0, 1.0]
    for name, r in sw.runs.items():
        summary = json.loads((out / "cells" / name / "summary.json").read_text())
        assert r.summary == summary
        rows = results[results.cell_name == name]
        assert rows["final_val_acc"].tolist() == pytest.approx(
            [s["final"]["val_acc"] for s in summary["seeds"]])
    # the same mapping again: the sweep is recognized and its finished cells skipped
    again = groklab.load_sweep(out)
    lines.clear()
    groklab.sweep(SWEEP, out, log=lines.append)
    assert any("skipped" in line for line in lines)
    assert again.results.equals(results)
    with pytest.raises(ConfigError, match="holds another sweep"):
        groklab.sweep({**SWEEP, "seeds": [0]}, out, log=None)
