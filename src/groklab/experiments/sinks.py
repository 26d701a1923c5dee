"""Metric sinks beyond ``metrics.jsonl``: TensorBoard (through tensorboardX, no TensorFlow) and
Weights & Biases (offline unless asked). Each gets the very records that go to metrics.jsonl,
which stays the source of truth, plus the run's config and, at the end, its summary.

A sink is any object with ``write(records)`` and ``close(summary)`` (``writer.MetricSink``);
``SINKS`` maps the names ``--log`` takes to their classes, so another one (MLflow, CSV) is a
short class and one line here. Every seed is logged as its own series: a TensorBoard run
``DIR/tensorboard/seed_<k>/`` and a W&B run ``<name>/seed<k>`` in the group of the run (or of
the sweep, for a sweep's cells).

Scalars logged: every number of a record (``train_loss``, ``val_acc``, ``lr``, ``wd``,
``weight_norm``, ``grad_norm``, ``sc_fraction``, ``epoch``, an objective's own, ``grok_alarm``
as 0/1) at the record's ``step``; ``None`` (a NaN loss, no divergence yet) is left out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from groklab.errors import ConfigError

NOT_SCALARS = ("step", "seed")


def scalars(record: dict) -> dict[str, float]:
    """The numbers of a metrics record, by their metrics.jsonl names (booleans as 0/1)."""
    out = {}
    for key, value in record.items():
        if key in NOT_SCALARS or value is None:
            continue
        if isinstance(value, bool):
            out[key] = float(value)
        elif isinstance(value, int | float):
            out[key] = float(value)
    return out


@dataclass(frozen=True)
class SinkContext:
    """What a sink needs to know about the run it logs."""

    run_dir: Path
    config: dict  # the fully resolved config (RunConfig.to_dict())
    seeds: tuple[int, ...]
    name: str  # the run's name: its directory name, or the sweep cell's
    group: str  # the W&B group: the run, or the sweep it belongs to
    start_step: int = 0  # > 0 when resuming: records after it are written again
    wandb_mode: str = "offline"
    wandb_project: str = "groklab"


def _require(module: str, extra: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"--log {extra} needs {module}: pip install 'groklab[{extra}]'"
                          ) from None


class TensorBoardSink:
    """``DIR/tensorboard/seed_<k>/``: one event-file directory per seed. On resume,
    TensorBoard is told to discard the events after the restart step (``purge_step``), which
    the resumed run writes again."""

    def __init__(self, ctx: SinkContext):
        tbx = _require(*REQUIRES["tensorboard"])
        self.ctx = ctx
        self.writers = {}
        for seed in ctx.seeds:
            w = tbx.SummaryWriter(str(ctx.run_dir / "tensorboard" / f"seed_{seed}"),
                                  purge_step=ctx.start_step + 1 if ctx.start_step else None,
                                  flush_secs=30,
                                  # a resume in the same second must not reuse the file name
                                  filename_suffix=f".from_step_{ctx.start_step}")
            if not ctx.start_step:
                w.add_text("config", _code_block(ctx.config | {"seed": seed}), 0)
            self.writers[seed] = w

    def write(self, records: list[dict]) -> None:
        for r in records:
            w = self.writers[r["seed"]]
            for key, value in scalars(r).items():
                w.add_scalar(key, value, r["step"])

    def close(self, summary: dict) -> None:
        by_seed = {s["seed"]: s for s in summary.get("seeds", [])}
        for seed, w in self.writers.items():
            about = {"status": summary.get("status"), "step": summary.get("step"),
                     **by_seed.get(seed, {})}
            w.add_text("summary", _code_block(about), summary.get("step", 0))
            w.close()


class WandbSink:
    """One W&B run per seed, named ``<name>/seed<k>`` in group ``<group>``, with the run's
    config (and the seed) as its config and the seed's summary entry as its summary. Offline
    by default: written under ``DIR/wandb/``, no login and no network; ``wandb sync DIR/wandb``
    uploads later. The run ids are fixed by the run directory and seed, so a resumed run
    continues the same W&B runs (W&B keeps the first value logged at a step)."""

    def __init__(self, ctx: SinkContext):
        wandb = _require(*REQUIRES["wandb"])
        self.ctx, self.runs = ctx, {}
        settings = wandb.Settings(silent=True, console="off", save_code=False,
                                  disable_git=True)
        for seed in ctx.seeds:
            self.runs[seed] = wandb.init(
                project=ctx.wandb_project, group=ctx.group, name=f"{ctx.name}/seed{seed}",
                id=run_id(ctx.run_dir, seed), resume="allow", dir=str(ctx.run_dir),
                mode=ctx.wandb_mode, config=ctx.config | {"seed": seed},
                reinit="create_new", settings=settings)

    def write(self, records: list[dict]) -> None:
        for r in records:
            self.runs[r["seed"]].log(scalars(r), step=r["step"])

    def close(self, summary: dict) -> None:
        by_seed = {s["seed"]: s for s in summary.get("seeds", [])}
        for seed, run in self.runs.items():
            run.summary.update({"status": summary.get("status"), "step": summary.get("step"),
                                **by_seed.get(seed, {})})
            run.finish()


def run_id(run_dir: Path, seed: int) -> str:
    """A W&B run id fixed by the run directory's absolute path and the seed."""
    key = f"{Path(run_dir).resolve()}#{seed}".encode()
    return hashlib.sha256(key).hexdigest()[:16]


def _code_block(obj: dict) -> str:
    return "```\n" + json.dumps(obj, indent=2, default=str) + "\n```"


SINKS = {"tensorboard": TensorBoardSink, "wandb": WandbSink}


def check_sink_names(names: Sequence[str]) -> None:
    """Refuse an unknown sink name (before anything is written)."""
    unknown = [n for n in names if n not in SINKS]
    if unknown:
        raise ConfigError(f"log {unknown[0]!r} is not a metric sink; use "
                          f"{', '.join(SINKS)} (comma-separated)")


def check_log_config(log) -> None:
    """The ``log`` section of a config (``config.LogConfig``) is usable: known sinks, a W&B mode,
    and their packages installed. Checked before a run directory is created."""
    check_sink_names(log.sinks)
    if log.wandb_mode not in ("offline", "online"):
        raise ConfigError(f"log.wandb_mode={log.wandb_mode!r}: use offline or online")
    for name in log.sinks:
        _require(*REQUIRES[name])


REQUIRES = {"tensorboard": ("tensorboardX", "tensorboard"), "wandb": ("wandb", "wandb")}


def make_sinks(names: Sequence[str], ctx: SinkContext) -> list:
    """The sinks called ``names`` for the run ``ctx`` describes."""
    check_sink_names(names)
    return [SINKS[n](ctx) for n in names]
