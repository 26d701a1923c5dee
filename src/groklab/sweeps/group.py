"""Train one group of cells (sweeps.batch) and leave a normal run directory per cell.

A one-cell group trains straight into ``OUT/cells/<cell>/``. A batched group trains in
``OUT/groups/<group>/`` (a run directory whose seeds are the members), and each cell is split
off into ``OUT/cells/<cell>/`` the moment it would have ended on its own — the engine's stop rule
(every live seed reached ``stop_at``, all seeds diverged, or the budget) applied to the cell's
members alone — with a checkpoint at that step. So a cell's metrics, milestones, final metrics,
checkpoints and status are those of the run it stands for, however long the rest of its group
trains. When every cell is out the group directory is removed.

Kill-safety: a cell is assembled in ``cells/.<cell>.partial`` and renamed when complete; the group
resumes from its latest checkpoint and first finishes any cell that had ended at that step.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import jax
import numpy as np

from groklab.engine.loop import Engine, checkpoint_due
from groklab.engine.milestones import Milestones
from groklab.engine.setup import plan_run
from groklab.engine.stopping import stop_status
from groklab.errors import ConfigError
from groklab.experiments.train import exit_code, train_run
from groklab.experiments.writer import RunWriter, choose_restart, replayed_milestones
from groklab.runs.checkpoints import Checkpoints
from groklab.runs.rundir import RunDir
from groklab.sweeps.batch import Group
from groklab.sweeps.spec import Cell

FINISHED = ("completed", "stopped_early", "diverged")


class Interrupted(Exception):
    """Ctrl-C / SIGTERM stopped a group at a checkpoint; the same command resumes it. ``code``:
    the exit code (130 for SIGINT, 143 for SIGTERM)."""

    def __init__(self, message: str, code: int = 130):
        super().__init__(message)
        self.code = code


def cell_status(cell_dir: Path) -> str | None:
    path = cell_dir / "summary.json"
    return json.loads(path.read_text()).get("status") if path.exists() else None


def run_group(group: Group, out: str | Path, log=print) -> list[str]:
    """Train (or continue) ``group`` into sweep directory ``out``; returns log lines of what
    happened, one per cell."""
    out = Path(out)
    todo = [c for c in group.cells if cell_status(out / "cells" / c.name) not in FINISHED]
    skipped = [f"{c.name}: done ({cell_status(out / 'cells' / c.name)}), skipped"
               for c in group.cells if c not in todo]
    if not todo:
        _remove(out / "groups" / group.name)
        return skipped
    for line in skipped:
        log(line)
    if not _has_state(out / "groups" / group.name):  # nothing to resume: train what is left
        group = dataclasses.replace(group, cells=tuple(todo))
    if len(group.cells) == 1:
        return [_run_single(group.cells[0], out / "cells" / group.cells[0].name, log)]
    return _run_batched(group, out, log)


def _run_single(cell: Cell, cell_dir: Path, log) -> str:
    resume = _has_state(cell_dir)
    if cell_dir.exists() and not resume:
        shutil.rmtree(cell_dir)  # killed before its first checkpoint: nothing to keep
    log(f"{cell.name}: " + ("resuming" if resume else "training"))
    s = train_run(cell.config, cell_dir, resume=resume)
    if s["status"] == "interrupted":
        raise Interrupted(f"{cell.name} interrupted at step {s['step']}", exit_code(s) or 130)
    return (f"{cell.name}: {s['status']} at epoch {s['epoch']:g}; grokked "
            f"{sum(x['grokked'] for x in s['seeds'])}/{len(s['seeds'])}")


def _has_state(run_dir: Path) -> bool:
    state = run_dir / "checkpoints" / "state"
    return state.exists() and any(state.iterdir())


class CellStops:
    """The engine's stop rule (engine.stopping) applied to each cell's members of a group."""

    def __init__(self, group: Group, train, total_steps: int):
        self.group, self.total = group, total_steps
        self.stop_at = train.stop_at
        self.milestones = [Milestones.for_run(i, train) for i in range(len(group.members))]
        self.ended: dict[int, tuple[int, str]] = {}  # cell index -> (step, status)
        self.just_ended: list[Cell] = []

    def update(self, records: list[dict]) -> bool:
        """Fold in one evaluation (a record per member); True when a cell ends at this step."""
        for r in records:
            self.milestones[r["seed"]].update(r)
        step = records[0]["step"]
        self.just_ended = []
        for cell in self.group.cells:
            if cell.index in self.ended:
                continue
            ms = [self.milestones[i] for i in self.group.member_ids(cell)]
            status = stop_status(ms, step, self.total, self.stop_at)
            if status is not None:
                self.ended[cell.index] = (step, status)
                self.just_ended.append(cell)
        return bool(self.just_ended)


def _run_batched(group: Group, out: Path, log) -> list[str]:
    gdir = out / "groups" / group.name
    cfg = group.config()
    plan = plan_run(cfg)
    stops = CellStops(group, plan.config.train, plan.total_steps)
    resume = _has_state(gdir)
    if gdir.exists() and not resume:
        shutil.rmtree(gdir)
    prior_wall = 0.0
    restart = None
    if resume:  # where train_run will restart the group: the same choice, made here first
        restart = choose_restart(RunDir(gdir), plan,
                                 lambda: jax.eval_shape(Engine(plan).initial_state),
                                 warn=lambda message: None)  # train_run warns
        for recs in _by_step(restart.records, restart.step):
            stops.update(recs)
        if (gdir / "summary.json").exists():
            prior_wall = float(json.loads((gdir / "summary.json").read_text())
                               .get("wall_time_s") or 0.0)
    t0 = time.perf_counter()
    lines: list[str] = []
    split_off = _SplitOff(group, out, gdir, plan, stops, lambda: prior_wall + time.perf_counter()
                          - t0, lines)
    if restart is not None:
        split_off.pending(restart.step, restart.state)
    n = len(group.members)
    log(f"{group.name}: {len(group.cells)} cells × seeds = {n} members in one program "
        f"(batched axes: {', '.join(group.batched_axes) or 'none'}); "
        + ("resuming" if resume else "training"))
    summary = train_run(cfg, gdir, resume=resume, figures=False,
                        checkpoint_now=stops.update, after_checkpoint=split_off)
    if summary["status"] == "interrupted":
        raise Interrupted(f"{group.name} interrupted at step {summary['step']}",
                          exit_code(summary) or 130)
    missing = [c.name for c in group.cells if cell_status(out / "cells" / c.name) not in FINISHED]
    if missing:
        raise ConfigError(f"{group.name} ended ({summary['status']}) without finishing "
                          f"{', '.join(missing)}")
    _remove(gdir)
    if not any((out / "groups").iterdir()):
        (out / "groups").rmdir()
    return lines


def _by_step(records: list[dict], last_step: int) -> list[list[dict]]:
    steps: dict[int, list[dict]] = {}
    for r in records:
        if r["step"] <= last_step:
            steps.setdefault(r["step"], []).append(r)
    return [steps[s] for s in sorted(steps)]


class _SplitOff:
    """after_checkpoint hook of a group run: writes the cells that ended at this step."""

    def __init__(self, group, out, gdir, plan, stops, wall, lines):
        self.group, self.out, self.gdir, self.plan = group, out, gdir, plan
        self.stops, self.wall, self.lines = stops, wall, lines

    def __call__(self, step: int, state, final: bool) -> None:
        restored: dict[int, object] = {}  # group checkpoints, restored once for all cells
        for cell in self.stops.just_ended:
            if cell_status(self.out / "cells" / cell.name) not in FINISHED:
                self._write(cell, step, state, restored)

    def pending(self, latest: int, state) -> None:
        """After a kill: cells that had ended by the group's restart step ``latest`` (whose
        training state is ``state``) but were not written."""
        todo = [c for c in self.group.cells if c.index in self.stops.ended
                and cell_status(self.out / "cells" / c.name) not in FINISHED]
        if not todo:
            return
        restored: dict[int, object] = {}
        for cell in todo:
            step, _ = self.stops.ended[cell.index]
            if step != latest:
                raise ConfigError(f"cannot finish cell {cell.name!r}: it ended at step {step} "
                                  f"but the group's latest checkpoint is at step {latest}")
            self._write(cell, step, state, restored)

    def _write(self, cell: Cell, step: int, state, restored: dict) -> None:
        final_dir = self.out / "cells" / cell.name
        tmp = self.out / "cells" / f".{cell.name}.partial"
        _remove(tmp)
        _remove(final_dir)
        ids = np.asarray(self.group.member_ids(cell))
        seeds = list(cell.config.seeds)
        plan = plan_run(cell.config)
        batch = {"group": self.group.name, "members": len(self.group.members),
                 "cells": [c.name for c in self.group.cells],
                 "batched_axes": list(self.group.batched_axes),
                 "note": "wall and compile times are the group's, up to this cell's end"}
        writer = RunWriter.create(tmp, plan, {"batch": batch}, name=cell.name)
        writer.prior_wall = self.wall()
        group_run = RunDir(self.gdir)
        group_compile = float(group_run.read_summary().get("compile_time_s") or 0.0) \
            if group_run.summary_path.exists() else 0.0
        writer.compile_clock = lambda: group_compile
        to_seed = {int(m): s for m, s in zip(ids, seeds)}
        records = [{**r, "seed": to_seed[r["seed"]]} for r in group_run.read_metrics()
                   if r["seed"] in to_seed and r["step"] <= step]
        try:
            writer.on_eval(records)
            writer.milestones = replayed_milestones(plan, records)
            self._checkpoints(writer, ids, step, state, records, restored)
            status = self.stops.ended[cell.index][1]
            writer.finish(step, status)
        finally:
            writer.close()
        tmp.rename(final_dir)
        grokked = sum(m.grokked for m in writer.milestones)
        self.lines.append(f"{cell.name}: {status} at epoch {plan.epoch_at(step):g}; grokked "
                          f"{grokked}/{len(seeds)} (in {self.group.name})")

    def _checkpoints(self, writer: RunWriter, ids, step: int, state, records,
                     restored: dict) -> None:
        """The cell's slice of every group parameter checkpoint up to ``step``, and of the full
        state at ``step`` (so the cell resumes like any run), saved through its writer."""
        plan = writer.plan
        group_ckpts = Checkpoints(self.gdir / "checkpoints", read_only=True)
        ckpts = writer.checkpoints

        def take(tree):
            return jax.tree.map(lambda a: np.asarray(a)[ids], tree)

        def meta(s):
            return writer.checkpoint_metadata(s) | {"batched_in": self.group.name}

        saved = set(group_ckpts.param_steps())
        evals = sorted({r["step"] for r in records})
        for prev, s in zip([0, *evals], evals):
            # the group also holds checkpoints made when other cells ended: not this run's
            if s < step and s in saved and checkpoint_due(plan, s, prev):
                if s not in restored:
                    restored[s] = jax.device_get(group_ckpts.restore_params(s, state.params)[0])
                ckpts.save_params(s, take(restored[s]), meta(s))
        if "state" not in restored:
            restored["state"] = jax.device_get(state)
        sliced = take(restored["state"])
        ckpts.save(step, sliced.params, sliced, meta(step))
        group_ckpts.close()


def _remove(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
