"""OptimConfig: everything about how parameters are updated (docs/architecture.md §4 "Optimizers").

Defaults are the seeds' recipe: AdamW, lr 1e-3, β = (0.9, 0.98), wd 1.0, 10-step linear warmup,
constant afterwards. Every other field switches on one published recipe; ``docs/recipes.md``
describes each with its source.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from groklab.errors import ConfigError

BASE_OPTIMIZERS = ("adamw", "adam", "sgd", "muon")
LR_SCHEDULES = ("constant", "cosine", "linear_decay", "one_cycle", "cyclic", "plateau")
WD_SCHEDULES = ("constant", "increasing", "step", "cosine", "adaptive")
GROKFAST = ("none", "ema", "ma")


@dataclass(frozen=True, slots=True)
class OptimConfig:
    # ----- base optimizer -----
    name: str = "adamw"  # adamw / adam (L2 in the gradient) / sgd / muon / optax:<any optax name>
    learning_rate: float = 1e-3  # peak learning rate
    weight_decay: float = 1.0  # decoupled for adamw/muon; L2 coefficient for adam and sgd
    b1: float = 0.9  # Adam β1 (also Muon's AdamW group)
    b2: float = 0.98  # Adam β2
    eps: float = 1e-8  # Adam ε
    momentum: float = 0.9  # SGD momentum (0 = plain SGD)
    nesterov: bool = False  # SGD Nesterov momentum
    kwargs: dict = field(default_factory=dict)  # extra keyword arguments for optax:<name>
    # ----- Muon (hidden 2-D matrices; everything else on AdamW with lr/wd above) -----
    muon_learning_rate: float | None = None  # None = learning_rate
    muon_weight_decay: float | None = None  # None = weight_decay
    muon_beta: float = 0.95  # Muon momentum
    muon_consistent_rms: float | None = 0.2  # match AdamW's update RMS (Liu et al. 2025); None =
    #                                          optax's width scaling sqrt(max(1, fan_out/fan_in))
    # ----- schedules -----
    warmup_steps: int = 10  # linear warmup from 0 over this many steps (all lr schedules)
    lr_schedule: str = "constant"  # constant / cosine / linear_decay / one_cycle / cyclic / plateau
    lr_end_ratio: float = 0.0  # cosine / linear_decay: final lr as a fraction of the peak
    lr_cycle_steps: int = 1000  # cyclic: steps per cosine cycle (warm restarts)
    plateau_factor: float = 0.5  # plateau: multiply lr by this when the train loss stalls
    plateau_patience: int = 10  # plateau: epochs without improvement before reducing
    plateau_min_ratio: float = 0.01  # plateau: never below this fraction of the peak
    wd_schedule: str = "constant"  # constant / increasing / step / cosine / adaptive
    wd_end_ratio: float = 4.0  # increasing / cosine: final wd as a multiple of weight_decay
    wd_step_every: int = 1000  # step: multiply wd by wd_step_factor every this many steps
    wd_step_factor: float = 2.0
    wd_adaptive_gap: float = 0.5  # adaptive: raise wd while train_acc − val_acc > this
    wd_adaptive_factor: float = 1.1  # adaptive: ×factor per evaluation (÷factor back, ≥ 1)
    wd_adaptive_max: float = 10.0  # adaptive: cap on the multiplier
    # ----- gradient filters and constraints -----
    grokfast: str = "none"  # none / ema / ma (Lee et al. 2024)
    grokfast_alpha: float = 0.98  # EMA decay α
    grokfast_lamb: float | None = None  # amplification λ; None = 2 (ema) or 5 (ma)
    grokfast_window: int = 100  # MA window
    orthograd: bool = False  # ⊥Grad (Prieto et al. 2025) around the base optimizer
    clip_norm: float | None = None  # clip the global gradient norm to this
    sam_rho: float = 0.0  # SAM radius ρ (Foret et al. 2021); 0 = off
    init_scale: float = 1.0  # Omnigrok α: initial parameters multiplied by this
    constrain_norm: bool = False  # Omnigrok: keep the total parameter norm at its initial value

    @property
    def grokfast_lambda(self) -> float:
        if self.grokfast_lamb is not None:
            return self.grokfast_lamb
        return 5.0 if self.grokfast == "ma" else 2.0

    def validate(self) -> OptimConfig:
        _choice("optim.name", self.name, BASE_OPTIMIZERS, optax_ok=True)
        _choice("optim.lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _choice("optim.wd_schedule", self.wd_schedule, WD_SCHEDULES)
        _choice("optim.grokfast", self.grokfast, GROKFAST)
        _positive("optim.learning_rate", self.learning_rate)
        for key in ("muon_learning_rate", "clip_norm", "muon_consistent_rms"):
            if getattr(self, key) is not None:
                _positive(f"optim.{key}", getattr(self, key))
        _positive("optim.init_scale", self.init_scale)
        for key in ("weight_decay", "muon_weight_decay", "eps", "momentum", "sam_rho",
                    "lr_end_ratio", "wd_end_ratio", "plateau_min_ratio"):
            value = getattr(self, key)
            if value is not None and value < 0:
                raise ConfigError(f"optim.{key}={value} must be >= 0")
        for key in ("warmup_steps",):
            if getattr(self, key) < 0:
                raise ConfigError(f"optim.{key}={getattr(self, key)} must be >= 0")
        for key in ("lr_cycle_steps", "plateau_patience", "wd_step_every", "grokfast_window"):
            if getattr(self, key) < 1:
                raise ConfigError(f"optim.{key}={getattr(self, key)} must be >= 1")
        for key in ("b1", "b2", "muon_beta", "grokfast_alpha"):
            if not 0 <= getattr(self, key) < 1:
                raise ConfigError(f"optim.{key}={getattr(self, key)} is outside [0, 1)")
        if not 0 < self.plateau_factor < 1:
            raise ConfigError(f"optim.plateau_factor={self.plateau_factor} is outside (0, 1)")
        for key in ("wd_adaptive_factor", "wd_adaptive_max", "wd_step_factor"):
            if getattr(self, key) < 1:
                raise ConfigError(f"optim.{key}={getattr(self, key)} must be >= 1")
        if not 0 < self.wd_adaptive_gap < 1:
            raise ConfigError(f"optim.wd_adaptive_gap={self.wd_adaptive_gap} is outside (0, 1)")
        if self.grokfast_lamb is not None and self.grokfast_lamb < 0:
            raise ConfigError(f"optim.grokfast_lamb={self.grokfast_lamb} must be >= 0")
        if self.kwargs and not self.name.startswith("optax:"):
            raise ConfigError(f"optim.kwargs={self.kwargs} only applies to optim.name=optax:<name>")
        return self


def _choice(key: str, value, allowed, optax_ok: bool = False) -> None:
    if value in allowed:
        return
    if optax_ok and isinstance(value, str) and value.startswith("optax:"):
        import optax  # only for optax:<name> (a config is checked without importing JAX)

        name = value.split(":", 1)[1]
        factory = getattr(optax, name, None)
        if callable(factory) and not name.startswith("_") and _takes_learning_rate(factory):
            return
        raise ConfigError(f"{key}={value!r}: optax has no optimizer named {name!r} (an optax "
                          f"optimizer takes learning_rate, e.g. optax:lion, optax:lamb)")
    if optax_ok:
        raise ConfigError(f"unknown optimizer {value!r} ({key}); choose one of "
                          f"{', '.join(allowed)}, or optax:<name> for any optax optimizer "
                          f"(e.g. optax:lion)")
    raise ConfigError(f"unknown {key} {value!r}; choose one of {', '.join(allowed)}")


def _takes_learning_rate(factory) -> bool:
    try:
        return "learning_rate" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


def _positive(key: str, value) -> None:
    if not value > 0:
        raise ConfigError(f"{key}={value} must be > 0")
