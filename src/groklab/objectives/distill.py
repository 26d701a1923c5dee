"""The distillation objective: the student's loss against a frozen teacher, on the one engine.

The teacher's parameters arrive per seed as the objective's ``inputs`` (the engine vmaps them
with the student's state); its forward runs inside the student's compiled step in eval mode
(no dropout) under ``stop_gradient``, recording only the intermediates the chosen strategies
read. The projector of the feature strategy and the log-variances of learned weighting are the
objective's own trainable ``extra`` parameters (the engine updates them with Adam at the run's
learning rate, without weight decay). Loss definitions: ``distill_losses``.

Total loss, with fixed weights w_k per strategy k:
  α·CE + (1 − α)·Σ_k w_k·L_k        (ground truth on; the seeds' recipe: α = 0.5, T = 2)
  Σ_k w_k·L_k                       (``--no_ground_truth``)
  CE                                (no strategy: the from-scratch baseline on the same split)
With learned weighting: Σ_j exp(−s_j)·ℓ_j + s_j over ℓ ∈ {CE (if ground truth), w_k·L_k}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from groklab.models.hooks import Recorder
from groklab.objectives.distill_losses import (
    attention_per_row,
    feature_per_row,
    kd_per_row,
    uncertainty_weighted,
)
from groklab.objectives.losses import per_row_loss

STRATEGIES = ("logit", "attention", "feature")


def layer_map(n_student: int, n_teacher: int) -> tuple[int, ...]:
    """Teacher layer for each student layer: spread evenly, last to last. Defined when the
    student is no deeper than the teacher (each student layer gets its own teacher layer)."""
    if n_student > n_teacher:
        raise ValueError(f"a {n_student}-layer student has no layer mapping onto a "
                         f"{n_teacher}-layer teacher")
    return tuple(round((i + 1) * n_teacher / n_student) - 1 for i in range(n_student))


@dataclass(frozen=True)
class Distill:
    """objective(model, tokens, labels, weights, key, inputs=teacher params, extra) ->
    (loss, aux). Hashable (part of the compiled program's static description)."""

    teacher_graphdef: Any
    strategies: tuple[tuple[str, float], ...]  # (name, weight)
    temperature: float = 2.0
    alpha: float = 0.5
    ground_truth: bool = True
    learned_weighting: bool = False
    layers: tuple[int, ...] = ()  # teacher layer per student layer (attention)
    d_student: int = 0
    d_teacher: int = 0
    loss: str = "softmax"
    dtype: str = "float32"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.strategies)

    @property
    def terms(self) -> tuple[str, ...]:
        """The loss terms combined: ce (when used) and each strategy."""
        ce = ("ce",) if self.ground_truth or not self.strategies else ()
        return ce + self.names

    @property
    def aux_keys(self) -> tuple[str, ...]:
        keys = tuple(f"loss_{t}" for t in ("ce", *self.names))
        if self.learned_weighting:
            keys += tuple(f"weight_{t}" for t in self.terms)
        return keys

    def init_extra(self, key):
        extra = {}
        if "feature" in self.names:
            std = 1.0 / jnp.sqrt(jnp.float32(self.d_student))
            extra["projector"] = std * jax.random.normal(key, (self.d_student, self.d_teacher))
        if self.learned_weighting:
            extra["log_vars"] = {t: jnp.zeros((), jnp.float32) for t in self.terms}
        return extra

    def _hooks(self, n_layers: int, teacher: bool) -> list[str]:
        names = []
        if "attention" in self.names:
            layers = self.layers if teacher else range(len(self.layers))
            names += [f"blocks.{i}.attn.hook_pattern" for i in layers]
        if "feature" in self.names:
            names.append(f"blocks.{n_layers - 1}.hook_resid_post")
        return names

    def __call__(self, model, tokens, labels, weights, key, inputs=None, extra=None):
        n_s = len(model.blocks) if hasattr(model, "blocks") else 0
        rec_s = Recorder(self._hooks(n_s, teacher=False))
        z_s = model(tokens, key, rec_s)
        w = weights.astype(jnp.float32)
        denom = jnp.maximum(w.sum(), 1.0)

        def mean(rows):
            return (rows.astype(jnp.float32) * w).sum() / denom

        losses = {"ce": mean(per_row_loss(z_s, labels, self.loss, jnp.dtype(self.dtype)))}
        if self.strategies:
            teacher = nnx.merge(self.teacher_graphdef, jax.lax.stop_gradient(inputs))
            n_t = len(teacher.blocks) if hasattr(teacher, "blocks") else 0
            rec_t = Recorder(self._hooks(n_t, teacher=True))
            z_t = jax.lax.stop_gradient(teacher(tokens, None, rec_t))
            t_vals = jax.lax.stop_gradient(rec_t.values)
            for name, _ in self.strategies:
                if name == "logit":
                    rows = kd_per_row(z_s, z_t, self.temperature)
                elif name == "attention":
                    rows = attention_per_row(
                        [rec_s.values[f"blocks.{i}.attn.hook_pattern"]
                         for i in range(len(self.layers))],
                        [t_vals[f"blocks.{j}.attn.hook_pattern"] for j in self.layers])
                else:
                    rows = feature_per_row(rec_s.values[f"blocks.{n_s - 1}.hook_resid_post"][:, -1],
                                           t_vals[f"blocks.{n_t - 1}.hook_resid_post"][:, -1],
                                           extra["projector"])
                losses[name] = mean(rows)
        weighted = {n: w_k * losses[n] for n, w_k in self.strategies}
        if self.learned_weighting:
            parts = {t: losses["ce"] if t == "ce" else weighted[t] for t in self.terms}
            total = uncertainty_weighted(parts, extra["log_vars"])
        elif not self.strategies:
            total = losses["ce"]
        else:
            kd = sum(weighted.values())
            total = self.alpha * losses["ce"] + (1 - self.alpha) * kd if self.ground_truth \
                else kd
        aux = {f"loss_{k}": v for k, v in losses.items()}
        if self.learned_weighting:
            aux.update({f"weight_{t}": jnp.exp(-extra["log_vars"][t]) for t in self.terms})
        return total, aux
