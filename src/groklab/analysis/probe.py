"""One compiled pass over a model's rows: logits, loss and accuracy, the representations at the
chosen hook points, and the measures that need every row at once (effective ranks, activation
and neuron statistics, attention entropy and mean patterns). Vmapped over seeds and jitted
once per run (``jax.jit`` of a pure function of the split parameters); the same
compiled function serves every checkpoint of ``--all_checkpoints``.

A representation is a hook point's value at the answer (last) position, [N, features]
(``position="last"``), or every position flattened, [N, T·features] (``"all"``). Attention
patterns and scores always keep all positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import nnx

from groklab.analysis.attention import admissible_keys, attention_entropy
from groklab.analysis.representations import (
    activation_stats,
    cka_matrix,
    effective_ranks,
    neuron_activity,
)
from groklab.analysis.weights import layer_norms, named_leaves, weight_stats
from groklab.errors import ConfigError
from groklab.models.hooks import Recorder, check_hook_names
from groklab.objectives.losses import per_row_loss

POSITIONS = ("last", "all")


@dataclass(frozen=True)
class ProbeSpec:
    """What one pass records (hashable: part of the compiled function's description)."""

    representations: tuple[str, ...]  # hook points whose representations are measured
    patterns: tuple[str, ...]  # attention-pattern hooks (entropy, mean pattern)
    neurons: tuple[str, ...]  # MLP pre-activation hooks (dead / active neurons)
    position: str = "last"
    causal: bool = True
    n_ctx: int = 4
    loss: str = "softmax"

    @property
    def hooks(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.representations + self.patterns + self.neurons))


def default_hooks(model) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(representations, attention patterns, neuron pre-activations) analysed by default: per
    block the attention output, the MLP's hidden activation and the residual stream after the
    block; for the two-hot MLP its hidden layer."""
    names = model.hook_names()
    if not hasattr(model, "blocks"):
        return ("hook_hidden_post",), (), ("hook_hidden_pre",)
    n = len(model.blocks)
    reps = tuple(f"blocks.{i}.{h}" for i in range(n)
                 for h in ("hook_attn_out", "mlp.hook_post", "hook_resid_post"))
    pats = tuple(f"blocks.{i}.attn.hook_pattern" for i in range(n))
    neurons = tuple(f"blocks.{i}.mlp.hook_pre" for i in range(n))
    assert set(reps + pats + neurons) <= set(names)
    return reps, pats, neurons


def make_spec(model, hooks: tuple[str, ...] | None, position: str, loss: str) -> ProbeSpec:
    """The spec for ``model``: default hook points, or ``hooks`` (validated: an unknown name is
    a one-line error listing the model's hook points)."""
    if position not in POSITIONS:
        raise ConfigError(f"position {position!r} is not allowed; choose one of "
                          f"{', '.join(POSITIONS)}")
    reps, pats, neurons = default_hooks(model)
    if hooks:
        check_hook_names(hooks, model.hook_names())
        reps = tuple(hooks)
    cfg = model.config
    return ProbeSpec(reps, pats, neurons, position, bool(getattr(cfg, "causal", True)),
                     int(getattr(cfg, "n_ctx", 0) or 0), loss)


def representation(name: str, value: jax.Array, position: str) -> jax.Array:
    """[N, features] from a hook's value: the last position (or all, flattened) of [N, T, ...]
    values; attention patterns/scores [N, H, T, T] and position-free values flattened."""
    n = value.shape[0]
    if value.ndim == 2:
        return value
    if "hook_pattern" in name or "hook_attn_scores" in name or position == "all":
        return value.reshape(n, -1)
    return value[:, -1].reshape(n, -1)


def _last(value: jax.Array) -> jax.Array:
    return value if value.ndim == 2 else value[:, -1].reshape(value.shape[0], -1)


def probe(graphdef, spec: ProbeSpec, params, tokens_NT, labels_N):
    """(measures, representations) of one seed's model on its rows (pure; vmap over seeds)."""
    model = nnx.merge(graphdef, params)
    rec = Recorder(spec.hooks)
    logits = model(tokens_NT, None, rec)
    reps = {h: representation(h, rec.values[h], spec.position) for h in spec.representations}
    allowed = admissible_keys(spec.n_ctx, spec.causal)
    measures = {
        "loss": per_row_loss(logits, labels_N, spec.loss).mean(),
        "acc": (jnp.argmax(logits, -1) == labels_N).mean(),
        "ranks": {h: effective_ranks(r) for h, r in reps.items()},
        "activations": {h: activation_stats(r) for h, r in reps.items()},
        "neurons": {h: neuron_activity(_last(rec.values[h])) for h in spec.neurons},
        "attention": {h: attention_entropy(rec.values[h], allowed) for h in spec.patterns},
        "mean_pattern": {h: rec.values[h].mean(0) for h in spec.patterns},
    }
    return measures, reps


def gradients(graphdef, loss: str, params, tokens_NT, labels_N):
    """(loss, accuracy, gradient norms) on the given rows: norms per layer and per parameter of
    the gradient of the mean loss (the run's loss, no dropout) — gradient flow, one seed."""
    def mean_loss(p):
        logits = nnx.merge(graphdef, p)(tokens_NT)
        acc = (jnp.argmax(logits, -1) == labels_N).mean()
        return per_row_loss(logits, labels_N, loss).mean(), acc

    (value, acc), g = jax.value_and_grad(mean_loss, has_aux=True)(params)
    per_param = {k: jnp.sqrt(jnp.sum(v.astype(jnp.float32) ** 2))
                 for k, v in named_leaves(g).items()}
    return {"loss": value, "acc": acc, "layers": layer_norms(g), "params": per_param}


def weights(params):
    """Weight statistics per parameter and layer norms (one seed)."""
    return {"stats": weight_stats(params), "layers": layer_norms(params)}


def grid_pass(graphdef, hooks: tuple[str, ...], params, tokens_NT):
    """Logits [N, V] and each hook's answer-position activation [N, n] over the given rows
    (the (a, b) grid of the Fourier analysis)."""
    rec = Recorder(hooks)
    logits = nnx.merge(graphdef, params)(tokens_NT, None, rec)
    return logits, {h: _last(v) for h, v in rec.values.items()}


def measure_checkpoint(graphdef, spec: ProbeSpec, grid_hooks: tuple[str, ...], within: bool,
                       params, val_tokens, val_labels, train_tokens, train_labels,
                       grid_tokens=None):
    """Everything measured at one checkpoint of one seed, in one compiled function (vmap it
    over seeds): the validation probe and representations, the hook × hook CKA (``within``),
    weights, training loss and gradients, and the grid pass when ``grid_tokens`` is given."""
    measures, reps = probe(graphdef, spec, params, val_tokens, val_labels)
    hooks = spec.representations
    out = {"val": measures, "reps": reps, "weights": weights(params),
           "train": gradients(graphdef, spec.loss, params, train_tokens, train_labels)}
    if within:
        out["cka_within"] = cka_matrix([reps[h] for h in hooks], [reps[h] for h in hooks])
    if grid_tokens is not None:
        out["grid_logits"], out["grid_acts"] = grid_pass(graphdef, grid_hooks, params,
                                                          grid_tokens)
    return out
