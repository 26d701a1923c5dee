"""The patterns that select parameters by name (``--freeze``, ``--reinit``).

Parameters are named as in ``groklab.params``: ``embed.embedding``,
``blocks.0.attn.q.kernel``, ``unembed.kernel`` (``groklab transfer --list_params RUN_DIR``
prints them). A pattern is a dotted prefix of such names whose parts may use shell wildcards
(``fnmatch``): ``embed`` selects the embedding, ``blocks.0`` everything in the first block,
``blocks.*.attn`` every attention layer, ``blocks.*.mlp.w_in`` every MLP input matrix (``*``
stands for one part).
Parts match whole parts, so ``embed`` does not select ``unembed``.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

import numpy as np

from groklab.errors import ConfigError
from groklab.params import named_leaves


def matches(pattern: str, name: str) -> bool:
    """True when the dotted ``pattern`` matches the first parts of ``name``."""
    want, have = pattern.split("."), name.split(".")
    return len(want) <= len(have) and all(fnmatchcase(h, w) for w, h in zip(want, have))


def select(patterns, names: list[str], flag: str) -> set[str]:
    """The names matched by any of ``patterns``; a pattern that matches nothing is an error
    that lists the valid names."""
    chosen: set[str] = set()
    for pattern in patterns:
        hit = {n for n in names if matches(pattern, n)}
        if not hit:
            raise ConfigError(f"{flag} pattern {pattern!r} matches no parameter; parameters: "
                              f"{', '.join(names)}")
        chosen |= hit
    return chosen


def split_patterns(items) -> tuple[str, ...]:
    """("embed,unembed", "blocks.0") -> ("embed", "unembed", "blocks.0")."""
    return tuple(x.strip() for item in items for x in str(item).split(",") if x.strip())


def describe_params(params) -> list[dict]:
    """Name, shape and size of every parameter of one model (no seed axis)."""
    return [{"name": name, "shape": list(x.shape), "size": int(np.prod(x.shape))}
            for name, x in named_leaves(params).items()]
