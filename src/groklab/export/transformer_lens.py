"""groklab's transformer as TransformerLens's ``HookedTransformer``: its config
(``HookedTransformerConfig`` keyword arguments) and its state dict (parameter names and shapes),
and back. Pure NumPy: nothing here imports torch or TransformerLens.

What maps to what (TransformerLens 3.x semantics, ``transformer_lens/components``):

========================  =========================================================
groklab                    HookedTransformer
========================  =========================================================
embed.embedding [V, d]     embed.W_E [d_vocab, d_model]
pos_embed.embedding        pos_embed.W_pos [n_ctx, d_model]; positional_embedding_type
                           "standard" (zeros for positions="none" and for "alibi", where
                           TransformerLens keeps an unused W_pos)
positions="rope"           "rotary", rotary_dim=d_head, rotary_base=rope_base,
                           rotary_adjacent_pairs=False (both rotate (x_i, x_{i+d/2}))
positions="alibi"          "alibi" (the same slopes 2^(−8h/H) and −m·(i−j) below the
                           diagonal; causal attention only)
attn.q/k/v.kernel [d, H·D] attn.W_Q/W_K/W_V [H, d, D]; biases b_Q/b_K/b_V [H, D] (zeros
                           when groklab has none)
attn.o.kernel [H·D, d]     attn.W_O [H, D, d]; b_O [d]
scores / sqrt(D)           use_attn_scale=True, attn_scale=sqrt(d_head)
ln1_in / ln2_in / ln_final ln1 / ln2 / ln_final: w (scale), b (LayerNorm bias, zeros when
                           groklab has none); normalization_type "LN" / "RMS" / None, eps
mlp.w_in / w_out           mlp.W_in [d, d_mlp], b_in / W_out [d_mlp, d], b_out
mlp.w_gate (swiglu)        mlp.W_gate, gated_mlp=True, act_fn="silu"
activation relu/silu/gelu  act_fn "relu" / "silu" / "gelu_new" (JAX's gelu is the tanh
                           approximation; TransformerLens's "gelu" is the exact erf form)
unembed.kernel [d, V]      unembed.W_U [d_model, d_vocab_out], b_U
causal                     attention_dir "causal" / "bidirectional"
========================  =========================================================

Refused, with the part named: the two-hot MLP (``kind="mlp"``); post-norm
(``norm_position="post"``: TransformerLens's only post-norm blocks, OLMo's, normalize each
sublayer's output before the residual add, groklab's normalize the sum); biases in a gated MLP
(TransformerLens has no gate bias and adds ``b_in`` after the gate product); ALiBi without the
causal mask (TransformerLens's ALiBi bias is zero above the diagonal).
"""

from __future__ import annotations

import math

import numpy as np

from groklab.errors import ConfigError
from groklab.models import ModelConfig

FORMAT = "transformer-lens"

# groklab's activation -> (act_fn, gated_mlp)
ACT_FN = {"relu": ("relu", False), "silu": ("silu", False), "gelu": ("gelu_new", False),
          "swiglu": ("silu", True)}
NORMALIZATION = {"layernorm": "LN", "rmsnorm": "RMS", "none": None}
POSITIONAL = {"learned": "standard", "none": "standard", "rope": "rotary", "alibi": "alibi"}


def refusal(cfg: ModelConfig) -> str | None:
    """Why ``cfg`` has no HookedTransformer equivalent (the part, named), or None."""
    if cfg.kind != "transformer":
        return (f"the two-hot MLP (model.kind={cfg.kind!r}) is not a transformer; "
                "HookedTransformer cannot express it")
    if cfg.norm_position == "post" and cfg.norm != "none":
        return ("post-norm (model.norm_position='post') normalizes x + f(x); HookedTransformer's "
                "only post-norm blocks (OLMo's) normalize f(x) before the residual add")
    if cfg.activation == "swiglu" and cfg.use_bias:
        return ("the gated MLP's biases (model.activation='swiglu' with model.use_bias=true): "
                "HookedTransformer's GatedMLP has no gate bias and adds b_in after the gate "
                "product")
    if cfg.positions == "alibi" and not cfg.causal:
        return ("ALiBi without the causal mask (model.positions='alibi', model.causal=false): "
                "HookedTransformer's ALiBi bias is zero above the diagonal, groklab's is "
                "-m*|i-j| on both sides")
    if cfg.activation not in ACT_FN:
        return f"the activation {cfg.activation!r}"
    return None


def check_expressible(cfg: ModelConfig) -> None:
    """Raise ConfigError naming the part HookedTransformer cannot express, if any."""
    why = refusal(cfg)
    if why:
        raise ConfigError(f"--format {FORMAT}: {why}; export it with --format safetensors")


