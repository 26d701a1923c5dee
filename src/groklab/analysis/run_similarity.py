"""Two runs' models compared on the same rows: linear CKA at matching hook points and the full
hook × hook CKA matrix (docs/architecture.md §4).

Seed s of one run is compared with seed s of the other, on seed s's validation rows of the
first run. That is only meaningful when both were trained on the same task and split (a
distillation student and its teacher are); anything else is refused unless forced. Hook
points match by name; when the depths differ, block i of the shallower model is matched to
block ``layer_map`` of the deeper one (spread evenly, last to last, as for attention transfer).
"""

from __future__ import annotations

import numpy as np

from groklab.errors import ConfigError
from groklab.objectives.distill import layer_map


def check_comparable(a, b, force: bool) -> tuple[int, ...]:
    """The seeds both subjects have; refuses other tasks, vocabularies or splits (unless
    ``force``: then only the vocabulary and the input length must agree)."""
    ta, tb = a.task, b.task
    where = f"{b.loaded.ref.role} {str(b.loaded.ref.path)!r}"
    if ta.d_vocab != tb.d_vocab or ta.n_ctx != tb.n_ctx:
        raise ConfigError(f"{where} reads inputs of {tb.n_ctx} tokens over a vocabulary of "
                          f"{tb.d_vocab}, the analysed run {ta.n_ctx} over {ta.d_vocab}: the "
                          "same rows cannot be fed to both")
    if not force and (ta.name, ta.p, ta.layout) != (tb.name, tb.p, tb.layout):
        raise ConfigError(f"{where} was trained on {tb.name} mod {tb.p} ({tb.layout}), the "
                          f"analysed run on {ta.name} mod {ta.p} ({ta.layout}); pass --force to "
                          "compare them on the analysed run's rows anyway")
    common = tuple(s for s in a.seeds if s in b.seeds)
    if not common:
        raise ConfigError(f"{where} has seeds {list(b.seeds)}, the analysed run "
                          f"{list(a.seeds)}: no seed in common to compare")
    if not force:
        for s in common:
            ia, ib = a.seeds.index(s), b.seeds.index(s)
            if not np.array_equal(a.split["val_idx"][ia], b.split["val_idx"][ib]):
                raise ConfigError(f"{where}, seed {s}: its split differs from the analysed "
                                  "run's (different validation rows); pass --force to compare "
                                  "on the analysed run's validation rows anyway")
    return common


def matching_hooks(hooks_a: tuple[str, ...], hooks_b: tuple[str, ...], depth_a: int,
                   depth_b: int) -> list[tuple[str, str]]:
    """Pairs (hook of a, hook of b) at the same point: same name, with block indices mapped
    when the depths differ."""
    if depth_a == depth_b:
        return [(h, h) for h in hooks_a if h in hooks_b]
    shallow, deep = (depth_a, depth_b) if depth_a < depth_b else (depth_b, depth_a)
    to_deep = dict(enumerate(layer_map(shallow, deep)))
    pairs = []
    for h in (hooks_a if depth_a < depth_b else hooks_b):
        parts = h.split(".")
        if parts[0] != "blocks":
            continue
        mapped = ".".join(["blocks", str(to_deep[int(parts[1])]), *parts[2:]])
        pair = (h, mapped) if depth_a < depth_b else (mapped, h)
        if pair[0] in hooks_a and pair[1] in hooks_b:
            pairs.append(pair)
    return pairs
