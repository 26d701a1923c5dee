"""Metric sinks: TensorBoard event files read back with TensorBoard's own event reader, and
offline W&B runs read back from W&B's record log with W&B's protobuf definitions, compared
value for value with the records metrics.jsonl holds."""

import json

import numpy as np
import pytest

from groklab.errors import ConfigError
from groklab.experiments.sinks import SinkContext, check_sink_names, make_sinks, scalars

pytest.importorskip("tensorboardX")
pytest.importorskip("wandb")
pytest.importorskip("tensorboard")

from wandb_log import offline_runs  # noqa: E402


def records(steps=(3, 6, 9), seeds=(0, 1)):
    rng = np.random.default_rng(0)
    return [[{"step": s, "epoch": s / 3, "seed": k, "train_loss": float(rng.random()),
              "val_acc": float(rng.random()), "lr": 1e-3, "wd": 1.0, "diverged_step": None,
              "grok_alarm": s == 6} for k in seeds] for s in steps]


def tensorboard_scalars(run_dir, seed) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tensorboard" / f"seed_{seed}"))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)]
            for tag in acc.Tags()["scalars"]}


def test_scalars_are_the_numbers_of_a_record():
    r = {"step": 3, "seed": 1, "epoch": 1.0, "val_acc": 0.5, "diverged_step": None,
         "grok_alarm": True, "note": "text"}
    assert scalars(r) == {"epoch": 1.0, "val_acc": 0.5, "grok_alarm": 1.0}


def test_an_unknown_sink_is_a_one_line_error():
    with pytest.raises(ConfigError, match="log 'mlflow' is not a metric sink; use tensorboard, "
                                          "wandb"):
        check_sink_names(["tensorboard", "mlflow"])


def test_tensorboard_and_wandb_get_the_records_of_metrics_jsonl(tmp_path):
    ctx = SinkContext(run_dir=tmp_path, config={"task": {"p": 7}}, seeds=(0, 1), name="run",
                      group="study")
    sinks = make_sinks(["tensorboard", "wandb"], ctx)
    evals = records()
    for batch in evals:
        for sink in sinks:
            sink.write(batch)
    summary = {"status": "completed", "step": 9, "seeds": [{"seed": 0, "grokked": False},
                                                           {"seed": 1, "grokked": True}]}
    for sink in sinks:
        sink.close(summary)

    flat = [r for batch in evals for r in batch]
    for seed in (0, 1):
        mine = [r for r in flat if r["seed"] == seed]
        tb = tensorboard_scalars(tmp_path, seed)
        assert set(tb) == {"epoch", "train_loss", "val_acc", "lr", "wd", "grok_alarm"}
        for key, events in tb.items():  # TensorBoard stores float32
            assert events == [(r["step"], pytest.approx(float(np.float32(scalars(r)[key]))))
                              for r in mine]

    runs = offline_runs(tmp_path)
    assert set(runs) == {"run/seed0", "run/seed1"}
    for seed in (0, 1):
        run = runs[f"run/seed{seed}"]
        assert run["group"] == "study"
        assert run["config"]["seed"] == seed and run["config"]["task"] == {"p": 7}
        mine = [r for r in flat if r["seed"] == seed]
        got = [{k: v for k, v in h.items() if not k.startswith("_")} for h in run["history"]]
        assert got == [scalars(r) for r in mine]  # W&B keeps float64: exact
        assert [h["_step"] for h in run["history"]] == [r["step"] for r in mine]
        assert run["summary"]["status"] == "completed"
        assert run["summary"]["grokked"] is (seed == 1)


