"""Measures followed across every saved checkpoint of a run (``--all_checkpoints``): train and
validation loss and accuracy (recomputed without dropout), weight norms per layer and
parameter, gradient norms per layer (gradient flow), effective ranks and attention entropy,
the share of the embedding's power in the key frequencies, and for ``add`` / ``sub`` the
restricted and excluded losses (Nanda et al. 2023) with the key frequencies of the analysed
checkpoint held fixed, as in the paper. One compiled function (vmapped over seeds) serves
every checkpoint; only the restore of each checkpoint is per step. It measures less than the
analysis of one checkpoint, to stay cheaper than the training was over a hundred checkpoints:
effective ranks of the residual stream after each block only (the SVD of a 512-wide MLP layer
per checkpoint would dominate), no hook × hook CKA, and over the (a, b) grid the logits only.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from groklab.analysis import fourier, spectral
from groklab.analysis.jsonable import to_json
from groklab.runs.checkpoints import Checkpoints
from groklab.runs.source import abstract_params


def evolution(subject, spec, parts: dict, fourier_result: dict | None, kappa: float) -> dict:
    """Per checkpoint and seed, for every saved checkpoint of the run."""
    from groklab.analysis.run import checkpoint_function
    from groklab.analysis.table import layer_hooks

    light = dataclasses.replace(spec, representations=tuple(layer_hooks(
        list(spec.representations))))
    measure = checkpoint_function(subject, light, (), within=False)
    plan, ld = subject.plan, subject.loaded
    run = ld.run
    ckpts = Checkpoints(run.checkpoints_path, read_only=True)
    steps = ckpts.param_steps()
    cfg = plan.config
    index = [list(cfg.seeds).index(s) for s in ld.source_seeds]
    _, abstract = abstract_params(plan)
    rows = (*subject.rows("val"), *subject.rows("train"))
    order = spectral.grid_order(subject.task) if parts["progress"] else None
    grid = spectral.grid_tokens(subject.task, parts) if parts["progress"] else None
    masks = None if order is None else spectral.train_mask_grid(subject, order)
    keys = {s: (fourier_result or {}).get("seeds", {}).get(str(s), {}).get("key_frequencies",
                                                                          [])
            for s in subject.seeds}
    p = subject.task.p
    records = []
    try:
        for step in steps:
            restored, _ = ckpts.restore_params(step, abstract)
            params = jax.tree.map(lambda x: np.asarray(x)[index], restored)
            got = measure(params, *rows, grid)
            del got["reps"]
            got = jax.device_get(got)
            grid_logits = got.pop("grid_logits", None)
            got.pop("grid_acts", None)
            got = {"val_loss": got["val"]["loss"], "val_acc": got["val"]["acc"],
                   "train_loss": got["train"]["loss"], "train_acc": got["train"]["acc"],
                   "ranks": got["val"]["ranks"], "neurons": got["val"]["neurons"],
                   "attention": {h: a["per_head"] for h, a in got["val"]["attention"].items()},
                   "weight_norm": got["weights"]["layers"],
                   "weight_l1_over_l2": got["weights"]["stats"]["total"]["l1_over_l2"],
                   "grad": got["train"]["layers"]}
            for i, s in enumerate(subject.seeds):
                rec = jax.tree.map(lambda x, i=i: np.asarray(x)[i], got)
                rec = {"step": step, "epoch": plan.epoch_at(step), "seed": s, **rec}
                if parts["embedding"]:
                    one = jax.tree.map(lambda x, i=i: np.asarray(x)[i], params)
                    share = fourier.embedding_spectrum(
                        spectral.number_embedding(one, p))["share"]
                    ks = np.asarray(keys[s], int)
                    rec["key_share"] = float(share[ks - 1].sum()) if len(ks) else 0.0
                    rec["n_key_frequencies"] = len(fourier.key_frequencies(share, kappa))
                if grid_logits is not None:
                    labels = subject.task.labels[order].reshape(p, p)
                    rec["progress"] = spectral.progress(
                        grid_logits[i].reshape(p, p, -1), labels, masks[i], keys[s], p,
                        spectral.COMBINATION[subject.task.name])
                records.append(to_json(rec))
    finally:
        ckpts.close()
    return {"steps": steps, "key_frequencies": {str(s): k for s, k in keys.items()},
            "records": records}
