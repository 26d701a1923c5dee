"""Named intermediates ("hook points"), captured only when asked for.

Names follow TransformerLens (``hook_embed``, ``blocks.0.attn.hook_pattern``,
``blocks.1.hook_resid_post``, ...). A module calls ``rec(name, value)`` at each hook point; the
recorder keeps the value only if ``name`` was requested. The decision is made while tracing, so a
forward pass that requests nothing traces to exactly the same jaxpr as one without a recorder:
training pays nothing. (We gate by name at trace time rather than with ``Module.sow``, which would
store every value into the module and make the pure ``nnx.split`` state carry them.)
"""

from __future__ import annotations

from collections.abc import Iterable

import jax

from groklab.errors import ConfigError

# Short names accepted by ``ActivationCache[(short, layer)]``.
_SHORT = {
    "resid_pre": "hook_resid_pre",
    "resid_mid": "hook_resid_mid",
    "resid_post": "hook_resid_post",
    "attn_out": "hook_attn_out",
    "mlp_out": "hook_mlp_out",
    "q": "attn.hook_q",
    "k": "attn.hook_k",
    "v": "attn.hook_v",
    "z": "attn.hook_z",
    "attn_scores": "attn.hook_attn_scores",
    "pattern": "attn.hook_pattern",
    "pre": "mlp.hook_pre",
    "post": "mlp.hook_post",
}


class Recorder:
    """Collects requested intermediates during one forward pass."""

    __slots__ = ("wanted", "values")

    def __init__(self, names: Iterable[str] = ()):
        self.wanted = frozenset(names)
        self.values: dict[str, jax.Array] = {}

    def __call__(self, name: str, value: jax.Array) -> jax.Array:
        if name in self.wanted:
            self.values[name] = value
        return value


NO_HOOKS = Recorder()


class Patcher(Recorder):
    """A recorder that also replaces values: at hook point ``name`` the forward pass continues
    with ``patches[name](value)`` instead of ``value`` (activation patching; integrated gradients
    scale the token embeddings this way). Patched and requested points are recorded (patched
    ones after patching)."""

    __slots__ = ("patches",)

    def __init__(self, patches: dict, names: Iterable[str] = ()):
        super().__init__(set(names) | set(patches))
        self.patches = dict(patches)

    def __call__(self, name: str, value: jax.Array) -> jax.Array:
        if name in self.patches:
            value = self.patches[name](value)
        return super().__call__(name, value)


class ActivationCache(dict):
    """A dict of hook name → array that also answers ``cache["pattern", 0]``."""

    def __getitem__(self, key):
        if isinstance(key, tuple):
            short, layer = key
            key = f"blocks.{layer}.{_SHORT.get(short, short)}"
        return super().__getitem__(key)


class CachingMixin:
    """``run_with_cache`` for any model whose ``__call__(tokens, key, rec)`` records hook points
    and whose ``hook_names()`` lists them."""

    def run_with_cache(self, tokens_BT, names=None, key=None):
        """(logits, ActivationCache) with the named intermediates (all of them if names is None)."""
        names = self.hook_names() if names is None else check_hook_names(names, self.hook_names())
        rec = Recorder(names)
        logits = self(tokens_BT, key, rec)
        return logits, ActivationCache(rec.values)


def check_hook_names(requested: Iterable[str], available: Iterable[str]) -> frozenset[str]:
    """Refuse unknown hook names with the list of those the model has."""
    requested, available = frozenset(requested), list(available)
    unknown = sorted(requested.difference(available))
    if unknown:
        raise ConfigError(
            f"unknown hook name {unknown[0]!r}; this model has: {', '.join(available)}"
        )
    return requested
