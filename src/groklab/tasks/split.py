"""Train/validation splits of a task table and training-label noise.

The split follows Power et al. 2022 (arXiv:2201.02177): a uniformly random fraction of the full
table is the training set and the rest is validation. Label noise (replacing a fraction of the
training labels by wrong ones) is the memorisation probe of Doshi, Das, He, Gromov 2023, "To grok
or not to grok: Disentangling generalization and memorization on corrupted algorithmic datasets"
(arXiv:2310.13061).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from groklab.errors import ConfigError
from groklab.tasks.table import Task


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ConfigError(f"seed={seed!r} is not allowed; a seed must be an integer ≥ 0")
    return int(seed)


def _check_fraction(name: str, value: object, closed_low: bool) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    value_f = float(value) if ok else math.nan
    low_ok = value_f >= 0 if closed_low else value_f > 0
    if not (low_ok and value_f < 1):  # also catches NaN
        interval = "[0, 1)" if closed_low else "(0, 1)"
        raise ConfigError(f"{name}={value!r} is outside {interval}")
    return value_f


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


def split_indices(n_rows: int, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random (train_idx, val_idx) partition of ``range(n_rows)``, both int32.

    ``perm = np.random.default_rng(seed).permutation(n_rows)``; the first
    ``int(train_fraction · n_rows)`` entries (floor, e.g. 4,656 of 9,312 at 0.5) are the training
    rows in permutation order, the rest are validation rows.
    """
    n_train, _ = split_sizes(n_rows, train_fraction)
    seed = _check_seed(seed)
    perm = np.random.default_rng(seed).permutation(int(n_rows)).astype(np.int32)
    return perm[:n_train], perm[n_train:]


def split_sizes(n_rows: int, train_fraction: float) -> tuple[int, int]:
    """(training rows, validation rows) of a split of ``n_rows`` (``split_indices``'s sizes,
    known without drawing it). Raises ConfigError when either would be empty."""
    if isinstance(n_rows, bool) or not isinstance(n_rows, numbers.Integral) or n_rows < 2:
        raise ConfigError(f"n_rows={n_rows!r} is too small to split; need at least 2 rows")
    fraction = _check_fraction("train_fraction", train_fraction, closed_low=False)
    n_rows = int(n_rows)
    n_train = int(fraction * n_rows)
    if n_train < 1 or n_train > n_rows - 1:
        raise ConfigError(f"train_fraction={train_fraction!r} gives {n_train} training rows out "
                          f"of {n_rows}; both train and validation need at least 1 row")
    return n_train, n_rows - n_train


def noisy_labels(labels: np.ndarray, train_idx: np.ndarray, fraction: float, seed: int,
                 n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Training labels with ``round(fraction · n_train)`` of them replaced by a wrong label.

    With ``rng = np.random.default_rng([seed, 1])`` (independent of the split's stream):
    ``positions = sorted(rng.choice(n_train, k, replace=False))``; then for each position in
    that order one ``rng.integers`` draw picks a label uniformly among the distinct values of
    ``labels`` other than the true one. ``round`` is Python's (ties to even).

    Returns (train_labels, noisy_positions): an int32 copy of ``labels[train_idx]`` with the noise
    applied, and the sorted int32 positions into ``train_idx`` that were changed. ``n_classes``
    bounds the label ids: every label must lie in ``[0, n_classes)``.
    """
    fraction = _check_fraction("label_noise", fraction, closed_low=True)
    seed = _check_seed(seed)
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ConfigError(f"labels range over [{labels.min()}, {labels.max()}], outside "
                          f"[0, n_classes={n_classes})")
    train_labels = labels[np.asarray(train_idx)].astype(np.int32)
    n_noisy = round(fraction * len(train_labels))
    if n_noisy == 0:
        return train_labels, np.zeros(0, dtype=np.int32)
    classes = np.unique(labels)
    if len(classes) < 2:
        raise ConfigError(f"label_noise={fraction} needs at least 2 distinct labels; the task "
                          f"has only {len(classes)}")
    rng = np.random.default_rng([seed, 1])
    positions = np.sort(rng.choice(len(train_labels), size=n_noisy, replace=False))
    true_rank = np.searchsorted(classes, train_labels[positions])
    # Drawing from len(classes) - 1 slots and skipping over the true label's slot gives a uniform
    # draw over the other labels without rejection sampling.
    draw = rng.integers(0, len(classes) - 1, size=n_noisy)
    train_labels[positions] = classes[draw + (draw >= true_rank)]
    return train_labels, positions.astype(np.int32)


@dataclass(frozen=True, eq=False)
class Split:
    """A train/validation split of a task, with the (possibly noisy) training labels.

    ``train_labels[j]`` is the target of row ``train_idx[j]``; it differs from the table's label
    exactly at ``j in noisy_positions``. Validation labels are always the true
    ``task.labels[val_idx]``.
    """

    train_idx: np.ndarray
    val_idx: np.ndarray
    train_labels: np.ndarray
    noisy_positions: np.ndarray
    seed: int
    train_fraction: float
    label_noise: float = 0.0

    @property
    def n_train(self) -> int:
        return int(self.train_idx.shape[0])

    @property
    def n_val(self) -> int:
        return int(self.val_idx.shape[0])


def make_split(task: Task, train_fraction: float, seed: int, label_noise: float = 0.0) -> Split:
    """Split ``task`` with ``split_indices`` and apply ``noisy_labels`` to the training part."""
    train_idx, val_idx = split_indices(task.n_rows, train_fraction, seed)
    train_labels, positions = noisy_labels(task.labels, train_idx, label_noise, seed,
                                           task.d_vocab)
    return Split(
        train_idx=_frozen(train_idx),
        val_idx=_frozen(val_idx),
        train_labels=_frozen(train_labels),
        noisy_positions=_frozen(positions),
        seed=int(seed),
        train_fraction=float(train_fraction),
        label_noise=float(label_noise),
    )
