"""Report figures, report.html and the single-run report: the band maths against SciPy by hand,
censored seeds drawn at their budget, the phase diagram only for 2-axis sweeps, a
self-contained HTML page on a synthetic sweep directory, and the report of a tiny real run."""

import csv
import json
import re

import numpy as np
import pytest
from scipy import stats

from groklab.cli.main import main
from groklab.figures import conditions as figures
from groklab.figures.conditions import (
    mean_band,
    plot_kaplan_meier,
    plot_phase_diagram,
    plot_steps_strip,
    seed_matrix,
    survival_at,
)
from groklab.report.run import over_seeds
from groklab.stats import GrokTimes, kaplan_meier

SLOW = [300, 340, None, 380, None]  # three of five reach the threshold, two censored at 500


def test_mean_band_is_the_t_interval_of_the_seeds_present_at_each_step():
    values = np.array([[1.0, 2.0, np.nan, np.nan],
                       [3.0, 4.0, 5.0, np.nan],
                       [5.0, 9.0, np.nan, np.nan]])  # [seed, step]
    band = mean_band(values)
    for j, xs in enumerate(([1, 3, 5], [2, 4, 9])):
        lo, hi = stats.t.interval(0.95, len(xs) - 1, loc=np.mean(xs), scale=stats.sem(xs))
        assert band.mean[j] == pytest.approx(np.mean(xs))
        assert (band.low[j], band.high[j]) == pytest.approx((lo, hi))
    assert band.n.tolist() == [3, 3, 1, 0]
    assert band.mean[2] == 5.0 and np.isnan(band.low[2]) and np.isnan(band.high[2])
    assert np.isnan(band.mean[3])
    narrow = mean_band(values, confidence=0.5)
    assert narrow.high[0] - narrow.low[0] < band.high[0] - band.low[0]


def test_seed_matrix_leaves_missing_records_and_nulls_as_nan():
    records = [{"step": 10, "seed": 0, "val_acc": 0.1}, {"step": 10, "seed": 1, "val_acc": 0.3},
               {"step": 20, "seed": 0, "val_acc": None}, {"step": 20, "seed": 1, "val_acc": 0.9},
               {"step": 30, "seed": 1, "val_acc": 1.0}]
    steps, values = seed_matrix(records, "val_acc")
    assert steps.tolist() == [10, 20, 30]
    np.testing.assert_array_equal(values, [[0.1, np.nan, np.nan], [0.3, 0.9, 1.0]])


def test_survival_at_is_the_kaplan_meier_step_function():
    km = kaplan_meier(GrokTimes.from_milestones(SLOW, 500))
    assert survival_at(km, [0, 299, 300, 339, 340, 380, 500]).tolist() == pytest.approx(
        [1, 1, 0.8, 0.8, 0.6, 0.4, 0.4])


def _captured(monkeypatch):
    """Keep the figure a plot function would save, to look at what it drew."""
    kept = {}

    def save(fig, path):
        kept["fig"] = fig
        return path

    monkeypatch.setattr(figures, "save_figure", save)
    return kept


def test_strip_plot_draws_censored_seeds_at_their_budget_not_as_times(monkeypatch):
    kept = _captured(monkeypatch)
    plot_steps_strip({"slow": GrokTimes.from_milestones(SLOW, 500)}, "unused.png")
    ax = kept["fig"].axes[0]
    reached, censored = (c.get_offsets()[:, 1].tolist() for c in ax.collections)
    assert sorted(reached) == [300, 340, 380] and censored == [500, 500]
    assert "3/5 reached" in ax.get_xticklabels()[0].get_text()


def test_kaplan_meier_plot_steps_down_at_events_and_ticks_censoring(monkeypatch):
    kept = _captured(monkeypatch)
    plot_kaplan_meier({"slow": GrokTimes.from_milestones(SLOW, 500)}, "unused.png")
    curve, ticks = kept["fig"].axes[0].get_lines()[:2]
    assert curve.get_xdata().tolist() == [0, 300, 340, 380, 500, 500]
    assert curve.get_ydata().tolist() == pytest.approx([1, 0.8, 0.6, 0.4, 0.4, 0.4])
    assert ticks.get_xdata().tolist() == [500, 500] and ticks.get_marker() == "|"
    assert "3/5, median 380" in curve.get_label()


