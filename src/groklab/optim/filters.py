"""Gradient filters and parameter constraints as optax GradientTransformations.

- ``grokfast_ema`` / ``grokfast_ma``: Lee et al. 2024, "Grokfast: Accelerated Grokking by
  Amplifying Slow Gradients" (arXiv:2405.20233). The slow component of the gradient is estimated
  by an exponential (h ← αh + (1−α)g, α 0.98) or windowed mean (last w gradients, w 100) and
  added back amplified: g ← g + λh (λ 2 for EMA, 5 for MA). As in the authors' reference code,
  the EMA starts from the first gradient (h₀ = g₀) and the MA filter only acts once its window is
  full.
- ``orthograd``: Prieto et al. 2025 (arXiv:2501.04697) ⊥Grad. Per tensor, the component of the
  gradient along the weights is removed, g⊥ = g − (w·g / w·w) w, and g⊥ is rescaled to ‖g‖; the
  base optimizer then sees g⊥.
- ``constrain_norm``: Liu et al. 2022, "Omnigrok" (arXiv:2210.01117). After each update the whole
  parameter vector is rescaled to the total norm it had at initialization (which the engine may
  have scaled by α).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

_TINY = 1e-30


class GrokfastEmaState(NamedTuple):
    count: jax.Array
    ema: optax.Updates


def grokfast_ema(alpha: float = 0.98, lamb: float = 2.0) -> optax.GradientTransformation:
    """g ← g + λh with h ← αh + (1−α)g (h₀ = g₀)."""

    def init(params):
        return GrokfastEmaState(jnp.zeros([], jnp.int32), optax.tree.zeros_like(params))

    def update(updates, state, params=None):
        del params
        first = state.count == 0
        ema = jax.tree.map(lambda h, g: jnp.where(first, g, alpha * h + (1 - alpha) * g),
                           state.ema, updates)
        out = jax.tree.map(lambda g, h: g + lamb * h, updates, ema)
        return out, GrokfastEmaState(optax.safe_increment(state.count), ema)

    return optax.GradientTransformation(init, update)


class GrokfastMaState(NamedTuple):
    count: jax.Array  # gradients seen so far
    window: optax.Updates  # each leaf [w, *shape], a ring buffer of the last w gradients


def grokfast_ma(window: int = 100, lamb: float = 5.0) -> optax.GradientTransformation:
    """g ← g + λ·mean(last ``window`` gradients, this one included), once the window is full.
    Memory: ``window`` copies of the parameters."""

    def init(params):
        buf = jax.tree.map(lambda p: jnp.zeros((window, *p.shape), p.dtype), params)
        return GrokfastMaState(jnp.zeros([], jnp.int32), buf)

    def update(updates, state, params=None):
        del params
        slot = state.count % window
        buf = jax.tree.map(lambda b, g: b.at[slot].set(g), state.window, updates)
        full = state.count + 1 >= window
        out = jax.tree.map(lambda g, b: jnp.where(full, g + lamb * b.mean(axis=0), g),
                           updates, buf)
        return out, GrokfastMaState(optax.safe_increment(state.count), buf)

    return optax.GradientTransformation(init, update)


def orthograd() -> optax.GradientTransformation:
    """⊥Grad: per tensor, g⊥ = g − (w·g / w·w)·w, rescaled to ‖g‖."""

    def project(g, w):
        w32, g32 = w.astype(jnp.float32), g.astype(jnp.float32)
        g_perp = g32 - (jnp.vdot(w32, g32) / (jnp.vdot(w32, w32) + _TINY)) * w32
        scale = jnp.linalg.norm(g32) / (jnp.linalg.norm(g_perp) + _TINY)
        return (g_perp * scale).astype(g.dtype)

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("orthograd needs the parameters (pass params to update)")
        return jax.tree.map(project, updates, params), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


class ConstrainNormState(NamedTuple):
    target: jax.Array  # the total parameter norm to hold


def constrain_norm() -> optax.GradientTransformation:
    """Omnigrok's constraint: the update is changed so that params + update has the total norm
    the parameters had when this transformation was initialized."""

    def init(params):
        return ConstrainNormState(optax.tree.norm(params))

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("constrain_norm needs the parameters (pass params to update)")
        new = optax.apply_updates(params, updates)
        scale = state.target / (optax.tree.norm(new) + _TINY)
        return jax.tree.map(lambda n, p: n * scale - p, new, params), state

    return optax.GradientTransformation(init, update)
