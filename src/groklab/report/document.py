"""A report as a list of blocks (headings, text, tables, figures), rendered to Markdown here and
to a self-contained HTML page in ``groklab.report.html``: both files show the same content."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from groklab.report.tables import markdown_grid


@dataclass(frozen=True, slots=True)
class Heading:
    text: str
    level: int = 2  # 1 is the page title


@dataclass(frozen=True, slots=True)
class Text:
    text: str  # plain text, one paragraph (no markup: the HTML page escapes it)


@dataclass(frozen=True, slots=True)
class Table:
    header: list[str]
    rows: list[list[str]]  # already formatted cells


@dataclass(frozen=True, slots=True)
class Figure:
    path: Path  # the PNG; a PDF with the same stem may sit beside it
    caption: str


Block = Heading | Text | Table | Figure


def to_markdown(blocks: list[Block], root: Path) -> str:
    """Markdown with figures linked relative to ``root`` (the directory report.md is in)."""
    out = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"{'#' * b.level} {b.text}")
        elif isinstance(b, Text):
            out.append(b.text)
        elif isinstance(b, Table):
            out.append(markdown_grid(b.header, b.rows))
        else:
            rel = b.path.relative_to(root).as_posix()
            pdf = (f" ([PDF]({Path(rel).with_suffix('.pdf').as_posix()}))"
                   if b.path.with_suffix(".pdf").exists() else "")
            out.append(f"![{b.caption}]({rel})\n\n*{b.caption}*{pdf}")
        out.append("")
    return "\n".join(out)
