"""Optimizer recipes, gradient filters, schedules and losses, checked against hand computations.

Every expected value is worked out here with numpy (float64) from the published formula, never by
calling the code under test.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from optax.contrib import MuonDimensionNumbers

from groklab.config import RunConfig, apply_overrides
from groklab.engine.setup import plan_run
from groklab.errors import ConfigError
from groklab.models import build_model
from groklab.models.config import ModelConfig
from groklab.objectives.losses import (
    per_row_loss,
    softmax_collapsed,
    sparsemax,
    stablemax,
    stablemax_cross_entropy,
    weighted_loss,
)
from groklab.optim import (
    OptimConfig,
    adapt_wd_scale,
    build_optimizer,
    constrain_norm,
    grokfast_ema,
    grokfast_ma,
    hidden_matrix_mask,
    hidden_matrix_names,
    lr_multiplier,
    muon_dimension_numbers,
    orthograd,
    plateau_scale,
    wd_multiplier,
)
from groklab.params import param_name

# A small parameter tree and three gradients for it (float32 arrays).
W = {"a": np.array([1.0, -2.0, 0.5]), "b": np.array([[0.3, -0.7], [1.5, 2.0]])}
G1 = {"a": np.array([0.2, 0.4, -1.0]), "b": np.array([[1.0, -0.5], [0.25, 0.0]])}
G2 = {"a": np.array([-0.6, 0.1, 0.3]), "b": np.array([[0.5, 2.0], [-1.0, 0.75]])}
G3 = {"a": np.array([1.0, 1.0, -0.2]), "b": np.array([[-0.3, 0.1], [0.4, -2.0]])}
# Plain SGD / Adam settings that switch off every default extra (warmup, decay, momentum).
PLAIN = dict(warmup_steps=0, weight_decay=0.0, momentum=0.0)


def f32(tree):
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), tree)


def npy(tree):
    return jax.tree.map(lambda x: np.asarray(x, np.float64), tree)


def assert_tree_close(got, want, rtol=1e-5, atol=1e-6):
    got, want = npy(got), npy(want)
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def tmap(fn, *trees):
    """Leafwise numpy arithmetic on the dict trees above."""
    return {k: fn(*(t[k] for t in trees)) for k in trees[0]}


def run_steps(tx, grads, params=W, **extra):
    """Feed ``grads`` one by one to a jitted ``tx.update``, applying each update to the params.
    Returns the list of updates (as numpy) and the final state."""
    update = jax.jit(lambda g, s, p: tx.update(g, s, p, **extra))
    p = f32(params)
    state = tx.init(p)
    outs = []
    for g in grads:
        u, state = update(f32(g), state, p)
        p = optax.apply_updates(p, u)
        outs.append(npy(u))
    return outs, state


def sgd_cfg(**kw):
    return dataclasses.replace(OptimConfig(name="sgd", learning_rate=0.1, **PLAIN), **kw)


# ---------------------------------------------------------------- gradient filters


def test_grokfast_ema_two_steps():
    """h starts at g1; then h = α h + (1 − α) g; the output is g + λ h."""
    out, _ = run_steps(grokfast_ema(alpha=0.9, lamb=2.0), [G1, G2])
    assert_tree_close(out[0], tmap(lambda g: 3.0 * g, G1))
    h2 = tmap(lambda a, b: 0.9 * a + 0.1 * b, G1, G2)
    assert_tree_close(out[1], tmap(lambda g, h: g + 2.0 * h, G2, h2))


def test_grokfast_ma_waits_for_a_full_window_then_uses_a_ring_buffer():
    out, state = run_steps(grokfast_ma(window=2, lamb=5.0), [G1, G2, G3])
    assert_tree_close(out[0], G1)  # window not full yet: unchanged
    assert_tree_close(out[1], tmap(lambda a, b: b + 5.0 * (a + b) / 2, G1, G2))
    assert_tree_close(out[2], tmap(lambda b, c: c + 5.0 * (b + c) / 2, G2, G3))  # g1 dropped
    assert int(state.count) == 3


def test_grokfast_wiring_in_build_optimizer():
    """grokfast="ema" sits before the base optimizer with the default λ = 2."""
    cfg = sgd_cfg(grokfast="ema", grokfast_alpha=0.9)
    out, _ = run_steps(build_optimizer(cfg), [G1, G2])
    h2 = tmap(lambda a, b: 0.9 * a + 0.1 * b, G1, G2)
    assert_tree_close(out[1], tmap(lambda g, h: -0.1 * (g + 2.0 * h), G2, h2))
    assert OptimConfig(grokfast="ma").grokfast_lambda == 5.0


def orthograd_np(g, w):
    """⊥Grad by hand: remove the component along w, rescale to ‖g‖."""
    g, w = g.ravel(), w.ravel()
    perp = g - (w @ g) / (w @ w) * w
    return perp * np.linalg.norm(g) / np.linalg.norm(perp)


def test_orthograd_is_orthogonal_norm_preserving_and_matches_the_formula():
    out, _ = run_steps(orthograd(), [G1])
    for k in W:
        u = out[0][k]
        assert abs(u.ravel() @ W[k].ravel()) < 1e-5  # orthogonal to the weights
        assert np.linalg.norm(u) == pytest.approx(np.linalg.norm(G1[k]), rel=1e-5)
        np.testing.assert_allclose(u.ravel(), orthograd_np(G1[k], W[k]), rtol=1e-5, atol=1e-6)


def test_orthograd_chained_with_sgd():
    tx = optax.chain(orthograd(), optax.sgd(0.1))
    out, _ = run_steps(tx, [G1])
    want = {k: -0.1 * orthograd_np(G1[k], W[k]).reshape(W[k].shape) for k in W}
    assert_tree_close(out[0], want)
    with pytest.raises(ValueError, match="needs the parameters"):
        orthograd().update(f32(G1), optax.EmptyState())


def test_constrain_norm_keeps_the_initial_total_norm():
    tx = optax.chain(optax.sgd(0.5), constrain_norm())
    norm0 = np.sqrt(sum((w ** 2).sum() for w in W.values()))
    p = npy(W)
    out, _ = run_steps(tx, [G1, G2])
    for g, u in zip([G1, G2], out):
        raw = tmap(lambda w, gg: w - 0.5 * gg, p, g)  # the plain SGD step ...
        scale = norm0 / np.sqrt(sum((r ** 2).sum() for r in raw.values()))
        new = {k: r * scale for k, r in raw.items()}  # ... rescaled to the initial norm
        assert_tree_close(tmap(lambda a, b: a + b, p, u), new)
        p = new
        assert np.sqrt(sum((x ** 2).sum() for x in p.values())) == pytest.approx(norm0, rel=1e-5)


# ---------------------------------------------------------------- base optimizers


def test_clip_by_global_norm_then_sgd():
    cfg = sgd_cfg(clip_norm=1.0)
    big = tmap(lambda g: 10.0 * g, G1)
    norm = np.sqrt(sum((g ** 2).sum() for g in big.values()))
    assert norm > 1.0
    out, _ = run_steps(build_optimizer(cfg), [big])
    assert_tree_close(out[0], tmap(lambda g: -0.1 * g / norm, big))
    small = tmap(lambda g: 0.01 * g, G1)  # below the threshold: untouched
    out, _ = run_steps(build_optimizer(cfg), [small])
    assert_tree_close(out[0], tmap(lambda g: -0.1 * g, small))


def adam_first_direction(g, b1=0.9, b2=0.98, eps=1e-8):
    """Adam's first step direction with bias correction, written out."""
    m, v = (1 - b1) * g, (1 - b2) * g ** 2
    return (m / (1 - b1)) / (np.sqrt(v / (1 - b2)) + eps)


