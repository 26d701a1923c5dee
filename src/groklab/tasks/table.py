"""The finished task table (``Task``) and how raw operands become token rows (layouts).

A task builder only computes operands and labels (``RawTable``); turning them into model input is
the job of a *layout*, so every task gets the same two input formats:

* ``"default"`` — ``[x0, op, x1, op, ..., x_{k-1}, =]`` with ``op = V`` and ``= = V + 1`` where
  ``V`` is the number of value tokens, so ``d_vocab = V + 2`` (``p + 2 = 99`` for ``p = 97``, the
  format of Power et al. 2022, arXiv:2201.02177).
* ``"no_op"`` — ``[x0, x1, ..., x_{k-1}, =]`` with ``= = V``, so ``d_vocab = V + 1`` (the format of
  Nanda, Chan, Lieberum, Smith, Steinhardt 2023, "Progress measures for grokking via mechanistic
  interpretability", arXiv:2301.05217).

Bit-string tasks (``RawTable.infix = False``) have no ``op`` or ``=`` token: the row is just the
bits, identical under both layouts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LAYOUTS: tuple[str, ...] = ("default", "no_op")


def _frozen_int32(values: np.ndarray) -> np.ndarray:
    # Copy so that freezing never flips the flag on an array the caller still owns.
    out = np.array(values, dtype=np.int32, copy=True)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, eq=False)
class Task:
    """A complete input/label table for one algorithmic task.

    ``tokens[i]`` is the model input of row ``i`` and ``labels[i]`` its target token id. Rows are
    in nested-loop order over the operands (first operand slowest). Both arrays are int32 and
    read-only, so a ``Task`` can be cached and shared safely.
    """

    name: str
    definition: str
    p: int
    tokens: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    d_vocab: int
    n_ctx: int
    operand_positions: tuple[int, ...]
    token_names: tuple[str, ...] = field(repr=False)
    layout: str = "default"

    def __post_init__(self) -> None:
        tokens = _frozen_int32(self.tokens)
        labels = _frozen_int32(self.labels)
        # Invariants, not user input: a violation here is a bug in a task builder.
        if tokens.ndim != 2 or tokens.shape != (labels.shape[0], self.n_ctx):
            raise ValueError(f"tokens shape {tokens.shape} does not match [N={labels.shape[0]}, "
                             f"n_ctx={self.n_ctx}]")
        if len(self.token_names) != self.d_vocab:
            raise ValueError(f"{len(self.token_names)} token names for d_vocab={self.d_vocab}")
        for arr, what in ((tokens, "token"), (labels, "label")):
            if arr.size and (arr.min() < 0 or arr.max() >= self.d_vocab):
                raise ValueError(f"{what} ids outside [0, {self.d_vocab}) in task {self.name!r}")
        object.__setattr__(self, "tokens", tokens)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "operand_positions", tuple(self.operand_positions))
        object.__setattr__(self, "token_names", tuple(self.token_names))

    @property
    def n_rows(self) -> int:
        """Number of rows in the full table (before any train/validation split)."""
        return int(self.labels.shape[0])


@dataclass(frozen=True, eq=False)
class RawTable:
    """What a task builder returns: operand columns and labels, all value-token ids.

    ``operands[j][i]`` is operand ``j`` of row ``i``; ``value_names[v]`` names value token ``v``.
    Every operand and label lies in ``[0, len(value_names))``.
    """

    operands: tuple[np.ndarray, ...]
    labels: np.ndarray
    value_names: tuple[str, ...]
    infix: bool = True


def assemble(name: str, definition: str, p: int, raw: RawTable, layout: str) -> Task:
    """Lay ``raw`` out as token rows according to ``layout`` (see the module docstring)."""
    n_values = len(raw.value_names)
    operands = [np.asarray(col, dtype=np.int64) for col in raw.operands]
    k = len(operands)
    if not raw.infix:
        columns = operands
        positions = tuple(range(k))
        names = tuple(raw.value_names)
    elif layout == "default":
        op, eq = n_values, n_values + 1
        columns = []
        for j, col in enumerate(operands):
            if j:
                columns.append(np.full_like(col, op))
            columns.append(col)
        columns.append(np.full_like(operands[0], eq))
        positions = tuple(2 * j for j in range(k))
        names = (*raw.value_names, "op", "=")
    elif layout == "no_op":
        columns = [*operands, np.full_like(operands[0], n_values)]
        positions = tuple(range(k))
        names = (*raw.value_names, "=")
    else:  # registry validates layouts first; reaching here is a bug
        raise ValueError(f"unknown layout {layout!r}")
    tokens = np.stack(columns, axis=1)
    return Task(
        name=name,
        definition=definition,
        p=p,
        tokens=tokens,
        labels=raw.labels,
        d_vocab=len(names),
        n_ctx=tokens.shape[1],
        operand_positions=positions,
        token_names=names,
        layout=layout,
    )
