"""``groklab report DIR`` for a sweep directory: report.md and tables/*.csv, tables/*.tex."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from groklab.errors import ConfigError
from groklab.report.tables import (
    condition_table,
    latex_table,
    markdown_table,
    markdown_tests,
    pairwise_tests,
)
from groklab.runs.files import write_atomic

THRESHOLDS = ("0.9", "0.99")


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


def write_report(directory: str | Path) -> Path:
    d = Path(directory)
    manifest_path, results_path = d / "manifest.json", d / "results.csv"
    if not manifest_path.exists():
        raise ConfigError(f"{str(d)!r} is not a sweep directory (no manifest.json); run "
                          "groklab sweep SPEC --out DIR first")
    if not results_path.exists():
        raise ConfigError(f"{str(d)!r} has no finished cell yet (no results.csv)")
    manifest = json.loads(manifest_path.read_text())
    rows = list(csv.DictReader(results_path.open()))
    axes = manifest["axes"]
    tables = d / "tables"
    tables.mkdir(exist_ok=True)
    md = [f"# Sweep report: {manifest['name']}", "",
          f"{len(manifest['cells'])} cells × {len(manifest['seeds'])} seeds; axes: "
          f"{', '.join(axes) or 'none'}. Steps to a threshold are over the seeds that reached "
          "it; the Kaplan–Meier median counts the others as censored at their budget. Tests "
          "compare every condition with the first (Holm-corrected across conditions).", ""]
    for th in THRESHOLDS:
        table = condition_table(rows, axes, th)
        tests = pairwise_tests(rows, axes, th)
        tag = f"{round(float(th) * 100):03d}"
        write_atomic(tables / f"conditions_{tag}.csv", _csv(
            [{k: (list(v) if isinstance(v, tuple) else v) for k, v in t.items()}
             for t in table]))
        write_atomic(tables / f"tests_{tag}.csv", _csv(tests))
        write_atomic(tables / f"conditions_{tag}.tex", latex_table(table, th))
        md += [f"## Val accuracy ≥ {float(th) * 100:g} %", "", markdown_table(table, th), ""]
        if tests:
            md += [markdown_tests(tests), ""]
    unfinished = [c["name"] for c in manifest["cells"] if c["status"] not in
                  ("completed", "stopped_early", "diverged")]
    if unfinished:
        md += [f"Not finished yet: {', '.join(unfinished)}.", ""]
    out = d / "report.md"
    write_atomic(out, "\n".join(md))
    return out
