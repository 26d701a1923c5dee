"""``groklab sweep --backend ray``: each group of cells (sweeps.batch) is one Ray task, and its
results come back through Ray, so the nodes need no storage in common with the driver.

A task receives plain data (the group's cells as config dicts, never OUT's path), trains the
group with the local backend's code (``sweeps.group.run_group``) in a scratch directory of its
own node (``$TMPDIR/groklab-<group>-<pid>-*``, removed when the task ends), and returns every
file of every cell it finished as plain data: ``{cell: {"files": {relative path: bytes},
"dirs": [relative path, ...]}}`` plus its log lines. Ray carries that back (its own transport;
nothing is pickled into our files); the driver checks the paths, writes each cell with
``runs.files.write_atomic`` into ``OUT/cells/.<cell>.partial`` and renames it to
``OUT/cells/<cell>`` when complete, then rewrites the results table and manifest. Only the
driver writes under OUT.

Faults: a task whose worker process or node dies is run again by Ray (``MAX_RETRIES`` times).
A retry starts the group from scratch in a fresh scratch directory: a task's result is a
function of its input alone (training is deterministic, and cells the driver already holds are
never sent), so a retried task returns the same cells — the same metrics, milestones, statuses
and checkpoints; only wall times and Orbax's ``commit_success.txt`` notes (which name the
scratch path) differ. Partial progress of a dead attempt is not resumed: it lives on a node that
may be gone, and shipping checkpoints both ways would cost more than the retraining that
``max_members`` bounds. A task that still fails after its retries, or raises a ConfigError (not
retried: it would fail again), costs only its group: the other groups finish and are kept, then
a one-line ConfigError names the first failed group and how many more failed; the same command
again trains only the cells that are missing.

``address=None`` starts a local Ray instance (``ray.init()``); otherwise it is passed to
``ray.init(address=...)`` (``auto``, ``HOST:6379``, ``ray://head:10001``, …). The nodes need
groklab installed (the same version as the driver); docs/sweeps.md has the cluster recipe.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from groklab.config import RunConfig
from groklab.errors import ConfigError
from groklab.runs.files import write_atomic
from groklab.sweeps.batch import Group
from groklab.sweeps.group import FINISHED, cell_status
from groklab.sweeps.spec import Cell

MAX_RETRIES = 3  # a task whose worker or node dies is run again this many times
SCRATCH_PREFIX = "groklab-"


def require_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("--backend ray needs Ray: pip install 'groklab[ray]'") from None
    return ray


def group_to_plain(group: Group) -> dict:
    return {"index": group.index, "batched_axes": list(group.batched_axes),
            "cells": [{"index": c.index, "values": c.values, "config": c.config.to_dict()}
                      for c in group.cells]}


def group_from_plain(data: dict) -> Group:
    cells = tuple(Cell(c["index"], c["values"], RunConfig.from_dict(c["config"]))
                  for c in data["cells"])
    return Group(data["index"], cells, tuple(data["batched_axes"]))


def read_tree(root: Path) -> dict:
    """Every file under ``root`` as ``{"files": {relative posix path: bytes}, "dirs": [...]}``
    (directories listed too, so empty ones survive the trip)."""
    files, dirs = {}, []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            raise ConfigError(f"{str(path)!r} is a symlink; a cell directory holds plain files")
        if path.is_dir():
            dirs.append(rel)
        else:
            files[rel] = path.read_bytes()
    return {"files": files, "dirs": dirs}


def train_group(data: dict) -> dict:
    """The task body (runs on a Ray worker): train the group in a local scratch directory and
    return its cells' files and the log lines."""
    from groklab.sweeps.group import run_group

    group = group_from_plain(data)
    scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{group.name}-{os.getpid()}-"))
    try:
        lines = run_group(group, scratch, log=lambda line: None)
        cells = {c.name: read_tree(scratch / "cells" / c.name) for c in group.cells}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"lines": lines, "cells": cells, "host": os.uname().nodename, "pid": os.getpid()}


def _safe(rel: str, cell: str) -> PurePosixPath:
    p = PurePosixPath(rel)
    if p.is_absolute() or not p.parts or any(part in ("", ".", "..") for part in p.parts):
        raise ConfigError(f"cell {cell!r} came back with a path outside it: {rel!r}")
    return p


