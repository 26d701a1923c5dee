"""XLA CPU flags that pay on groklab's workloads, set before JAX starts its CPU backend.

``--xla_cpu_experimental_ynn_fusion_type=-reduce``: XLA's CPU backend hands row reductions
(RMSNorm/LayerNorm statistics, softmax sums and their backward) to YNNPACK by default; on the
short rows of these models each took ≈ 1 ms, 6 ms of a 34 ms seed-teacher step. Without them
the step takes ≈ 28.5 ms and the evaluation is unchanged (docs/performance.md). The flag only
touches the CPU backend. It is not added when XLA_FLAGS already sets it, or when
``GROKLAB_XLA_FLAGS=0``; it has no effect if JAX's CPU backend was started before groklab was
imported.
"""

from __future__ import annotations

import os

CPU_FLAGS = ("--xla_cpu_experimental_ynn_fusion_type=-reduce",)


def apply() -> None:
    if os.environ.get("GROKLAB_XLA_FLAGS", "1") == "0":
        return
    flags = os.environ.get("XLA_FLAGS", "")
    extra = [f for f in CPU_FLAGS if f.split("=", 1)[0] not in flags]
    if extra:
        os.environ["XLA_FLAGS"] = " ".join([flags, *extra]).strip()