def test_a_resumed_tensorboard_log_discards_the_steps_written_again(tmp_path):
    from groklab.experiments.sinks import TensorBoardSink

    evals = records()
    ctx = SinkContext(tmp_path, {}, (0, 1), "run", "run")
    first = TensorBoardSink(ctx)
    for batch in evals:
        first.write(batch)
    first.close({"seeds": []})
    # resumed from the checkpoint at step 3: steps 6 and 9 are written again, changed here so
    # that the test can tell which copy TensorBoard shows
    again = TensorBoardSink(SinkContext(tmp_path, {}, (0, 1), "run", "run", start_step=3))
    for batch in evals[1:]:
        again.write([{**r, "val_acc": r["val_acc"] + 10} for r in batch])
    again.close({"seeds": []})
    got = tensorboard_scalars(tmp_path, 0)["val_acc"]
    want = [evals[0][0]["val_acc"], evals[1][0]["val_acc"] + 10, evals[2][0]["val_acc"] + 10]
    assert [s for s, _ in got] == [3, 6, 9]
    assert [v for _, v in got] == pytest.approx(want, rel=1e-6)
    json.dumps(got)  # plain numbers


TINY = ["--quiet", "--p", "7", "--set", "model.d_model=16", "--set", "model.n_layers=1",
        "--batch_size", "8"]


@pytest.mark.slow
def test_train_with_log_writes_what_metrics_jsonl_holds(tmp_path, capsys):
    from groklab.cli.main import main

    run = tmp_path / "run"
    assert main(["train", *TINY, "--num_seeds", "2", "--epochs", "4", "--log",
                 "tensorboard,wandb", "--out", str(run)]) == 0
    flat = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(flat) == 2 * 4
    runs = offline_runs(run)
    assert set(runs) == {"run/seed0", "run/seed1"}
    saved = json.loads((run / "summary.json").read_text())
    for seed in (0, 1):
        mine = [r for r in flat if r["seed"] == seed]
        tb = tensorboard_scalars(run, seed)
        assert set(tb) == set(scalars(mine[0]))
        for key, events in tb.items():
            assert [s for s, _ in events] == [r["step"] for r in mine]
            assert [v for _, v in events] == pytest.approx(
                [float(np.float32(scalars(r)[key])) for r in mine])
        wb = runs[f"run/seed{seed}"]
        assert [{k: v for k, v in h.items() if not k.startswith("_")}
                for h in wb["history"]] == [scalars(r) for r in mine]
        assert wb["group"] == "run" and wb["config"]["task"]["p"] == 7
        assert wb["summary"]["status"] == saved["status"]
        assert wb["summary"]["grokked"] == saved["seeds"][seed]["grokked"]
    # the config keeps the choice, and a resume may change it
    assert "tensorboard" in (run / "config.yaml").read_text()
    assert main(["train", "--out", str(run), "--resume", "--epochs", "5", "--log", "none"]) == 0


@pytest.mark.slow
def test_a_sweep_logs_each_cell_and_seed_as_a_run_of_its_group(tmp_path):
    from groklab.cli.main import main

    spec = tmp_path / "spec.yaml"
    spec.write_text("name: wd_study\nbase:\n  set: {task.p: 7, model.d_model: 16, "
                    "model.n_layers: 1, train.batch_size: 8, train.epochs: 3}\nseeds: [0, 1]\n"
                    "grid:\n  optim.weight_decay: [0.1, 1.0]\n")
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--log", "wandb"]) == 0
    cells = sorted(p for p in (out / "cells").iterdir())
    assert len(cells) == 2
    for cell in cells:  # split off one batched group: each cell's records, its seeds' runs
        runs = offline_runs(cell)
        assert set(runs) == {f"{cell.name}/seed0", f"{cell.name}/seed1"}
        flat = [json.loads(x) for x in (cell / "metrics.jsonl").read_text().splitlines()]
        for seed in (0, 1):
            wb = runs[f"{cell.name}/seed{seed}"]
            assert wb["group"] == "wd_study"
            assert [h["val_acc"] for h in wb["history"]] == [r["val_acc"] for r in flat
                                                             if r["seed"] == seed]


def test_a_missing_extra_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    import sys

    from groklab.cli.main import main

    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # as if it were not installed
    out = tmp_path / "run"
    code = main(["train", *TINY, "--epochs", "1", "--log", "tensorboard", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "pip install 'groklab[tensorboard]'" in err[0]
    assert not out.exists()
