"""CSV export of a full task table, so it can be inspected or used outside groklab.

Format: header ``tokens,label``, then one line per table row in table order (before any split):
the input token ids separated by single spaces, a comma, and the label token id.
"""

from __future__ import annotations

import os
from pathlib import Path

from groklab.atomic import atomic_open
from groklab.errors import ConfigError
from groklab.tasks.table import Task

_CHUNK_ROWS = 65_536


def export_csv(task: Task, path: str | os.PathLike) -> None:
    """Write ``task`` to ``path`` as CSV, atomically.

    ``groklab.atomic.atomic_open``: readers see either the old file or the complete new one,
    never a partial, and the file gets the umask's mode (0644 by default).
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"--out {str(path)!r} is a directory; give a file path, e.g. "
                          f"{str(path / (task.name + '.csv'))!r}")
    try:
        with atomic_open(path, "w", encoding="ascii", newline="") as f:
            f.write("tokens,label\n")
            for start in range(0, task.n_rows, _CHUNK_ROWS):
                tokens = task.tokens[start:start + _CHUNK_ROWS].tolist()
                labels = task.labels[start:start + _CHUNK_ROWS].tolist()
                f.writelines(f"{' '.join(map(str, row))},{label}\n"
                             for row, label in zip(tokens, labels))
    except OSError as e:  # a missing folder, no permission, a full disk: nothing is left
        raise ConfigError(f"cannot write {str(path)!r}: {e.strerror or e}") from None
