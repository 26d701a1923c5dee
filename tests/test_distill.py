"""Distillation: the losses against hand computations, the teacher frozen and its split reused,
strategies end to end at tiny size (early-stopped teacher, AdamW → Muon), resume, chains,
baselines and the one-line errors."""

import dataclasses
import hashlib
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import SHARED_SOURCE as TEACHER_SETS  # noqa: E402
from groklab.cli.main import main
from groklab.config import RunConfig, apply_overrides
from groklab.distill.setup import parse_strategies, prepare, resolve_student, scaled_model
from groklab.distill.teacher import teacher_ref
from groklab.errors import ConfigError
from groklab.experiments import train_run
from groklab.models import build_model
from groklab.models.config import ModelConfig
from groklab.objectives.distill import Distill, layer_map
from groklab.objectives.distill_losses import (
    attention_per_row,
    feature_per_row,
    kd_per_row,
    uncertainty_weighted,
)


@pytest.fixture(scope="module")
def teacher(shared_source):
    """The session's shared trained run (conftest.shared_source) as the teacher."""
    return shared_source


def student(teacher_dir, *sets):
    base = RunConfig.from_dict(json.loads((teacher_dir / "summary.json").read_text())["config"])
    return apply_overrides(base, [f"distill.teacher={teacher_dir}", "train.epochs=2", *sets])


def digest(path):
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


# ----- the losses, by hand -----

def test_kd_is_t_squared_kl_of_the_softened_distributions():
    rng = np.random.default_rng(0)
    zs, zt = rng.normal(size=(5, 7)), rng.normal(size=(5, 7)) * 3
    for T in (1.0, 2.0, 4.0):
        ps = np.exp(zs / T) / np.exp(zs / T).sum(-1, keepdims=True)
        pt = np.exp(zt / T) / np.exp(zt / T).sum(-1, keepdims=True)
        by_hand = T * T * (pt * np.log(pt / ps)).sum(-1)
        np.testing.assert_allclose(kd_per_row(jnp.asarray(zs), jnp.asarray(zt), T), by_hand,
                                   rtol=1e-5, atol=1e-6)
    assert float(kd_per_row(jnp.asarray(zt), jnp.asarray(zt), 2.0).max()) < 1e-6


@pytest.mark.slow
def test_kd_objective_at_t1_alpha0_equals_kl_of_the_two_models():
    cfg = ModelConfig.seed_teacher()
    s_cfg = dataclasses.replace(cfg, d_model=32, d_mlp=64, n_layers=1, dropout=0.0,
                                d_vocab=13, n_ctx=4)
    t_cfg = dataclasses.replace(cfg, d_model=48, d_mlp=96, dropout=0.0, d_vocab=13, n_ctx=4)
    s_model, t_model = build_model(s_cfg, 1), build_model(t_cfg, 2)
    s_graph, s_params = nnx.split(s_model, nnx.Param)
    t_graph, t_params = nnx.split(t_model, nnx.Param)
    tokens = jax.random.randint(jax.random.key(0), (6, 4), 0, 13)
    labels = jnp.arange(6) % 11

    @jax.jit
    def run(tp, alpha):  # (loss at α, aux, loss at 0.5, logits of both, grad w.r.t. teacher)
        def total(tp, a):
            obj = Distill(t_graph, (("logit", 1.0),), temperature=1.0, alpha=a)
            return obj(nnx.merge(s_graph, s_params), tokens, labels, jnp.ones(6), None, tp, {})
        loss, aux = total(tp, alpha)
        mixed, _ = total(tp, 0.5)
        g = jax.grad(lambda p: total(p, alpha)[0])(tp)
        return loss, aux, mixed, nnx.merge(s_graph, s_params)(tokens), \
            nnx.merge(t_graph, tp)(tokens), g

    loss, aux, mixed, zs, zt, g = run(t_params, 0.0)
    zs, zt = np.asarray(zs, np.float64), np.asarray(zt, np.float64)
    ps = np.exp(zs - zs.max(-1, keepdims=True))
    ps /= ps.sum(-1, keepdims=True)
    pt = np.exp(zt - zt.max(-1, keepdims=True))
    pt /= pt.sum(-1, keepdims=True)
    kl = (pt * (np.log(pt) - np.log(ps))).sum(-1).mean()
    np.testing.assert_allclose(float(loss), kl, rtol=1e-4)
    ce = (-np.log(ps[np.arange(6), np.asarray(labels)])).mean()
    np.testing.assert_allclose(float(aux["loss_ce"]), ce, rtol=1e-4)
    # α = 0.5 mixes the two; the teacher gets no gradient (stop_gradient)
    np.testing.assert_allclose(float(mixed), 0.5 * ce + 0.5 * kl, rtol=1e-4)
    assert all(float(jnp.abs(x).max()) == 0.0 for x in jax.tree.leaves(g))


