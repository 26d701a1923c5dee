"""Analysis measures against known answers and independent computations: CKA, both effective
ranks, attention entropy, weight statistics, neuron activity, activation patching and the
completeness of integrated gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from groklab.analysis.attention import admissible_keys, attention_entropy
from groklab.analysis.attribution import integrated_gradients
from groklab.analysis.representations import (
    effective_ranks,
    entropy_rank,
    linear_cka,
    neuron_activity,
    participation_ratio,
)
from groklab.analysis.weights import layer_norms, tensor_stats, weight_stats
from groklab.models import ModelConfig, build_model
from groklab.models.hooks import Patcher


def cka_by_hsic(x, y):
    """CKA from centred Gram matrices (Kornblith et al. 2019, eq. 2-3): an independent route."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    return np.sum(k * l_) / np.sqrt(np.sum(k * k) * np.sum(l_ * l_))


def test_cka_known_answers_and_invariances():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8))
    y = x @ rng.normal(size=(8, 5)) + 0.3 * rng.normal(size=(60, 5))
    assert float(linear_cka(x, x)) == pytest.approx(1.0, abs=1e-5)
    assert float(linear_cka(x, y)) == pytest.approx(cka_by_hsic(x, y), abs=1e-4)
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    assert float(linear_cka(x @ q, y)) == pytest.approx(float(linear_cka(x, y)), abs=1e-5)
    assert float(linear_cka(3.7 * x + 2.0, y)) == pytest.approx(float(linear_cka(x, y)),
                                                                 abs=1e-5)
    unrelated = rng.normal(size=(60, 5))
    assert float(linear_cka(x, unrelated)) < 0.5
    assert np.isnan(float(linear_cka(np.ones((60, 3)), x)))  # constant: undefined


@pytest.mark.parametrize("k", [1, 3, 7])
def test_effective_ranks_of_k_equal_singular_values_are_k(k):
    rng = np.random.default_rng(k)
    u, _ = np.linalg.qr(rng.normal(size=(40, 40)))
    v, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    m = (u[:, :k] * 2.5) @ v[:, :k].T
    r = effective_ranks(jnp.asarray(m), center=False)
    assert float(r["entropy_rank"]) == pytest.approx(k, rel=1e-4)
    assert float(r["participation_ratio"]) == pytest.approx(k, rel=1e-4)


def test_effective_ranks_against_numpy_svd():
    sv = np.array([4.0, 2.0, 1.0, 0.5])
    p = sv / sv.sum()
    assert float(entropy_rank(jnp.asarray(sv))) == pytest.approx(np.exp(-(p * np.log(p)).sum()),
                                                                 rel=1e-5)
    assert float(participation_ratio(jnp.asarray(sv))) == pytest.approx(
        sv.sum() ** 2 / (sv ** 2).sum(), rel=1e-6)
    x = np.random.default_rng(1).normal(size=(50, 6)) * np.array([5, 3, 2, 1, 0.5, 0.1])
    s = np.linalg.svd(x - x.mean(0), compute_uv=False)
    r = effective_ranks(jnp.asarray(x))
    assert float(r["participation_ratio"]) == pytest.approx(s.sum() ** 2 / (s ** 2).sum(),
                                                            rel=1e-3)


@pytest.mark.slow
def test_uniform_attention_has_log2_n_bits_and_single_key_queries_are_excluded():
    T, H = 4, 2
    allowed = admissible_keys(T, causal=True)
    uniform = allowed / allowed.sum(-1, keepdims=True)
    pattern = jnp.broadcast_to(jnp.asarray(uniform, jnp.float32), (5, H, T, T))
    e = attention_entropy(pattern, allowed)
    per_query = np.asarray(e["per_query"])
    assert np.isnan(per_query[:, 0]).all()  # query 0 has one admissible key
    assert per_query[0, 1:] == pytest.approx(np.log2([2, 3, 4]), abs=1e-5)
    assert np.asarray(e["per_head"]) == pytest.approx([np.log2([2, 3, 4]).mean()] * H, abs=1e-5)
    one_hot = jnp.zeros((5, H, T, T)).at[..., 0].set(1.0)
    assert np.asarray(attention_entropy(one_hot, allowed)["per_head"]) == pytest.approx([0, 0])
    full = admissible_keys(T, causal=False)
    flat = jnp.full((2, 1, T, T), 1.0 / T)
    assert np.asarray(attention_entropy(flat, full)["per_query"]) == pytest.approx(
        np.full((1, T), 2.0))


