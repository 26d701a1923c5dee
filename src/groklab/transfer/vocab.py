"""Carrying vocabulary-indexed parameters across a change of vocabulary (p → p′).

Between tasks with the same token names (x+y mod 59 → x−y mod 59) nothing changes. Between mod-p
tasks of different moduli the number tokens differ in count; the token-embedding rows and the
unembedding columns (and the two-hot MLP's input rows and output columns) of the new vocabulary
are filled by one of three rules, always with the ``op`` and ``=`` tokens taken from their own
rows in the source:

* ``copy``: a token takes the source's row of the same token, so numbers below min(p, p′) keep
  their rows and numbers the source never had (p ≤ v < p′) start from a fresh initialization;
* ``residue``: number v takes the source's row of v mod p (every new row is a copied one;
  for p′ < p the same as ``copy``);
* ``reinit``: every number row is freshly initialized; only ``op`` and ``=`` are copied.

Number rows are the only place p enters the model: attention, MLPs and norms carry over
unchanged. Nothing here claims the copied rows mean the same thing mod p′ — that is what the
transfer run measures.
"""

from __future__ import annotations

import numpy as np

from groklab.errors import ConfigError
from groklab.tasks import Task

VOCAB_MAPS = ("copy", "residue", "reinit")

# vocabulary-indexed parameters (the transformer's embed/unembed, the two-hot MLP's top-level
# w_in/w_out) -> the axis indexed by token, in blocks of d_vocab for the two-hot MLP's input,
# which concatenates one one-hot per operand
VOCAB_AXES = {"embed.embedding": 0, "unembed.kernel": -1, "unembed.bias": 0,
              "w_in.kernel": 0, "w_out.kernel": -1, "w_out.bias": 0}


def vocab_axis(name: str) -> int | None:
    return VOCAB_AXES.get(name)


def _numbers(task: Task) -> bool:
    values = [t for t in task.token_names if t not in ("op", "=")]
    return values == [str(v) for v in range(len(values))]


def token_map(source: Task, target: Task, mode: str | None,
              reinit_vocab: bool) -> np.ndarray | None:
    """For every target token the source token whose row it takes, or −1 for a fresh row; None
    when the vocabularies are the same. ``reinit_vocab``: every vocabulary-indexed parameter is
    re-initialized anyway (then any vocabulary change is allowed)."""
    same = source.token_names == target.token_names
    if mode is not None and mode not in VOCAB_MAPS:
        raise ConfigError(f"vocab_map={mode!r} is not allowed; choose one of "
                          f"{', '.join(VOCAB_MAPS)}")
    if same or reinit_vocab:
        return None
    what = (f"the vocabulary changes from {source.name} mod {source.p} ({source.d_vocab} tokens)"
            f" to {target.name} mod {target.p} ({target.d_vocab} tokens)")
    if not (_numbers(source) and _numbers(target)):
        raise ConfigError(f"{what} and the tokens are not the same kind; re-initialize the "
                          "vocabulary with --reinit embed,unembed")
    if mode is None:
        raise ConfigError(f"{what}; choose --vocab_map copy|residue|reinit (docs/transfer.md) "
                          "or --reinit embed,unembed")
    index = {name: i for i, name in enumerate(source.token_names)}
    p_src = len([t for t in source.token_names if t not in ("op", "=")])
    out = np.full(target.d_vocab, -1, np.int64)
    for j, name in enumerate(target.token_names):
        if name in ("op", "="):
            out[j] = index.get(name, -1)
        elif mode == "copy":
            out[j] = index.get(name, -1)
        elif mode == "residue":
            out[j] = index[str(int(name) % p_src)]
    return out


def remap(src: np.ndarray, fresh: np.ndarray, mapping: np.ndarray, axis: int,
          d_src: int, d_tgt: int) -> np.ndarray:
    """``fresh`` (target shape) with every mapped token's slice along ``axis`` taken from
    ``src``; the axis holds blocks of d_vocab entries (one block, or one per operand)."""
    src, out = np.asarray(src), np.array(fresh, copy=True)
    axis = axis % src.ndim
    blocks = src.shape[axis] // d_src
    if src.shape[axis] != blocks * d_src or out.shape[axis] != blocks * d_tgt:
        raise ConfigError(f"cannot map a parameter of shape {src.shape} between vocabularies of "
                          f"{d_src} and {d_tgt} tokens")
    kept = np.nonzero(mapping >= 0)[0]
    for b in range(blocks):
        dst_idx = b * d_tgt + kept
        src_idx = b * d_src + mapping[kept]
        moved = np.take(src, src_idx, axis=axis)
        index = [slice(None)] * out.ndim
        index[axis] = dst_idx
        out[tuple(index)] = moved
    return out
