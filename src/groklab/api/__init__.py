"""groklab from Python (docs/api.md): read a run or a sweep into DataFrames and models, or train
one and get the same objects back.

- ``load_run(path)`` → ``Run``: ``config``, ``summary``, ``metrics`` and ``checkpoints``
  (pandas DataFrames), ``model(seed, step)``, ``logits(seed, step, rows)``, ``split(seed)``;
- ``load_sweep(path)`` → ``Sweep``: ``results`` (a DataFrame of results.csv), ``runs``;
- ``train(config, out)`` → ``Run``; ``sweep(spec, out)`` → ``Sweep``.

The same names are exported from ``groklab`` itself (imported on first use, so ``import
groklab`` stays fast). Tables need pandas: ``pip install 'groklab[notebook]'``.
"""

import sys

import matplotlib

# groklab.figures (imported for training) selects the headless Agg backend for the figures it
# writes. A notebook's own plots keep the backend chosen before (Jupyter's inline, a widget,
# matplotlib.use): it is selected again once groklab's modules are imported, through IPython
# when it runs (so that its display integration is set up again, as ``%matplotlib`` does).
_backend = matplotlib.get_backend(auto_select=False)  # None: nothing chosen yet

from groklab.api.run import Run, load_run, train  # noqa: E402
from groklab.api.sweep import Sweep, load_sweep, sweep  # noqa: E402


def _restore_backend(backend: str | None) -> None:
    if backend is None or matplotlib.get_backend(auto_select=False) == backend:
        return
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None and hasattr(shell, "enable_matplotlib"):
        shell.enable_matplotlib(backend)
    else:
        matplotlib.use(backend)


_restore_backend(_backend)

__all__ = ["Run", "Sweep", "load_run", "load_sweep", "sweep", "train"]