def test_adam_with_l2_is_adam_on_the_decayed_gradient():
    cfg = OptimConfig(name="adam", learning_rate=0.01, weight_decay=0.5, warmup_steps=0)
    out, _ = run_steps(build_optimizer(cfg), [G1])
    want = tmap(lambda g, w: -0.01 * adam_first_direction(g + 0.5 * w), G1, W)
    assert_tree_close(out[0], want)


def test_adamw_decouples_weight_decay():
    cfg = OptimConfig(name="adamw", learning_rate=0.01, weight_decay=0.5, warmup_steps=0)
    out, _ = run_steps(build_optimizer(cfg), [G1])
    # G1["b"] has an exact 0: Adam's direction there is 0, only the decay moves it
    want = tmap(lambda g, w: -0.01 * (adam_first_direction(g) + 0.5 * w), G1, W)
    assert_tree_close(out[0], want)


def test_sgd_momentum_with_l2_two_steps():
    cfg = sgd_cfg(momentum=0.9, weight_decay=0.01)
    out, _ = run_steps(build_optimizer(cfg), [G1, G2])
    t1 = tmap(lambda g, w: g + 0.01 * w, G1, W)
    assert_tree_close(out[0], tmap(lambda t: -0.1 * t, t1))
    w1 = tmap(lambda w, t: w - 0.1 * t, W, t1)
    t2 = tmap(lambda g, w, t: g + 0.01 * w + 0.9 * t, G2, w1, t1)
    assert_tree_close(out[1], tmap(lambda t: -0.1 * t, t2))