def test_phase_diagram_only_for_two_axes_with_two_values_each(tmp_path):
    g = GrokTimes.from_milestones(SLOW, 500)
    assert plot_phase_diagram(["optim.weight_decay"], {("0.1",): g, ("1.0",): g},
                              tmp_path / "a.png") is None
    assert plot_phase_diagram(["a", "b"], {("x", "1"): g, ("x", "2"): g},
                              tmp_path / "b.png") is None
    grid = {(a, b): g for a in ("adamw", "muon") for b in ("0.1", "1.0")}
    out = plot_phase_diagram(["optim.name", "optim.weight_decay"], grid, tmp_path / "c.png")
    assert out == tmp_path / "c.png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pdf", "c.png"]  # no temp files
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "c.pdf").read_bytes()[:4] == b"%PDF"


def test_over_seeds_uses_reached_seeds_and_censors_the_rest():
    rows = [{"budget_steps": 500, "budget_epochs": 50, "steps_to_0.9": t, "steps_to_0.99": t,
             "epochs_to_0.9": t and t / 10, "epochs_to_0.99": t and t / 10,
             "memorized_epoch": 5.0, "final_train_acc": 1.0, "final_val_acc": v}
            for t, v in zip(SLOW, (1.0, 1.0, 0.5, 1.0, 0.5))]
    steps99 = over_seeds(rows)[2]
    assert steps99["quantity"] == "steps to val acc ≥ 99 %" and steps99["seeds"] == "3/5"
    assert steps99["mean"] == pytest.approx(340) and steps99["km_median"] == 380
    assert over_seeds(rows)[-1]["mean"] == pytest.approx(0.8)


def _sweep_dir(root, name_values):
    """A finished 2 × 2 sweep directory written by hand: manifest, results and metrics."""
    axes, seeds, budget = ["optim.name", "optim.weight_decay"], [0, 1, 2], 100
    cells, rows = [], []
    grid = [(n, wd) for n in name_values for wd in (0.1, 1.0)]
    for i, (name, wd) in enumerate(grid):
        cell = f"{i:03d}_name={name},weight_decay={wd}"
        cells.append({"index": i, "name": cell, "values": {axes[0]: name, axes[1]: wd},
                      "dir": f"cells/{cell}", "status": "completed"})
        grok = [40 + 10 * s if wd == 1.0 else None for s in seeds]
        records = [{"step": step, "epoch": step / 10, "seed": s, "train_acc": 1.0,
                    "val_acc": 1.0 if grok[s] and step >= grok[s] else 0.3, "val_loss": None}
                   for step in range(10, budget + 1, 10) for s in seeds]
        (root / "cells" / cell).mkdir(parents=True)
        (root / "cells" / cell / "metrics.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in records))
        for s in seeds:
            rows.append({"cell": i, "cell_name": cell, axes[0]: name, axes[1]: wd, "seed": s,
                         "budget_steps": budget, "steps_per_epoch": 10,
                         "steps_to_0.9": grok[s], "steps_to_0.99": grok[s],
                         "final_val_acc": 1.0 if grok[s] else 0.3, "extra_column": "x"})
    with (root / "results.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (root / "manifest.json").write_text(json.dumps({
        "name": "synthetic <2x2>", "axes": axes, "seeds": seeds, "results": "results.csv",
        "cells": cells}))


def _text(html: str) -> str:
    """The page without its inlined images (base64 can spell anything)."""
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]*", "", html)


