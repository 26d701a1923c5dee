"""Fourier analysis of a model on a modular task (Nanda, Chan, Lieberum, Smith & Steinhardt
2023, "Progress measures for grokking via mechanistic interpretability", arXiv:2301.05217), on
top of the pure functions of ``groklab.analysis.fourier``:

- the embedding's spectrum over the number tokens 0..p−1 and its key frequencies (any task of
  kind ``modular``);
- the spectrum of each block's MLP neurons over the (a, b) grid (tasks whose table holds every
  pair (a, b) once: not division, which skips b = 0);
- the logits' spectrum along cos/sin(w(a ± b)), and the restricted and excluded losses, for
  ``add`` (a + b) and ``sub`` (a − b) — with the key frequencies of the embedding (of the last
  MLP layer's neurons for a model without an embedding), fixed from the analysed checkpoint
  when followed across checkpoints, as in the paper.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from groklab.analysis import fourier
from groklab.tasks.registry import get_spec

COMBINATION = {"add": "add", "sub": "sub"}


def grid_order(task) -> np.ndarray | None:
    """Row indices putting the table in (a slow, b fast) order over every pair (a, b) of
    0..p−1, or None when the table is not such a grid."""
    if task.n_rows != task.p ** 2 or len(task.operand_positions) != 2:
        return None
    a, b = (task.tokens[:, i].astype(np.int64) for i in task.operand_positions)
    if a.max() >= task.p or b.max() >= task.p:
        return None
    flat = a * task.p + b
    order = np.empty(task.n_rows, np.int64)
    order[flat] = np.arange(task.n_rows)
    return order if len(np.unique(flat)) == task.n_rows else None


def grid_tokens(task, parts: dict):
    """The task's rows in (a slow, b fast) grid order, when the Fourier analysis reads them."""
    if not parts["neurons"]:
        return None
    return jnp.asarray(task.tokens[grid_order(task)])


def train_mask_grid(subject, order) -> np.ndarray:
    """[S, p, p]: is (a, b) a training row of each seed."""
    p, n = subject.task.p, subject.task.n_rows
    masks = np.zeros((len(subject.seeds), n), bool)
    for i, idx in enumerate(subject.split["train_idx"]):
        masks[i, idx] = True
    return masks[:, order].reshape(-1, p, p)


def applies(task, model_kind: str) -> dict[str, bool]:
    """Which parts of the Fourier analysis are defined for this task and model. The basis of
    ``analysis.fourier`` (cos/sin pairs, K = (p − 1)/2 frequencies) needs an odd p: for an even
    modulus the Fourier parts are skipped, and the rest of the analysis runs."""
    modular = get_spec(task.name).kind == "modular" and task.p % 2 == 1
    grid = modular and grid_order(task) is not None
    return {"embedding": modular and model_kind == "transformer",
            "neurons": grid, "progress": grid and task.name in COMBINATION}


def number_embedding(params_one, p: int) -> np.ndarray:
    """The embedding rows of the number tokens 0..p−1 of one seed, [p, d]."""
    return np.asarray(params_one["embed"]["embedding"][...])[:p]


def spectra(task, embedding, neuron_acts: dict, logits_grid, train_mask,
            kappa: float) -> dict:
    """Everything for one seed: ``embedding`` [p, d] or None, ``neuron_acts`` hook → [p, p, n],
    ``logits_grid`` [p, p, V] or None."""
    p = task.p
    out: dict = {"p": p, "kappa": kappa}
    keys: list[int] = []
    if embedding is not None:
        spec = fourier.embedding_spectrum(embedding)
        keys = [int(k) for k in fourier.key_frequencies(spec["share"], kappa)]
        out["embedding"] = {"share": spec["share"], "key_frequencies": keys,
                            "key_share": float(np.sum(spec["share"][np.array(keys, int) - 1]))
                            if keys else 0.0,
                            "frequencies_for_90pct": fourier.frequencies_for_share(
                                spec["share"], 0.9)}
    out["key_frequencies"] = keys
    out["neurons"] = {}
    for hook, acts in neuron_acts.items():
        ns = fourier.neuron_spectrum(acts)
        dominant = np.asarray(ns["dominant"])
        counts = np.bincount(dominant, minlength=(p - 1) // 2 + 1)[1:]
        out["neurons"][hook] = {
            "share": ns["share"],
            "key_frequencies": [int(k) for k in fourier.key_frequencies(ns["share"], kappa)],
            "dominant_counts": counts,
            "well_explained_fraction": float(np.mean(np.asarray(ns["dominant_share"]) >= 0.85)),
        }
    if embedding is None and out["neurons"]:  # no embedding (two-hot MLP): the last neurons'
        keys = list(out["neurons"].values())[-1]["key_frequencies"]
        out["key_frequencies"] = keys
    if logits_grid is not None and task.name in COMBINATION:
        combo = COMBINATION[task.name]
        out["logits"] = {"share": fourier.logit_spectrum(logits_grid, p, combo)["share"]}
        labels = task.labels[grid_order(task)].reshape(p, p)
        out["progress"] = progress(logits_grid, labels, train_mask, keys, p, combo)
    return out


def progress(logits_grid, labels_grid, train_mask, keys, p, combination) -> dict:
    m = fourier.progress_measures(logits_grid, labels_grid, train_mask, keys, p,
                                  combination)
    return {k: (float(v) if np.ndim(v) == 0 else v) for k, v in m.items()}