def test_attention_loss_head_averages_only_when_head_counts_differ():
    rng = np.random.default_rng(1)
    a = jax.nn.softmax(jnp.asarray(rng.normal(size=(3, 2, 4, 4))), -1)
    b = jax.nn.softmax(jnp.asarray(rng.normal(size=(3, 2, 4, 4))), -1)
    c = jax.nn.softmax(jnp.asarray(rng.normal(size=(3, 4, 4, 4))), -1)
    np.testing.assert_allclose(attention_per_row([a], [b]),
                               ((np.asarray(a) - np.asarray(b)) ** 2).mean(axis=(1, 2, 3)),
                               rtol=1e-6)
    by_hand = ((np.asarray(a).mean(1) - np.asarray(c).mean(1)) ** 2).mean(axis=(1, 2))
    np.testing.assert_allclose(attention_per_row([a], [c]), by_hand, rtol=1e-6)
    np.testing.assert_allclose(attention_per_row([a, a], [b, a]),
                               attention_per_row([a], [b]) / 2, rtol=1e-6)


@pytest.mark.slow
def test_feature_loss_cannot_be_driven_to_zero_by_shrinking_the_projector():
    rng = np.random.default_rng(2)
    hs, ht = jnp.asarray(rng.normal(size=(64, 8))), jnp.asarray(rng.normal(size=(64, 24)))
    P = jnp.asarray(rng.normal(size=(8, 24)))
    floor = float((ht ** 2).mean())
    for eps in (1.0, 1e-2, 1e-4, 0.0):
        loss = float(feature_per_row(hs, ht, eps * P).mean())
        assert loss >= 0.5 * floor  # far from 0 whatever the projector's scale
    np.testing.assert_allclose(float(feature_per_row(hs, ht, 0 * P).mean()), floor, rtol=1e-6)
    # gradient descent on the projector alone, with strong weight decay, stays above the
    # least-squares floor of the teacher features (it cannot reach 0)
    lstsq = np.linalg.lstsq(np.asarray(hs), np.asarray(ht), rcond=None)[0]
    best = float(((np.asarray(hs) @ lstsq - np.asarray(ht)) ** 2).mean())
    p = P
    for _ in range(300):
        g = jax.grad(lambda q: feature_per_row(hs, ht, q).mean())(p)
        p = p - 0.05 * (g + 1.0 * p)
    assert float(feature_per_row(hs, ht, p).mean()) >= best - 1e-6 and best > 0.05


def test_uncertainty_weighting_and_layer_map():
    losses = {"ce": jnp.float32(2.0), "logit": jnp.float32(0.5)}
    s = {"ce": jnp.float32(0.3), "logit": jnp.float32(-0.2)}
    np.testing.assert_allclose(float(uncertainty_weighted(losses, s)),
                               np.exp(-0.3) * 2 + 0.3 + np.exp(0.2) * 0.5 - 0.2, rtol=1e-6)
    assert layer_map(2, 2) == (0, 1)
    assert layer_map(1, 2) == (1,)
    assert layer_map(2, 4) == (1, 3)
    assert layer_map(3, 6) == (1, 3, 5)
    with pytest.raises(ValueError, match="no layer mapping"):
        layer_map(3, 2)


def test_strategies_and_scaled_students():
    assert parse_strategies(["logit", "attention:0.5"]) == (("logit", 1.0), ("attention", 0.5))
    assert parse_strategies(["logit,feature:2"]) == (("logit", 1.0), ("feature", 2.0))
    with pytest.raises(ConfigError, match="unknown distillation strategy 'logits'"):
        parse_strategies(["logits"])
    m = scaled_model(ModelConfig.seed_teacher(), 0.5, None)
    assert (m.d_model, m.mlp_dim, m.n_layers) == (64, 256, 2)
    m = scaled_model(ModelConfig.seed_teacher(), 0.25, 0.5)
    assert (m.d_model, m.n_layers) == (32, 1)
    ref = teacher_ref("r@val_acc=0.5")
    assert (str(ref.path), ref.kind, ref.value, ref.role) == ("r", "val_acc", 0.5, "teacher")
    assert teacher_ref("r@120").kind == "step"


