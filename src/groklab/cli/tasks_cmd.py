"""``groklab tasks``: list every task; ``groklab tasks export NAME --p P --out FILE.csv``."""

from __future__ import annotations

from groklab.errors import short


def add_parser(sub) -> None:
    p = sub.add_parser("tasks", help="list tasks (or export one as CSV)",
                       description="List every task with its definition and row count for p; "
                                   "`tasks export NAME --p P --out FILE.csv` writes a full table.")
    p.add_argument("action", nargs="?", choices=["list", "export"], default="list")
    p.add_argument("name", nargs="?", help="task to export")
    p.add_argument("--p", type=int, default=97, help="modulus (default 97)")
    p.add_argument("--layout", default="default", help="default [a, op, b, =] or no_op [a, b, =]")
    p.add_argument("--out", help="CSV file to write (export)")
    p.set_defaults(func=run)


def check_p(p: int) -> None:
    """``--p`` of ``groklab tasks`` / ``presets``: a modulus, 2 ≤ p ≤ MAX_INT."""
    from groklab.config import MAX_INT
    from groklab.errors import ConfigError

    if not 2 <= p <= MAX_INT:
        raise ConfigError(f"--p {short(p)} must be an integer in [2, {MAX_INT:,}] (e.g. 97)")


def run(args) -> int:
    from groklab.errors import ConfigError
    from groklab.tasks import describe_tasks, export_csv, make_task
    from groklab.tasks.table import LAYOUTS

    check_p(args.p)
    if args.layout not in LAYOUTS:
        raise ConfigError(f"--layout {short(args.layout)} is not a layout; choose one of "
                          f"{', '.join(LAYOUTS)}")
    if args.action == "export":
        from groklab.runs.paths import check_writable

        if not args.name or not args.out:
            raise ConfigError("tasks export needs a task NAME and --out FILE.csv")
        check_writable(args.out, "--out", kind="file")
        task = make_task(args.name, args.p, args.layout)
        export_csv(task, args.out)
        print(f"wrote {task.n_rows} rows of {task.name} (p={args.p}) to {args.out}")
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"groklab tasks (p = {args.p})")
    for col in ("name", "aliases", "definition", "rows"):
        table.add_column(col, justify="right" if col == "rows" else "left")
    if args.name:
        raise ConfigError(f"tasks takes a NAME only with export (groklab tasks export "
                          f"{short(args.name)} --p P --out FILE.csv)")
    for d in describe_tasks(args.p):
        rows = f"{d['rows']:,}" if isinstance(d["rows"], int) else d["rows"]
        table.add_row(d["name"], escape(" ".join(d["aliases"])), escape(d["definition"]), rows)
    Console(width=max(120, Console().width)).print(table)
    return 0
