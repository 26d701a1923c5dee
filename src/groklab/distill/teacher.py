"""A teacher: a checkpoint of a groklab run directory, chosen per seed.

``RUN_DIR`` takes the latest checkpoint; ``RUN_DIR@STEP`` or ``@step=STEP`` a step,
``@epoch=E`` the checkpoint at epoch E, and ``@val_acc=X`` for each seed the first checkpoint at
which that seed's val accuracy was ≥ X (so "the teacher as it first reached 50 %"). Only saved
checkpoints can be teachers; an error lists the ones there are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

from groklab.config import RunConfig
from groklab.engine.setup import Plan, init_params, plan_run
from groklab.errors import ConfigError
from groklab.runs.checkpoints import Checkpoints
from groklab.runs.rundir import RunDir
from groklab.tasks import Split

SELECTORS = ("step", "epoch", "val_acc")


@dataclass(frozen=True)
class TeacherRef:
    path: Path
    kind: str | None  # None (latest), "step", "epoch" or "val_acc"
    value: float | None

    @classmethod
    def parse(cls, text: str) -> TeacherRef:
        path, sep, sel = str(text).partition("@")
        if not sep:
            return cls(Path(path), None, None)
        kind, eq, value = sel.partition("=")
        if not eq:
            kind, value = "step", sel
        if kind not in SELECTORS:
            raise ConfigError(f"teacher {text!r}: unknown selector {kind!r}; use RUN_DIR, "
                              "RUN_DIR@STEP, @step=N, @epoch=E or @val_acc=X")
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"teacher {text!r}: {kind}={value!r} is not a number") from None
        if kind == "val_acc" and not 0 <= number <= 1:
            raise ConfigError(f"teacher {text!r}: val_acc={number} is outside [0, 1]")
        return cls(Path(path), kind, number)


@dataclass(frozen=True)
class Teacher:
    """A loaded teacher: its run's config and plan, and per student seed the step of the
    checkpoint used, its val accuracy there, the split and the parameters (stacked on a
    leading seed axis in student-seed order)."""

    ref: TeacherRef
    config: RunConfig
    plan: Plan
    seeds: tuple[int, ...]
    steps: tuple[int, ...]
    val_acc: tuple[float | None, ...]
    splits: tuple[Split, ...]
    params: object
    graphdef: object

    def describe(self) -> dict:
        return {"run": str(self.ref.path), "selector": None if self.ref.kind is None
                else f"{self.ref.kind}={self.ref.value:g}",
                "seeds": list(self.seeds), "steps": list(self.steps),
                "epochs": [self.plan.epoch_at(s) for s in self.steps],
                "val_acc": list(self.val_acc)}


def read_teacher_run(ref: TeacherRef) -> tuple[RunDir, RunConfig, list[int]]:
    """The run directory, its config and its checkpoint steps; one-line errors otherwise."""
    run = RunDir(ref.path)
    if not run.holds_run():
        raise ConfigError(f"teacher {str(ref.path)!r} is not a groklab run directory (no "
                          "config.yaml)")
    steps = Checkpoints(run.checkpoints_path).param_steps() if run.checkpoints_path.exists() \
        else []
    if not steps:
        raise ConfigError(f"teacher {str(ref.path)!r} has no checkpoints; train it first (or "
                          "point at a run that saved some)")
    return run, run.load_config(), steps


def load_teacher(ref: TeacherRef, seeds: tuple[int, ...]) -> Teacher:
    run, cfg, steps = read_teacher_run(ref)
    plan = plan_run(cfg)
    missing = [s for s in seeds if s not in cfg.seeds]
    if missing:
        raise ConfigError(f"seeds {missing} are not seeds of teacher {str(ref.path)!r} "
                          f"(its seeds: {list(cfg.seeds)}); a student seed distills from the "
                          "teacher of the same seed")
    records = run.read_metrics() if run.metrics_path.exists() else []
    val = {(r["seed"], r["step"]): r.get("val_acc") for r in records}
    chosen = [_select(ref, plan, steps, seed, val) for seed in seeds]
    graphdef, abstract = init_params_abstract(plan)
    ckpts = Checkpoints(run.checkpoints_path)
    loaded = {}
    for step in sorted(set(chosen)):
        loaded[step], _ = ckpts.restore_params(step, abstract)
    ckpts.close()
    index = {s: i for i, s in enumerate(cfg.seeds)}
    params = jax.tree.map(lambda *xs: np.stack(xs), *[
        jax.tree.map(lambda a, i=index[seed]: np.asarray(a)[i], loaded[step])
        for seed, step in zip(seeds, chosen)])
    return Teacher(ref, plan.config, plan, tuple(seeds), tuple(chosen),
                   tuple(val.get((s, st)) for s, st in zip(seeds, chosen)),
                   _splits(run, cfg, seeds), params, graphdef)


def init_params_abstract(plan: Plan):
    """(graphdef, abstract parameters with a seed axis) of a planned run, without computing
    any initialization."""
    out = {}

    def build():
        graphdef, params = init_params(plan)
        out["graphdef"] = graphdef
        return params

    abstract = jax.eval_shape(build)
    return out["graphdef"], abstract


def _select(ref: TeacherRef, plan: Plan, steps: list[int], seed: int, val: dict) -> int:
    if ref.kind is None:
        return steps[-1]
    if ref.kind == "step":
        step = int(ref.value)
        if step != ref.value or step not in steps:
            raise ConfigError(f"teacher {str(ref.path)!r} has no checkpoint at step "
                              f"{ref.value:g}; saved steps: {_listing(steps)}")
        return step
    if ref.kind == "epoch":
        hits = [s for s in steps if math.isclose(plan.epoch_at(s), ref.value, abs_tol=1e-9)]
        if not hits:
            epochs = [f"{plan.epoch_at(s):g}" for s in steps]
            raise ConfigError(f"teacher {str(ref.path)!r} has no checkpoint at epoch "
                              f"{ref.value:g}; saved epochs: {_listing(epochs)}")
        return hits[0]
    hits = [s for s in steps if (val.get((seed, s)) or 0.0) >= ref.value]
    if not hits:
        best = max((val.get((seed, s)) or 0.0) for s in steps)
        raise ConfigError(f"teacher {str(ref.path)!r}, seed {seed}: no checkpoint with val_acc "
                          f">= {ref.value:g} (best at a checkpoint: {best:.3f})")
    return hits[0]


def _listing(items) -> str:
    items = list(items)
    shown = ", ".join(str(x) for x in items[:12])
    return shown + (f", … ({len(items)} in all)" if len(items) > 12 else "")


def _splits(run: RunDir, cfg: RunConfig, seeds) -> tuple[Split, ...]:
    """The teacher's recorded splits of ``seeds`` (never regenerated)."""
    z = run.load_split()
    index = {int(s): i for i, s in enumerate(z["seeds"])}
    out = []
    for seed in seeds:
        i = index[seed]
        out.append(Split(train_idx=z["train_idx"][i], val_idx=z["val_idx"][i],
                         train_labels=z["train_labels"][i],
                         noisy_positions=z["noisy_positions"][i], seed=seed,
                         train_fraction=float(z["train_fraction"]),
                         label_noise=float(z["label_noise"])))
    return tuple(out)
