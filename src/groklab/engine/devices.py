"""Seeds across devices: with several local devices (GPUs, TPU cores, or CPU devices forced with
``--xla_force_host_platform_device_count``) the seed axis is split across them with a
``NamedSharding``; the compiled program is then partitioned by XLA, each device training its own
seeds. Arrays without a seed axis (the task table) are replicated. With one device, or when the
seed count shares no factor with the device count, nothing is placed and everything runs as
before.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


class SeedPlacement:
    """Where a run's seed-indexed arrays live."""

    def __init__(self, n_seeds: int, devices=None):
        devices = list(devices if devices is not None else jax.local_devices())
        k = math.gcd(n_seeds, len(devices))
        self.mesh = Mesh(np.array(devices[:k]), ("seeds",)) if k > 1 else None

    @property
    def n_devices(self) -> int:
        return 1 if self.mesh is None else self.mesh.size

    def seeds(self, tree):
        """Split every leaf's leading (seed) axis across the devices."""
        if self.mesh is None:
            return tree
        return jax.device_put(tree, NamedSharding(self.mesh, PartitionSpec("seeds")))

    def shared(self, tree):
        """Replicate on every device."""
        if self.mesh is None:
            return tree
        return jax.device_put(tree, NamedSharding(self.mesh, PartitionSpec()))

    def data(self, data):
        """A ``Data`` pytree: the per-seed arrays split, the task table replicated."""
        if self.mesh is None:
            return data
        return dataclasses.replace(data, shared=self.shared(data.shared),
                                   seeds=self.seeds(data.seeds))