def test_optax_lion_by_name_passes_kwargs_and_weight_decay():
    # Lion: c = b1·m + (1 − b1)·g, update = −lr·(sign(c) + wd·w), m ← b2·m + (1 − b2)·g.
    g1 = {"a": np.array([100.0, -100.0])}
    g2 = {"a": np.array([-1.5, 1.5])}
    w = {"a": np.array([0.0, 0.0])}
    cfg = OptimConfig(name="optax:lion", learning_rate=0.01, weight_decay=0.0, warmup_steps=0,
                      kwargs={"b1": 0.5})
    out, _ = run_steps(build_optimizer(cfg), [g1, g2], params=w)
    assert out[0]["a"].shape == (2,) and np.all(np.isfinite(out[0]["a"]))
    np.testing.assert_allclose(out[0]["a"], [-0.01, 0.01], rtol=1e-6)
    # step 2: m1 = 0.01·g1 = ±1; with b1 = 0.5, c = 0.5·1 − 0.5·1.5 < 0 (with b1 = 0.9 it is > 0)
    np.testing.assert_allclose(out[1]["a"], [0.01, -0.01], rtol=1e-6)
    # the configured weight decay reaches lion's own weight_decay argument
    cfg = OptimConfig(name="optax:lion", learning_rate=0.01, weight_decay=0.5, warmup_steps=0)
    out, _ = run_steps(build_optimizer(cfg), [G1])
    assert_tree_close(out[0], tmap(lambda g, ww: -0.01 * (np.sign(g) + 0.5 * ww), G1, W))


def test_sam_steps_with_the_gradient_at_the_adversarial_point():
    """L(w) = ½ Σ a w², ∇L = a w; SAM's step is −lr ∇L(w + ρ g/‖g‖)."""
    a = {"a": np.array([1.0, 3.0, 0.5]), "b": np.array([[2.0, 1.0], [0.25, 4.0]])}
    a32 = f32(a)

    def grad_fn(params, _):
        return jax.tree.map(lambda c, p: c * p, a32, params)

    g = tmap(lambda c, w: c * w, a, W)
    gnorm = np.sqrt(sum((x ** 2).sum() for x in g.values()))
    w_adv = tmap(lambda w, gg: w + 0.1 * gg / gnorm, W, g)
    want = tmap(lambda c, w: -0.1 * c * w, a, w_adv)
    tx = build_optimizer(sgd_cfg(sam_rho=0.1))
    out, _ = run_steps(tx, [g], grad_fn=grad_fn, value=jnp.float32(1.0))  # value is dropped
    assert_tree_close(out[0], want)
    # and it differs from the plain step −lr·g
    assert not np.allclose(out[0]["b"], -0.1 * g["b"])


