"""``groklab report DIR``: the results tables and tests of a sweep (groklab.report)."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="tables and tests of a sweep directory",
                       description="Write DIR/report.md and DIR/tables/*.csv, *.tex for a sweep "
                       "directory (groklab sweep ... --out DIR).")
    p.add_argument("dir", help="a sweep directory")
    p.set_defaults(func=run)


def run(args) -> int:
    from groklab.report.write import write_report

    print(f"report: {write_report(args.dir)}")
    return 0
