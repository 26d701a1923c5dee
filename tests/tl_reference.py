"""A NumPy re-implementation of TransformerLens's ``HookedTransformer.run_with_cache`` (version
3.x, ``transformer_lens/HookedTransformer.py`` and ``components/``), for the options groklab's
TransformerLens export uses: learned ("standard"), rotary and ALiBi positions; LayerNorm ("LN"),
RMSNorm ("RMS") or none; relu / silu / gelu / gelu_new activations, plain or gated MLPs; causal
or bidirectional attention scaled by ``attn_scale``. It reads the exported state dict and
``HookedTransformerConfig`` JSON and follows TransformerLens's code, not groklab's, so
tests/test_export.py checks groklab's export against an independent computation without torch.
Computed in float64."""

from __future__ import annotations

import math

import numpy as np


def _norm(x, sd, prefix, cfg, cache):
    """LayerNorm / RMSNorm as components/layer_norm.py and rms_norm.py: hook_scale is
    sqrt(mean(x²) + eps) of the (centred) input, hook_normalized x / scale, then · w (+ b)."""
    kind = cfg["normalization_type"]
    if kind is None:
        return x
    if kind == "LN":
        x = x - x.mean(-1, keepdims=True)
    scale = np.sqrt((x ** 2).mean(-1, keepdims=True) + cfg["eps"])
    cache[prefix + "hook_scale"] = scale
    x = x / scale
    cache[prefix + "hook_normalized"] = x
    out = x * sd[prefix + "w"]
    return out + sd[prefix + "b"] if kind == "LN" else out


def _rotary_tables(cfg, n):
    """calculate_sin_cos_rotary without NTK / YaRN / scaling: freq = base^(i / (rotary_dim/2)),
    repeated "(2 d)" (pairs i and i + rotary_dim/2) unless rotary_adjacent_pairs."""
    rd = cfg["rotary_dim"]
    pos = np.arange(n, dtype=np.float64)
    freq = cfg.get("rotary_base", 10000) ** (np.arange(rd // 2) / (rd / 2))
    freq = np.repeat(freq, 2) if cfg.get("rotary_adjacent_pairs") else np.tile(freq, 2)
    angles = pos[:, None] / freq[None, :]
    return np.sin(angles), np.cos(angles)


def _rotate(x, cfg):
    """apply_rotary: x_rot·cos + rotate_every_two(x_rot)·sin on the first rotary_dim dims."""
    rd = cfg["rotary_dim"]
    x_rot, x_pass = x[..., :rd], x[..., rd:]
    flip = np.empty_like(x_rot)
    if cfg.get("rotary_adjacent_pairs"):
        flip[..., ::2], flip[..., 1::2] = -x_rot[..., 1::2], x_rot[..., ::2]
    else:
        n = rd // 2
        flip[..., :n], flip[..., n:] = -x_rot[..., n:], x_rot[..., :n]
    sin, cos = _rotary_tables(cfg, x.shape[1])
    return np.concatenate([x_rot * cos[None, :, None] + flip * sin[None, :, None], x_pass], -1)


def _alibi(n_heads, n):
    """create_alibi_bias: multipliers start^(h+1) with start = 2^(−8/H); slope (j − i)
    clamped at 0."""
    start = 2 ** (-8 / n_heads)
    mult = start * start ** np.arange(n_heads)
    slope = np.minimum(np.arange(n)[None, :] - np.arange(n)[:, None], 0)
    return mult[:, None, None] * slope[None]


ACT = {
    "relu": lambda x: np.maximum(x, 0),
    "silu": lambda x: x / (1 + np.exp(-x)),
    "gelu": lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2))),
    "gelu_new": lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi)
                                                 * (x + 0.044715 * x ** 3))),
}


def _attention(x, sd, p, cfg, cache):
    """components/abstract_attention.py forward without a KV cache or attention mask."""
    q = np.einsum("bpd,hde->bphe", x, sd[p + "W_Q"]) + sd[p + "b_Q"]
    k = np.einsum("bpd,hde->bphe", x, sd[p + "W_K"]) + sd[p + "b_K"]
    v = np.einsum("bpd,hde->bphe", x, sd[p + "W_V"]) + sd[p + "b_V"]
    cache[p + "hook_q"], cache[p + "hook_k"], cache[p + "hook_v"] = q, k, v
    pos_type = cfg["positional_embedding_type"]
    if pos_type == "rotary":
        q, k = _rotate(q, cfg), _rotate(k, cfg)
        cache[p + "hook_rot_q"], cache[p + "hook_rot_k"] = q, k
    scale = cfg["attn_scale"] if cfg.get("use_attn_scale", True) else 1.0
    scores = np.einsum("bqhe,bkhe->bhqk", q, k) / scale
    T = x.shape[1]
    if pos_type == "alibi":
        scores = scores + _alibi(cfg["n_heads"], T)[None]
    if cfg.get("attention_dir", "causal") == "causal":
        mask = np.arange(T)[None, :] <= np.arange(T)[:, None]
        scores = np.where(mask, scores, -np.inf)
    cache[p + "hook_attn_scores"] = scores
    e = np.exp(scores - scores.max(-1, keepdims=True))
    pattern = e / e.sum(-1, keepdims=True)
    pattern = np.where(np.isnan(pattern), 0.0, pattern)
    cache[p + "hook_pattern"] = pattern
    z = np.einsum("bhqk,bkhe->bqhe", pattern, v)
    cache[p + "hook_z"] = z
    return np.einsum("bqhe,hed->bqd", z, sd[p + "W_O"]) + sd[p + "b_O"]