def test_reduce_on_plateau_halves_the_lr_after_patience_epochs():
    # optax: the first epoch's mean improves on +inf (plateau count 0); each epoch without
    # improvement adds 1; when the count reaches `patience` the scale is multiplied by `factor`
    # (in that same update) and the count restarts.
    cfg = sgd_cfg(lr_schedule="plateau", plateau_patience=1, plateau_factor=0.5)
    tx = build_optimizer(cfg, steps_per_epoch=1)
    update = jax.jit(lambda g, s, p, v: tx.update(g, s, p, value=v))
    p, state = f32(W), tx.init(f32(W))
    assert plateau_scale(state) == 1.0
    scales = []
    for _ in range(3):
        u, state = update(f32(G1), state, p, jnp.float32(2.0))
        scales.append(float(plateau_scale(state)))
    assert scales == [1.0, 0.5, 0.25]
    assert_tree_close(u, tmap(lambda g: -0.1 * 0.25 * g, G1))  # the update carries the scale
    # with two steps per epoch the losses are averaged first: the drop comes after 4 updates
    tx = build_optimizer(cfg, steps_per_epoch=2)
    state = tx.init(p)
    scales = []
    for _ in range(4):
        _, state = tx.update(f32(G1), state, p, value=jnp.float32(2.0))
        scales.append(float(plateau_scale(state)))
    assert scales == [1.0, 1.0, 1.0, 0.5]
    assert plateau_scale(build_optimizer(sgd_cfg()).init(p)) == 1.0  # no plateau: 1


def test_frozen_leaves_do_not_move_even_with_weight_decay():
    cfg = OptimConfig(name="adamw", learning_rate=0.01, weight_decay=1.0, warmup_steps=0)
    tx = build_optimizer(cfg, trainable={"a": True, "b": False})
    out, _ = run_steps(tx, [G1, G2])
    for u in out:
        assert np.all(u["b"] == 0.0)
        assert np.all(u["a"] != 0.0)


# ---------------------------------------------------------------- losses


def test_stablemax_matches_the_formula_and_is_not_softmax():
    z = jnp.asarray([[2.0, 0.0, -1.0, -3.0]])
    p = np.asarray(stablemax(z))
    want = np.array([3.0, 1.0, 0.5, 0.25]) / 4.75  # s(x) = x + 1 (x ≥ 0), 1 / (1 − x) (x < 0)
    np.testing.assert_allclose(p[0], want, rtol=1e-6)
    assert p.sum() == pytest.approx(1.0, rel=1e-6)
    for y in range(4):
        labels = jnp.asarray([y])
        assert float(stablemax_cross_entropy(z, labels)[0]) == pytest.approx(-np.log(want[y]),
                                                                             rel=1e-5)
        assert float(per_row_loss(z, labels, "stablemax")[0]) == pytest.approx(-np.log(want[y]),
                                                                               rel=1e-5)
    soft = np.exp([2.0, 0.0, -1.0, -3.0]) / np.exp([2.0, 0.0, -1.0, -3.0]).sum()
    assert np.abs(p[0] - soft).max() > 0.1
    # softmax is shift invariant, StableMax is not
    assert np.abs(np.asarray(stablemax(z + 5.0)) - p).max() > 0.1


def test_stablemax_rows_sum_to_one():
    z = jax.random.normal(jax.random.key(0), (6, 11)) * 30.0
    np.testing.assert_allclose(np.asarray(stablemax(z)).sum(-1), 1.0, rtol=1e-5)
    assert np.all(np.asarray(stablemax(z)) > 0)


def stablemax_grad_np(z, y):
    """d/dz [log Σ s(z_j) − log s(z_y)] with s'(x) = 1 (x ≥ 0), 1 / (1 − x)² (x < 0)."""
    s = np.where(z >= 0, z + 1.0, 1.0 / (1.0 - z))
    ds = np.where(z >= 0, 1.0, 1.0 / (1.0 - z) ** 2)
    out = ds / s.sum()
    out[y] -= ds[y] / s[y]
    return out


