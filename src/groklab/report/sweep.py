"""The report of a sweep directory: per threshold the conditions table, the tests against the
first condition, the steps strip plot, Kaplan–Meier curves and (2-axis sweeps) the phase
diagram; then the training curves of every cell."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from groklab.errors import ConfigError, short
from groklab.figures.conditions import (
    plot_condition_curves,
    plot_kaplan_meier,
    plot_phase_diagram,
    plot_steps_strip,
    plot_values_strip,
)
from groklab.report.document import Block, Figure, Heading, Table, Text
from groklab.report.integrity import integrity_blocks
from groklab.report.tables import (
    REPORTED_THRESHOLDS,
    condition_label,
    condition_rows,
    condition_table,
    condition_times,
    condition_values,
    csv_text,
    final_accuracy_rows,
    final_accuracy_tests,
    latex_table,
    pairwise_tests,
    pct,
    tag,
    test_rows,
)
from groklab.runs.rundir import (
    RunDir,
    blame,
    damaged,
    read_json_file,
    read_text,
    usable_metrics,
)

FINISHED = ("completed", "stopped_early", "diverged")


def figure_block(path: Path | None, caption: str) -> list[Block]:
    """[Figure] for a written figure, [] for a skipped one (None)."""
    return [Figure(path, caption)] if path is not None else []


def curve_blocks(curves: dict[str, list[dict]], figures: Path) -> list[Block]:
    """The accuracy and loss curves (label → metrics records), linear and log step axis."""
    what = ("mean over seeds of val (solid) and train (dashed) accuracy, and beside it the "
            "cross-entropy loss, with the 95 % t-interval of the mean; thin lines: single seeds")
    return [*figure_block(plot_condition_curves(curves, figures / "report_curves.png",
                                                per_seed=True, loss=True),
                          f"Accuracy and loss vs step: {what}."),
            *figure_block(plot_condition_curves(curves, figures / "report_curves_logx.png",
                                                per_seed=True, log_x=True, loss=True),
                          "The same on a log step axis.")]


def _threshold_figures(rows: list[dict], axes: list[str], figures: Path,
                       th: str) -> list[Block]:
    p, t = pct(th), tag(th)
    times = condition_times(rows, axes, th)
    return [
        *figure_block(plot_steps_strip(times, figures / f"report_steps_{t}.png",
                                       ylabel=f"steps to val acc ≥ {p}"),
                      f"Steps to val acc ≥ {p} per condition: box over the seeds that reached "
                      "it, one dot per seed; hollow triangles are seeds censored at their "
                      "budget (never reached)."),
        *figure_block(plot_kaplan_meier(times, figures / f"report_km_{t}.png",
                                        ylabel=f"share of seeds not yet at val acc ≥ {p}"),
                      f"Kaplan–Meier curves: share of seeds not yet at val acc ≥ {p} vs step; "
                      "ticks mark censored seeds, the dotted line the median."),
        *figure_block(plot_phase_diagram(axes, condition_times(rows, axes, th, by_values=True),
                                         figures / f"report_phase_{t}.png", th),
                      f"Phase diagram over {' × '.join(axes)}: seeds reaching val acc ≥ {p} "
                      "(k/N) and their Kaplan–Meier median steps."),
    ]


def _cell_curves(d: Path, manifest: dict) -> dict[str, list[dict]]:
    axes, curves = manifest["axes"], {}
    for c in manifest["cells"]:
        values = c.get("values", {})
        label = (condition_label(values, axes, c["name"]) if all(a in values for a in axes)
                 else c["name"])
        curves[label] = usable_metrics(RunDir(d / c.get("dir", f"cells/{c['name']}")
                                              ).read_metrics())
    return curves


def read_manifest(d: Path) -> dict:
    """manifest.json of sweep directory ``d``, with the keys the report reads checked."""
    path = d / "manifest.json"
    m = read_json_file(path)
    ok = (isinstance(m.get("name"), str) and isinstance(m.get("axes"), list)
          and all(isinstance(a, str) for a in m["axes"]) and isinstance(m.get("seeds"), list)
          and isinstance(m.get("cells"), list))
    if not ok:
        raise damaged(path, "it lacks name, axes, seeds or cells, or one is of the wrong type")
    for i, c in enumerate(m["cells"]):
        if not (isinstance(c, dict) and isinstance(c.get("name"), str)
                and isinstance(c.get("values", {}), dict)
                and isinstance(c.get("dir", ""), str)
                and (c.get("status") is None or isinstance(c["status"], str))):
            raise damaged(path, f"cells[{i}] is not a cell (name, values, dir, status)")
        cell = d / c.get("dir", f"cells/{c['name']}")
        if not cell.resolve().is_relative_to(d.resolve()):
            raise damaged(path, f"cell {short(c['name'])} lies outside the sweep directory")
    return m


def read_results(d: Path, axes: list[str]) -> list[dict]:
    """results.csv of sweep directory ``d``: one row per (finished cell, seed), with the
    columns the report reads present and their numbers readable."""
    path = d / "results.csv"
    try:
        rows = list(csv.DictReader(io.StringIO(read_text(path), newline="")))
    except csv.Error as e:
        raise damaged(path, f"it is not CSV ({e})") from None
    need = ["cell_name", "budget_steps", "steps_per_epoch", "final_val_acc", *axes,
            *(f"steps_to_{t}" for t in REPORTED_THRESHOLDS)]
    if not rows:
        raise damaged(path, "it has no rows")
    missing = [c for c in need if c not in rows[0]]
    if missing:
        raise damaged(path, f"it has no column {short(', '.join(missing))}")
    numbers = need[1:4] + need[4 + len(axes):]
    for i, r in enumerate(rows):
        for c in numbers:
            v = r.get(c)
            if v in (None, "") and c != "budget_steps":
                continue
            try:
                x = float(v)
            except (TypeError, ValueError):
                x = math.nan
            if not (math.isfinite(x) and x >= 0):
                raise damaged(path, f"row {i + 2}: {c}={short(v)} is not a number >= 0")
    return rows


def sweep_report(d: Path) -> tuple[str, list[Block], dict[str, str]]:
    """(title, blocks, tables/ files) of sweep directory ``d``; writes its figures."""
    results_path = d / "results.csv"
    manifest = read_manifest(d)
    if not results_path.exists():
        raise ConfigError(f"{str(d)!r} has no finished cell yet (no results.csv)")
    rows = read_results(d, manifest["axes"])
    with blame(d / "manifest.json"):
        return _sweep_report(d, manifest, rows)


def _sweep_report(d: Path, manifest: dict, rows: list[dict]):
    axes, figures = manifest["axes"], d / "figures"
    title = f"Sweep report: {manifest['name']}"
    blocks: list[Block] = [
        Heading(title, 1),
        Text(f"{len(manifest['cells'])} cells × {len(manifest['seeds'])} seeds; axes: "
             f"{', '.join(axes) or 'none'}. Steps to a threshold are over the seeds that "
             "reached it; the Kaplan–Meier median counts the others as censored at their "
             "budget. Tests compare every condition with the first (Holm-corrected across "
             "conditions).")]
    tables: dict[str, str] = {}
    for th in REPORTED_THRESHOLDS:
        table, tests, t = condition_table(rows, axes, th), pairwise_tests(rows, axes, th), tag(th)
        tables[f"conditions_{t}.csv"] = csv_text(
            [{k: (list(v) if isinstance(v, tuple) else v) for k, v in c.items()} for c in table])
        tables[f"tests_{t}.csv"] = csv_text(tests)
        tables[f"conditions_{t}.tex"] = latex_table(table, th)
        blocks += [Heading(f"Val accuracy ≥ {pct(th)}"), Table(*condition_rows(table, th))]
        if tests:
            blocks.append(Table(*test_rows(tests)))
        blocks += _threshold_figures(rows, axes, figures, th)
    acc_tests = final_accuracy_tests(rows, axes)
    blocks.append(Heading("Final val accuracy"))
    if acc_tests:
        tables["tests_final_val_acc.csv"] = csv_text(
            [{k: (list(v) if isinstance(v, tuple) else v) for k, v in t.items()}
             for t in acc_tests])
        blocks += [Text("Every condition against the first on its seeds' final validation "
                        "accuracy (defined whether or not any seed reached a threshold); "
                        "p-values Holm-corrected across conditions."),
                   Table(*final_accuracy_rows(acc_tests))]
    finals = condition_values(rows, axes, "final_val_acc")
    blocks += figure_block(plot_values_strip(finals, figures / "report_final_val_acc.png"),
                           "Final val accuracy per condition: box over the seeds, one dot per "
                           "seed.")
    curves = _cell_curves(d, manifest)
    if any(curves.values()):
        blocks += [Heading("Training curves"), *curve_blocks(curves, figures)]
    cell_dirs = {c["name"]: d / c.get("dir", f"cells/{c['name']}") for c in manifest["cells"]}
    blocks += integrity_blocks(cell_dirs, {c["name"]: manifest["seeds"]
                                           for c in manifest["cells"]})
    unfinished = [c["name"] for c in manifest["cells"] if c["status"] not in FINISHED]
    if unfinished:
        blocks.append(Text(f"Not finished yet: {', '.join(unfinished)}."))
    return title, blocks, tables
