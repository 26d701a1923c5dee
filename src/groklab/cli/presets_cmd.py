"""``groklab presets``: named model configs with their parameter counts, and recipe presets.

The counts come from ``groklab.models.config.param_count``, arithmetic on the config: no model is
built and JAX is not imported (tests/test_startup.py checks every row against the built model)."""

from __future__ import annotations

from groklab.models.config import MODEL_PRESETS, param_count


def add_parser(sub) -> None:
    p = sub.add_parser("presets", help="list model and recipe presets",
                       description="List the named model presets and their parameter counts "
                                   "for a task (default x/y mod 97, vocab 99).")
    p.add_argument("--task", default="div", help="task whose vocabulary sizes the model")
    p.add_argument("--p", type=int, default=97, help="modulus (default 97)")
    p.set_defaults(func=run)


def preset_rows(task_name: str = "div", p: int = 97) -> list[dict]:
    from groklab.models import scaled
    from groklab.tasks import make_task

    task = make_task(task_name, p)
    rows = []
    for name, make in MODEL_PRESETS.items():
        layout_task = make_task(task_name, p, "no_op") if name == "nanda2023" else task
        for label, cfg in ((name, make()), (f"{name} ×0.5 width", scaled(make(), 0.5))):
            if label.endswith("width") and name != "seed-teacher":
                continue
            cfg = cfg.resolve_for_task(layout_task.d_vocab, layout_task.n_ctx,
                                       layout_task.operand_positions)
            rows.append({"name": label, "params": param_count(cfg), "d_vocab": cfg.d_vocab,
                         "summary": _describe(cfg), "config": cfg})
    return rows


def _describe(cfg) -> str:
    if cfg.kind == "mlp":
        return (f"two-hot MLP, width {cfg.mlp_width}, φ={cfg.mlp_activation}, "
                f"scale {cfg.mlp_output_scale or f'1/{cfg.mlp_width}'}")
    return (f"{cfg.n_layers}L d{cfg.d_model} {cfg.n_heads}h×{cfg.head_dim} mlp {cfg.mlp_dim} "
            f"{cfg.activation}, {cfg.positions}, {cfg.norm_position}-{cfg.norm}, "
            f"dropout {cfg.dropout}, bias {'on' if cfg.use_bias else 'off'}")


def run(args) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from groklab.cli.tasks_cmd import check_p
    from groklab.recipes import RECIPES

    check_p(args.p)
    table = Table(title=f"groklab model presets (task {args.task}, p = {args.p})")
    for col in ("name", "params", "d_vocab", "architecture"):
        table.add_column(col, justify="right" if col in ("params", "d_vocab") else "left")
    for r in preset_rows(args.task, args.p):
        table.add_row(r["name"], f"{r['params']:,}", str(r["d_vocab"]), r["summary"])
    console = Console(width=max(120, Console().width))
    console.print(table)
    recipes = Table(title="recipe presets (groklab train --recipe NAME)")
    for col in ("name", "what it does", "overrides", "source"):
        recipes.add_column(col)
    for r in RECIPES.values():
        recipes.add_row(r.name, escape(r.summary), escape(" ".join(r.overrides) or "—"),
                        escape(r.source))
    console.print(recipes)
    return 0
