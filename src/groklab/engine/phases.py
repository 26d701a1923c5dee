"""Batch-size schedules as phases: spans of epochs with one batch size each.

A phase has a fixed batch size, so it compiles once; a run with K distinct batch sizes compiles
K programs (never one per step). An epoch always means n_train training rows seen, in
ceil(n_train / B) steps of the phase's batch size B.

- constant: one phase with ``train.batch_size`` (clipped to the training set: full batch).
- increasing: ``batch_stages`` equal spans of the epoch budget with batch sizes growing
  geometrically from ``batch_start`` to ``batch_size`` (Smith et al. 2018, "Don't decay the
  learning rate, increase the batch size").
- curriculum: the batch follows the curriculum (``train.curriculum``): over the
  ``curriculum_epochs`` in which the training set grows, ``batch_stages`` spans use batches
  proportional to the share of rows available at the span's start (at least ``batch_start``),
  then ``batch_size`` to the end; each step then covers the same share of the available rows.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from groklab.errors import ConfigError

BATCH_SCHEDULES = ("constant", "increasing", "curriculum")


@dataclass(frozen=True)
class Phase:
    start_step: int
    end_step: int
    start_epoch: int
    batch_size: int
    steps_per_epoch: int


def curriculum_share(tr, epoch: float) -> float:
    """Share of training rows available at ``epoch`` (linear pacing from curriculum_start)."""
    if tr.curriculum == "none":
        return 1.0
    import jax.numpy as jnp  # only here: plan_run makes phases without JAX

    frac = jnp.minimum(epoch / tr.curriculum_epochs, 1.0)  # traced inside the step
    return tr.curriculum_start + (1.0 - tr.curriculum_start) * frac


def make_phases(tr, n_train: int) -> tuple[Phase, ...]:
    """The run's phases from a TrainConfig. Raises ConfigError."""
    if tr.batch_schedule not in BATCH_SCHEDULES:
        raise ConfigError(f"unknown train.batch_schedule {tr.batch_schedule!r}; choose one of "
                          f"{', '.join(BATCH_SCHEDULES)}")
    if tr.batch_size < 1:
        raise ConfigError(f"train.batch_size={tr.batch_size} must be a positive integer")
    full = min(tr.batch_size, n_train)
    if tr.batch_schedule == "constant":
        spe = math.ceil(n_train / full)
        total = _budget(tr, spe)
        return (Phase(0, total, 0, full, spe),)
    if tr.steps is not None:
        raise ConfigError(f"train.batch_schedule={tr.batch_schedule} needs an epoch budget "
                          f"(train.epochs), not train.steps={tr.steps}")
    if not 1 <= tr.batch_start <= tr.batch_size:
        raise ConfigError(f"train.batch_start={tr.batch_start} must be in [1, train.batch_size="
                          f"{tr.batch_size}]")
    if tr.batch_stages < 2:
        raise ConfigError(f"train.batch_stages={tr.batch_stages} must be >= 2")
    E, K, b0 = _epochs(tr), tr.batch_stages, min(tr.batch_start, full)
    if tr.batch_schedule == "increasing":
        bounds = [round(k * E / K) for k in range(K + 1)]
        sizes = [round(b0 * (full / b0) ** (k / (K - 1))) for k in range(K)]
    else:
        if tr.curriculum == "none":
            raise ConfigError("train.batch_schedule=curriculum needs train.curriculum "
                              "(operand or loss)")
        C = min(tr.curriculum_epochs, E)
        bounds = [round(k * C / K) for k in range(K)] + [E]
        shares = [float(curriculum_share(tr, bounds[k])) for k in range(K - 1)]
        sizes = [max(b0, round(full * share)) for share in shares]
        sizes.append(full)
    spans = []
    for k in range(K):
        lo, hi, size = bounds[k], bounds[k + 1], min(max(sizes[k], 1), full)
        if hi <= lo:
            continue
        if spans and spans[-1][2] == size:
            spans[-1] = (spans[-1][0], hi, size)
        else:
            spans.append((lo, hi, size))
    phases, step = [], 0
    for lo, hi, size in spans:
        spe = math.ceil(n_train / size)
        phases.append(Phase(step, step + (hi - lo) * spe, lo, size, spe))
        step += (hi - lo) * spe
    return tuple(phases)


def cap_phases(phases: tuple[Phase, ...], max_steps: int | None) -> tuple[Phase, ...]:
    """The phases cut at ``max_steps`` (the seed script's ``--max_steps``: the run stops at
    the budget or at ``max_steps``, whichever comes first)."""
    if max_steps is None or max_steps >= phases[-1].end_step:
        return phases
    if max_steps < 1:
        raise ConfigError(f"train.max_steps={max_steps} must be >= 1")
    kept = [ph for ph in phases if ph.start_step < max_steps]
    return (*kept[:-1], dataclasses.replace(kept[-1], end_step=max_steps))


def _epochs(tr) -> int:
    if tr.epochs is None:
        raise ConfigError("set a budget: train.epochs or train.steps")
    if tr.epochs < 1:
        raise ConfigError(f"train.epochs={tr.epochs} must be >= 1")
    return tr.epochs


def _budget(tr, spe: int) -> int:
    if tr.steps is not None:
        if tr.steps < 1:
            raise ConfigError(f"train.steps={tr.steps} must be >= 1")
        return tr.steps
    return _epochs(tr) * spe


def phase_at(phases: tuple[Phase, ...], step: int) -> int:
    """Index of the phase that runs update number ``step`` (0-based)."""
    for i, ph in enumerate(phases):
        if step < ph.end_step:
            return i
    return len(phases) - 1


def epoch_at(phases: tuple[Phase, ...], step: int) -> float:
    """Epochs completed after ``step`` updates."""
    ph = phases[phase_at(phases, max(step - 1, 0))] if step else phases[0]
    return ph.start_epoch + (step - ph.start_step) / ph.steps_per_epoch
