"""``groklab report DIR``: report.md, report.html, tables/*.csv, *.tex and figures/report_*.png,
*.pdf for a sweep directory (manifest.json + results.csv) or a single run directory
(summary.json + config.yaml). Every file is written atomically."""

from __future__ import annotations

from pathlib import Path

from groklab.errors import ConfigError
from groklab.runs.files import write_atomic


def write_report(directory: str | Path) -> Path:
    """Write the report of a sweep or run directory; returns the path of report.md."""
    d = Path(directory)
    # SciPy and Matplotlib are imported once the directory is known to hold a sweep or a run
    if (d / "manifest.json").exists():
        from groklab.report.sweep import sweep_report

        title, blocks, tables = sweep_report(d)
    elif (d / "summary.json").exists() and (d / "config.yaml").exists():
        from groklab.report.run import run_report

        title, blocks, tables = run_report(d)
    else:
        raise ConfigError(f"{str(d)!r} is not a sweep directory (no manifest.json) nor a run "
                          "directory (no summary.json + config.yaml); run groklab sweep SPEC "
                          "--out DIR or groklab train --out DIR first")
    from groklab.report.document import to_markdown
    from groklab.report.html import to_html

    for name, text in tables.items():
        write_atomic(d / "tables" / name, text)
    write_atomic(d / "report.html", to_html(title, blocks))
    out = d / "report.md"
    write_atomic(out, to_markdown(blocks, d))
    return out