@pytest.mark.slow
def test_sweep_report_writes_figures_and_a_self_contained_html(tmp_path):
    _sweep_dir(tmp_path, ["adamw", "<muon>"])
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "mine.png").write_bytes(b"not ours")
    assert main(["report", str(tmp_path)]) == 0
    md = (tmp_path / "report.md").read_text()
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", md)
    assert "figures/report_curves.png" in links and "figures/report_phase_099.png" in links
    for link in links:
        assert (tmp_path / link).stat().st_size > 0
        assert (tmp_path / link).with_suffix(".pdf").exists()
    assert (tmp_path / "figures" / "mine.png").read_bytes() == b"not ours"
    html = (tmp_path / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == len(links)
    assert not re.search(r"(src|href)=\"(?!data:)", html) and "http" not in _text(html)
    assert "<muon>" not in html and "name=&lt;muon&gt;, weight_decay=1.0" in html
    assert "<td>50 ± 10 (5.0 ± 1.0 ep) [25, 75]</td>" in html and "<td>3/3</td>" in html
    assert "synthetic &lt;2x2&gt;" in html


@pytest.mark.slow
def test_report_of_a_tiny_real_run(tmp_path, capsys, tiny_overrides):
    run = tmp_path / "run"
    sets = [a for o in tiny_overrides for a in ("--set", o)]
    assert main(["train", *sets, "--num_seeds", "2", "--out", str(run), "--quiet"]) == 0
    assert main(["report", str(run)]) == 0
    summary = json.loads((run / "summary.json").read_text())
    md = (run / "report.md").read_text()
    assert "## Seeds" in md and "## Over seeds" in md
    for s in summary["seeds"]:
        assert f"| {s['seed']} | " in md
    val = [s["final"]["val_acc"] for s in summary["seeds"]]
    assert f"| final val acc | 2/2 | {np.mean(val):.3f} ± {np.std(val, ddof=1):.3f} |" in md
    with (run / "tables" / "seeds.csv").open() as f:
        assert [int(r["seed"]) for r in csv.DictReader(f)] == [0, 1]
    assert "\\toprule" in (run / "tables" / "over_seeds.tex").read_text()
    for name in ("report_curves", "report_curves_logx", "report_steps", "report_km"):
        assert (run / "figures" / f"{name}.png").exists()
        assert (run / "figures" / f"{name}.pdf").exists()
    assert (run / "figures" / "curves.png").exists()  # the run's own figure is left alone
    html = (run / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == 4 and "http" not in _text(html)


def test_report_of_a_directory_that_is_neither(tmp_path, capsys):
    (tmp_path / "summary.json").write_text("{}")  # no config.yaml: not a run directory
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a sweep directory" in err and "groklab train --out DIR" in err


def _records(lr_of_step, wd=1.0, seeds=(0, 1)):
    return [{"step": s, "seed": k, "train_acc": 0.5, "val_acc": 0.1, "train_loss": 1.0,
             "val_loss": 2.0, "lr": lr_of_step(s), "wd": wd} for s in (10, 20, 30) for k in seeds]


@pytest.mark.parametrize("lr_of_step, wd, panels", [
    (lambda s: 1e-3, 1.0, 2),  # constant: accuracy and loss only
    (lambda s: 1e-3 * s / 30, 1.0, 3),  # warmup: the schedules panel
    (lambda s: 1e-3, None, 2),  # wd not logged: nothing to show
])
def test_training_curves_show_the_schedules_when_they_change(monkeypatch, tmp_path, lr_of_step,
                                                             wd, panels):
    from groklab.figures import training

    kept = {}
    monkeypatch.setattr(training, "save_figure",
                        lambda fig, path, pdf, dpi: kept.setdefault("fig", fig) and path)
    training.plot_training_curves(_records(lr_of_step, wd), [], tmp_path / "c.png")
    axes = [ax for ax in kept["fig"].axes if ax.get_visible()]
    assert len(axes) == panels + (panels == 3)  # the schedules panel has a twin wd axis
    if panels == 3:
        lr_line = axes[2].get_lines()[0]
        assert list(lr_line.get_ydata()) == [lr_of_step(s) for s in (10, 20, 30)]


def test_condition_curves_put_a_loss_panel_beside_each_condition(monkeypatch, tmp_path):
    kept = _captured(monkeypatch)
    curves = {"a": _records(lambda s: 1e-3), "b": _records(lambda s: 1e-3),
              "c": _records(lambda s: 1e-3)}
    figures.plot_condition_curves(curves, tmp_path / "c.png", loss=True)
    shown = [ax for ax in kept["fig"].axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == ["a (2 seeds)", "a: loss", "b (2 seeds)",
                                                "b: loss", "c (2 seeds)", "c: loss"]
    loss_means = [line.get_ydata() for line in shown[1].get_lines()]
    assert [list(y) for y in loss_means] == [[2.0] * 3, [1.0] * 3]  # val, then train
    assert shown[1].get_yscale() == "log" and shown[0].get_yscale() == "linear"


def test_a_long_title_on_a_narrow_figure_is_wrapped_not_clipped():
    """The one-head attention figure's title ran off both sides of its 3.6-inch figure."""
    import matplotlib.pyplot as plt

    from groklab.figures.save import suptitle

    fig, _ = plt.subplots(figsize=(3.6, 2.4))
    text = ("a-long-run-directory-name_20261206-120000: mean attention pattern over validation "
            "rows (seed 0)")
    suptitle(fig, text)
    fig.canvas.draw()
    box = fig._suptitle.get_window_extent(fig.canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.x1
    assert fig._suptitle.get_text().replace("\n", " ") == text
    plt.close(fig)
