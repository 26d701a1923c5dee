"""groklab: a JAX + Flax NNX framework for studying grokking.

From Python (docs/api.md): ``groklab.load_run(path)``, ``groklab.load_sweep(path)``,
``groklab.train(config, out)``, ``groklab.sweep(spec, out)`` (and the ``Run`` and ``Sweep``
they return). They live in ``groklab.api`` and are imported on first use, so ``import groklab``
neither imports JAX nor takes time.
"""

from groklab import xla_flags
from groklab.lazy import lazy_names

xla_flags.apply()  # before anything starts JAX's CPU backend


def _version() -> str:
    """The installed package's version: pyproject.toml is the one place it is written."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("groklab")
    except PackageNotFoundError:  # a source tree on sys.path without an install
        return "0+unknown"


__version__ = _version()

# name -> the module that defines it, imported on first access (PEP 562)
_LAZY = {name: "groklab.api" for name in
         ("Run", "Sweep", "load_run", "load_sweep", "sweep", "train")}
_LAZY["load_exported"] = "groklab.export"

__all__ = ["__version__", *_LAZY]


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
