"""Writing a figure: PNG (and PDF on request), atomically (Matplotlib, headless)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save_figure(fig, path: str | Path, pdf: bool = True, dpi: int = 130) -> Path:
    """Write ``path`` as PNG and (with ``pdf``) the same stem as PDF, each through a temp file
    in the same directory renamed into place (a reader never sees half a figure); closes
    ``fig``."""
    path = Path(path).with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        for target in (path, path.with_suffix(".pdf"))[:2 if pdf else 1]:
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.",
                                       suffix=target.suffix)
            os.close(fd)
            try:
                fig.savefig(tmp, format=target.suffix[1:], dpi=dpi)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
    finally:
        plt.close(fig)
    return path
