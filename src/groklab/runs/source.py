"""A checkpoint of another run, chosen per seed: what distillation teachers and transfer sources
start from.

``RUN_DIR`` takes the latest checkpoint; ``RUN_DIR@STEP`` or ``@step=STEP`` a step,
``@epoch=E`` the checkpoint at epoch E, and ``@val_acc=X`` for each seed the first checkpoint at
which that seed's val accuracy was ≥ X (so "the model as it first reached 50 %": pre-, mid- and
post-grokking checkpoints are one flag apart). Only saved checkpoints can be used; an error
lists the ones there are. The run directory is only read, never written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from groklab.config import RunConfig
from groklab.engine.setup import Plan, init_params, plan_run
from groklab.errors import ConfigError, short
from groklab.runs.rundir import RunDir, damaged, error_text, usable_metrics

SELECTORS = ("step", "epoch", "val_acc")


@dataclass(frozen=True)
class RunRef:
    """``RUN_DIR[@STEP|@step=N|@epoch=E|@val_acc=X]``; ``role`` names it in errors."""

    path: Path
    kind: str | None  # None (latest), "step", "epoch" or "val_acc"
    value: float | None
    role: str = field(default="source", compare=False)

    @classmethod
    def parse(cls, text: str, role: str = "source") -> RunRef:
        path, sep, sel = str(text).partition("@")
        if not sep:
            return cls(Path(path), None, None, role)
        kind, eq, value = sel.partition("=")
        if not eq:
            kind, value = "step", sel
        if kind not in SELECTORS:
            raise ConfigError(f"{role} {text!r}: unknown selector {kind!r}; use RUN_DIR, "
                              "RUN_DIR@STEP, @step=N, @epoch=E or @val_acc=X")
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{role} {text!r}: {kind}={value!r} is not a number") from None
        if kind == "val_acc" and not 0 <= number <= 1:
            raise ConfigError(f"{role} {text!r}: val_acc={number} is outside [0, 1]")
        if not math.isfinite(number):
            raise ConfigError(f"{role} {text!r}: {kind}={value!r} is not a finite number")
        return cls(Path(path), kind, number, role)

    @property
    def selector(self) -> str | None:
        return None if self.kind is None else f"{self.kind}={self.value:g}"


@dataclass(frozen=True)
class Loaded:
    """Checkpointed parameters of a run: per target seed the source seed, the step of the
    checkpoint used and its val accuracy there; ``params`` stacked on a leading seed axis in
    target-seed order."""

    ref: RunRef
    run: RunDir
    config: RunConfig
    plan: Plan
    seeds: tuple[int, ...]  # target seeds
    source_seeds: tuple[int, ...]  # the source seed each target seed starts from
    steps: tuple[int, ...]
    val_acc: tuple[float | None, ...]
    params: object
    graphdef: object

    def describe(self) -> dict:
        return {"run": str(self.ref.path), "selector": self.ref.selector,
                "seeds": list(self.seeds), "source_seeds": list(self.source_seeds),
                "steps": list(self.steps),
                "epochs": [self.plan.epoch_at(s) for s in self.steps],
                "val_acc": list(self.val_acc)}


def read_run(ref: RunRef) -> tuple[RunDir, RunConfig, list[int]]:
    """The run directory, its config and its checkpoint steps; one-line errors otherwise."""
    run = RunDir(ref.path)
    if not run.holds_run():
        raise ConfigError(f"{ref.role} {str(ref.path)!r} is not a groklab run directory (no "
                          "config.yaml)")
    steps = []
    if run.checkpoints_path.exists():
        from groklab.runs.checkpoints import Checkpoints  # JAX and Orbax: a run is there

        with Checkpoints(run.checkpoints_path, read_only=True) as ckpts:
            steps = ckpts.param_steps()
    if not steps:
        raise ConfigError(f"{ref.role} {str(ref.path)!r} has no checkpoints; train it first (or "
                          "point at a run that saved some)")
    return run, run.load_config(), steps


def source_seeds_for(ref: RunRef, cfg: RunConfig, seeds: tuple[int, ...],
                     broadcast: bool = False) -> tuple[int, ...]:
    """Target seed s starts from source seed s; with ``broadcast`` a single-seed source serves
    every target seed."""
    if broadcast and len(cfg.seeds) == 1:
        return (cfg.seeds[0],) * len(seeds)
    missing = [s for s in seeds if s not in cfg.seeds]
    if missing:
        hint = " (or use a single-seed source for all seeds)" if broadcast else ""
        raise ConfigError(f"seeds {missing} are not seeds of {ref.role} {str(ref.path)!r} (its "
                          f"seeds: {list(cfg.seeds)}); each seed starts from the {ref.role}'s "
                          f"seed of the same number{hint}")
    return tuple(seeds)


def load_checkpoints(ref: RunRef, seeds: tuple[int, ...], broadcast: bool = False) -> Loaded:
    """The chosen checkpoint's parameters of every target seed (see ``source_seeds_for``)."""
    import jax

    from groklab.runs.checkpoints import Checkpoints

    run, cfg, steps = read_run(ref)
    plan = plan_run(cfg, check_memory_fits=False)  # read, not trained
    src = source_seeds_for(ref, cfg, seeds, broadcast)
    records = usable_metrics(run.read_metrics()) if run.metrics_path.exists() else []
    val = {(r["seed"], r["step"]): r.get("val_acc") for r in records}
    chosen = [_select(ref, plan, steps, s, val) for s in src]
    graphdef, abstract = abstract_params(plan)
    ckpts = Checkpoints(run.checkpoints_path, read_only=True)
    loaded = {}
    try:
        for step in sorted(set(chosen)):
            try:
                loaded[step], _ = ckpts.restore_params(step, abstract)
            except ConfigError:
                raise
            except Exception as e:  # noqa: BLE001 - Orbax/TensorStore cannot read the files
                raise damaged(run.checkpoints_path / "params" / str(step),
                              f"{ref.role} {short(str(ref.path), 200)}: its parameter "
                              f"checkpoint cannot be read with the shapes of its config.yaml "
                              f"({error_text(e)})") from None
    finally:
        ckpts.close()
    index = {s: i for i, s in enumerate(cfg.seeds)}
    params = jax.tree.map(lambda *xs: np.stack(xs), *[
        jax.tree.map(lambda a, i=index[s]: np.asarray(a)[i], loaded[step])
        for s, step in zip(src, chosen)])
    return Loaded(ref, run, cfg, plan, tuple(seeds), src, tuple(chosen),
                  tuple(val.get((s, st)) for s, st in zip(src, chosen)), params, graphdef)