@pytest.mark.slow
def test_stablemax_gradient_matches_by_hand_and_is_finite_for_huge_logits():
    z = np.array([2.0, 0.5, -1.0, -3.0])
    for y in (0, 1, 3):
        got = jax.grad(lambda v, y=y: stablemax_cross_entropy(v, jnp.asarray([y])).sum())(
            jnp.asarray([z], jnp.float32))
        np.testing.assert_allclose(np.asarray(got)[0], stablemax_grad_np(z, y), rtol=1e-5)
    big = jnp.asarray([[1e4, -1e4, 0.0, 3.0], [-1e4, 1e4, -1e4, 1e4]])
    labels = jnp.asarray([1, 2])
    loss, grad = jax.value_and_grad(lambda v: stablemax_cross_entropy(v, labels).sum())(big)
    assert bool(jnp.isfinite(loss)) and bool(jnp.all(jnp.isfinite(grad)))


def test_stablemax_gradient_at_a_zero_logit():
    # s is continuous and differentiable at 0 (both branches have slope 1 there)
    z = np.array([2.0, 0.0, -1.0, -3.0])
    got = jax.grad(lambda v: stablemax_cross_entropy(v, jnp.asarray([1])).sum())(
        jnp.asarray([z], jnp.float32))
    np.testing.assert_allclose(np.asarray(got)[0], stablemax_grad_np(z, 1), rtol=1e-5)


def sparsemax_np(z):
    """Martins & Astudillo 2016, Alg. 1: (p, τ, support)."""
    zs = np.sort(z)[::-1]
    cs = np.cumsum(zs)
    k = np.arange(1, len(z) + 1)
    kz = k[1 + k * zs > cs].max()
    tau = (cs[kz - 1] - 1) / kz
    p = np.maximum(z - tau, 0.0)
    return p, tau, p > 0


ROWS = np.array([
    [0.5, 0.3, 0.1, -0.2, 0.45, 0.0],
    [3.0, 1.0, 0.2, -1.0, 0.0, 2.5],
    [0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
    [-1.2, 0.7, 0.65, 0.2, -0.3, 0.69],
])


@pytest.mark.slow
def test_sparsemax_is_the_simplex_projection():
    rng = np.random.default_rng(0)
    z = np.concatenate([ROWS, rng.normal(size=(5, 6)) * 2.0])
    p = np.asarray(sparsemax(jnp.asarray(z, jnp.float32)), np.float64)
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-5)
    for row, got in zip(z, p):
        np.testing.assert_allclose(got, sparsemax_np(row)[0], atol=1e-5)
    # a peaked row is sparse: exact zeros
    peaked = np.asarray(sparsemax(jnp.asarray([[5.0, 1.0, 0.5, -2.0]])))
    assert peaked[0].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert np.sum(p[1] == 0.0) >= 3


def test_sparsemax_loss_matches_martins_astudillo_eq_15():
    # L(z; y) = −z_y + ½ Σ_{j∈S(z)} (z_j² − τ²) + ½
    for row in ROWS:
        _, tau, support = sparsemax_np(row)
        for y in range(len(row)):
            want = -row[y] + 0.5 * np.sum(row[support] ** 2 - tau ** 2) + 0.5
            got = float(per_row_loss(jnp.asarray([row]), jnp.asarray([y]), "sparsemax")[0])
            assert got == pytest.approx(want, abs=1e-5)
            assert got >= -1e-6


def test_sparsemax_loss_is_zero_once_the_label_dominates_by_one():
    z = jnp.asarray([[2.0, 0.5, 1.0], [0.0, 3.5, 1.0], [1.0, 0.5, 0.2]])
    loss = np.asarray(per_row_loss(z, jnp.asarray([0, 1, 0]), "sparsemax"))
    np.testing.assert_allclose(loss[:2], 0.0, atol=1e-6)  # margins 1 and 2.5
    assert loss[2] > 0.01  # margin 0.5 < 1


def test_softmax_loss_is_logsumexp_minus_the_label_score():
    z = np.array([[1.0, -0.5, 2.0], [0.3, 0.3, -4.0]])
    want = np.log(np.exp(z).sum(-1)) - z[[0, 1], [2, 0]]
    got = per_row_loss(jnp.asarray(z), jnp.asarray([2, 0]), "softmax")
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5)
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        per_row_loss(jnp.asarray(z), jnp.asarray([2, 0]), "hinge")


