"""The one error type users see: bad configuration or input.

The CLI prints ``ConfigError`` as a single line and exits with code 2 (docs/architecture.md §5);
everything else is a bug and keeps its traceback.
"""


class ConfigError(ValueError):
    """A value the user gave is not allowed. The message names the value and what is allowed."""
