import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from groklab.errors import ConfigError
from groklab.models import ModelConfig, build_model, count_params, model_preset, scaled
from groklab.models.layers import apply_rope, rope_tables
from groklab.tasks import make_task

DIV97 = make_task("div", 97)


def resolved(cfg, task=DIV97):
    return cfg.resolve_for_task(task.d_vocab, task.n_ctx, task.operand_positions)


@pytest.mark.slow
def test_seed_teacher_and_student_parameter_counts():
    # the seeds' published counts (vocab 99)
    assert count_params(build_model(resolved(ModelConfig.seed_teacher()))) == 550_272
    assert count_params(build_model(resolved(scaled(ModelConfig.seed_teacher(), 0.5)))) == 144_064


def test_parameter_count_formula_for_power2022():
    cfg = resolved(ModelConfig.power2022())
    d, V, T, L, m = 128, 99, 4, 2, 512
    per_block = 4 * (d * d + d) + (d * m + m) + (m * d + d) + 2 * 2 * d
    expected = V * d + T * d + L * per_block + 2 * d + (d * V + V)
    assert count_params(build_model(cfg)) == expected


@pytest.mark.slow
def test_causal_mask_blocks_gradients_from_later_inputs():
    cfg = resolved(ModelConfig.seed_teacher(d_model=16, dropout=0.0))
    model = build_model(cfg, 1)
    x = model.embed(jnp.asarray(DIV97.tokens[:3]))

    def out_at(pos, inp):
        h = inp
        for block in model.blocks:
            h = block(h)
        return h[:, pos].sum()

    for pos in range(3):
        g = jax.grad(lambda inp, pos=pos: out_at(pos, inp))(x)
        assert np.all(np.asarray(g[:, pos + 1:]) == 0.0)
        assert np.any(np.asarray(g[:, pos]) != 0.0)


def test_without_causal_mask_later_inputs_matter():
    cfg = resolved(ModelConfig.seed_teacher(d_model=16, dropout=0.0, causal=False))
    model = build_model(cfg, 1)
    x = model.embed(jnp.asarray(DIV97.tokens[:3]))
    g = jax.grad(lambda inp: model.blocks[0](inp)[:, 0].sum())(x)
    assert np.any(np.asarray(g[:, 1:]) != 0.0)


def test_rope_preserves_norms_and_relative_positions():
    cos, sin = rope_tables(8, 16, 1e4)
    x = jax.random.normal(jax.random.key(0), (2, 8, 3, 16))
    y = apply_rope(x, cos, sin)
    np.testing.assert_allclose(jnp.linalg.norm(y, axis=-1), jnp.linalg.norm(x, axis=-1),
                               rtol=1e-5)
    # q·k after rotation depends only on the offset: same vectors at (1, 3) and (4, 6)
    q = jnp.broadcast_to(x[0, 0], (8, 3, 16))[None]
    rq = apply_rope(q, cos, sin)[0]
    np.testing.assert_allclose((rq[1] * rq[3]).sum(-1), (rq[4] * rq[6]).sum(-1), rtol=1e-4)


OPTIONS = dict(
    positions=["learned", "rope", "alibi", "none"],
    norm=["rmsnorm", "layernorm", "none"],
    norm_position=["pre", "post"],
    activation=["relu", "gelu", "silu", "swiglu"],
    use_bias=[False, True],
    causal=[True, False],
)


@pytest.mark.slow
def test_every_option_combination_builds_and_runs_forward():
    task = make_task("add", 5)
    tokens = jnp.asarray(task.tokens[:6])
    d, m, V, T = 8, 8, task.d_vocab, task.n_ctx
    for values in itertools.product(*OPTIONS.values()):
        opts = dict(zip(OPTIONS, values))
        cfg = resolved(ModelConfig(d_model=8, n_heads=2, n_layers=1, d_mlp=8, **opts), task)
        model = build_model(cfg, 0)
        logits = model(tokens)
        assert logits.shape == (6, task.d_vocab), opts
        assert bool(jnp.all(jnp.isfinite(logits))), opts
        # the parameter count of the options, from the architecture: RoPE/ALiBi/none add no
        # parameters, SwiGLU a gate matrix, biases one vector per linear layer, LayerNorm a
        # scale (+ a bias with use_bias), RMSNorm a scale; two norms per block and, pre-norm
        # only, a final one
        bias = opts["use_bias"]
        attn = 4 * (d * d + bias * d)
        n_mats = 3 if opts["activation"] == "swiglu" else 2
        mlp = n_mats * d * m + bias * ((n_mats - 1) * m + d)
        norm = {"rmsnorm": d, "layernorm": d + bias * d, "none": 0}[opts["norm"]]
        n_norms = 2 + (opts["norm_position"] == "pre")
        expected = (V * d + (T * d if opts["positions"] == "learned" else 0) + attn + mlp
                    + n_norms * norm + d * V + bias * V)
        assert count_params(model) == expected, opts