@pytest.mark.slow
def test_model_fields_set_for_a_scaled_student_win_over_the_scaling(teacher):
    cfg = resolve_student(student(teacher, "distill.student_scale=0.5", "model.dropout=0.3",
                                  "model.dropout_rng=threefry"))
    assert (cfg.model.d_model, cfg.model.dropout, cfg.model.dropout_rng) == (16, 0.3, "threefry")
    assert resolve_student(cfg) == cfg  # resolving a resolved config changes nothing
    plain = resolve_student(student(teacher, "distill.student_scale=0.5"))
    assert (plain.model.d_model, plain.model.dropout) == (16, 0.0)


# ----- end to end at tiny size -----

@pytest.mark.slow
def test_student_reuses_the_teacher_split_and_leaves_the_teacher_untouched(teacher, tmp_path):
    before = digest(teacher)
    cfg = student(teacher, "distill.strategies=[logit, attention, 'feature:0.5']",
                  "distill.student_scale=0.5", "distill.learned_weighting=true")
    s = train_run(cfg, tmp_path / "s")
    assert digest(teacher) == before
    t_split, s_split = np.load(teacher / "split.npz"), np.load(tmp_path / "s" / "split.npz")
    for k in ("train_idx", "val_idx", "train_labels"):
        np.testing.assert_array_equal(t_split[k], s_split[k])
    assert s["teacher"]["steps"] == [18, 18] and s["config"]["model"]["d_model"] == 16
    rec = json.loads((tmp_path / "s" / "metrics.jsonl").read_text().splitlines()[-1])
    for k in ("loss_ce", "loss_logit", "loss_attention", "loss_feature", "weight_ce",
              "weight_feature"):
        assert rec[k] is not None and np.isfinite(rec[k]), k
    assert (tmp_path / "s" / "figures" / "student_vs_teacher.png").exists()
    cfg_saved = (tmp_path / "s" / "config.yaml").read_text()
    assert "teacher:" in cfg_saved and "student_scale: 0.5" in cfg_saved
    # the seeds' CKA / rank / entropy table of a teacher and its student is one command
    assert main(["analyze", str(teacher), "--compare", str(tmp_path / "s"), "--ig_steps", "0",
                 "--out", str(tmp_path / "an")]) == 0
    assert digest(teacher) == before
    table = (tmp_path / "an" / "table.md").read_text().splitlines()
    assert len(table) == 4 and "CKA blocks.0" in table[0] and table[3].startswith("| s |")


@pytest.mark.slow
def test_distill_run_resumes_exactly_with_a_projector_in_its_state(teacher, tmp_path):
    cfg = student(teacher, "distill.strategies=[feature]", "distill.student_scale=0.5",
                  "train.epochs=4", "train.checkpoint_every=6")
    train_run(cfg, tmp_path / "full", figures=False)
    half = apply_overrides(cfg, ["train.epochs=2"])
    train_run(half, tmp_path / "cut", figures=False)
    train_run(cfg, tmp_path / "cut", resume=True, figures=False)
    assert (tmp_path / "cut" / "metrics.jsonl").read_text() == \
        (tmp_path / "full" / "metrics.jsonl").read_text()


@pytest.mark.slow
def test_early_stopped_teacher_and_adamw_to_muon(teacher, tmp_path, capsys):
    code = main(["distill", "--teacher", f"{teacher}@epoch=1", "--optimizer", "muon",
                 "--strategies", "logit,attention", "--epochs", "2", "--quiet",
                 "--out", str(tmp_path / "s")])
    assert code == 0, capsys.readouterr().err
    s = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert s["teacher"]["epochs"] == [1.0, 1.0] and s["config"]["optim"]["name"] == "muon"
    assert s["teacher"]["val_acc"][0] < 0.5  # a pre-grokking teacher
    # the other selectors and the seed scripts' checkpoint-directory form, without training
    from groklab.cli.distill_cmd import absolute_run_ref
    from groklab.distill.teacher import load_teacher

    assert absolute_run_ref(str(teacher / "checkpoints/params/3")) == f"{teacher.resolve()}@3"
    assert load_teacher(teacher_ref(f"{teacher}@3"), (0, 1)).loaded.steps == (3, 3)
    acc = {(r["seed"], r["step"]): r["val_acc"] for r in map(
        json.loads, (teacher / "metrics.jsonl").read_text().splitlines())}
    t = load_teacher(teacher_ref(f"{teacher}@val_acc=0.1"), (1,))
    first = min(st for (sd, st), v in acc.items() if sd == 1 and v >= 0.1 and
                (teacher / "checkpoints/params" / str(st)).exists())
    assert t.loaded.steps == (first,) and t.loaded.val_acc[0] >= 0.1
    assert jax.tree.leaves(t.loaded.params)[0].shape[0] == 1


