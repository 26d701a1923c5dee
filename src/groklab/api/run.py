"""One run directory from Python: ``load_run(path)`` reads any run groklab writes (``train``,
``distill``, ``transfer``, a sweep's cell); ``train(config, out)`` trains one and returns it.

A ``Run`` reads its files when asked (docs/architecture.md §3): ``config`` once (a run's config
never changes), ``summary``, ``metrics`` and ``checkpoints`` at every access, so a notebook sees
a run that is still training grow. Models come from the parameter checkpoints, chosen per seed by
the selection of ``groklab.runs.source`` (the one that picks distillation teachers, transfer
sources and analysed checkpoints), and are run by the analysis's forward pass
(``groklab.analysis.probe.grid_pass``). Nothing here writes to a run it reads.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from groklab.analysis.probe import grid_pass
from groklab.api.tables import frame
from groklab.config import RunConfig, apply_overrides, load_config_file
from groklab.errors import ConfigError, short
from groklab.experiments.train import train_run
from groklab.runs.paths import check_writable
from groklab.runs.rundir import RunDir
from groklab.runs.source import SELECTORS, Loaded, RunRef, load_checkpoints
from groklab.tasks import Split, Task, make_task

# the keys of a metrics.jsonl record (docs/architecture.md §3.2): the columns of an empty table
METRICS_COLUMNS = ("step", "epoch", "seed", "train_loss", "train_acc", "val_loss", "val_acc",
                   "lr", "wd", "weight_norm", "grad_norm", "sc_fraction", "diverged_step",
                   "grok_alarm")
LATEST = "latest"
# rows run through the model at once by ``Run.logits`` (bounds the activations' memory)
LOGITS_BLOCK = 4096

_forward = jax.jit(grid_pass, static_argnums=(0, 1))  # one compile per model structure and shape


def load_run(path: str | Path) -> Run:
    """The run in directory ``path`` (one that holds a ``config.yaml``); ConfigError otherwise."""
    return Run(path)


class Run:
    """A run directory: its config, summary, metrics and checkpoints, and its models.

    ``step`` arguments choose a parameter checkpoint for one seed: ``"latest"`` (the default),
    a step number (``120``), ``"step=N"``, ``"epoch=E"`` or ``"val_acc=X"`` — the first saved
    checkpoint at which that seed's recorded val accuracy is ≥ X (when evaluations and
    checkpoints coincide, the step ``summary.json`` gives as the seed's milestone). A step without
    a checkpoint is a ConfigError listing the steps saved."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._dir = RunDir(self.path)
        if not self._dir.holds_run():
            what = "does not exist" if not self.path.exists() else "holds no config.yaml"
            raise ConfigError(f"{short(str(self.path), 200)} is not a groklab run directory: "
                              f"it {what}")

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, seeds={list(self.seeds)})"

    # ----- files -----

    @cached_property
    def config(self) -> RunConfig:
        """The resolved ``RunConfig`` of ``config.yaml``."""
        return self._dir.load_config()

    @property
    def seeds(self) -> tuple[int, ...]:
        """The run's seeds, in the order they were trained."""
        return tuple(self.config.seeds)

    @property
    def summary(self) -> dict:
        """``summary.json`` as a dict (read now; mid-run its status is ``interrupted``)."""
        return self._dir.read_summary()

    @property
    def metrics(self):
        """``metrics.jsonl`` as a pandas DataFrame, one row per evaluation per seed, in the
        order written (columns: step, epoch, seed, train/val loss and accuracy, lr, wd, …;
        docs/architecture.md §3.2). Damaged lines are left out, as every reader does."""
        return frame(self._dir.read_metrics(), METRICS_COLUMNS)

    @property
    def checkpoints(self):
        """A pandas DataFrame with one row per saved parameter checkpoint: ``step``, ``epoch``
        and ``val_acc_seed<s>`` for every seed s: the evaluation recorded at that step (every
        checkpoint follows one; NaN where metrics.jsonl has no record of it)."""
        recorded = {(r.get("seed"), r.get("step")): r for r in self._dir.read_metrics()}
        columns = ["step", "epoch", *(f"val_acc_seed{s}" for s in self.seeds)]
        rows = []
        for step in self.checkpoint_steps():
            at = [recorded.get((s, step), {}) for s in self.seeds]
            epochs = [r["epoch"] for r in at if r.get("epoch") is not None]
            rows.append({"step": step, "epoch": epochs[0] if epochs else np.nan,
                         **{f"val_acc_seed{s}": _number(r.get("val_acc"))
                            for s, r in zip(self.seeds, at)}})
        return frame(rows, columns)

    def checkpoint_steps(self) -> list[int]:
        """The steps of the saved parameter checkpoints, ascending (no pandas needed): the
        completed ``checkpoints/params/<step>/`` directories. Listed without opening Orbax,
        whose checkpoint manager removes unfinished temporary directories when it opens, which
        would disturb a run still saving one."""
        params = self._dir.checkpoints_path / "params"
        if not params.is_dir():
            return []
        return sorted(int(p.name) for p in params.iterdir() if p.name.isdigit() and p.is_dir())

    def split(self, seed: int) -> Split:
        """The seed's recorded split (``split.npz``, never regenerated): ``train_idx`` and
        ``val_idx`` index the task's rows (``run.task``); ``train_labels`` are the labels it
        trained on (after label noise), ``noisy_positions`` the positions into ``train_idx``
        whose label was changed. ``seed`` is the run's seed."""
        i = self._index(seed)
        s = self._split
        return Split(train_idx=s["train_idx"][i], val_idx=s["val_idx"][i],
                     train_labels=s["train_labels"][i], noisy_positions=s["noisy_positions"][i],
                     seed=int(seed), train_fraction=float(s["train_fraction"]),
                     label_noise=float(s["label_noise"]))

    @cached_property
    def task(self) -> Task:
        """The task's table: ``tokens`` [N, T] and true ``labels`` [N] of every row."""
        t = self.config.task
        return make_task(t.name, t.p, t.layout)

    # ----- models -----

    def model(self, seed: int, step: int | str = LATEST) -> nnx.Module:
        """The NNX model of ``seed`` at the checkpoint ``step`` chooses (a fresh module each
        call; dropout is off unless a key is passed to it)."""
        loaded = self._load(seed, step)
        return nnx.merge(loaded.graphdef, _one_seed(loaded.params))

    def checkpoint_step(self, seed: int, step: int | str = LATEST) -> int:
        """The step of the checkpoint ``step`` chooses for ``seed`` (what ``model`` and
        ``logits`` load)."""
        return self._load(seed, step).steps[0]

    def logits(self, seed: int, step: int | str = LATEST, rows=None) -> np.ndarray:
        """Logits at the answer position, [N, d_vocab] float32, of ``seed``'s model at the chosen
        checkpoint over the task's rows ``rows`` (indices into ``run.task``; every row when
        None), in that order. E.g. ``rows=run.split(0).val_idx`` gives the validation rows,
        whose ``argmax`` against ``run.task.labels[rows]`` is the recorded val accuracy."""
        idx = self._rows(rows)
        loaded = self._load(seed, step)
        params = jax.tree.map(jnp.asarray, _one_seed(loaded.params))
        tokens = self.task.tokens[idx]
        blocks = [np.asarray(_forward(loaded.graphdef, (), params,
                                      jnp.asarray(tokens[i:i + LOGITS_BLOCK]))[0])
                  for i in range(0, len(idx), LOGITS_BLOCK)]
        if not blocks:
            return np.zeros((0, self.task.d_vocab), np.float32)
        return np.concatenate(blocks).astype(np.float32, copy=False)

    # ----- internals -----

    @cached_property
    def _split(self) -> dict:
        return self._dir.load_split()

    def _index(self, seed) -> int:
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) \
                or int(seed) not in self.seeds:
            raise ConfigError(f"seed={short(seed)} is not a seed of run {str(self.path)!r}; its "
                              f"seeds: {', '.join(map(str, self.seeds))}")
        return self.seeds.index(int(seed))

    def _load(self, seed: int, step) -> Loaded:
        self._index(seed)
        return load_checkpoints(checkpoint_ref(self.path, step), (int(seed),))

    def _rows(self, rows) -> np.ndarray:
        n = len(self.task.labels)
        if rows is None:
            return np.arange(n)
        idx = np.asarray(rows)
        if idx.ndim != 1 or (idx.size and (idx.dtype.kind not in "iu" or idx.min() < 0
                                           or idx.max() >= n)):
            raise ConfigError(f"rows={short(rows)} must be a list of row indices in [0, {n}) "
                              f"of the task's table (e.g. run.split(seed).val_idx), or None "
                              "for every row")
        return idx.astype(np.int64)


def checkpoint_ref(path: Path, step) -> RunRef:
    """``step`` (``"latest"``, a step number, ``"step=N"``, ``"epoch=E"``, ``"val_acc=X"``) as
    the ``RunRef`` whose checkpoint groklab.runs.source selects per seed."""
    allowed = ("use 'latest', a step number, 'step=N', 'epoch=E' or 'val_acc=X' (X in [0, 1])")
    if step is None or step == LATEST:
        return RunRef(path, None, None, "run")
    if isinstance(step, numbers.Integral) and not isinstance(step, bool):
        if step < 0:
            raise ConfigError(f"step={step} is negative; {allowed}")
        return RunRef(path, "step", float(step), "run")
    if isinstance(step, str):
        kind, eq, value = step.strip().partition("=")
        if not eq:
            kind, value = "step", kind
        kind = kind.strip()
        try:
            number = float(value)
        except ValueError:
            number = None
        if kind in SELECTORS and number is not None and np.isfinite(number) and (
                kind != "val_acc" or 0 <= number <= 1):
            return RunRef(path, kind, number, "run")
    raise ConfigError(f"step={short(step)} does not choose a checkpoint; {allowed}")


def _number(value) -> float:
    """A recorded number, NaN when it is missing (or was written as null)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else np.nan


def _one_seed(params):
    """The parameters of the first (only) seed of a stacked ``Loaded.params``."""
    return jax.tree.map(lambda a: a[0], params)


def as_config(config: RunConfig | Mapping | str | Path) -> RunConfig:
    """A ``RunConfig`` from a RunConfig, a mapping of sections (as in a config file) or a
    TOML/YAML/JSON config file (e.g. a run's config.yaml)."""
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, Mapping):
        return RunConfig.from_dict(json.loads(json.dumps(config, default=_plain)))
    if isinstance(config, (str, Path)):
        where = f"config file {short(str(config), 200)}"
        try:
            return RunConfig.from_dict(load_config_file(config))
        except ConfigError as e:
            if where in str(e):
                raise
            raise ConfigError(f"{where}: {e}") from None
    raise ConfigError(f"config={short(config)} must be a RunConfig, a mapping of sections or a "
                      "config file path")


