"""Recipe presets: named sets of training overrides from the grokking literature.

A recipe changes how a model is trained, never its architecture (model presets do that), so any
recipe combines with any model preset: ``groklab train --preset seed-teacher --recipe muon``.
Recipes are applied after ``--config`` and before the other flags and ``--set``; their values end
up in config.yaml like any other setting, and their names in ``recipes``.
"""

from __future__ import annotations

from dataclasses import dataclass

from groklab.errors import ConfigError


@dataclass(frozen=True)
class RecipePreset:
    name: str
    overrides: tuple[str, ...]
    summary: str
    source: str


RECIPES = {r.name: r for r in (
    RecipePreset("adamw", (), "AdamW lr 1e-3, β (0.9, 0.98), wd 1, 10 warmup steps (the default)",
           "the seeds' teacher recipe"),
    RecipePreset("grokfast-ema", ("optim.grokfast=ema",),
           "AdamW + Grokfast-EMA (α 0.98, λ 2): amplify the slow gradient component",
           "Lee et al. 2024, arXiv:2405.20233"),
    RecipePreset("grokfast-ma", ("optim.grokfast=ma",),
           "AdamW + Grokfast-MA (window 100, λ 5)", "Lee et al. 2024, arXiv:2405.20233"),
    RecipePreset("muon", ("optim.name=muon",),
           "Muon on hidden matrices, AdamW on embeddings/head/1-D (update RMS matched to AdamW)",
           "Jordan et al. 2024; Tveit et al. 2025, arXiv:2504.16041"),
    RecipePreset("stablemax-nowd", ("train.loss=stablemax", "optim.weight_decay=0"),
           "StableMax cross-entropy without weight decay",
           "Prieto et al. 2025, arXiv:2501.04697"),
    RecipePreset("softmax-nowd", ("optim.weight_decay=0",),
           "softmax cross-entropy without weight decay (the Softmax-Collapse control)",
           "Prieto et al. 2025, arXiv:2501.04697"),
    RecipePreset("orthograd", ("optim.orthograd=true", "optim.weight_decay=0"),
           "⊥AdamW: gradient made orthogonal to the weights, no weight decay",
           "Prieto et al. 2025, arXiv:2501.04697"),
    RecipePreset("float64", ("train.loss_dtype=float64",),
           "softmax cross-entropy computed in float64 (delays Softmax Collapse)",
           "Prieto et al. 2025, arXiv:2501.04697"),
    RecipePreset("omnigrok", ("optim.constrain_norm=true", "optim.weight_decay=0"),
           "total weight norm held at its initial value, no weight decay",
           "Liu et al. 2022, arXiv:2210.01117"),
    RecipePreset("large-init", ("optim.init_scale=8",),
           "initial weights ×8 (Omnigrok's α): delays grokking",
           "Liu et al. 2022, arXiv:2210.01117"),
    RecipePreset("sam", ("optim.sam_rho=0.05",), "AdamW inside SAM with ρ 0.05",
           "Foret et al. 2021, arXiv:2010.01412"),
    RecipePreset("wd-increasing", ("optim.wd_schedule=increasing",),
           "weight decay rising linearly to 4× over the budget", "groklab (seeds 004)"),
    RecipePreset("wd-adaptive", ("optim.wd_schedule=adaptive",),
           "weight decay raised ×1.1 per eval while train − val accuracy > 0.5",
           "groklab (seeds 004); rule in optim/schedules.py"),
    RecipePreset("cosine", ("optim.lr_schedule=cosine",), "cosine learning-rate decay to 0",
           "Loshchilov & Hutter 2017"),
    RecipePreset("curriculum-operand", ("train.curriculum=operand",),
           "training set grows from small operands to all rows over 20 epochs",
           "Bengio et al. 2009"),
)}


def recipe_overrides(names) -> list[str]:
    """The ``key=value`` overrides of the named recipes, in order. Raises ConfigError."""
    out = []
    for name in names:
        if name not in RECIPES:
            raise ConfigError(f"unknown recipe {name!r}; choose from {', '.join(RECIPES)}")
        out += RECIPES[name].overrides
    return out
