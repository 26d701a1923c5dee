"""The stop rule of a group of seeds, one rule for a run and for each cell of a batched sweep.

A group ends at an evaluation when every seed has diverged (``diverged``), when every live seed
has reached ``stop_at`` val accuracy (``stopped_early``, or ``completed`` if that is also the
last step), or at the budget (``completed``).
"""

from __future__ import annotations

from collections.abc import Sequence

from groklab.engine.milestones import Milestones


def stop_status(milestones: Sequence[Milestones], step: int, total_steps: int,
                stop_at: float | None) -> str | None:
    """The status the group ends with at ``step``, or None while it goes on."""
    alive = [m for m in milestones if m.diverged_step is None]
    if not alive:
        return "diverged"
    if stop_at is not None and all(m.reached(stop_at) for m in alive):
        return "stopped_early" if step < total_steps else "completed"
    if step >= total_steps:
        return "completed"
    return None
