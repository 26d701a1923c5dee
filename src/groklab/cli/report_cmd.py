"""``groklab report DIR``: tables, tests and figures of a sweep or a run (groklab.report)."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="tables, tests and figures of a sweep or run directory",
                       description="Write DIR/report.md, DIR/report.html (self-contained), "
                       "DIR/tables/*.csv, *.tex and DIR/figures/report_*.png, *.pdf for a sweep "
                       "directory (groklab sweep ... --out DIR) or a run directory (groklab "
                       "train ... --out DIR).")
    p.add_argument("dir", help="a sweep or run directory")
    p.set_defaults(func=run)


def run(args) -> int:
    from groklab.report.write import write_report

    print(f"report: {write_report(args.dir)}")
    return 0