def test_options_change_the_parameter_tree():
    base = resolved(ModelConfig(d_model=8, n_heads=2, n_layers=1))
    learned = resolved(ModelConfig(d_model=8, n_heads=2, n_layers=1, positions="learned"))
    assert count_params(build_model(learned)) == count_params(build_model(base)) + 4 * 8
    biased = resolved(ModelConfig(d_model=8, n_heads=2, n_layers=1, use_bias=True))
    assert count_params(build_model(biased)) > count_params(build_model(base))


@pytest.mark.slow
def test_dropout_only_with_a_key():
    cfg = resolved(ModelConfig.seed_teacher(d_model=16, dropout=0.5))
    model = build_model(cfg, 0)
    tokens = jnp.asarray(DIV97.tokens[:8])
    a, b = model(tokens), model(tokens)
    np.testing.assert_array_equal(a, b)
    c, d = model(tokens, jax.random.key(1)), model(tokens, jax.random.key(2))
    assert not np.allclose(c, a) and not np.allclose(c, d)


@pytest.mark.slow
def test_intermediate_shapes():
    cfg = resolved(ModelConfig.nanda2023(), make_task("add", 11, "no_op"))
    model = build_model(cfg, 0)
    task = make_task("add", 11, "no_op")
    B, T, d, H, D, m = 5, 3, 128, 4, 32, 512
    logits, cache = model.run_with_cache(jnp.asarray(task.tokens[:B]))
    assert logits.shape == (B, task.d_vocab)
    expect = {
        "hook_embed": (B, T, d), "hook_pos_embed": (T, d),
        "blocks.0.hook_resid_pre": (B, T, d), "blocks.0.attn.hook_q": (B, T, H, D),
        "blocks.0.attn.hook_k": (B, T, H, D), "blocks.0.attn.hook_v": (B, T, H, D),
        "blocks.0.attn.hook_attn_scores": (B, H, T, T), "blocks.0.attn.hook_pattern": (B, H, T, T),
        "blocks.0.attn.hook_z": (B, T, H, D), "blocks.0.hook_attn_out": (B, T, d),
        "blocks.0.hook_resid_mid": (B, T, d), "blocks.0.mlp.hook_pre": (B, T, m),
        "blocks.0.mlp.hook_post": (B, T, m), "blocks.0.hook_mlp_out": (B, T, d),
        "blocks.0.hook_resid_post": (B, T, d), "ln_final.hook_normalized": (B, T, d),
    }
    assert {k: v.shape for k, v in cache.items()} == expect
    pattern = cache["pattern", 0]
    np.testing.assert_allclose(pattern.sum(-1), 1.0, rtol=1e-5)
    assert float(jnp.abs(jnp.triu(pattern, 1)).max()) == 0.0  # causal
    np.testing.assert_allclose(cache["resid_post", 0],
                               cache["resid_mid", 0] + cache["mlp_out", 0], rtol=1e-5)


def test_requesting_no_intermediates_leaves_the_jaxpr_unchanged():
    from groklab.models.hooks import Recorder

    cfg = resolved(ModelConfig.seed_teacher(d_model=16))
    graphdef, state = nnx.split(build_model(cfg, 0))
    tokens = jnp.asarray(DIV97.tokens[:4])

    def plain(state):
        return nnx.merge(graphdef, state)(tokens)

    def with_empty_recorder(state):
        return nnx.merge(graphdef, state)(tokens, None, Recorder(()))

    def with_pattern(state):
        rec = Recorder({"blocks.0.attn.hook_pattern"})
        out = nnx.merge(graphdef, state)(tokens, None, rec)
        return out, rec.values

    j0 = str(jax.make_jaxpr(plain)(state))
    assert str(jax.make_jaxpr(with_empty_recorder)(state)) == j0
    assert str(jax.make_jaxpr(with_pattern)(state)) != j0


def test_unknown_hook_name_is_refused():
    model = build_model(resolved(ModelConfig.seed_teacher(d_model=16)))
    with pytest.raises(ConfigError, match="unknown hook name 'blocks.9.hook_resid_pre'"):
        model.run_with_cache(jnp.asarray(DIV97.tokens[:2]), ["blocks.9.hook_resid_pre"])


def test_two_hot_mlp_equals_explicit_one_hot_matmul():
    task = make_task("add", 7)
    cfg = resolved(ModelConfig.gromov_mlp(mlp_width=16), task)
    model = build_model(cfg, 3)
    tokens = jnp.asarray(task.tokens)
    V = task.d_vocab
    x = jnp.concatenate([jax.nn.one_hot(tokens[:, 0], V), jax.nn.one_hot(tokens[:, 2], V)], -1)
    W1, W2 = model.w_in.kernel[...], model.w_out.kernel[...]
    expected = (1 / 16) * (jnp.square(x @ W1) @ W2)
    np.testing.assert_allclose(model(tokens), expected, rtol=1e-5, atol=1e-6)
    assert count_params(model) == 2 * V * 16 + 16 * V


