"""A package's names imported on first use (PEP 562), so that importing the package (and the
JAX-free parts of it a command needs first) does not start JAX, Flax, Optax, Orbax or
Matplotlib (docs/performance.md "Start-up")."""

from __future__ import annotations

import importlib
import sys


def lazy_names(package: str, names: dict[str, str]):
    """``(__getattr__, __dir__)`` for the package ``package`` (its ``__name__``): each name in
    ``names`` is imported from the module it maps to on first access, then kept on the package
    so later lookups skip the hook."""
    module = sys.modules[package]

    def __getattr__(name: str):
        if name in names:
            value = getattr(importlib.import_module(names[name]), name)
            setattr(module, name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(module)) | set(names))

    return __getattr__, __dir__