def write_cell(out: Path, name: str, tree: dict) -> None:
    """Write one cell returned by a task into ``OUT/cells/<name>``: assembled (atomic files) in
    ``.<name>.partial``, renamed when complete, so a reader or a crash sees the old cell or
    the whole new one."""
    dirs = [_safe(rel, name) for rel in tree["dirs"]]  # all checked before anything is written
    files = {_safe(rel, name): data for rel, data in tree["files"].items()}
    cells = out / "cells"
    tmp, final = cells / f".{name}.partial", cells / name
    _remove(tmp)
    tmp.mkdir(parents=True)
    for rel in dirs:
        (tmp / rel).mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        write_atomic(tmp / rel, data)
    _remove(final)  # an unfinished copy from an earlier attempt
    tmp.rename(final)


def _todo(group: Group, out: Path) -> Group | None:
    """The group restricted to the cells OUT does not hold finished (None when all are)."""
    todo = tuple(c for c in group.cells if cell_status(out / "cells" / c.name) not in FINISHED)
    return dataclasses.replace(group, cells=todo) if todo else None


def _crash_types(ray) -> tuple[type, ...]:
    ex = ray.exceptions
    names = ("WorkerCrashedError", "NodeDiedError", "ObjectLostError", "OwnerDiedError",
             "TaskUnschedulableError", "LocalRayletDiedError")
    return tuple(getattr(ex, n) for n in names if hasattr(ex, n))


def run_groups(groups: list[Group], out: Path, address: str | None,
               log: Callable[[str], None], on_group_done: Callable[[], None]) -> None:
    ray = require_ray()
    out = Path(out)
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    pending: dict = {}
    try:
        task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False,
                          scheduling_strategy="SPREAD")(train_group)
        for g in groups:
            todo = _todo(g, out)
            for c in g.cells:
                if todo is None or c not in todo.cells:
                    log(f"[{g.name}] {c.name}: done ({cell_status(out / 'cells' / c.name)}), "
                        "skipped")
            if todo is None:
                _remove_group_dir(out, g)
            else:
                pending[task.remote(group_to_plain(todo))] = todo
        log(f"ray: {len(pending)} task(s) submitted to "
            f"{ray.cluster_resources().get('CPU', 0):g} CPU(s) on "
            f"{sum(1 for n in ray.nodes() if n.get('Alive'))} node(s); "
            f"each retried up to {MAX_RETRIES} times if its worker dies")
        failed: list[str] = []  # one line per group that could not be trained
        crash = _crash_types(ray)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            g = pending.pop(done[0])
            try:
                result = ray.get(done[0])
            except crash as e:  # the worker or node died on every attempt
                failed.append(f"{g.name}: {type(e).__name__} after {MAX_RETRIES} retries")
                log(f"[{g.name}] failed: {type(e).__name__} after {MAX_RETRIES} retries")
                continue
            except ray.exceptions.RayTaskError as e:
                if not isinstance(getattr(e, "cause", None), ConfigError):
                    raise  # a bug: its traceback, from the worker
                failed.append(f"{g.name}: {e.cause}")  # not retried: it would fail again
                log(f"[{g.name}] failed: {e.cause}")
                continue
            for cell in g.cells:
                if cell.name not in result["cells"]:
                    raise ConfigError(f"{g.name}: the task returned no cell {cell.name!r}")
                write_cell(out, cell.name, result["cells"][cell.name])
            _remove_group_dir(out, g)
            log(f"[{g.name}] trained on {result['host']} (pid {result['pid']}); "
                f"{len(g.cells)} cell(s) staged back to the driver")
            for line in result["lines"]:
                log(f"[{g.name}] {line}")
            del result
            on_group_done()
        if failed:
            more = f" (and {len(failed) - 1} more group(s))" if len(failed) > 1 else ""
            raise ConfigError(f"ray: {failed[0]}{more}; the other groups are saved: run the "
                              "same command again to train what is missing")
    finally:
        for ref in pending:  # the driver stops early: do not leave its tasks training
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()


def _remove_group_dir(out: Path, group: Group) -> None:
    """A local backend's group directory left by an interrupted earlier run is obsolete once
    every cell of the group is out (the local backend removes it then too)."""
    _remove(out / "groups" / group.name)
    groups_dir = out / "groups"
    if groups_dir.is_dir() and not any(groups_dir.iterdir()):
        groups_dir.rmdir()


def _remove(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