def test_scaled_copies():
    cfg = ModelConfig.seed_teacher()
    half = scaled(cfg, width=0.5)
    assert (half.d_model, half.n_layers, half.n_heads) == (64, 2, 1)
    deep = scaled(cfg, depth=2.0)
    assert (deep.d_model, deep.n_layers) == (128, 4)
    with pytest.raises(ConfigError):
        scaled(cfg, width=0)


@pytest.mark.parametrize("bad, match", [
    (dict(d_model=100, n_heads=3), "d_model=100 is not divisible by n_heads=3"),
    (dict(positions="sinusoid"), "model.positions='sinusoid' is not allowed"),
    (dict(norm="batchnorm"), "model.norm='batchnorm'"),
    (dict(activation="tanh"), "model.activation='tanh'"),
    (dict(dropout=1.5), "model.dropout=1.5"),
])
def test_bad_model_configs_name_the_value(bad, match):
    with pytest.raises(ConfigError, match=match):
        ModelConfig(**bad).validate()


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset 'gpt5'; known presets: seed-teacher"):
        model_preset("gpt5")


@pytest.mark.slow
@pytest.mark.parametrize("positions", ["rope", "alibi", "learned"])
@pytest.mark.parametrize("norm_position", ["pre", "post"])
def test_last_position_path_equals_the_full_forward(positions, norm_position):
    """The default forward computes only the last position in the last block; it must give the
    same answer logits and parameter gradients as computing every position (tolerance: 1e-5
    absolute on logits, 1e-4 relative on gradients, float32)."""
    import optax

    cfg = ModelConfig.seed_teacher(positions=positions, norm_position=norm_position, n_heads=2,
                                   d_model=32).resolve_for_task(11, 4, (0, 2))
    model = build_model(cfg, 0)
    tokens = jax.random.randint(jax.random.key(1), (16, 4), 0, 11)
    labels = jax.random.randint(jax.random.key(2), (16,), 0, 11)
    graphdef, params = nnx.split(model)

    def loss(p, full):
        m = nnx.merge(graphdef, p)
        logits = m(tokens, all_positions=True)[:, -1] if full else m(tokens)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), logits

    (l_fast, z_fast), g_fast = jax.value_and_grad(loss, has_aux=True)(params, False)
    (l_full, z_full), g_full = jax.value_and_grad(loss, has_aux=True)(params, True)
    np.testing.assert_allclose(z_fast, z_full, atol=1e-5)
    for a, b in zip(jax.tree.leaves(g_fast), jax.tree.leaves(g_full)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("positions", ["rope", "alibi", "learned", "none"])
@pytest.mark.parametrize("norm_position", ["pre", "post"])
def test_shared_prefix_logits_equal_the_full_forward(positions, norm_position):
    """Evaluating each distinct prefix once (the rows' suffixes read its keys/values) gives the
    full forward's answer logits (tolerance 1e-5 absolute, float32)."""
    cfg = ModelConfig.seed_teacher(positions=positions, norm_position=norm_position, n_heads=2,
                                   d_model=32, n_layers=3).resolve_for_task(12, 4, (0, 2))
    model = build_model(cfg, 0)
    tokens = jax.random.randint(jax.random.key(1), (40, 4), 0, 12)
    for P in (1, 2, 3):
        prefixes, index = np.unique(np.asarray(tokens[:, :P]), axis=0, return_inverse=True)
        got = model.logits_shared_prefix(jnp.asarray(prefixes), jnp.asarray(index.reshape(-1)),
                                         tokens[:, P:])
        want = model(tokens, all_positions=True)[:, -1]
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_dense_on_rows_equals_the_linear_layer():
    from groklab.models.transformer import _dense

    layer = nnx.Linear(8, 5, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(3), (4, 3, 8))
    np.testing.assert_allclose(_dense(layer, x), layer(x), rtol=1e-6, atol=1e-6)
    assert _dense(layer, x).shape == (4, 3, 5)


@pytest.mark.slow
def test_short_context_attention_equals_the_matmul_form(monkeypatch):
    """Rows of ≤ SHORT_CONTEXT tokens compute attention with elementwise products and sums; the
    result equals the batched-matmul form (tolerance 1e-5, float32), gradients included."""
    import groklab.models.transformer as T

    cfg = ModelConfig.seed_teacher(n_heads=2, d_model=32).resolve_for_task(11, 4, (0, 2))
    graphdef, params = nnx.split(build_model(cfg, 0))
    tokens = jax.random.randint(jax.random.key(1), (16, 4), 0, 11)

    def out(p):
        return nnx.merge(graphdef, p)(tokens, all_positions=True)

    def grads():
        return jax.grad(lambda p: out(p).sum())(params)

    short, g_short = out(params), grads()
    monkeypatch.setattr(T, "SHORT_CONTEXT", 0)
    np.testing.assert_allclose(short, out(params), atol=1e-5)
    for a, b in zip(jax.tree.leaves(g_short), jax.tree.leaves(grads())):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
