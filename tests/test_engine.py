"""The compiled multi-seed engine: determinism, seed independence, divergence, early stop."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from groklab.config import RunConfig, apply_overrides
from groklab.engine.loop import Engine, Hooks
from groklab.engine.milestones import Milestones
from groklab.engine.program import seed_keys
from groklab.engine.setup import plan_run

METRIC_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "weight_norm", "grad_norm")


def run(overrides, seeds=(0,), hooks=None, **kw):
    cfg = apply_overrides(RunConfig(), overrides)
    cfg = dataclasses.replace(cfg, seeds=tuple(seeds), **kw)
    records = []
    h = hooks or Hooks()
    h.on_eval = records.extend
    result = Engine(plan_run(cfg)).run(hooks=h)
    return result, records


def by_seed(records, seed):
    return [r for r in records if r["seed"] == seed]


@pytest.mark.slow
def test_same_config_twice_gives_identical_metrics(tiny_overrides):
    _, a = run(tiny_overrides, seeds=(0, 1))
    _, b = run(tiny_overrides, seeds=(0, 1))
    assert a == b
    assert len(a) == 2 * 6  # one record per seed per epoch


@pytest.mark.slow
def test_seed_k_of_a_vmapped_run_equals_a_one_seed_run(tiny_overrides):
    _, multi = run(tiny_overrides, seeds=(0, 1, 2))
    _, single = run(tiny_overrides, seeds=(1,))
    got, want = by_seed(multi, 1), by_seed(single, 1)
    assert [r["step"] for r in got] == [r["step"] for r in want]
    for g, w in zip(got, want):
        for k in METRIC_KEYS:
            assert g[k] == pytest.approx(w[k], rel=1e-4, abs=1e-5), k
    # and different seeds really differ
    assert by_seed(multi, 0)[-1]["train_loss"] != by_seed(multi, 1)[-1]["train_loss"]


@pytest.mark.slow
def test_a_diverging_seed_is_marked_and_the_others_finish(tiny_overrides):
    result, records = run(tiny_overrides + ["optim.warmup_steps=0"], seeds=(0, 1, 2),
                          per_seed={"learning_rate": [1e-3, 1e9, 1e-3],
                                    "weight_decay": [1.0, 1.0, 1.0]})
    ms = {m.seed: m.to_dict() for m in result.milestones}
    assert ms[1]["diverged"] and ms[1]["diverged_step"] >= 1
    assert not ms[0]["diverged"] and not ms[2]["diverged"]
    assert result.status == "completed"
    assert result.step == plan_run(apply_overrides(RunConfig(), tiny_overrides)).total_steps
    # the healthy seeds equal a run without the bad sibling
    _, alone = run(tiny_overrides + ["optim.warmup_steps=0"], seeds=(0,))
    assert by_seed(records, 0)[-1]["train_loss"] == pytest.approx(
        alone[-1]["train_loss"], rel=1e-4)


@pytest.mark.slow
def test_stop_at_stops_when_every_seed_reaches_it():
    overrides = ["task.p=5", "model.d_model=16", "model.n_layers=1", "model.dropout=0.0",
                 "train.batch_size=64", "train.epochs=400", "optim.learning_rate=1e-2",
                 "optim.weight_decay=0.0", "task.train_fraction=0.9"]
    result, records = run(overrides + ["train.stop_at=0.5"], seeds=(0, 1))
    assert result.status == "stopped_early"
    last = {r["seed"]: r for r in records if r["step"] == result.step}
    assert max(r["val_acc"] for r in by_seed(records, 0)) >= 0.5
    assert max(r["val_acc"] for r in by_seed(records, 1)) >= 0.5
    assert result.step < 400 and set(last) == {0, 1}


def test_partial_last_batch_is_weighted_not_dropped(tiny_overrides):
    cfg = apply_overrides(RunConfig(), tiny_overrides)
    plan = plan_run(cfg)
    # div mod 7: 42 rows, 21 train rows, batch 8 -> 3 steps per epoch, last batch of 5
    assert (plan.n_train, plan.batch_size, plan.steps_per_epoch) == (21, 8, 3)
    eng = Engine(plan)
    seed0 = eng.data.seeds.seed(0)
    seen = []
    for step in range(3):
        pos, w = eng.program._batch(seed0, seed0.order0, jnp.int32(step))
        seen += [int(p) for p, wi in zip(pos, w) if wi > 0]
        assert float(w.sum()) == (5 if step == 2 else 8)
    assert sorted(seen) == list(range(21))  # every training row exactly once per epoch
    epoch0 = [int(p) for p in eng.program._batch(seed0, seed0.order0, jnp.int32(0))[0]]
    epoch1 = [int(p) for p in eng.program._batch(seed0, seed0.order0, jnp.int32(3))[0]]
    assert epoch0 != epoch1  # reshuffled each epoch


def test_full_batch_when_batch_exceeds_training_set(tiny_overrides):
    plan = plan_run(apply_overrides(RunConfig(), tiny_overrides + ["train.batch_size=4096"]))
    assert plan.batch_size == plan.n_train and plan.steps_per_epoch == 1


@pytest.mark.slow
def test_evaluation_matches_a_direct_forward_pass(tiny_overrides):
    from flax import nnx

    from groklab.objectives import per_row_loss_and_correct

    cfg = apply_overrides(RunConfig(), tiny_overrides + ["train.eval_batch_size=16"])
    plan = plan_run(cfg)
    eng = Engine(plan)
    state = eng.initial_state()
    metrics = eng.program.evaluate_all(eng.data, state.params)
    params0 = jax.tree.map(lambda x: x[0], state.params)
    model = nnx.merge(eng.graphdef, params0)
    loss, correct = per_row_loss_and_correct(model(jnp.asarray(plan.task.tokens)),
                                             jnp.asarray(plan.task.labels))
    tr = np.zeros(len(loss), bool)
    tr[plan.splits[0].train_idx] = True
    assert float(metrics["train_loss"][0]) == pytest.approx(float(loss[tr].mean()), rel=1e-5)
    assert float(metrics["val_acc"][0]) == pytest.approx(float(correct[~tr].mean()), abs=1e-6)
    norm = np.sqrt(sum(float((x ** 2).sum()) for x in jax.tree.leaves(params0)))
    assert float(metrics["weight_norm"][0]) == pytest.approx(norm, rel=1e-5)


def test_seed_keys_depend_on_the_seed_value_only():
    a, b = seed_keys(3), seed_keys(3)
    assert all(bool(jnp.all(jax.random.key_data(x) == jax.random.key_data(y)))
               for x, y in zip(a, b))
    assert not bool(jnp.all(jax.random.key_data(seed_keys(4).init)
                            == jax.random.key_data(a.init)))


@pytest.mark.slow
def test_trainable_mask_freezes_parameters(tiny_overrides):
    cfg = apply_overrides(RunConfig(), tiny_overrides)
    plan = plan_run(cfg)
    probe = Engine(plan)
    trainable = jax.tree.map(lambda _: True, jax.tree.map(lambda x: x[0], probe.init_params))
    trainable["embed"]["embedding"] = False
    eng = Engine(plan, trainable=trainable)
    before = eng.init_params["embed"]["embedding"]
    result = eng.run()
    after = result.state.params["embed"]["embedding"]
    np.testing.assert_array_equal(np.asarray(before), np.asarray(after))
    assert not np.allclose(np.asarray(eng.init_params["unembed"]["kernel"]),
                           np.asarray(result.state.params["unembed"]["kernel"]))


def test_milestones_from_hand_made_records():
    m = Milestones(0)
    curve = [(10, 0.5, 0.01), (20, 0.995, 0.02), (30, 1.0, 0.6), (40, 1.0, 0.93),
             (50, 1.0, 0.96), (60, 1.0, 0.991)]
    for step, tr, va in curve:
        m.update({"step": step, "epoch": step / 10, "train_acc": tr, "val_acc": va,
                  "train_loss": 0.1, "val_loss": 0.2, "weight_norm": 3.0})
    d = m.to_dict()
    assert d["memorized_step"] == 20 and d["memorized_epoch"] == 2.0
    assert d["steps_to_val_acc"] == {"0.5": 30, "0.9": 40, "0.95": 50, "0.99": 60}
    assert d["grokked"] and d["transition_width_steps"] == 20
    assert d["grokking_delay_steps"] == 40 and d["grokking_epoch_muon"] == 5.0
    censored = Milestones(1)
    censored.update({"step": 10, "epoch": 1, "train_acc": 0.2, "val_acc": 0.1})
    d = censored.to_dict()
    assert d["steps_to_val_acc"]["0.5"] is None and d["grokking_delay_steps"] is None
    assert d["grokked"] is False


@pytest.mark.slow
def test_seeds_split_across_devices_give_the_same_metrics():
    """With 2 (forced CPU) devices the seed axis is sharded across them; the metrics equal the
    single-device run within float tolerance."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parent / "scripts" / "sharded_run.py"

    from conftest import TEST_XLA_FLAG

    def run_with(flags):
        env = {**os.environ, "XLA_FLAGS": f"{flags} {TEST_XLA_FLAG}"}
        out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                             text=True, timeout=300, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    two = run_with("--xla_force_host_platform_device_count=2")
    one = run_with("")
    assert (two["devices"], two["placed_on"], one["placed_on"]) == (2, 2, 1)
    assert len(two["records"]) == len(one["records"]) == 12
    for a, b in zip(two["records"], one["records"]):
        assert a["seed"] == b["seed"] and a["step"] == b["step"]
        for k in METRIC_KEYS:
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6), k