def as_overrides(overrides: Mapping | Sequence[str]) -> list[str]:
    """``key=value`` assignments (``groklab train --set``) from a list of them or a mapping of
    dotted keys to values (``{"optim.weight_decay": 0.5}``)."""
    if isinstance(overrides, Mapping):
        return [f"{k}={json.dumps(v, default=_plain)}" for k, v in overrides.items()]
    if isinstance(overrides, str) or not all(isinstance(o, str) for o in overrides):
        raise ConfigError(f"overrides={short(overrides)} must be a mapping of config keys to "
                          "values or a list of 'key=value' strings")
    return list(overrides)


def _plain(value):
    """JSON for the values a config may hold besides JSON's own (tuples are lists already)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise ConfigError(f"{short(value)} is not a plain config value (numbers, strings, "
                      "booleans, lists, mappings)")


def train(config: RunConfig | Mapping | str | Path, out: str | Path, *,
          overrides: Mapping | Sequence[str] = (), resume: bool = False,
          figures: bool = True) -> Run:
    """Train every seed of ``config`` into the run directory ``out`` (new or empty) and return
    the ``Run``; with ``resume`` continue the run in ``out`` from its checkpoint (``config`` may
    then change only the budget: ``train.epochs``, ``train.steps``, ``train.stop_at``).

    ``config``: a RunConfig, a mapping of sections (``{"task": {"name": "add", "p": 11}}``;
    missing keys take their defaults, a partial ``model`` is laid over its preset) or a config
    file; ``overrides`` (``groklab train --set``) are applied over it. An interrupt (Ctrl-C,
    a notebook's "interrupt kernel") ends the training at the next evaluation with a checkpoint:
    the returned run's summary says ``interrupted``, and ``resume=True`` continues it."""
    cfg = as_config(config)
    if overrides:
        cfg = apply_overrides(cfg, as_overrides(overrides))
    check_writable(out, "out")  # before anything is planned or compiled
    train_run(cfg, out, resume=resume, figures=figures)
    return Run(out)