def test_weighted_loss_ignores_zero_weight_rows():
    z = jnp.asarray([[2.0, 0.0], [0.0, 2.0], [5.0, -5.0]])
    labels = jnp.asarray([0, 0, 1])
    per_row = np.log(1 + np.exp(-2.0)), np.log(1 + np.exp(2.0))
    mean, aux = weighted_loss(z, labels, jnp.asarray([1.0, 1.0, 0.0]))
    assert float(mean) == pytest.approx(sum(per_row) / 2, rel=1e-5)
    assert float(aux["acc"]) == pytest.approx(0.5)
    assert mean.dtype == jnp.float32


def test_softmax_collapse_in_float32_and_float64():
    rows = jnp.asarray([[0.0, -200.0, -200.0], [0.0, -1.0, -2.0], [0.0, -30.0, -30.0]])
    # float32: exp(−200) underflows; exp(−30) ≈ 9e−14 vanishes against 1 (eps ≈ 1.2e−7)
    np.testing.assert_array_equal(np.asarray(softmax_collapsed(rows)), [1.0, 0.0, 1.0])
    with jax.enable_x64(True):
        z = jnp.asarray([[0.0, -30.0, -30.0], [0.0, -120.0, -120.0]], jnp.float64)
        got = np.asarray(softmax_collapsed(z, dtype=jnp.float64))
        # float64 resolves 1 + 2e−13, but not 1 + 2·exp(−120) ≈ 1 + 1.5e−52 (eps ≈ 2.2e−16)
        np.testing.assert_array_equal(got, [0.0, 1.0])
        assert per_row_loss(z, jnp.asarray([1, 1]), "softmax", jnp.float64).dtype == jnp.float64


# ---------------------------------------------------------------- Muon


def seed_teacher_params():
    model = build_model(ModelConfig.seed_teacher().resolve_for_task(99, 4, (0, 2)), 0)
    return nnx.state(model, nnx.Param)


def flat(tree):
    """{'blocks.0.attn.q.kernel': leaf, ...} (the nnx Variable's '.value' dropped)."""
    out = {}
    is_leaf = lambda x: x is None or isinstance(x, MuonDimensionNumbers)
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree, is_leaf=is_leaf):
        out[param_name(path)] = leaf
    return out


HIDDEN = {f"blocks.{i}.{m}.kernel" for i in (0, 1)
          for m in ("attn.q", "attn.k", "attn.v", "attn.o", "mlp.w_in", "mlp.w_gate",
                    "mlp.w_out")}


@pytest.mark.slow
def test_muon_routes_exactly_the_hidden_block_matrices():
    params = seed_teacher_params()
    names = set(hidden_matrix_names(params))
    assert names == HIDDEN and len(hidden_matrix_names(params)) == 14
    mask = flat(hidden_matrix_mask(params))
    assert {k for k, v in mask.items() if v} == HIDDEN
    for k in ("embed.embedding", "unembed.kernel", "ln_final.scale", "blocks.0.ln1_in.scale"):
        assert mask[k] is False
    dims = flat(muon_dimension_numbers(params))
    assert {k for k, v in dims.items() if v is not None} == HIDDEN
    assert {k for k, v in dims.items() if v is None} == set(flat(params)) - HIDDEN
    mlp = build_model(ModelConfig(kind="mlp").resolve_for_task(99, 4, (0, 2)), 0)
    assert hidden_matrix_names(nnx.state(mlp, nnx.Param)) == []


