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