def _mlp(x, sd, p, cfg, cache):
    """components/mlps/mlp.py and gated_mlp.py (GatedMLP: act(x W_gate) · (x W_in) + b_in)."""
    act = ACT[cfg["act_fn"]]
    if cfg.get("gated_mlp"):
        pre = x @ sd[p + "W_gate"]
        cache[p + "hook_pre"] = pre
        lin = x @ sd[p + "W_in"]
        cache[p + "hook_pre_linear"] = lin
        post = act(pre) * lin + sd[p + "b_in"]
    else:
        pre = x @ sd[p + "W_in"] + sd[p + "b_in"]
        cache[p + "hook_pre"] = pre
        post = act(pre)
    cache[p + "hook_post"] = post
    return post @ sd[p + "W_out"] + sd[p + "b_out"]


def run_with_cache(state_dict: dict, cfg: dict, tokens: np.ndarray):
    """(logits [batch, pos, d_vocab_out], cache {hook name: array}) as HookedTransformer
    computes them for integer ``tokens`` [batch, pos]."""
    assert not cfg.get("attn_only") and not cfg.get("parallel_attn_mlp")
    assert cfg["positional_embedding_type"] in ("standard", "rotary", "alibi")
    sd = {k: np.asarray(v, np.float64) for k, v in state_dict.items()}
    cache: dict[str, np.ndarray] = {}
    B, T = tokens.shape
    resid = sd["embed.W_E"][tokens]
    cache["hook_embed"] = resid
    if cfg["positional_embedding_type"] == "standard":
        pos = np.broadcast_to(sd["pos_embed.W_pos"][:T], (B, T, cfg["d_model"]))
        cache["hook_pos_embed"] = pos
        resid = resid + pos
    for i in range(cfg["n_layers"]):
        b = f"blocks.{i}."
        cache[b + "hook_resid_pre"] = resid
        attn_out = _attention(_norm(resid, sd, b + "ln1.", cfg, cache), sd, b + "attn.", cfg,
                              cache)
        cache[b + "hook_attn_out"] = attn_out
        resid = resid + attn_out
        cache[b + "hook_resid_mid"] = resid
        mlp_out = _mlp(_norm(resid, sd, b + "ln2.", cfg, cache), sd, b + "mlp.", cfg, cache)
        cache[b + "hook_mlp_out"] = mlp_out
        resid = resid + mlp_out
        cache[b + "hook_resid_post"] = resid
    resid = _norm(resid, sd, "ln_final.", cfg, cache)
    logits = resid @ sd["unembed.W_U"] + sd["unembed.b_U"]
    return logits, cache


def parameter_shapes(cfg: dict) -> dict[str, tuple[int, ...]]:
    """Every parameter (not buffer) of a HookedTransformer built from ``cfg``, with its shape,
    as the components' ``__init__`` create them (Embed, PosEmbed unless rotary, per block
    ln1/ln2, Attention, MLP or GatedMLP, ln_final, Unembed)."""
    d, H, D = cfg["d_model"], cfg["n_heads"], cfg["d_head"]
    m, V = cfg["d_mlp"], cfg["d_vocab"]
    V_out = cfg.get("d_vocab_out", -1)
    V_out = V if V_out == -1 else V_out
    norm = {"LN": ("w", "b"), "RMS": ("w",), None: ()}[cfg["normalization_type"]]
    shapes = {"embed.W_E": (V, d)}
    if cfg["positional_embedding_type"] != "rotary":
        shapes["pos_embed.W_pos"] = (cfg["n_ctx"], d)
    for i in range(cfg["n_layers"]):
        b = f"blocks.{i}."
        for ln in ("ln1", "ln2"):
            shapes.update({f"{b}{ln}.{w}": (d,) for w in norm})
        shapes.update({f"{b}attn.W_{x}": (H, d, D) for x in "QKV"})
        shapes.update({f"{b}attn.b_{x}": (H, D) for x in "QKV"})
        shapes.update({f"{b}attn.W_O": (H, D, d), f"{b}attn.b_O": (d,),
                       f"{b}mlp.W_in": (d, m), f"{b}mlp.b_in": (m,), f"{b}mlp.W_out": (m, d),
                       f"{b}mlp.b_out": (d,)})
        if cfg.get("gated_mlp"):
            shapes[f"{b}mlp.W_gate"] = (d, m)
    shapes.update({f"ln_final.{w}": (d,) for w in norm})
    shapes.update({"unembed.W_U": (d, V_out), "unembed.b_U": (V_out,)})
    return shapes