@pytest.mark.slow
def test_baseline_and_chain(teacher, tmp_path, capsys):
    code = main(["distill", "--teacher", str(teacher), "--epochs", "2", "--baseline",
                 "--quiet", "--out", str(tmp_path / "s")])
    out = capsys.readouterr().out
    assert code == 0 and "from scratch" in out
    scratch = json.loads((tmp_path / "s_scratch" / "summary.json").read_text())
    assert scratch["config"]["distill"]["strategies"] == []
    assert scratch["config"]["model"] == json.loads(
        (tmp_path / "s" / "summary.json").read_text())["config"]["model"]
    np.testing.assert_array_equal(np.load(tmp_path / "s_scratch" / "split.npz")["train_idx"],
                                  np.load(teacher / "split.npz")["train_idx"])
    assert "Log-rank" in (tmp_path / "s" / "comparison.md").read_text()
    code = main(["distill", "--teacher", str(teacher), "--chain", "0.5,0.25", "--epochs", "1",
                 "--quiet", "--out", str(tmp_path / "chain")])
    assert code == 0
    g2 = json.loads((tmp_path / "chain" / "gen2" / "summary.json").read_text())
    assert g2["teacher"]["run"] == str((tmp_path / "chain" / "gen1").resolve())
    assert g2["config"]["model"]["d_model"] == 8
    assert "| 2 | 0.25 | 8 |" in (tmp_path / "chain" / "chain.md").read_text()


@pytest.mark.parametrize("argv, fragment", [
    (["--strategies", "logits"], "unknown distillation strategy 'logits'"),
    (["--p", "13"], "task differs"),
    (["--operation", "sub"], "task differs"),
    (["--strategies", "attention", "--depth_scale", "3"], "no layer mapping"),
    (["--alpha", "1.5"], "alpha=1.5"),
    (["--seeds", "0,7"], "seeds [7] are not seeds of teacher"),
])
@pytest.mark.slow
def test_bad_distill_input_is_one_line(teacher, tmp_path, capsys, argv, fragment):
    out = tmp_path / "s"
    code = main(["distill", "--teacher", str(teacher), "--quiet", "--out", str(out), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and fragment in err[0], err
    assert not out.exists()


@pytest.mark.slow
def test_bad_teachers_are_one_line(teacher, tmp_path, capsys):
    empty = tmp_path / "nockpt"
    train_run(apply_overrides(RunConfig(), TEACHER_SETS + ["train.epochs=1"]), empty,
              figures=False)
    import shutil

    shutil.rmtree(empty / "checkpoints")
    for ref, fragment in ((str(empty), "has no checkpoints"),
                          (str(tmp_path / "nothing"), "not a groklab run directory"),
                          (f"{teacher}@step=5", "no checkpoint at step 5"),
                          (f"{teacher}@epoch=2.5", "no checkpoint at epoch 2.5"),
                          (f"{teacher}@val_acc=1.01", "outside [0, 1]"),
                          (f"{teacher}@loss=1", "unknown selector 'loss'")):
        code = main(["distill", "--teacher", ref, "--quiet", "--out", str(tmp_path / "s")])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and fragment in err[0], (ref, err)
    with pytest.raises(ConfigError, match="nothing to learn"):
        prepare(student(teacher, "distill.ground_truth=false", "distill.strategies=[]"))


@pytest.mark.slow
def test_the_distill_matrix_example_expands_and_validates(teacher, tmp_path):
    from pathlib import Path

    from groklab.sweeps import load_spec

    text = (Path(__file__).parents[1] / "examples" / "distill_matrix.yaml").read_text()
    text = text.replace("../runs/teacher97x5/config.yaml", str(teacher / "config.yaml"))
    text = text.replace("runs/teacher97x5", str(teacher)).replace("num_seeds: 5", "num_seeds: 2")
    spec_path = tmp_path / "matrix.yaml"
    spec_path.write_text(text)
    cells = load_spec(spec_path).cells()  # validates every cell against the teacher
    assert len(cells) == 8
    got = {(tuple(c.config.distill.strategies), c.config.distill.student_scale) for c in cells}
    assert got == {(s, w) for s in (("logit",), ("attention",), ("feature",), ())
                   for w in (0.5, 0.25)}
    assert all(c.config.task.p == 11 and c.config.train.stop_at == 0.99 for c in cells)
    bad = spec_path.read_text().replace("[logit], [attention]", "[logits], [attention]")
    spec_path.write_text(bad)
    with pytest.raises(ConfigError, match="unknown distillation strategy 'logits'"):
        load_spec(spec_path)
