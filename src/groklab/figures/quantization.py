"""Accuracy before and after weight quantization against the training step
(``groklab quantize --all_checkpoints``): does the memorizing solution tolerate coarse weights
as well as the generalizing one?"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from groklab.figures.save import plt, save_figure, suptitle

FLOAT = "float32"


def retention_figure(result: dict, path: str | Path, pdf: bool = False) -> Path:
    """One column per quantization variant; top row train accuracy, bottom row validation
    accuracy against the step: float32 dashed, quantized solid, one thin line per seed and the
    mean over seeds thick."""
    variants = result["about"]["variants"]
    cks = result["checkpoints"]
    seeds = list(cks[0]["seeds"])
    steps = np.asarray([max(ck["steps"]) for ck in cks], float)
    x = np.maximum(steps, 1)
    log = x.max() / x.min() >= 20  # log-spaced checkpoints span decades

    def series(label, key):
        return np.asarray([[ck["seeds"][s][label][key] for s in seeds] for ck in cks])

    fig, axes = plt.subplots(2, len(variants), figsize=(3.6 * len(variants) + 0.6, 5.6),
                             squeeze=False, sharex=True, sharey=True, constrained_layout=True)
    for j, label in enumerate(variants):
        for i, (key, name) in enumerate((("train_acc", "train"), ("val_acc", "validation"))):
            ax = axes[i, j]
            before, after = series(FLOAT, key), series(label, key)
            for k in range(len(seeds)):
                ax.plot(x, before[:, k], color="0.6", lw=0.6, ls="--")
                ax.plot(x, after[:, k], color="C0", lw=0.6, alpha=0.6)
            ax.plot(x, before.mean(1), color="0.3", lw=1.6, ls="--", label=FLOAT)
            ax.plot(x, after.mean(1), color="C0", lw=1.8, label=label)
            if log:
                ax.set_xscale("log")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(label)
            if j == 0:
                ax.set_ylabel(f"{name} accuracy")
            if i == 1:
                ax.set_xlabel("step")
            if i == 0 and j == 0:
                ax.legend(loc="lower right", fontsize=8)
    suptitle(fig, f"{Path(result['about']['run']).name}: accuracy before (dashed) and after "
                  f"weight quantization, {len(seeds)} seed{'s' if len(seeds) > 1 else ''} "
                  "(thin) and their mean (thick)")
    return save_figure(fig, path, pdf=pdf)
