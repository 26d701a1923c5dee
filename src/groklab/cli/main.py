"""``groklab`` command line: ``train``, ``distill``, ``transfer``, ``tasks``, ``presets``,
``sweep``, ``report``, ``analyze``.

Every user error is a ``ConfigError``: printed as one line ``groklab: error: ...`` with exit code
2, never a traceback (docs/architecture.md §5).
"""

from __future__ import annotations

import argparse
import sys

from groklab.errors import ConfigError


def build_parser() -> argparse.ArgumentParser:
    from groklab.cli import (
        analyze_cmd,
        distill_cmd,
        presets_cmd,
        report_cmd,
        sweep_cmd,
        tasks_cmd,
        train_cmd,
        transfer_cmd,
    )

    parser = argparse.ArgumentParser(
        prog="groklab",
        description="Study grokking: train small transformers on algorithmic tasks, many seeds "
                    "at once.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    train_cmd.add_parser(sub)
    distill_cmd.add_parser(sub)
    transfer_cmd.add_parser(sub)
    tasks_cmd.add_parser(sub)
    presets_cmd.add_parser(sub)
    sweep_cmd.add_parser(sub)
    report_cmd.add_parser(sub)
    analyze_cmd.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"groklab: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path the user gave cannot be read or written: say which, why
        where = f"{exc.filename!r}: " if exc.filename else ""
        print(f"groklab: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