@pytest.mark.slow
def test_muon_orthogonalizes_hidden_matrices_and_adam_steps_the_rest():
    params = seed_teacher_params()
    rng = np.random.default_rng(0)

    def fake_grad(x):
        if x.ndim == 2 and x.shape[0] == x.shape[1]:  # square: spectrum spread over [0.2, 1]
            u, _ = np.linalg.qr(rng.normal(size=x.shape))
            v, _ = np.linalg.qr(rng.normal(size=x.shape))
            return jnp.asarray((u * np.linspace(0.2, 1.0, x.shape[0])) @ v.T, jnp.float32)
        return jnp.asarray(rng.normal(size=x.shape), jnp.float32)

    grads = jax.tree.map(fake_grad, params)
    cfg = OptimConfig(name="muon", learning_rate=0.01, muon_learning_rate=0.02,
                      weight_decay=0.0, warmup_steps=0)
    tx = build_optimizer(cfg)
    upd, _ = jax.jit(tx.update)(grads, tx.init(params), params)
    upd, g = {k: np.asarray(v, np.float64) for k, v in flat(upd).items()}, flat(grads)
    for name in ("blocks.0.attn.q.kernel", "blocks.1.mlp.w_in.kernel"):
        sv = np.linalg.svd(upd[name] / -0.02, compute_uv=False)
        c = 0.2 * np.sqrt(max(upd[name].shape))  # consistent-RMS scaling (muon_consistent_rms)
        assert sv.min() > 0.6 * c and sv.max() < 1.3 * c, (name, sv.min(), sv.max(), c)
    g_sv = np.linalg.svd(np.asarray(g["blocks.0.attn.q.kernel"]), compute_uv=False)
    assert g_sv.max() / g_sv.min() > 4.5  # the gradient itself was far from orthogonal
    # everything else is on optax's (Nesterov) AdamW: m̂ = (1 + 2 b1)/(1 + b1)·g, v̂ = g², so the
    # first step is −lr·(1 + 2 b1)/(1 + b1)·g/(|g| + ε) ≈ ±0.0147 (sign-like)
    nesterov = (1 + 2 * 0.9) / (1 + 0.9)
    for name in ("embed.embedding", "unembed.kernel", "ln_final.scale", "blocks.0.ln2_in.scale"):
        gg = np.asarray(g[name], np.float64)
        want = -0.01 * nesterov * gg / (np.abs(gg) + 1e-8)
        np.testing.assert_allclose(upd[name], want, rtol=1e-4, atol=1e-7)
    sv = np.linalg.svd(upd["embed.embedding"], compute_uv=False)
    assert sv.max() / sv.min() > 2.0  # a sign matrix, not an orthogonalized one


# ---------------------------------------------------------------- schedules


def values(schedule, steps):
    return [float(schedule(jnp.asarray(t))) for t in steps]


def test_lr_schedules_by_hand():
    approx = lambda xs: pytest.approx(xs, abs=1e-6)
    cfg = OptimConfig(warmup_steps=10)
    assert values(lr_multiplier(cfg, 100), [0, 5, 10, 1000]) == approx([0.0, 0.5, 1.0, 1.0])
    cos = dataclasses.replace(cfg, lr_schedule="cosine", lr_end_ratio=0.0)
    assert values(lr_multiplier(cos, 110), [5, 10, 60, 110]) == approx([0.5, 1.0, 0.5, 0.0])
    cos_end = dataclasses.replace(cos, lr_end_ratio=0.1)
    assert values(lr_multiplier(cos_end, 110), [60, 110]) == approx([0.55, 0.1])
    lin = dataclasses.replace(cfg, lr_schedule="linear_decay")
    assert values(lr_multiplier(lin, 110), [10, 35, 60, 110]) == approx([1.0, 0.75, 0.5, 0.0])
    cyc = OptimConfig(warmup_steps=0, lr_schedule="cyclic", lr_cycle_steps=100)
    assert values(lr_multiplier(cyc, 1000), [0, 50, 100, 150]) == approx([1.0, 0.5, 1.0, 0.5])
    plateau = dataclasses.replace(cfg, lr_schedule="plateau")
    assert values(lr_multiplier(plateau, 100), [5, 50]) == approx([0.5, 1.0])


def test_one_cycle_peaks_at_the_end_of_warmup():
    for warmup, peak in ((20, 20), (0, 30)):  # warmup 0 → 30 % of the budget
        cfg = OptimConfig(warmup_steps=warmup, lr_schedule="one_cycle")
        v = values(lr_multiplier(cfg, 100), range(101))
        assert int(np.argmax(v)) == peak and max(v) == pytest.approx(1.0, abs=1e-6)
        assert v[0] < 0.1 and v[-1] < 1e-3


