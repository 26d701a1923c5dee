"""Recipes inside the engine: 64-bit losses, batch phases, curricula, adaptive weight decay,
resume across all of them, vmapped equivalence, the early-grokking detector, and the CLI."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from groklab.cli.main import main
from groklab.config import RunConfig, apply_overrides
from groklab.engine.detector import EarlyDetector, score
from groklab.engine.loop import Engine, Hooks
from groklab.engine.program import Program
from groklab.engine.setup import plan_run
from groklab.optim import adapt_wd_scale


def engine_for(overrides, seeds=(0,)):
    cfg = dataclasses.replace(apply_overrides(RunConfig(), overrides), seeds=tuple(seeds))
    return Engine(plan_run(cfg))


def run(overrides, seeds=(0,), stop_after=None, state=None, start=0):
    eng = engine_for(overrides, seeds)
    records = []
    hooks = Hooks(on_eval=records.extend)
    if stop_after is not None:
        hooks.should_stop = lambda: records[-1]["step"] >= stop_after
    return eng, eng.run(state=state, start_step=start, hooks=hooks), records


@pytest.mark.slow
def test_float64_loss_compiles_to_64_bit_and_agrees_with_float32(tiny_overrides):
    eng64 = engine_for(tiny_overrides + ["train.loss_dtype=float64", "train.epochs=2"])
    state = eng64.initial_state()
    with jax.enable_x64(True):
        hlo = Program.run_chunk.lower(eng64.program, eng64.data, eng64.hparams, state, 3,
                                      np.int32(0)).as_text()
    assert "f64" in hlo
    _, r64, rec64 = run(tiny_overrides + ["train.loss_dtype=float64", "train.epochs=2"])
    _, r32, rec32 = run(tiny_overrides + ["train.epochs=2"])
    for a, b in zip(rec64, rec32):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)  # same masks and batches

    # Softmax Collapse (a row's Σ exp(z − max z) rounds to exactly 1) depends on the loss dtype:
    # scale the unembedding so the training rows' top-2 logit margins are tens of units, where
    # float32 collapses some rows and float64 fewer; compare the metric with bounds computed in
    # numpy from a direct forward pass
    from flax import nnx

    eng32 = engine_for(tiny_overrides + ["train.epochs=2"])
    params = eng32.initial_state().params
    plan = eng32.plan
    train_tokens = jnp.asarray(plan.task.tokens[plan.splits[0].train_idx])

    def logits(params):
        model = nnx.merge(eng32.graphdef, jax.tree.map(lambda x: x[0], params))
        return np.asarray(model(train_tokens), np.float64)

    top2 = np.sort(logits(params), axis=1)[:, -2:]
    scale = 25.0 / np.median(top2[:, 1] - top2[:, 0])
    params = jax.tree_util.tree_map_with_path(
        lambda path, x: x * scale if "unembed" in jax.tree_util.keystr(path) else x, params)
    z = logits(params)

    def collapse_bounds(ulp):
        """(surely, possibly) collapsed numbers of rows when 1 has spacing ulp: a total of the
        other terms under ulp/4 rounds away in any summation order; one term of 2·ulp or more
        never does."""
        others = np.sort(z - z.max(axis=1, keepdims=True), axis=1)[:, :-1]
        terms = np.exp(others)
        return (terms.sum(axis=1) < ulp / 4).sum(), len(z) - (terms.max(axis=1) >= 2 * ulp).sum()

    lo32, hi32 = collapse_bounds(2.0 ** -23)
    lo64, hi64 = collapse_bounds(2.0 ** -52)
    assert 0 < lo32 and hi32 < len(z) and hi64 < lo32  # the setting tells the dtypes apart
    sc32 = float(eng32.program.evaluate_all(eng32.data, params)["sc_fraction"][0])
    with jax.enable_x64(True):
        sc64 = float(eng64.program.evaluate_all(eng64.data, params)["sc_fraction"][0])
    assert lo32 <= round(sc32 * len(z)) <= hi32
    assert lo64 <= round(sc64 * len(z)) <= hi64


@pytest.mark.slow
def test_increasing_batch_compiles_once_per_size_and_counts_epochs(tiny_overrides):
    over = tiny_overrides + ["train.batch_schedule=increasing", "train.batch_start=2",
                             "train.batch_stages=3"]
    eng, result, records = run(over)
    plan = eng.plan
    assert [p.batch_size for p in plan.phases] == [2, 4, 8]
    assert [p.steps_per_epoch for p in plan.phases] == [11, 6, 3]  # 21 training rows
    assert len(eng._compiled) == 3  # one program per batch size, one chunk length each
    assert [r["epoch"] for r in records] == [1, 2, 3, 4, 5, 6]  # an eval at every epoch end
    assert result.step == 2 * 11 + 2 * 6 + 2 * 3


@pytest.mark.slow
def test_operand_curriculum_starts_with_the_smallest_operands(tiny_overrides):
    eng = engine_for(tiny_overrides + ["train.curriculum=operand", "train.curriculum_start=0.4",
                                       "train.curriculum_epochs=3"])
    task, split = eng.plan.task, eng.plan.splits[0]
    seed0 = eng.data.seeds.seed(0)
    order = np.asarray(seed0.order0)
    size = task.tokens[split.train_idx][:, list(task.operand_positions)].max(axis=1)
    assert list(size[order]) == sorted(size)  # easiest (smallest max operand) first
    n_avail = int(np.ceil(0.4 * eng.plan.n_train))
    pos, w = eng.program._batch(seed0, seed0.order0, jnp.int32(0))
    assert set(np.asarray(pos)) <= set(order[:n_avail]) and float(w.sum()) == 8
    assert len(set(np.asarray(pos))) == 8  # distinct rows
    late, _ = eng.program._batch(seed0, seed0.order0, jnp.int32(3 * 3))  # epoch 3: all
    assert len(set(np.asarray(late))) == 8


@pytest.mark.slow
def test_loss_curriculum_reranks_training_rows_by_current_loss(tiny_overrides):
    eng = engine_for(tiny_overrides + ["train.curriculum=loss", "train.epochs=1"])
    result = eng.run()
    params = jax.tree.map(lambda x: x[0], result.state.params)
    seed0 = eng.data.seeds.seed(0)
    loss = np.asarray(eng.program.eval_rows(eng.data.shared, seed0, params)[0])
    order = np.asarray(result.state.order[0])
    ranked = loss[np.asarray(seed0.train_idx)][order]
    assert np.all(np.diff(ranked) >= 0) and sorted(order) == list(range(eng.plan.n_train))


@pytest.mark.slow
def test_adaptive_weight_decay_follows_its_rule(tiny_overrides):
    over = tiny_overrides + ["optim.wd_schedule=adaptive", "optim.wd_adaptive_gap=0.05",
                             "optim.wd_adaptive_factor=1.5", "train.epochs=8",
                             "optim.learning_rate=1e-2"]
    eng, _, records = run(over)
    scale, expected = 1.0, []
    for r in records:  # replay the documented rule on the logged accuracies
        scale = float(adapt_wd_scale(np.float32(scale), np.float32(r["train_acc"]),
                                     np.float32(r["val_acc"]), eng.plan.config.optim))
        expected.append(scale)
    assert [r["wd"] for r in records] == pytest.approx(expected, rel=1e-5)
    assert max(expected) > 1.0  # the gap opened and the rule raised it


STATEFUL = ["train.batch_schedule=curriculum", "train.curriculum=loss", "train.batch_start=2",
            "train.curriculum_epochs=4", "optim.wd_schedule=adaptive", "optim.grokfast=ema",
            "optim.lr_schedule=plateau", "optim.plateau_patience=1"]


@pytest.mark.slow
def test_resume_mid_run_matches_an_uninterrupted_run_with_stateful_recipes(tiny_overrides):
    over = tiny_overrides + STATEFUL
    _, full, full_rec = run(over, seeds=(0, 1))
    _, part, part_rec = run(over, seeds=(0, 1), stop_after=10)
    assert part.status == "interrupted" and part.step < full.step
    _, rest, rest_rec = run(over, seeds=(0, 1), state=part.state, start=part.step)
    assert part_rec + rest_rec == full_rec
    for a, b in zip(jax.tree.leaves(full.state.params), jax.tree.leaves(rest.state.params)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", [["optim.name=muon"], ["optim.grokfast=ma",
                                                         "optim.grokfast_window=4"],
                                    ["optim.sam_rho=0.05", "optim.orthograd=true"]])
def test_seed_k_of_a_vmapped_recipe_run_equals_a_one_seed_run(tiny_overrides, recipe):
    over = tiny_overrides + recipe + ["train.epochs=2"]
    _, _, both = run(over, seeds=(0, 3))
    _, _, alone = run(over, seeds=(3,))
    mine = [r for r in both if r["seed"] == 3]
    for a, b in zip(mine, alone):
        for k in ("train_loss", "val_loss", "weight_norm"):
            assert a[k] == pytest.approx(b[k], rel=2e-5, abs=1e-6)


@pytest.mark.slow
def test_omnigrok_keeps_the_scaled_initial_norm(tiny_overrides):
    _, _, base = run(tiny_overrides + ["train.epochs=1"])
    _, _, rec = run(tiny_overrides + ["optim.constrain_norm=true", "optim.init_scale=3",
                                      "train.epochs=3"])
    # the first eval comes after 3 steps; every eval sees the same total norm, 3x the init norm
    norms = [r["weight_norm"] for r in rec]
    assert norms == pytest.approx([norms[0]] * 3, rel=1e-4)
    assert norms[0] > 2.5 * base[0]["weight_norm"]


# ----- early grokking detector -----


def records(val_losses, train_acc=1.0, val_acc=0.0):
    return [{"step": 10 * (i + 1), "epoch": i + 1, "train_acc": train_acc, "val_acc": val_acc,
             "val_loss": v} for i, v in enumerate(val_losses)]


def test_detector_fires_after_a_sustained_drop_from_the_peak():
    det = EarlyDetector(gap=0.3, drop=0.3, patience=3)
    fired = [det.update(r) for r in records([5, 6, 5, 4.1, 4.0, 3.9, 3.5, 2.0])]
    # peak 6; 0.7 * 6 = 4.2: evals 4, 5, 6 (steps 40, 50, 60) are below -> fires at step 60
    assert fired == [False] * 5 + [True, False, False]
    assert det.fired_step == 60 and det.armed_step == 10


def test_detector_ignores_a_single_dip_and_waits_for_the_gap():
    det = EarlyDetector(gap=0.3, drop=0.3, patience=3)
    for r in records([6, 3, 6, 3, 3, 6, 6]):
        assert not det.update(r)
    unarmed = EarlyDetector()
    for r in records([6, 1, 1, 1, 1], train_acc=0.2, val_acc=0.1):  # no memorization gap
        assert not unarmed.update(r)


def test_detector_scoring():
    assert score(60, 100) == {"fired_step": 60, "target_step": 100, "lead_steps": 40,
                              "outcome": "early"}
    assert score(120, 100)["outcome"] == "late"
    assert score(None, 100)["outcome"] == "missed"
    assert score(60, None)["outcome"] == "false_alarm"
    assert score(None, None)["outcome"] == "quiet"


# ----- CLI -----


@pytest.mark.slow
def test_cli_recipes_flags_and_presets_are_recorded(capsys, tmp_path):
    out = tmp_path / "run"
    code = main(["train", "--preset", "seed-teacher", "--p", "7", "--set", "model.d_model=16",
                 "--set", "model.n_layers=1", "--epochs", "2", "--batch_size", "8", "--quiet",
                 "--recipe", "grokfast-ema", "--optimizer", "muon", "--loss", "stablemax",
                 "--lr_schedule", "cosine", "--wd_schedule", "increasing", "--out", str(out)])
    assert code == 0
    import yaml

    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["optim"]["grokfast"] == "ema" and cfg["optim"]["name"] == "muon"
    assert cfg["optim"]["lr_schedule"] == "cosine" and cfg["optim"]["wd_schedule"] == "increasing"
    assert cfg["train"]["loss"] == "stablemax" and cfg["recipes"] == ["grokfast-ema"]
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"sc_fraction", "wd", "grok_alarm"} <= set(lines[0])
    summary = json.loads((out / "summary.json").read_text())
    assert "early_detection" in summary["seeds"][0]
    # the saved config reproduces the recipe
    again = tmp_path / "again"
    assert main(["train", "--config", str(out / "config.yaml"), "--out", str(again),
                 "--quiet"]) == 0
    assert (again / "metrics.jsonl").read_text() == (out / "metrics.jsonl").read_text()


@pytest.mark.parametrize("argv, fragment", [
    (["--recipe", "turbo"], "unknown recipe 'turbo'"),
    (["--lr_schedule", "warm"], "unknown optim.lr_schedule 'warm'"),
    (["--loss", "hinge"], "unknown train.loss 'hinge'"),
    (["--optimizer", "muon", "--preset", "gromov-mlp"], "needs hidden 2-D weight matrices"),
    (["--set", "optim.grokfast_window=0", "--grokfast", "ma"], "grokfast_window=0 must be >= 1"),
    (["--learning_rate", "-1"], "optim.learning_rate=-1.0 must be > 0"),
    (["--batch_schedule", "increasing", "--steps", "10"], "needs an epoch budget"),
])
def test_cli_bad_recipe_input_is_one_line(capsys, tmp_path, argv, fragment):
    out = tmp_path / "run"
    code = main(["train", "--p", "7", "--quiet", "--out", str(out), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and fragment in err[0], err
    assert not out.exists()


@pytest.mark.slow
def test_detector_fires_before_val_095_on_a_real_grokking_run():
    """x+y mod 23, one layer, weight decay 1: the seeds memorize by step 100 and reach val 0.95
    after 1000+ steps; the detector must fire before that, from the curves alone."""
    over = ["task.name=add", "task.p=23", "model.d_model=32", "model.n_layers=1",
            "model.dropout=0.0", "train.batch_size=512", "train.steps=3000",
            "train.eval_every=50", "optim.learning_rate=3e-3", "optim.weight_decay=1.0",
            "train.stop_at=0.95"]
    _, result, _ = run(over, seeds=(0, 1))
    for m in result.milestones:
        d = m.to_dict()
        assert d["steps_to_val_acc"]["0.95"] is not None, d
        assert d["early_detection"]["outcome"] == "early", d
        assert d["early_detection"]["lead_steps"] >= 100, d


def test_omnigrok_with_frozen_layers_holds_the_trainable_norm(tiny_overrides):
    """With a trainable mask, the constraint acts on the trainable parameters only: frozen ones
    never move and the trainable ones keep their initial norm."""
    import optax

    from groklab.optim import OptimConfig, build_optimizer

    params = {"a": jnp.array([3.0, 4.0]), "b": jnp.array([1.0, 0.0])}
    tx = build_optimizer(OptimConfig(constrain_norm=True, warmup_steps=0, learning_rate=0.1),
                         trainable={"a": True, "b": False})
    state = tx.init(params)
    for _ in range(2):
        grads = {"a": jnp.array([1.0, -2.0]), "b": jnp.array([5.0, 5.0])}
        updates, state = jax.jit(tx.update)(grads, state, params)
        params = optax.apply_updates(params, updates)
    np.testing.assert_allclose(params["b"], [1.0, 0.0])
    assert float(jnp.linalg.norm(params["a"])) == pytest.approx(5.0, rel=1e-5)
