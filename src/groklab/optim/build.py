"""Compose an OptimConfig into one optax GradientTransformation.

The chain, in order (each piece optional except the base optimizer):

    frozen-leaf mask → clip global norm → ⊥Grad → Grokfast → base optimizer      (SAM wraps these)
    → reduce-on-plateau scale → Omnigrok norm constraint → frozen-leaf mask

- Base optimizers: AdamW (decoupled decay, Loshchilov & Hutter 2019); Adam with L2 (wd·w added
  to the gradient before Adam); SGD with momentum (L2 the same way); Muon with the standard split
  (``muon.py``: hidden matrices on Muon with ``muon_learning_rate``/``muon_weight_decay``, all
  else on AdamW with ``learning_rate``/``weight_decay``), via optax.contrib.muon; and any optax
  optimizer by name (``optax:lion``) with ``kwargs``. As in optax (and PyTorch), decoupled decay is
  multiplied by the learning rate: w ← w − lr·(u + wd·w).
- SAM (Foret et al. 2021) uses optax.contrib.sam in opaque mode: the adversarial point is
  w + ρ·g/‖g‖ and the filters and base optimizer see the gradient taken there. The engine passes
  ``grad_fn``.
- Reduce-on-plateau uses optax.contrib.reduce_on_plateau on the training loss (the engine passes
  ``value``), averaged over one epoch of steps, so ``plateau_patience`` counts epochs.

``learning_rate`` and ``weight_decay`` are this step's values (schedules already applied; they
may be traced per-seed scalars): the engine rebuilds the transformation inside the compiled step,
which costs nothing at run time and keeps the state layout fixed.
"""

from __future__ import annotations

import inspect

import jax
import optax

from groklab.optim.config import OptimConfig
from groklab.optim.filters import constrain_norm, grokfast_ema, grokfast_ma, orthograd
from groklab.optim.muon import muon_dimension_numbers


def build_optimizer(cfg: OptimConfig, hparams: dict | None = None, trainable=None,
                    steps_per_epoch: int = 1) -> optax.GradientTransformationExtraArgs:
    """The transformation for ``cfg``. ``hparams`` overrides the config's ``learning_rate``,
    ``weight_decay``, ``muon_learning_rate`` and ``muon_weight_decay`` with this step's values.
    ``trainable``: a pytree of bools shaped like the parameters; False leaves get zero gradients
    and zero updates (frozen layers in transfer)."""
    hp = resolved_hparams(cfg) | (hparams or {})
    frozen = None if trainable is None else jax.tree.map(lambda t: not t, trainable)

    inner = [_mask(frozen)]
    if cfg.clip_norm is not None:
        inner.append(optax.clip_by_global_norm(cfg.clip_norm))
    if cfg.orthograd:
        inner.append(orthograd())
    if cfg.grokfast == "ema":
        inner.append(grokfast_ema(cfg.grokfast_alpha, cfg.grokfast_lambda))
    elif cfg.grokfast == "ma":
        inner.append(grokfast_ma(cfg.grokfast_window, cfg.grokfast_lambda))
    inner.append(base_optimizer(cfg, hp))
    core = optax.chain(*[t for t in inner if t is not None])
    if cfg.sam_rho > 0:
        adversary = optax.chain(*[t for t in (_mask(frozen), optax.contrib.normalize(),
                                              optax.sgd(cfg.sam_rho)) if t is not None])
        core = _only_grad_fn(optax.contrib.sam(core, adversary, sync_period=2,
                                               opaque_mode=True))
    outer = [core]
    if cfg.lr_schedule == "plateau":
        outer.append(optax.contrib.reduce_on_plateau(
            factor=cfg.plateau_factor, patience=cfg.plateau_patience,
            accumulation_size=steps_per_epoch, min_scale=cfg.plateau_min_ratio))
    if cfg.constrain_norm:  # with frozen layers, the trainable parameters' norm is held
        outer.append(constrain_norm() if _mask(frozen) is None
                     else optax.masked(constrain_norm(), trainable))
    outer.append(_mask(frozen))
    return optax.chain(*[t for t in outer if t is not None])


def resolved_hparams(cfg: OptimConfig) -> dict:
    """The scalar hyperparameters a schedule scales (Muon's fall back to the AdamW group's)."""
    return {
        "learning_rate": cfg.learning_rate,
        "weight_decay": cfg.weight_decay,
        "muon_learning_rate": (cfg.learning_rate if cfg.muon_learning_rate is None
                               else cfg.muon_learning_rate),
        "muon_weight_decay": (cfg.weight_decay if cfg.muon_weight_decay is None
                              else cfg.muon_weight_decay),
    }


def base_optimizer(cfg: OptimConfig, hp: dict) -> optax.GradientTransformation:
    name, lr, wd = cfg.name, hp["learning_rate"], hp["weight_decay"]
    if name == "adamw":
        return optax.adamw(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps, weight_decay=wd)
    if name == "adam":
        return optax.chain(optax.add_decayed_weights(wd),
                           optax.adam(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps))
    if name == "sgd":
        return optax.chain(optax.add_decayed_weights(wd),
                           optax.sgd(lr, momentum=cfg.momentum or None, nesterov=cfg.nesterov))
    if name == "muon":
        return optax.contrib.muon(
            learning_rate=hp["muon_learning_rate"], beta=cfg.muon_beta,
            weight_decay=hp["muon_weight_decay"],
            adam_b1=cfg.b1, adam_b2=cfg.b2, adam_weight_decay=wd, adam_learning_rate=lr,
            muon_weight_dimension_numbers=muon_dimension_numbers,
            consistent_rms=cfg.muon_consistent_rms,
        )
    if name.startswith("optax:"):
        factory = getattr(optax, name.split(":", 1)[1])
        kwargs = dict(cfg.kwargs)
        params = inspect.signature(factory).parameters
        if "weight_decay" in params and "weight_decay" not in kwargs:
            kwargs["weight_decay"] = wd
        return factory(learning_rate=lr, **kwargs)
    raise ValueError(f"unknown optimizer {name!r}")


def _mask(frozen):
    """Zero the frozen leaves (None when nothing is frozen)."""
    if frozen is None or not any(jax.tree.leaves(frozen)):
        return None
    return optax.masked(optax.set_to_zero(), frozen)


def _only_grad_fn(tx) -> optax.GradientTransformationExtraArgs:
    """optax's SAM accepts only ``grad_fn`` as an extra argument; drop the others (``value``)."""

    def update(updates, state, params=None, *, grad_fn=None, **_):
        return tx.update(updates, state, params, grad_fn=grad_fn)

    return optax.GradientTransformationExtraArgs(tx.init, update)


def plateau_scale(opt_state):
    """The reduce-on-plateau scale inside an optimizer state (1.0 when there is none)."""
    plateau = optax.contrib.ReduceLROnPlateauState
    found = [x for x in jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, plateau))
             if isinstance(x, plateau)]
    return found[0].scale if found else 1.0