@pytest.mark.slow
def test_engine_equals_the_plain_reference_trainer(tiny_overrides):
    """Dropout off, the compiled engine (vmapped scan, padded last batch, last-position forward)
    and the plain per-step trainer (host batches, full forward) give the same metrics after each
    epoch (tolerance 1e-4 relative on losses) and the same parameters."""
    from groklab.testing.plain_trainer import PlainTrainer

    over = tiny_overrides + ["model.dropout=0.0", "train.epochs=4"]
    result, records = run(over, seeds=(5,))
    plan = plan_run(dataclasses.replace(apply_overrides(RunConfig(), over), seeds=(5,)))
    plain = PlainTrainer(plan)
    for epoch, rec in enumerate(records):
        plain.train_epoch(epoch)
        m = plain.evaluate()
        for k in ("train_loss", "val_loss"):
            assert m[k] == pytest.approx(rec[k], rel=1e-4), (epoch, k)
        for k in ("train_acc", "val_acc"):
            assert m[k] == pytest.approx(rec[k], abs=1e-6), (epoch, k)
    engine_params = jax.tree.map(lambda x: x[0], result.state.params)
    for a, b in zip(jax.tree.leaves(engine_params), jax.tree.leaves(nnx.state(
            nnx.merge(plain.graphdef, plain.params), nnx.Param))):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_shared_prefix_split_of_a_task_table():
    from groklab.engine.prefix import shared_prefix
    from groklab.tasks import make_task

    tokens = np.asarray(make_task("div", 11).tokens)  # [a, op, b, =]
    sp = shared_prefix(tokens)
    assert sp.length == 2 and len(sp.prefixes) == 11  # one prefix per a
    np.testing.assert_array_equal(np.concatenate([sp.prefixes[sp.index], sp.suffix], 1), tokens)
    # nothing shared when every row's prefix is distinct
    rows = np.random.default_rng(0).permutation(1000).reshape(-1, 1) + np.zeros((1, 3), int)
    assert shared_prefix(rows).length == 0
    np.testing.assert_array_equal(shared_prefix(rows).suffix, rows)


