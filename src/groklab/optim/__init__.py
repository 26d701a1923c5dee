"""Optimizers, gradient filters and schedules as optax GradientTransformations, built from an
OptimConfig (docs/architecture.md §4 "Optimizers")."""

from groklab.optim.build import base_optimizer, build_optimizer, plateau_scale
from groklab.optim.config import (
    BASE_OPTIMIZERS,
    GROKFAST,
    LR_SCHEDULES,
    WD_SCHEDULES,
    OptimConfig,
)
from groklab.optim.filters import constrain_norm, grokfast_ema, grokfast_ma, orthograd
from groklab.optim.muon import hidden_matrix_mask, hidden_matrix_names, muon_dimension_numbers
from groklab.optim.schedules import adapt_wd_scale, lr_multiplier, wd_multiplier

__all__ = [
    "BASE_OPTIMIZERS", "GROKFAST", "LR_SCHEDULES", "WD_SCHEDULES", "OptimConfig",
    "adapt_wd_scale", "base_optimizer", "build_optimizer", "constrain_norm", "grokfast_ema",
    "grokfast_ma", "hidden_matrix_mask", "hidden_matrix_names", "lr_multiplier",
    "muon_dimension_numbers", "orthograd", "plateau_scale", "wd_multiplier",
]
