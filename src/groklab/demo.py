"""``make demo``: what groklab does, end to end, in one command.

1. lists the tasks and model presets;
2. runs a forward pass of the seed-teacher model on x/y mod 97;
3. trains the reference experiment (x/y mod 97, seed-teacher recipe, 3 seeds vmapped in one
   compiled program, stop when every seed reaches 99 % val) and prints the result table and
   where the run directory and figure are.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jax.numpy as jnp
from rich.console import Console

from groklab.cli.main import main as cli
from groklab.cli.progress import LiveProgress, print_result
from groklab.config import RunConfig, apply_overrides
from groklab.engine.setup import plan_run
from groklab.errors import ConfigError
from groklab.models import ModelConfig, build_model, count_params
from groklab.tasks import make_task


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:  # bad overrides are one line before anything runs, as everywhere in groklab
        run_cfg = apply_overrides(RunConfig(), ["seeds=[0,1,2]", "train.epochs=150",
                                                "train.stop_at=0.99", *argv])
        plan_run(run_cfg)
    except ConfigError as exc:
        print(f"groklab: error: {exc}", file=sys.stderr)
        return 2
    console = Console(width=120)
    console.rule("1. tasks and presets")
    cli(["tasks", "--p", "97"])
    cli(["presets"])

    console.rule("2. a forward pass of seed-teacher on x/y mod 97")
    task = make_task("div", 97)
    cfg = ModelConfig.seed_teacher().resolve_for_task(task.d_vocab, task.n_ctx,
                                                      task.operand_positions)
    model = build_model(cfg, 0)
    logits = model(jnp.asarray(task.tokens[:4]))
    console.print(f"{count_params(model):,} parameters; input rows {task.tokens[:4].tolist()} "
                  f"→ logits {tuple(logits.shape)}, untrained predictions "
                  f"{logits.argmax(-1).tolist()} vs labels {task.labels[:4].tolist()}")

    console.rule("3. the reference experiment: x/y mod 97, seed-teacher, 3 seeds, stop at 99 %")
    out = Path("runs") / time.strftime("demo-%Y%m%d-%H%M%S")
    console.print(f"training into {out} (Ctrl-C stops cleanly; `groklab train --out {out} "
                  "--resume` continues)")
    from groklab.experiments import train_run

    with LiveProgress(enabled=sys.stdout.isatty()) as progress:
        summary = train_run(run_cfg, out, on_progress=progress.update)
    print_result(summary, out)
    grokked = sum(s["grokked"] for s in summary["seeds"])
    console.print(f"{grokked} of {len(summary['seeds'])} seeds grokked (val ≥ 99 %); "
                  f"summary: {out / 'summary.json'}, metrics: {out / 'metrics.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