def test_wd_schedules_by_hand():
    approx = lambda xs: pytest.approx(xs, abs=1e-6)
    inc = OptimConfig(wd_schedule="increasing", wd_end_ratio=4.0)
    assert values(wd_multiplier(inc, 100), [0, 50, 100]) == approx([1.0, 2.5, 4.0])
    cos = OptimConfig(wd_schedule="cosine", wd_end_ratio=4.0)
    # 4 + (1 − 4)·½(1 + cos(π t / T))
    assert values(wd_multiplier(cos, 100), [0, 25, 50, 100]) == approx(
        [1.0, 4 - 3 * 0.5 * (1 + np.cos(np.pi / 4)), 2.5, 4.0])
    step = OptimConfig(wd_schedule="step", wd_step_every=10, wd_step_factor=2.0)
    assert values(wd_multiplier(step, 100), [0, 9, 10, 25]) == approx([1.0, 1.0, 2.0, 4.0])
    for kind in ("constant", "adaptive"):
        assert values(wd_multiplier(OptimConfig(wd_schedule=kind), 100), [0, 99]) == [1.0, 1.0]


def test_adaptive_wd_rises_while_memorizing_and_decays_back_to_one():
    cfg = OptimConfig(wd_schedule="adaptive", wd_adaptive_gap=0.5, wd_adaptive_factor=2.0,
                      wd_adaptive_max=5.0)
    s = 1.0
    seen = []
    for _ in range(4):  # gap 0.9 > 0.5: ×2, capped at 5
        s = float(adapt_wd_scale(s, 1.0, 0.1, cfg))
        seen.append(s)
    assert seen == [2.0, 4.0, 5.0, 5.0]
    seen = []
    for _ in range(4):  # gap 0.2: ÷2, never below 1
        s = float(adapt_wd_scale(s, 1.0, 0.8, cfg))
        seen.append(s)
    assert seen == [2.5, 1.25, 1.0, 1.0]
    assert float(adapt_wd_scale(1.0, 0.9, 0.4, cfg)) == 1.0  # gap exactly 0.5 is not > 0.5


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("kw, match", [
    (dict(name="lion"), r"unknown optimizer 'lion' .*optax:lion"),
    (dict(name="optax:nonexistent"), r"optax has no optimizer named 'nonexistent'"),
    (dict(name="optax:apply_updates"), r"optax has no optimizer named .apply_updates."),
    (dict(lr_schedule="warm"), r"unknown optim.lr_schedule 'warm'; choose one of constant"),
    (dict(wd_schedule="up"), r"unknown optim.wd_schedule 'up'; choose one of constant"),
    (dict(grokfast="fast"), r"unknown optim.grokfast 'fast'; choose one of none, ema, ma"),
    (dict(learning_rate=-1e-3), r"optim.learning_rate=-0.001 must be > 0"),
    (dict(grokfast_window=0), r"optim.grokfast_window=0 must be >= 1"),
    (dict(grokfast_alpha=1.0), r"optim.grokfast_alpha=1.0 is outside \[0, 1\)"),
    (dict(kwargs={"b1": 0.5}), r"optim.kwargs=.*only applies to optim.name=optax:<name>"),
])
def test_bad_optim_config_is_a_one_line_config_error(kw, match):
    with pytest.raises(ConfigError, match=match) as err:
        OptimConfig(**kw).validate()
    assert "\n" not in str(err.value)


def test_good_optim_configs_validate():
    OptimConfig().validate()
    OptimConfig(name="optax:lion", kwargs={"b1": 0.5}).validate()
    OptimConfig(name="muon", grokfast="ma", grokfast_window=1, lr_schedule="plateau").validate()


def test_muon_on_a_model_without_hidden_matrices_is_refused():
    cfg = apply_overrides(RunConfig(), ["task.p=7", "model.kind=mlp", "optim.name=muon"])
    with pytest.raises(ConfigError, match="muon needs hidden 2-D weight matrices") as err:
        plan_run(cfg)
    assert "'mlp'" in str(err.value) and "\n" not in str(err.value)
    # the same model with AdamW plans fine
    plan_run(apply_overrides(RunConfig(), ["task.p=7", "model.kind=mlp"]))
