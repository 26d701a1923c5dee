"""Orbax checkpoints of a run (no pickle: arrays in tensorstore/OCDBT, metadata as JSON).

Layout under ``DIR/checkpoints/``:
- ``params/<step>/``: the model parameters of every seed (leading seed axis) plus JSON metadata
  (full resolved config, step, epoch, seeds). Kept at log-spaced, periodic and final steps: what
  distillation, transfer and analysis load.
- ``state/<step>/``: the full training state (parameters, optimizer state, divergence flags) for
  ``--resume``; only the latest is kept, because optimizer moments double the size.
Orbax writes each step to a temporary directory and renames it when complete, so a kill at any
moment leaves only complete checkpoints.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp

from groklab.errors import ConfigError


def _manager(path: Path, keep: int | None) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=True, enable_async_checkpointing=False,
        cleanup_tmp_directories=True,
    )
    return ocp.CheckpointManager(path.resolve(), options=options)


class Checkpoints:
    def __init__(self, directory: str | Path):
        self.dir = Path(directory).resolve()
        self._params = _manager(self.dir / "params", None)
        self._state = _manager(self.dir / "state", 1)

    def save(self, step: int, params, state, metadata: dict, keep_params: bool = True) -> None:
        """Save the resumable state (always) and the parameters (when ``keep_params``)."""
        if keep_params:
            self._params.save(step, args=ocp.args.Composite(
                params=ocp.args.StandardSave(params), metadata=ocp.args.JsonSave(metadata)))
        self._state.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), metadata=ocp.args.JsonSave(metadata)))
        self._params.wait_until_finished()
        self._state.wait_until_finished()

    def save_params(self, step: int, params, metadata: dict) -> None:
        """Save parameters only (a past step that has no resumable state)."""
        self._params.save(step, args=ocp.args.Composite(
            params=ocp.args.StandardSave(params), metadata=ocp.args.JsonSave(metadata)))
        self._params.wait_until_finished()

    def latest_state_step(self) -> int | None:
        return self._state.latest_step()

    def param_steps(self) -> list[int]:
        return sorted(self._params.all_steps())

    def restore_state(self, step: int, abstract_state):
        """The training state at ``step``, shaped like ``abstract_state``."""
        out = self._state.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(_abstract(abstract_state)),
            metadata=ocp.args.JsonRestore()))
        return out["state"], out["metadata"]

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
        return out["params"], out["metadata"]

    def close(self) -> None:
        self._params.close()
        self._state.close()


def _abstract(tree):
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(np.shape(x), x.dtype) if hasattr(x, "dtype") else x, tree
    )
