"""Feature attribution by integrated gradients (Sundararajan, Taly & Yan 2017, "Axiomatic
attribution for deep networks", ICML).

For the logit of the correct answer f and a row's token embeddings e [T, d] (``hook_embed``,
before any position embedding), with baseline e':
    IG_{t,i} = (e − e')_{t,i} · ∫₀¹ ∂f/∂e_{t,i}(e' + α(e − e')) dα,
approximated by the midpoint rule with m steps; the attribution of position t is Σ_i IG_{t,i}.
Completeness: Σ_t IG_t = f(e) − f(e') up to the quadrature error (tested).

The baseline is the mean embedding over the vocabulary at every position: an input that
favours no token. The all-zero embedding, the other common choice, is degenerate for models
that normalize their input (RMSNorm/LayerNorm of α·e is a step function of α near 0, with
gradients of order 1/√eps there), so the quadrature would miss most of the integral.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from groklab.models.hooks import Patcher


def integrated_gradients(model, tokens_BT: jax.Array, labels_B: jax.Array,
                         steps: int = 32) -> dict[str, jax.Array]:
    """Per row and position [B, T]: the attribution of the correct logit; also the logit at
    the input and at the baseline [B] (their difference is what the attributions sum to)."""
    embed = model.embed(tokens_BT).astype(jnp.float32)
    base = jnp.broadcast_to(model.embed.embedding[...].astype(jnp.float32).mean(0), embed.shape)

    def correct_logits(e_BTd):
        z = model(tokens_BT, None, Patcher({"hook_embed": lambda _: e_BTd}))
        return jnp.take_along_axis(z, labels_B[:, None], axis=1)[:, 0]

    grad_sum = jax.grad(lambda e: correct_logits(e).sum())  # rows are independent

    def body(acc, alpha):
        return acc + grad_sum(base + alpha * (embed - base)), None

    alphas = (jnp.arange(steps, dtype=jnp.float32) + 0.5) / steps
    total, _ = jax.lax.scan(body, jnp.zeros_like(embed), alphas)
    attr = ((embed - base) * total / steps).sum(-1)
    return {"attribution": attr, "logit": correct_logits(embed),
            "baseline_logit": correct_logits(base)}