@pytest.mark.slow
def test_weight_statistics_against_numpy():
    w = np.array([[3.0, -4.0], [0.0, 0.0005]])
    s = tensor_stats(jnp.asarray(w))
    assert float(s["l1"]) == pytest.approx(7.0005)
    assert float(s["l2"]) == pytest.approx(np.sqrt(25 + 0.0005 ** 2))
    assert float(s["near_zero_fraction"]) == pytest.approx(0.5)
    assert float(tensor_stats(jnp.asarray([0.0, 5.0, 0.0]))["hoyer_sparsity"]) == \
        pytest.approx(1.0)
    assert float(tensor_stats(jnp.ones(9))["hoyer_sparsity"]) == pytest.approx(0.0, abs=1e-6)
    tree = {"embed": {"embedding": jnp.ones((2, 2))},
            "blocks": [{"attn": {"q": jnp.full((2,), 2.0)}}]}
    stats = weight_stats(tree)
    assert set(stats) == {"embed.embedding", "blocks.0.attn.q", "total"}
    assert float(stats["total"]["l2"]) == pytest.approx(np.sqrt(4 + 8))
    norms = layer_norms(tree)
    assert float(norms["blocks.0"]) == pytest.approx(np.sqrt(8))
    assert float(norms["total"]) == pytest.approx(np.sqrt(12))


def test_neuron_activity_by_hand():
    pre = jnp.asarray([[1.0, -1.0, 2.0], [0.5, -2.0, -1.0]])
    a = neuron_activity(pre)
    assert float(a["active_fraction"]) == pytest.approx(3 / 6)
    assert float(a["dead_fraction"]) == pytest.approx(1 / 3)
    assert float(a["always_active_fraction"]) == pytest.approx(1 / 3)


@pytest.fixture(scope="module")
def tiny_model():
    cfg = ModelConfig.nanda2023(d_model=16, n_heads=2, d_head=8, d_mlp=32)
    cfg = cfg.resolve_for_task(9, 3, (0, 1))
    return build_model(cfg, jax.random.key(0))


@pytest.mark.slow
def test_patching_the_embedding(tiny_model):
    tokens = jnp.asarray([[1, 2, 8], [3, 4, 8]])
    base = tiny_model(tokens)
    same = tiny_model(tokens, None, Patcher({"hook_embed": lambda e: e}))
    assert np.asarray(same) == pytest.approx(np.asarray(base), abs=1e-6)
    rec = Patcher({"hook_embed": lambda e: 0 * e}, ["blocks.0.hook_resid_pre"])
    zeroed = tiny_model(tokens, None, rec)
    assert not np.allclose(np.asarray(zeroed), np.asarray(base))
    pos = np.asarray(tiny_model.pos_embed(jnp.arange(3)))
    assert np.asarray(rec.values["blocks.0.hook_resid_pre"][0]) == pytest.approx(pos, abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("norm", ["none", "rmsnorm"])
def test_integrated_gradients_are_complete(norm):
    cfg = ModelConfig.nanda2023(d_model=16, n_heads=2, d_head=8, d_mlp=32, norm=norm)
    model = build_model(cfg.resolve_for_task(9, 3, (0, 1)), jax.random.key(1))
    tokens = jnp.asarray([[1, 2, 8], [3, 4, 8], [0, 7, 8]])
    labels = jnp.asarray([3, 7, 7])
    got = integrated_gradients(model, tokens, labels, steps=64)
    gap = np.asarray(got["logit"] - got["baseline_logit"])
    total = np.asarray(got["attribution"]).sum(-1)
    assert total == pytest.approx(gap, rel=0.03, abs=2e-3)
    direct = np.asarray(jnp.take_along_axis(model(tokens), labels[:, None], 1)[:, 0])
    assert np.asarray(got["logit"]) == pytest.approx(direct, abs=1e-5)
    base = np.asarray(model.embed.embedding[...]).mean(0)
    patched = model(tokens, None, Patcher({"hook_embed": lambda e: 0 * e + base[None, None]}))
    assert np.asarray(got["baseline_logit"]) == pytest.approx(
        np.asarray(jnp.take_along_axis(patched, labels[:, None], 1)[:, 0]), abs=1e-5)
