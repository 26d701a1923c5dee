"""CSV export of a full task table, so it can be inspected or used outside groklab.

Format: header ``tokens,label``, then one line per table row in table order (before any split):
the input token ids separated by single spaces, a comma, and the label token id.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from groklab.errors import ConfigError
from groklab.tasks.table import Task

_CHUNK_ROWS = 65_536


def export_csv(task: Task, path: str | os.PathLike) -> None:
    """Write ``task`` to ``path`` as CSV, atomically.

    The data goes to a temporary file in the same directory which then replaces ``path`` with
    ``os.replace``, so readers see either the old file or the complete new one, never a partial.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"--out {str(path)!r} is a directory; give a file path, e.g. "
                          f"{str(path / (task.name + '.csv'))!r}")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise ConfigError(f"cannot write {str(path)!r}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="ascii", newline="") as f:
            f.write("tokens,label\n")
            for start in range(0, task.n_rows, _CHUNK_ROWS):
                tokens = task.tokens[start:start + _CHUNK_ROWS].tolist()
                labels = task.labels[start:start + _CHUNK_ROWS].tolist()
                f.writelines(f"{' '.join(map(str, row))},{label}\n"
                             for row, label in zip(tokens, labels))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        # Leave no stray temp file behind when writing fails or is interrupted.
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise
