"""Algorithmic task tables for grokking experiments (docs/architecture.md §4).

``make_task(name, p, layout)`` builds the full input/label table of a task; ``make_split`` splits
it into training and validation rows, optionally with label noise; ``export_csv`` writes it out.
"""

# catalog registers the built-in tasks as a side effect of being imported.
from groklab.tasks import catalog as _catalog  # noqa: F401
from groklab.tasks.export import export_csv
from groklab.tasks.registry import (
    MAX_ROWS,
    TaskSpec,
    describe_tasks,
    get_spec,
    list_tasks,
    make_task,
    register,
    resolve_name,
)
from groklab.tasks.split import Split, make_split, noisy_labels, split_indices
from groklab.tasks.table import LAYOUTS, Task

__all__ = [
    "LAYOUTS",
    "MAX_ROWS",
    "Split",
    "Task",
    "TaskSpec",
    "describe_tasks",
    "export_csv",
    "get_spec",
    "list_tasks",
    "make_split",
    "make_task",
    "noisy_labels",
    "register",
    "resolve_name",
    "split_indices",
]
