"""pandas, the optional dependency of the notebook API: imported only when a table is asked for,
and a one-line ``ConfigError`` naming the extra to install when it is missing."""

from __future__ import annotations

from groklab.errors import ConfigError

INSTALL_HINT = "pip install 'groklab[notebook]'"


def pandas():
    """The ``pandas`` module, or ConfigError saying how to install it."""
    try:
        import pandas as pd
    except ImportError:
        raise ConfigError(f"tables need pandas, which is not installed; {INSTALL_HINT}") from None
    return pd


def frame(records: list[dict], columns: list[str] | tuple[str, ...] = ()):
    """A DataFrame of ``records`` (one row each, columns in the order keys first appear);
    ``columns`` when there are no records, so an empty table still has its columns."""
    pd = pandas()
    if not records:
        return pd.DataFrame(columns=list(columns))
    return pd.DataFrame.from_records(records)
