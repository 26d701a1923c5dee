"""``groklab sweep --backend ray``: each group of cells (sweeps.batch) is one Ray task.

A task trains its group with the same code as the local backend (``sweeps.group.run_group``) and
writes the cells into ``OUT/cells/``; the driver rewrites the results table and manifest as each
task finishes, so the table is the local backend's. Tasks receive plain data (the cells'
configs as dicts), never objects of this process. On a multi-node cluster OUT must be on a
filesystem every node sees (NFS, a mounted bucket); the package must be installed on the nodes.

``address=None`` starts a local Ray instance (``ray.init()``); otherwise it is passed to
``ray.init(address=...)`` (``auto``, ``ray://head:10001``, …).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from groklab.config import RunConfig
from groklab.errors import ConfigError
from groklab.sweeps.batch import Group
from groklab.sweeps.spec import Cell


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


def _train_group(data: dict, out: str) -> list[str]:
    """The task body (runs on a Ray worker)."""
    from groklab.sweeps.group import run_group

    return run_group(group_from_plain(data), Path(out), log=lambda line: None)


def run_groups(groups: list[Group], out: Path, address: str | None,
               log: Callable[[str], None], on_group_done: Callable[[], None]) -> None:
    ray = require_ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1)(_train_group)
        pending = {task.remote(group_to_plain(g), str(Path(out).resolve())): g for g in groups}
        log(f"ray: {len(pending)} task(s) submitted to "
            f"{ray.cluster_resources().get('CPU', 0):g} CPU(s)")
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            g = pending.pop(done[0])
            for line in ray.get(done[0]):
                log(f"[{g.name}] {line}")
            on_group_done()
    finally:
        if started_here:
            ray.shutdown()
