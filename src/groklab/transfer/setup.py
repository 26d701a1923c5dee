"""A transfer run from its config: the source checkpoint's parameters as the initial parameters
(some re-initialized, the vocabulary remapped when it changes) and the trainable mask (frozen
parameters never move), on the one engine (docs/architecture.md §1: "initial parameters + trainable
mask").

The target task and split are the run's own (``task``, recorded in split.npz as for any run);
the architecture is the source's (a model whose shapes differ is refused parameter by parameter
unless that parameter is re-initialized). Target seed s starts from source seed s, or every
seed from a single-seed source.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax
import numpy as np

from groklab.config import RunConfig
from groklab.engine.setup import EngineSetup, Plan, init_params, plan_run
from groklab.errors import ConfigError
from groklab.params import named_leaves, param_name, param_names
from groklab.runs.source import Loaded, RunRef, load_checkpoints, read_run
from groklab.transfer.patterns import select, split_patterns
from groklab.transfer.vocab import VOCAB_MAPS, remap, token_map, vocab_axis


@dataclass(frozen=True)
class TransferSetup:
    plan: Plan
    params: object  # initial parameters, leading seed axis
    trainable: object  # bools shaped like one model's parameters
    about: dict  # the summary's "transfer" entry


def unresolved(cfg: RunConfig) -> RunConfig:
    """``cfg`` with the model's task-derived sizes cleared, so they follow the target task."""
    model = dataclasses.replace(cfg.model, d_vocab=None, n_ctx=None, operand_positions=None)
    return dataclasses.replace(cfg, model=model)


def check(cfg: RunConfig) -> None:
    t = cfg.transfer
    if cfg.distill.teacher is not None:
        raise ConfigError("a run is either a distillation (distill.teacher) or a transfer "
                          "(transfer.source), not both")
    if t.vocab_map is not None and t.vocab_map not in VOCAB_MAPS:
        raise ConfigError(f"transfer.vocab_map={t.vocab_map!r} is not allowed; choose one of "
                          f"{', '.join(VOCAB_MAPS)}")


def prepare(cfg: RunConfig) -> TransferSetup:
    """Validate everything and build the initial parameters; raises ConfigError."""
    check(cfg)
    t = cfg.transfer
    ref = RunRef.parse(t.source, "source")
    read_run(ref)  # one-line errors for a missing run or checkpoints before anything else
    plan = plan_run(unresolved(cfg))
    source = load_checkpoints(ref, plan.config.seeds, broadcast=True)
    _, fresh = init_params(plan)
    names = param_names(fresh)
    freeze = select(split_patterns(t.freeze), names, "--freeze")
    reinit = select(split_patterns(t.reinit), names, "--reinit")
    if freeze >= set(names):
        raise ConfigError(f"--freeze {','.join(split_patterns(t.freeze))} freezes every "
                          "parameter; leave at least one trainable")
    vocab = {n for n in names if vocab_axis(n) is not None}
    mapping = token_map(source.plan.task, plan.task, t.vocab_map,
                        reinit_vocab=bool(vocab) and vocab <= reinit)
    params = _initial(source, fresh, reinit, mapping)
    one = jax.tree.map(lambda x: x[0], fresh)
    trainable = jax.tree_util.tree_map_with_path(lambda p, _: param_name(p) not in freeze, one)
    about = {"transfer": source.describe() | {
        "source_task": {"name": source.plan.task.name, "p": source.plan.task.p},
        "frozen": sorted(freeze), "reinitialized": sorted(reinit),
        "vocab_map": None if mapping is None else t.vocab_map,
        "trainable_params": _count(one, names, lambda n: n not in freeze),
        "frozen_params": _count(one, names, lambda n: n in freeze)}}
    return TransferSetup(plan, params, trainable, about)


def _initial(source: Loaded, fresh, reinit: set[str], mapping):
    """Per parameter: fresh when re-initialized, remapped when vocabulary-indexed and the
    vocabulary changes, else the source's (which must then have the same shape)."""
    src = named_leaves(source.params)
    d_src = source.plan.task.d_vocab

    def pick(path, new):
        name = param_name(path)
        if name in reinit:
            return new
        if name not in src:
            raise ConfigError(f"parameter {name!r} does not exist in the source "
                              f"{str(source.ref.path)!r}; re-initialize it with --reinit "
                              f"{name}")
        old = src[name]
        axis = vocab_axis(name)
        if mapping is not None and axis is not None:
            seed_axis = axis + 1 if axis >= 0 else axis  # leading seed axis
            return remap(old, new, mapping, seed_axis, d_src, len(mapping)).astype(new.dtype)
        if old.shape != new.shape:
            raise ConfigError(f"parameter {name!r} has shape {tuple(old.shape[1:])} in the "
                              f"source and {tuple(new.shape[1:])} here; use the source's "
                              f"architecture or --reinit {name}")
        return np.asarray(old, dtype=new.dtype)

    return jax.tree_util.tree_map_with_path(pick, fresh)


def _count(one, names, keep) -> int:
    return int(sum(np.size(x) for n, x in zip(names, jax.tree.leaves(one)) if keep(n)))


def engine_setup(cfg: RunConfig) -> EngineSetup:
    """What the engine trains for a transfer run: the source's parameters as the initial
    parameters, the trainable mask, and the source in the summary."""
    t = prepare(cfg)
    return EngineSetup(t.plan, params=t.params, trainable=t.trainable, about=t.about)