@pytest.mark.slow
def test_shared_prefix_evaluation_gives_the_same_metrics(tiny_overrides):
    over = tiny_overrides + ["train.epochs=3"]
    _, shared = run(over, seeds=(0, 1))
    _, plain = run(over + ["train.eval_shared_prefix=false"], seeds=(0, 1))
    for a, b in zip(shared, plain):
        for k in ("train_loss", "val_loss"):
            assert a[k] == pytest.approx(b[k], rel=1e-5), k
        for k in ("train_acc", "val_acc"):
            assert a[k] == pytest.approx(b[k], abs=1e-6), k


def test_initial_parameters_are_the_bits_of_a_vmapped_initialization(tiny_overrides):
    """engine.setup.init_params initializes seed by seed; the values must be those of the
    ensembling idiom, jit(vmap(init)) over the seeds' keys, to the last bit."""
    from flax import nnx

    from groklab.engine.program import seed_keys
    from groklab.engine.setup import init_params
    from groklab.models import build_model

    plan = plan_run(apply_overrides(RunConfig(), tiny_overrides + ["seeds=[0, 3]"]))
    _, params = init_params(plan)
    model = plan.config.model
    keys = jnp.stack([seed_keys(s).init for s in (0, 3)])
    want = jax.jit(jax.vmap(lambda k: nnx.state(build_model(model, k), nnx.Param)))(keys)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(want), strict=True):
        assert a.shape == b.shape and np.array_equal(np.asarray(a), np.asarray(b))
