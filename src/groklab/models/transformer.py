"""Decoder-only transformer for algorithmic tasks (Flax NNX).

Tokens [B, T] → logits [B, d_vocab] read from the last position (the "=" token), as in Power et
al. 2022 and the seeds' implementation. Every architectural option is resolved in ``__init__``;
``__call__`` is the same few lines for every configuration.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from groklab.models.config import ModelConfig
from groklab.models.dropout import dropout
from groklab.models.hooks import NO_HOOKS, CachingMixin, Recorder
from groklab.models.layers import (
    ACTIVATION_FNS,
    Identity,
    alibi_bias,
    apply_rope,
    make_norm,
    rope_tables,
)


def _dense(layer: nnx.Linear, x: jax.Array) -> jax.Array:
    """Apply a linear layer to the rows of ``x`` [..., d] flattened to one matrix: the same
    arithmetic, but on CPU (XLA + XNNPACK) the 2-D form avoids a slow transposed layout in the
    backward pass (3× faster for the seed-teacher MLP; BENCHMARKS.md)."""
    return layer(x.reshape(-1, x.shape[-1])).reshape(*x.shape[:-1], -1)


# Up to this many positions attention scores and outputs are computed as elementwise products and
# sums: for the 3–6 token rows of algorithmic tasks the batched [T × D] · [D × T] matmuls are
# dispatched one row at a time on CPU (2.2 ms of a 29 ms seed-teacher step).
SHORT_CONTEXT = 8


class Attention(nnx.Module):
    """Multi-head self-attention with optional RoPE / ALiBi and causal mask."""

    def __init__(self, cfg: ModelConfig, prefix: str, rngs: nnx.Rngs):
        H, D = cfg.n_heads, cfg.head_dim
        lin = dict(use_bias=cfg.use_bias, rngs=rngs)
        self.q = nnx.Linear(cfg.d_model, H * D, **lin)
        self.k = nnx.Linear(cfg.d_model, H * D, **lin)
        self.v = nnx.Linear(cfg.d_model, H * D, **lin)
        self.o = nnx.Linear(H * D, cfg.d_model, **lin)
        self.n_heads, self.d_head = H, D
        self.dropout, self.dropout_rng = cfg.dropout, cfg.dropout_rng
        self.prefix = prefix
        T = cfg.n_ctx
        # Constant tables are plain arrays computed at trace time, not parameters.
        self.rope = cfg.positions == "rope"
        self.rope_base = cfg.rope_base
        self.alibi = cfg.positions == "alibi"
        self.causal = cfg.causal
        self.n_ctx = T

    def keys_values(self, x_BTd, offset: int = 0):
        """Keys (position-encoded) and values [B, T, H, D] of positions offset..offset+T-1."""
        B, T, _ = x_BTd.shape
        H, D = self.n_heads, self.d_head
        k = _dense(self.k, x_BTd).reshape(B, T, H, D)
        v = _dense(self.v, x_BTd).reshape(B, T, H, D)
        if self.rope:
            cos, sin = rope_tables(offset + T, D, self.rope_base)
            k = apply_rope(k, cos[offset:], sin[offset:])
        return k, v

    def __call__(self, x_BTd, key=None, rec: Recorder = NO_HOOKS, last_only: bool = False,
                 past=None):
        """Self-attention over all T positions; with ``last_only`` only the last position's
        query (and output) is computed — keys and values still cover every position. ``past``:
        keys and values [B, P, H, D] of P earlier positions (then x covers positions P..P+T-1;
        see ``Transformer.logits_shared_prefix``)."""
        B, T, _ = x_BTd.shape
        H, D, p = self.n_heads, self.d_head, self.prefix
        P = 0 if past is None else past[0].shape[1]
        L = P + T  # total length attended over
        x_q = x_BTd[:, -1:] if last_only else x_BTd
        Tq = x_q.shape[1]
        q = _dense(self.q, x_q).reshape(B, Tq, H, D)
        k, v = self.keys_values(x_BTd, P)
        if past is not None:
            k, v = jnp.concatenate([past[0], k], 1), jnp.concatenate([past[1], v], 1)
        v = rec(p + "hook_v", v)
        if self.rope:
            cos, sin = rope_tables(L, D, self.rope_base)
            q = apply_rope(q, cos[L - Tq:], sin[L - Tq:])
        q, k = rec(p + "hook_q", q), rec(p + "hook_k", k)
        scale = jnp.sqrt(jnp.float32(D)).astype(q.dtype)
        if L <= SHORT_CONTEXT:  # products and sums: no tiny batched matmuls (see above)
            scores = (q.transpose(0, 2, 1, 3)[:, :, :, None] *
                      k.transpose(0, 2, 1, 3)[:, :, None]).sum(-1) / scale
        else:
            scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / scale
        if self.alibi:
            scores = scores + alibi_bias(H, L)[None, :, L - Tq:].astype(scores.dtype)
        if self.causal:
            mask = jnp.tril(jnp.ones((L, L), dtype=bool))[L - Tq:]
            scores = jnp.where(mask, scores, jnp.finfo(scores.dtype).min)
        scores = rec(p + "hook_attn_scores", scores)
        pattern = rec(p + "hook_pattern", jax.nn.softmax(scores, axis=-1))
        if L <= SHORT_CONTEXT:
            z = (pattern.transpose(0, 2, 1, 3)[..., None] *
                 v.transpose(0, 2, 1, 3)[:, None]).sum(3)
        else:
            z = jnp.einsum("bhqk,bkhd->bqhd", pattern, v)
        z = rec(p + "hook_z", z)
        out = _dense(self.o, z.reshape(B, Tq, H * D))
        return dropout(self.dropout, out, key, self.dropout_rng)


class MLP(nnx.Module):
    """Position-wise MLP: W_out φ(W_in x), or SwiGLU W_out (silu(W_gate x) ⊙ W_in x)."""

    def __init__(self, cfg: ModelConfig, prefix: str, rngs: nnx.Rngs):
        lin = dict(use_bias=cfg.use_bias, rngs=rngs)
        self.w_in = nnx.Linear(cfg.d_model, cfg.mlp_dim, **lin)
        gated = cfg.activation == "swiglu"
        self.w_gate = nnx.Linear(cfg.d_model, cfg.mlp_dim, **lin) if gated else None
        self.w_out = nnx.Linear(cfg.mlp_dim, cfg.d_model, **lin)
        self.act = ACTIVATION_FNS[cfg.activation]
        self.dropout, self.dropout_rng, self.prefix = cfg.dropout, cfg.dropout_rng, prefix

    def __call__(self, x, key=None, rec: Recorder = NO_HOOKS):
        p = self.prefix
        if self.w_gate is None:
            pre = rec(p + "hook_pre", _dense(self.w_in, x))
            post = self.act(pre)
        else:
            pre = rec(p + "hook_pre", _dense(self.w_gate, x))
            post = self.act(pre) * _dense(self.w_in, x)
        post = rec(p + "hook_post", post)
        return _dense(self.w_out, dropout(self.dropout, post, key, self.dropout_rng))


class Block(nnx.Module):
    """One residual block. Pre-norm: x + f(norm(x)). Post-norm: norm(x + f(x)). The unused norm
    slot of each pair is the identity, so both read the same."""

    def __init__(self, cfg: ModelConfig, index: int, rngs: nnx.Rngs):
        prefix = f"blocks.{index}."
        def norm():
            return make_norm(cfg.norm, cfg.d_model, cfg.norm_eps, cfg.use_bias, rngs)
        pre = cfg.norm_position == "pre"
        self.ln1_in, self.ln1_out = (norm(), Identity()) if pre else (Identity(), norm())
        self.ln2_in, self.ln2_out = (norm(), Identity()) if pre else (Identity(), norm())
        self.attn = Attention(cfg, prefix + "attn.", rngs)
        self.mlp = MLP(cfg, prefix + "mlp.", rngs)
        self.prefix = prefix

    def __call__(self, x, key=None, rec: Recorder = NO_HOOKS, last_only: bool = False,
                 past=None):
        """With ``last_only`` the block returns only the last position ([B, 1, d]): the other
        positions' outputs are never read when this is the last block and only the answer
        logits are wanted, so their queries, attention outputs and MLP are skipped. ``past``:
        attention keys/values of earlier positions (``Attention.__call__``)."""
        p = self.prefix
        k_attn, k_mlp = (None, None) if key is None else jax.random.split(key)
        x = rec(p + "hook_resid_pre", x)
        attn_out = rec(p + "hook_attn_out",
                       self.attn(self.ln1_in(x), k_attn, rec, last_only, past))
        if last_only:
            x = x[:, -1:]
        x = rec(p + "hook_resid_mid", self.ln1_out(x + attn_out))
        mlp_out = rec(p + "hook_mlp_out", self.mlp(self.ln2_in(x), k_mlp, rec))
        return rec(p + "hook_resid_post", self.ln2_out(x + mlp_out))


class Transformer(CachingMixin, nnx.Module):
    """Token + (learned) position embedding → blocks → final norm (pre-norm only) → unembed."""

    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        cfg.validate()
        if cfg.d_vocab is None or cfg.n_ctx is None:
            raise ValueError("resolve d_vocab and n_ctx (ModelConfig.resolve_for_task) first")
        self.config = cfg
        self.embed = nnx.Embed(cfg.d_vocab, cfg.d_model, rngs=rngs)
        self.pos_embed = (
            nnx.Embed(cfg.n_ctx, cfg.d_model, rngs=rngs) if cfg.positions == "learned" else None
        )
        self.blocks = nnx.List([Block(cfg, i, rngs) for i in range(cfg.n_layers)])
        final_norm = cfg.norm_position == "pre" and cfg.norm != "none"
        self.ln_final = (
            make_norm(cfg.norm, cfg.d_model, cfg.norm_eps, cfg.use_bias, rngs)
            if final_norm else Identity()
        )
        self.unembed = nnx.Linear(cfg.d_model, cfg.d_vocab, use_bias=cfg.use_bias, rngs=rngs)

    def __call__(self, tokens_BT, key=None, rec: Recorder = NO_HOOKS, all_positions=False):
        """Logits [B, d_vocab] at the last position (or [B, T, d_vocab] with all_positions).
        ``key`` turns dropout on (training); ``rec`` collects requested intermediates."""
        x = rec("hook_embed", self.embed(tokens_BT))
        if self.pos_embed is not None:
            T = tokens_BT.shape[1]
            x = x + rec("hook_pos_embed", self.pos_embed(jnp.arange(T)))[None]
        keys = [None] * len(self.blocks) if key is None else jax.random.split(key, len(self.blocks))
        # Only the answer logits are read: the last block computes the last position alone
        # (exact; skipped when every position or any intermediate is asked for).
        last_only = not all_positions and not rec.wanted
        for i, (block, k) in enumerate(zip(self.blocks, keys)):
            x = block(x, k, rec, last_only and i == len(self.blocks) - 1)
        x = rec("ln_final.hook_normalized", self.ln_final(x))
        return _dense(self.unembed, x if all_positions else x[:, -1])

    def logits_shared_prefix(self, prefix_UP, index_N, suffix_NS):
        """Answer logits [N, d_vocab] of the rows ``concat(prefix_UP[index_N], suffix_NS)``,
        computing each distinct prefix once. Exact under a causal mask, without dropout or
        hooks: positions 0..P−1 attend only to each other, so their activations in every
        block depend on the prefix alone; each block computes them for the U distinct
        prefixes, and the suffix positions of the N rows read the prefix keys and values by
        index. For [a, op, b, =] with P = 2 this is U = p prefixes instead of N = p² rows."""
        if not self.config.causal:
            raise ValueError("shared-prefix evaluation needs a causal mask")
        P = prefix_UP.shape[1]
        xp, xs = self.embed(prefix_UP), self.embed(suffix_NS)
        if self.pos_embed is not None:
            pos = self.pos_embed(jnp.arange(P + suffix_NS.shape[1]))
            xp, xs = xp + pos[None, :P], xs + pos[None, P:]
        n = len(self.blocks)
        for i, block in enumerate(self.blocks):
            kp, vp = block.attn.keys_values(block.ln1_in(xp))
            xs = block(xs, last_only=i == n - 1, past=(kp[index_N], vp[index_N]))
            if i < n - 1:
                xp = block(xp)
        return _dense(self.unembed, self.ln_final(xs[:, -1]))

    def hook_names(self) -> list[str]:
        """Every hook point this model records, in forward order."""
        names = ["hook_embed"] + (["hook_pos_embed"] if self.pos_embed is not None else [])
        per_block = [
            "hook_resid_pre", "attn.hook_q", "attn.hook_k", "attn.hook_v",
            "attn.hook_attn_scores", "attn.hook_pattern", "attn.hook_z", "hook_attn_out",
            "hook_resid_mid", "mlp.hook_pre", "mlp.hook_post", "hook_mlp_out", "hook_resid_post",
        ]
        for i in range(len(self.blocks)):
            names += [f"blocks.{i}.{n}" for n in per_block]
        return names + ["ln_final.hook_normalized"]
