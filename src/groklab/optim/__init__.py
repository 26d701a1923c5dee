"""Optimizers, gradient filters and schedules as optax GradientTransformations, built from an
OptimConfig (docs/architecture.md §4 "Optimizers").

``OptimConfig`` and the name lists import no JAX; everything else is imported on first use
(PEP 562), so checking a config does not start JAX."""

from groklab.lazy import lazy_names
from groklab.optim.config import (
    BASE_OPTIMIZERS,
    GROKFAST,
    LR_SCHEDULES,
    WD_SCHEDULES,
    OptimConfig,
)

# name -> the submodule that defines it, imported on first access
_LAZY = {
    **dict.fromkeys(("base_optimizer", "build_optimizer", "plateau_scale"), "groklab.optim.build"),
    **dict.fromkeys(("constrain_norm", "grokfast_ema", "grokfast_ma", "orthograd"),
                    "groklab.optim.filters"),
    **dict.fromkeys(("hidden_matrix_mask", "hidden_matrix_names", "muon_dimension_numbers"),
                    "groklab.optim.muon"),
    **dict.fromkeys(("adapt_wd_scale", "lr_multiplier", "wd_multiplier"),
                    "groklab.optim.schedules"),
}

__all__ = [
    "BASE_OPTIMIZERS", "GROKFAST", "LR_SCHEDULES", "WD_SCHEDULES", "OptimConfig",
    "adapt_wd_scale", "base_optimizer", "build_optimizer", "constrain_norm", "grokfast_ema",
    "grokfast_ma", "hidden_matrix_mask", "hidden_matrix_names", "lr_multiplier",
    "muon_dimension_numbers", "orthograd", "plateau_scale", "wd_multiplier",
]


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
