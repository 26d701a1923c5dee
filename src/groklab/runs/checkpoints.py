"""Orbax checkpoints of a run (no pickle: arrays in tensorstore/OCDBT, metadata as JSON).

Layout under ``DIR/checkpoints/``:
- ``params/<step>/``: the model parameters of every seed (leading seed axis) plus JSON metadata
  (full resolved config, step, epoch, seeds). Kept at log-spaced, periodic and final steps: what
  distillation, transfer and analysis load.
- ``state/<step>/``: the full training state (parameters, optimizer state, divergence flags) for
  ``--resume``; the latest two are kept (optimizer moments double the size), so a damaged
  latest one leaves an older one to fall back on (``experiments.writer.RunWriter.reopen``).
Orbax writes each step to a temporary directory and renames it when complete, so a kill at any
moment leaves only complete checkpoints. Damage afterwards is caught on restore: a file that
cannot be decoded fails in Orbax, and a bit flipped inside an array (which decodes fine) fails
the SHA-256 of the arrays that each checkpoint's metadata records (``tree_digest``).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp

from groklab.errors import ConfigError
from groklab.params import named_leaves

STATES_KEPT = 2


TEMPORARY_MARK = ".orbax-checkpoint-tmp"  # Orbax saves a step under <step><mark>-<n>, then renames


def _remove_unfinished_saves(path: Path) -> None:
    """Remove what a save killed before its rename left behind. Done here, synchronously:
    Orbax's own clean-up runs in a background future that nothing waits for when no save
    follows, so the leftovers could outlive the writer that opened the run."""
    if path.is_dir():
        for entry in path.iterdir():
            if TEMPORARY_MARK in entry.name:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def _manager(path: Path, keep: int | None, read_only: bool) -> ocp.CheckpointManager:
    # a reader must not tidy up: the temporary directory it would remove may be a checkpoint
    # that the run's writer is saving at this moment
    if not read_only:
        _remove_unfinished_saves(path)
    options = ocp.CheckpointManagerOptions(
        max_to_keep=None if read_only else keep, create=not read_only,
        enable_async_checkpointing=False, cleanup_tmp_directories=False,
        read_only=read_only, save_interval_steps=0 if read_only else 1,
    )
    absl = logging.getLogger("absl")
    level = absl.level
    if read_only:  # Orbax warns that a read-only manager is read-only: say nothing instead
        absl.setLevel(logging.ERROR)
    try:
        return ocp.CheckpointManager(path.resolve(), options=options)
    finally:
        absl.setLevel(level)


class DamagedCheckpoint(Exception):
    """A checkpoint whose arrays differ from the digest saved with them."""


def tree_digest(tree) -> str:
    """SHA-256 over every array of ``tree`` (name, dtype, shape, bytes), in name order, so the
    digest does not depend on how the tree was restored (NNX state or plain dicts)."""
    h = hashlib.sha256()
    for name, leaf in sorted(named_leaves(jax.device_get(tree)).items()):
        a = np.ascontiguousarray(np.asarray(leaf))
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _verify(tree, metadata: dict, key: str, where: str):
    saved = metadata.get(key)
    if saved is not None and tree_digest(tree) != saved:
        raise DamagedCheckpoint(f"{where}: its arrays do not match the checksum saved with them")
    return tree


class Checkpoints:
    """A run's checkpoints. ``read_only`` for readers (analysis, a teacher or source run, the
    Python API): they never delete or tidy anything, so reading a run that is still training
    is safe. Use as a context manager, or call ``close``."""

    def __init__(self, directory: str | Path, read_only: bool = False):
        self.dir = Path(directory).resolve()
        self._params = _manager(self.dir / "params", None, read_only)
        self._state = _manager(self.dir / "state", STATES_KEPT, read_only)

    def __enter__(self) -> Checkpoints:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def save(self, step: int, params, state, metadata: dict, keep_params: bool = True) -> None:
        """Save the resumable state (always) and the parameters (when ``keep_params``), each
        with its digest in the metadata. Parameters first: a kill in between leaves them without
        their state, which a resume treats like any checkpoint after its restart step."""
        if keep_params:
            self.save_params(step, params, metadata)
        self._state.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            metadata=ocp.args.JsonSave(metadata | {"state_sha256": tree_digest(state)})))
        self._state.wait_until_finished()

    def save_params(self, step: int, params, metadata: dict) -> None:
        """Save parameters only (a past step that has no resumable state)."""
        self._params.save(step, args=ocp.args.Composite(
            params=ocp.args.StandardSave(params),
            metadata=ocp.args.JsonSave(metadata | {"params_sha256": tree_digest(params)})))
        self._params.wait_until_finished()

    def latest_state_step(self) -> int | None:
        return self._state.latest_step()

    def state_steps(self) -> list[int]:
        return sorted(self._state.all_steps())

    def delete_after(self, step: int) -> None:
        """Remove every checkpoint after ``step`` (a resume from ``step`` writes them again)."""
        for manager in (self._params, self._state):
            for s in manager.all_steps():
                if s > step:
                    manager.delete(s)

    def param_steps(self) -> list[int]:
        return sorted(self._params.all_steps())

    def restore_state(self, step: int, abstract_state):
        """The training state at ``step``, shaped like ``abstract_state``, checked against its
        digest (``DamagedCheckpoint`` when it differs; Orbax's own errors when a file is gone or
        cannot be decoded)."""
        out = self._state.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(_abstract(abstract_state)),
            metadata=ocp.args.JsonRestore()))
        _verify(out["state"], out["metadata"], "state_sha256", f"state/{step}")
        return out["state"], out["metadata"]

    def state_metadata(self, step: int) -> dict:
        """The JSON metadata saved with ``state/<step>`` ({} when it cannot be read)."""
        try:
            out = self._state.restore(step, args=ocp.args.Composite(
                metadata=ocp.args.JsonRestore()))
            return dict(out["metadata"] or {})
        except Exception:  # noqa: BLE001 - a damaged checkpoint: no metadata to show
            return {}

    def restore_params(self, step: int | None = None, abstract_params=None):
        """(params, metadata) at ``step`` (latest if None). Without ``abstract_params`` the arrays
        come back as a plain nested dict of numpy/jax arrays."""
        steps = self.param_steps()
        if not steps:
            raise ConfigError(f"no checkpoint in {str(self.dir)!r}")
        step = steps[-1] if step is None else step
        if step not in steps:
            raise ConfigError(f"no checkpoint at step {step} in {str(self.dir)!r}; "
                              f"steps saved: {steps}")
        restore = (ocp.args.StandardRestore(_abstract(abstract_params))
                   if abstract_params is not None else ocp.args.StandardRestore())
        out = self._params.restore(step, args=ocp.args.Composite(
            params=restore, metadata=ocp.args.JsonRestore()))
        try:
            _verify(out["params"], out["metadata"], "params_sha256", f"params/{step}")
        except DamagedCheckpoint as e:
            raise ConfigError(f"checkpoint {str(self.dir)!r} {e}; it cannot be trusted") from None
        return out["params"], out["metadata"]

    def close(self) -> None:
        self._params.close()
        self._state.close()


def _abstract(tree):
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(np.shape(x), x.dtype) if hasattr(x, "dtype") else x, tree
    )