def recorded_split(loaded: Loaded) -> dict[str, np.ndarray]:
    """The run's ``split.npz`` with each per-seed array's rows in the order of
    ``loaded.seeds`` (row i: the split of the source seed target seed i starts from)."""
    run, ref = loaded.run, loaded.ref
    if not run.split_path.exists():
        raise ConfigError(f"{ref.role} {str(ref.path)!r} has no split.npz; it is not a complete "
                          "groklab run directory")
    split = run.load_split()
    order = [list(split["seeds"]).index(s) for s in loaded.source_seeds]
    split = {k: (v[order] if np.ndim(v) and len(v) == len(split["seeds"]) and k != "seeds"
                 else v) for k, v in split.items()}
    split["seeds"] = np.asarray(loaded.seeds)
    return split


def split_rows(loaded: Loaded, split: dict, which: str) -> tuple[np.ndarray, np.ndarray]:
    """(tokens [S, N, T], labels [S, N]) of each seed's ``val`` or ``train`` rows; training
    labels are the recorded ones (after label noise), validation labels the true ones."""
    task = loaded.plan.task
    idx = split[f"{which}_idx"]
    labels = split["train_labels"] if which == "train" else task.labels[idx]
    return task.tokens[idx], np.asarray(labels, np.int32)


def abstract_params(plan: Plan):
    """(graphdef, abstract parameters with a seed axis) of a planned run, without computing
    any initialization."""
    import jax

    out = {}

    def build():
        graphdef, params = init_params(plan)
        out["graphdef"] = graphdef
        return params

    abstract = jax.eval_shape(build)
    return out["graphdef"], abstract


def _select(ref: RunRef, plan: Plan, steps: list[int], seed: int, val: dict) -> int:
    if ref.kind is None:
        return steps[-1]
    where = f"{ref.role} {str(ref.path)!r}"
    if ref.kind == "step":
        step = int(ref.value)
        if step != ref.value or step not in steps:
            raise ConfigError(f"{where} has no checkpoint at step {ref.value:g}; saved steps: "
                              f"{_listing(steps)}")
        return step
    if ref.kind == "epoch":
        hits = [s for s in steps if math.isclose(plan.epoch_at(s), ref.value, abs_tol=1e-9)]
        if not hits:
            epochs = [f"{plan.epoch_at(s):g}" for s in steps]
            raise ConfigError(f"{where} has no checkpoint at epoch {ref.value:g}; saved epochs: "
                              f"{_listing(epochs)}")
        return hits[0]
    hits = [s for s in steps if (val.get((seed, s)) or 0.0) >= ref.value]
    if not hits:
        best = max((val.get((seed, s)) or 0.0) for s in steps)
        raise ConfigError(f"{where}, seed {seed}: no checkpoint with val_acc >= {ref.value:g} "
                          f"(best at a checkpoint: {best:.3f})")
    return hits[0]


def _listing(items) -> str:
    items = list(items)
    shown = ", ".join(str(x) for x in items[:12])
    return shown + (f", … ({len(items)} in all)" if len(items) > 12 else "")
