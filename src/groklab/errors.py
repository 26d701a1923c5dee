"""The one error type users see (bad configuration or input), and the one way to warn them.

The CLI prints ``ConfigError`` as a single line and exits with code 2 (docs/architecture.md §5);
everything else is a bug and keeps its traceback.
"""


class ConfigError(ValueError):
    """A value the user gave is not allowed. The message names the value and what is allowed."""


def warn(message: str) -> None:
    """A one-line note on stderr about something groklab repaired or worked around (a damaged
    checkpoint it fell back from, a damaged metrics line it set aside): never silent, never a
    traceback."""
    import sys

    print(f"groklab: warning: {message}", file=sys.stderr, flush=True)


def short(value, limit: int = 60) -> str:
    """``repr(value)`` bounded for an error message: at most about ``limit`` characters, however
    large or deeply nested the value (a YAML alias bomb, a megabyte string), never expanded in
    full. Error messages name the value at fault with this."""
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxstring, r.maxother = 3, limit, limit
    r.maxlist = r.maxtuple = r.maxdict = r.maxset = r.maxfrozenset = 6
    try:
        text = r.repr(value)
    except ValueError:  # an int beyond Python's 4300-digit str limit
        text = f"<an integer of {value.bit_length()} bits>" if isinstance(value, int) \
            else f"<{type(value).__name__}>"
    return text if len(text) <= limit + 10 else text[:limit] + "…"
