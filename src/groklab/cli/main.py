"""``groklab`` command line: ``train``, ``distill``, ``transfer``, ``tasks``, ``presets``,
``sweep``, ``report``, ``analyze``, ``export``, ``quantize``.

Every user error is one line ``groklab: error: ...`` on stderr with exit code 2, never a
traceback (docs/architecture.md §5, docs/reliability.md §4): a ``ConfigError``, a path that
cannot be read or written (``OSError``), and argparse's own usage errors (an unknown flag, a
value of the wrong type), which point at ``groklab COMMAND --help`` instead of printing the usage.
"""

from __future__ import annotations

import argparse
import os
import sys

from groklab.errors import ConfigError, short

# An error line is at most this long, whatever value it quotes (messages shorten the values they
# name with ``groklab.errors.short``; this is the last guard).
MAX_ERROR_CHARS = 600


class UsageError(Exception):
    """argparse could not read the command line; ``prog`` is the (sub)command it was reading."""

    def __init__(self, message: str, prog: str):
        super().__init__(message)
        self.prog = prog


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: raised to ``main`` instead of printing the
    usage and exiting (subcommand parsers are of this class too)."""

    def __init__(self, *args, **kwargs):
        # a flag is spelled out: argparse would otherwise read --lr as --lr_schedule and
        # --epoch as --epochs, silently
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise UsageError(message, self.prog)


def build_parser() -> argparse.ArgumentParser:
    from groklab.cli import (
        analyze_cmd,
        distill_cmd,
        export_cmd,
        presets_cmd,
        quantize_cmd,
        report_cmd,
        sweep_cmd,
        tasks_cmd,
        train_cmd,
        transfer_cmd,
    )

    parser = Parser(
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
    export_cmd.add_parser(sub)
    quantize_cmd.add_parser(sub)
    return parser


def one_line(text: str) -> str:
    """``text`` as one bounded line: line breaks become spaces, and it is cut at
    ``MAX_ERROR_CHARS``."""
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + "… (cut)"


def error(message: str) -> int:
    print(f"groklab: error: {one_line(message)}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Run ``groklab ARGV`` (``sys.argv[1:]`` when None) and return its exit code. As the
    ``groklab`` command itself (``argv`` None) after work that started JAX, the process ends at
    once (:func:`exit_now`) instead of returning."""
    code = run_command(argv)
    if argv is None and "jax" in sys.modules and fast_exit_allowed():
        exit_now(code)
    return code


FAST_EXIT_ENV = "GROKLAB_FAST_EXIT"


def fast_exit_allowed() -> bool:
    """Not when ``GROKLAB_FAST_EXIT=0``, nor under a profiler or tracer (``python -m cProfile``
    writes its statistics after ``main`` returns)."""
    return (os.environ.get(FAST_EXIT_ENV, "1") != "0" and sys.getprofile() is None
            and sys.gettrace() is None)


def exit_now(code: int) -> None:
    """End the process as Python's own exit would, without its finalization: every non-daemon
    thread is joined and every ``atexit`` function runs (logging, Orbax, W&B, Ray flush and close
    there), the standard streams are flushed, then ``os._exit``. What is skipped is tearing down
    JAX's and the other modules' objects one by one: 0.4–0.7 s after a run on 2 cores
    (docs/performance.md "Start-up"). Every file groklab writes is closed (and renamed into
    place) before this."""
    import atexit
    import threading

    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code)


def run_command(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
    except UsageError as exc:
        return error(f"{exc} (see {exc.prog} --help)")
    except SystemExit as exc:  # --help (exit 0)
        return exc.code if isinstance(exc.code, int) else 0
    if not getattr(args, "func", None):
        if extra:
            return error(f"unrecognized arguments: {' '.join(extra)} (see groklab --help)")
        parser.print_help()
        return 2
    if extra:
        return error(f"unrecognized arguments: {' '.join(extra)} (see groklab {args.command} "
                     "--help)")
    from groklab import compile_cache

    compile_cache.enable()  # sets JAX's environment only: no JAX import here
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        return error(str(exc))
    except OSError as exc:  # a path the user gave cannot be read or written: say which, why
        where = f"{short(str(exc.filename), 200)}: " if exc.filename else ""
        return error(f"{where}{exc.strerror or exc}")


if __name__ == "__main__":
    sys.exit(main())
