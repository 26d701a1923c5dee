"""Task registry: look tasks up by name or alias, check p, and build (cached) ``Task`` tables.

The built-in tasks are registered in ``groklab.tasks.catalog``; ``register`` is public so that
experiments can add their own. A table is refused (``ConfigError``) when p is not an integer, when
p < 2 for a task that uses p, when it would exceed ``MAX_ROWS`` rows, or when the task divides
and p is not prime.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field

from groklab.errors import ConfigError
from groklab.tasks.modular import is_prime
from groklab.tasks.table import LAYOUTS, RawTable, Task, assemble

# Keeps every table (and the CSV export) small enough to build in about a second.
MAX_ROWS = 2_000_000


@dataclass(frozen=True)
class TaskSpec:
    """Everything known about a task before building it.

    ``definition`` is one line with p symbolic; ``rows(p)`` gives the table size without building
    it; ``build(p)`` computes operands and labels. ``uses_p`` is False for tasks (S5, bit strings)
    whose table does not depend on p at all.
    """

    name: str
    definition: str
    kind: str
    reference: str
    rows: Callable[[int], int] = field(repr=False, compare=False)
    build: Callable[[int], RawTable] = field(repr=False, compare=False)
    aliases: tuple[str, ...] = ()
    needs_prime: bool = False
    uses_p: bool = True

    def n_rows(self, p: int) -> int:
        """Number of rows in the full table for modulus ``p`` (no validity check)."""
        return int(self.rows(p))


_SPECS: dict[str, TaskSpec] = {}
_ALIASES: dict[str, str] = {}


def register(spec: TaskSpec) -> TaskSpec:
    """Add ``spec`` to the registry; names and aliases must not clash with existing ones."""
    for key in (spec.name, *spec.aliases):
        if key in _SPECS or key in _ALIASES:
            raise ValueError(f"task name or alias {key!r} is already registered")
    _SPECS[spec.name] = spec
    for alias in spec.aliases:
        _ALIASES[alias] = spec.name
    return spec


def list_tasks() -> list[TaskSpec]:
    """All registered task specs, in registration order."""
    return list(_SPECS.values())


def resolve_name(name: str) -> str:
    """Canonical name for a task name or alias (case-insensitive); ``ConfigError`` if unknown."""
    if not isinstance(name, str):
        raise ConfigError(f"task name {name!r} is not a string; known tasks: {_known()}")
    key = name.strip()
    for candidate in (key, key.lower()):
        if candidate in _SPECS:
            return candidate
        if candidate in _ALIASES:
            return _ALIASES[candidate]
    raise ConfigError(f"unknown task {name!r}; known tasks: {_known()}")


def get_spec(name: str) -> TaskSpec:
    """The ``TaskSpec`` of a task name or alias."""
    return _SPECS[resolve_name(name)]


def _known() -> str:
    return ", ".join(_SPECS)


def _check_p_type(p: object) -> int:
    if isinstance(p, bool) or not isinstance(p, numbers.Integral):
        raise ConfigError(f"p={p!r} is not an integer; p must be an integer ≥ 2 (e.g. 97)")
    return int(p)


def _largest_p(spec: TaskSpec) -> int:
    """Largest p ≥ 2 whose table fits in ``MAX_ROWS`` (prime if the task needs one)."""
    lo, hi = 2, 2
    while spec.n_rows(hi) <= MAX_ROWS:
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # invariant: rows(lo) fits, rows(hi) does not
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if spec.n_rows(mid) <= MAX_ROWS else (lo, mid)
    while spec.needs_prime and not is_prime(lo):
        lo -= 1
    return lo


def _unavailable(spec: TaskSpec, p: int) -> tuple[str, str] | None:
    """Why ``spec`` cannot be built for ``p``: (short table cell, full error message), or None."""
    if not spec.uses_p:
        return None
    if p < 2:
        return ("n/a (needs p ≥ 2)",
                f"p={p} is too small; task '{spec.name}' needs p ≥ 2 (e.g. 97)")
    # Size before primality, so a huge p never reaches the trial-division prime test.
    rows = spec.n_rows(p)
    if rows > MAX_ROWS:
        message = (f"p={p} gives {rows:,} rows for task '{spec.name}', over the limit of "
                   f"{MAX_ROWS:,}; use p ≤ {_largest_p(spec)}")
        return ("too large", message)
    if spec.needs_prime and not is_prime(p):
        return ("n/a (needs prime p)",
                f"p={p} is not prime; task '{spec.name}' needs a prime modulus (e.g. 97)")
    return None


def make_task(name: str, p: int = 97, layout: str = "default") -> Task:
    """Build the full table of task ``name`` (canonical name or alias) for modulus ``p``.

    ``layout`` is ``"default"`` ([a, op, b, =], d_vocab = p + 2) or ``"no_op"`` ([a, b, =],
    d_vocab = p + 1); see ``groklab.tasks.table``. Results are cached; arrays are read-only.
    """
    canonical = resolve_name(name)
    p = _check_p_type(p)
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown layout {layout!r}; known layouts: {', '.join(LAYOUTS)}")
    problem = _unavailable(_SPECS[canonical], p)
    if problem is not None:
        raise ConfigError(problem[1])
    return _build(canonical, p, layout)


@functools.lru_cache(maxsize=32)
def _build(canonical: str, p: int, layout: str) -> Task:
    spec = _SPECS[canonical]
    return assemble(spec.name, spec.definition, p, spec.build(p), layout)


def describe_tasks(p: int) -> list[dict]:
    """One dict per registered task for the ``groklab tasks`` table.

    Keys: ``name``, ``aliases`` (tuple of str), ``definition`` (p symbolic) and ``rows``: the row
    count for this p, or a string such as ``"n/a (needs prime p)"`` or ``"too large"``.
    """
    p = _check_p_type(p)
    out = []
    for spec in _SPECS.values():
        problem = _unavailable(spec, p)
        out.append({
            "name": spec.name,
            "aliases": spec.aliases,
            "definition": spec.definition,
            "rows": spec.n_rows(p) if problem is None else problem[0],
        })
    return out