def hooked_config(cfg: ModelConfig, model_name: str = "groklab") -> dict:
    """``HookedTransformerConfig(**this)`` builds the matching HookedTransformer (JSON values
    only; dtype float32 and the device are left to TransformerLens's defaults)."""
    check_expressible(cfg)
    act_fn, gated = ACT_FN[cfg.activation]
    out = {
        "model_name": model_name,
        "d_model": cfg.d_model,
        "d_head": cfg.head_dim,
        "n_heads": cfg.n_heads,
        "d_mlp": cfg.mlp_dim,
        "n_layers": cfg.n_layers,
        "n_ctx": cfg.n_ctx,
        "d_vocab": cfg.d_vocab,
        "d_vocab_out": cfg.d_vocab,
        "act_fn": act_fn,
        "gated_mlp": gated,
        "attn_only": False,
        "normalization_type": NORMALIZATION[cfg.norm],
        "eps": float(cfg.norm_eps),
        "positional_embedding_type": POSITIONAL[cfg.positions],
        "attention_dir": "causal" if cfg.causal else "bidirectional",
        "use_attn_scale": True,
        "attn_scale": math.sqrt(cfg.head_dim),
        "final_rms": False,
        "parallel_attn_mlp": False,
        "original_architecture": None,
        "tokenizer_name": None,
        "default_prepend_bos": False,
    }
    if cfg.positions == "rope":
        out.update(rotary_dim=cfg.head_dim, rotary_base=float(cfg.rope_base),
                   rotary_adjacent_pairs=False)
    return out


def _heads_in(kernel: np.ndarray, H: int, D: int) -> np.ndarray:
    """[d_model, H·D] → [H, d_model, D] (groklab's head h is columns h·D … h·D+D−1)."""
    return kernel.reshape(kernel.shape[0], H, D).transpose(1, 0, 2)


def _heads_out(kernel: np.ndarray, H: int, D: int) -> np.ndarray:
    """[H·D, d_model] → [H, D, d_model]."""
    return kernel.reshape(H, D, kernel.shape[1])


