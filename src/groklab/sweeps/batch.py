"""Which cells of a sweep share one compiled program.

Cells whose configs differ only in scalar hyperparameters the engine already takes per seed
(``config.PER_SEED_KEYS``: learning rates and weight decays) have the same shapes and the same
program, so they train as one *group*: its members are the (cell, seed) pairs, numbered 0..M−1,
each with its cell's hyperparameters (``per_seed``) and its own seed's random streams
(``rng_seeds``), so a member is the run it would have been alone. Anything else that differs
(optimizer, model, task, budget, …) changes the program, and those cells get programs of their
own.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from groklab.config import PER_SEED_KEYS, RunConfig
from groklab.optim.build import resolved_hparams
from groklab.sweeps.spec import Cell


@dataclass(frozen=True)
class Group:
    index: int
    cells: tuple[Cell, ...]
    batched_axes: tuple[str, ...]  # the spec's axes that vary inside this group

    @property
    def name(self) -> str:
        return f"group_{self.index:03d}"

    @property
    def members(self) -> list[tuple[Cell, int]]:
        """(cell, seed) per member, in member order."""
        return [(c, s) for c in self.cells for s in c.config.seeds]

    def member_ids(self, cell: Cell) -> list[int]:
        return [i for i, (c, _) in enumerate(self.members) if c.index == cell.index]

    def config(self) -> RunConfig:
        """The group's run config: the first cell's, with one member per (cell, seed)."""
        if len(self.cells) == 1:
            return self.cells[0].config
        members = self.members
        hp = [resolved_hparams(c.config.optim) for c, _ in members]
        return dataclasses.replace(
            self.cells[0].config,
            log=dataclasses.replace(self.cells[0].config.log, sinks=()),  # cells log, at split
            seeds=tuple(range(len(members))),
            rng_seeds=tuple(s for _, s in members),
            per_seed={k: [h[k] for h in hp] for k in PER_SEED_KEYS})


def _program_key(cfg: RunConfig) -> str:
    """The config with the per-seed scalars and the seeds removed: equal keys, equal programs."""
    d = cfg.to_dict()
    for k in ("seeds", "rng_seeds", "per_seed"):
        d.pop(k)
    for k in PER_SEED_KEYS:
        d["optim"].pop(k)
    return json.dumps(d, sort_keys=True)


def _batchable(cfg: RunConfig) -> bool:
    """Distillation and transfer cells are not batched (yet): a member's teacher or source
    checkpoint is chosen by its seed."""
    return (not cfg.per_seed and not cfg.rng_seeds and cfg.distill.teacher is None
            and cfg.transfer.source is None)


def plan_groups(cells: list[Cell], axes: list[str], batch: bool = True,
                max_members: int = 64) -> list[Group]:
    """Cells grouped into programs (in cell order), at most ``max_members`` (cell, seed) pairs
    each; with ``batch=False`` every cell is its own group."""
    groups: list[list[Cell]] = []
    open_by_key: dict[str, list[Cell]] = {}
    for cell in cells:
        key = _program_key(cell.config) if batch and _batchable(cell.config) else None
        current = open_by_key.get(key) if key is not None else None
        n = len(cell.config.seeds)
        if current is not None and sum(len(c.config.seeds) for c in current) + n <= max_members:
            current.append(cell)
            continue
        groups.append([cell])
        if key is not None:
            open_by_key[key] = groups[-1]
    out = []
    for i, g in enumerate(groups):
        varying = tuple(a for a in axes if len({json.dumps(c.values.get(a)) for c in g}) > 1)
        out.append(Group(i, tuple(g), varying))
    return out
