"""Writing a figure: PNG (and PDF on request), atomically (Matplotlib, headless)."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from groklab.atomic import write_atomic  # noqa: E402


def suptitle(fig, text: str, fontsize: float = 9) -> None:
    """``fig.suptitle(text)`` wrapped to the figure's width, so a narrow figure (one attention
    head, one quantization variant) shows its whole title instead of clipping it."""
    import textwrap

    chars = max(24, int(fig.get_figwidth() * 72 / (0.55 * fontsize)))  # ≈ glyphs per line
    fig.suptitle(textwrap.fill(text, chars), fontsize=fontsize)


def save_figure(fig, path: str | Path, pdf: bool = True, dpi: int = 130) -> Path:
    """Write ``path`` as PNG and (with ``pdf``) the same stem as PDF, each atomically (a reader
    never sees half a figure); closes ``fig``."""
    path = Path(path).with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        for target in (path, path.with_suffix(".pdf"))[:2 if pdf else 1]:
            buf = io.BytesIO()
            fig.savefig(buf, format=target.suffix[1:], dpi=dpi)
            write_atomic(target, buf.getvalue())
    finally:
        plt.close(fig)
    return path