def hooked_state_dict(cfg: ModelConfig, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """HookedTransformer's parameters (its names and shapes, float32) from groklab's
    (``native.model_tensors``). Every parameter HookedTransformer has for the config is
    there; its buffers (``attn.mask``, ``attn.IGNORE``, ``attn.rotary_sin/cos``) are not:
    load with ``load_state_dict(sd, strict=False)``."""
    check_expressible(cfg)
    H, D, d = cfg.n_heads, cfg.head_dim, cfg.d_model
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    get = lambda name, shape: f32(tensors[name]) if name in tensors else np.zeros(shape,  # noqa: E731
                                                                                 np.float32)
    sd = {"embed.W_E": f32(tensors["embed.embedding"])}
    if cfg.positions == "learned":
        sd["pos_embed.W_pos"] = f32(tensors["pos_embed.embedding"])
    elif cfg.positions in ("none", "alibi"):
        sd["pos_embed.W_pos"] = np.zeros((cfg.n_ctx, d), np.float32)
    norm = NORMALIZATION[cfg.norm]
    for i in range(cfg.n_layers):
        g, t = f"blocks.{i}.", f"blocks.{i}."
        for ours, theirs in (("ln1_in", "ln1"), ("ln2_in", "ln2")):
            if norm is not None:
                sd[f"{t}{theirs}.w"] = f32(tensors[f"{g}{ours}.scale"])
            if norm == "LN":
                sd[f"{t}{theirs}.b"] = get(f"{g}{ours}.bias", (d,))
        for x in "qkv":
            X = x.upper()
            sd[f"{t}attn.W_{X}"] = _heads_in(f32(tensors[f"{g}attn.{x}.kernel"]), H, D)
            sd[f"{t}attn.b_{X}"] = get(f"{g}attn.{x}.bias", (H * D,)).reshape(H, D)
        sd[f"{t}attn.W_O"] = _heads_out(f32(tensors[f"{g}attn.o.kernel"]), H, D)
        sd[f"{t}attn.b_O"] = get(f"{g}attn.o.bias", (d,))
        sd[f"{t}mlp.W_in"] = f32(tensors[f"{g}mlp.w_in.kernel"])
        sd[f"{t}mlp.b_in"] = get(f"{g}mlp.w_in.bias", (cfg.mlp_dim,))
        if cfg.activation == "swiglu":
            sd[f"{t}mlp.W_gate"] = f32(tensors[f"{g}mlp.w_gate.kernel"])
        sd[f"{t}mlp.W_out"] = f32(tensors[f"{g}mlp.w_out.kernel"])
        sd[f"{t}mlp.b_out"] = get(f"{g}mlp.w_out.bias", (d,))
    if norm is not None:
        sd["ln_final.w"] = f32(tensors["ln_final.scale"])
    if norm == "LN":
        sd["ln_final.b"] = get("ln_final.bias", (d,))
    sd["unembed.W_U"] = f32(tensors["unembed.kernel"])
    sd["unembed.b_U"] = get("unembed.bias", (cfg.d_vocab,))
    return sd


def groklab_tensors(cfg: ModelConfig, sd: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The inverse of ``hooked_state_dict`` for ``cfg``: groklab's parameters from a
    HookedTransformer state dict (the zeros exported for parameters groklab lacks are
    dropped)."""
    check_expressible(cfg)
    H, D = cfg.n_heads, cfg.head_dim
    bias = cfg.use_bias
    out = {"embed.embedding": sd["embed.W_E"], "unembed.kernel": sd["unembed.W_U"]}
    if cfg.positions == "learned":
        out["pos_embed.embedding"] = sd["pos_embed.W_pos"]
    if bias:
        out["unembed.bias"] = sd["unembed.b_U"]
    if cfg.norm != "none":
        out["ln_final.scale"] = sd["ln_final.w"]
        if cfg.norm == "layernorm" and bias:
            out["ln_final.bias"] = sd["ln_final.b"]
    for i in range(cfg.n_layers):
        g = t = f"blocks.{i}."
        if cfg.norm != "none":
            for ours, theirs in (("ln1_in", "ln1"), ("ln2_in", "ln2")):
                out[f"{g}{ours}.scale"] = sd[f"{t}{theirs}.w"]
                if cfg.norm == "layernorm" and bias:
                    out[f"{g}{ours}.bias"] = sd[f"{t}{theirs}.b"]
        for x in "qkv":
            W = sd[f"{t}attn.W_{x.upper()}"]
            out[f"{g}attn.{x}.kernel"] = W.transpose(1, 0, 2).reshape(W.shape[1], H * D)
            if bias:
                out[f"{g}attn.{x}.bias"] = sd[f"{t}attn.b_{x.upper()}"].reshape(H * D)
        out[f"{g}attn.o.kernel"] = sd[f"{t}attn.W_O"].reshape(H * D, -1)
        out[f"{g}mlp.w_in.kernel"] = sd[f"{t}mlp.W_in"]
        out[f"{g}mlp.w_out.kernel"] = sd[f"{t}mlp.W_out"]
        if cfg.activation == "swiglu":
            out[f"{g}mlp.w_gate.kernel"] = sd[f"{t}mlp.W_gate"]
        if bias:
            out[f"{g}attn.o.bias"] = sd[f"{t}attn.b_O"]
            out[f"{g}mlp.w_in.bias"] = sd[f"{t}mlp.b_in"]
            out[f"{g}mlp.w_out.bias"] = sd[f"{t}mlp.b_out"]
    return out


def hook_names(cfg: ModelConfig) -> dict[str, str]:
    """groklab hook name -> the HookedTransformer hook holding the same value. Under RoPE
    groklab's ``attn.hook_q``/``hook_k`` are the rotated queries and keys, TransformerLens's
    ``attn.hook_rot_q``/``hook_rot_k`` (its ``hook_q``/``hook_k`` are before the rotation).
    Not listed: ``ln_final.hook_normalized``, which in groklab is the norm's output and in
    TransformerLens the normalized vector before the norm's weights (groklab's value =
    TransformerLens's · w + b); and TransformerLens's hooks groklab has no value for
    (``ln*.hook_scale``, ``mlp.hook_pre_linear``, ``unembed.hook_*``). Where groklab records
    ``hook_pos_embed`` as [n_ctx, d_model], TransformerLens repeats it over the batch."""
    check_expressible(cfg)
    names = {"hook_embed": "hook_embed"}
    if cfg.positions == "learned":
        names["hook_pos_embed"] = "hook_pos_embed"
    rot = cfg.positions == "rope"
    for i in range(cfg.n_layers):
        b = f"blocks.{i}."
        for h in ("hook_resid_pre", "attn.hook_v", "attn.hook_attn_scores", "attn.hook_pattern",
                  "attn.hook_z", "hook_attn_out", "hook_resid_mid", "mlp.hook_pre",
                  "mlp.hook_post", "hook_mlp_out", "hook_resid_post"):
            names[b + h] = b + h
        for x in "qk":
            names[f"{b}attn.hook_{x}"] = f"{b}attn.hook_{'rot_' if rot else ''}{x}"
    return names
