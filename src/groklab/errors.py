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
