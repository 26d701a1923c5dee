"""The report of a single run directory (``groklab train --out DIR``): a table of its seeds,
each milestone summarized over the seeds (mean ± std, t-interval, Kaplan–Meier median, k/N),
the accuracy curves with a band over seeds, and the strip and Kaplan–Meier plots of the steps
to each threshold."""

from __future__ import annotations

from pathlib import Path

from groklab.figures.conditions import plot_kaplan_meier, plot_steps_strip
from groklab.report.analysis import analysis_blocks
from groklab.report.document import Block, Figure, Heading, Table, Text
from groklab.report.integrity import integrity_blocks
from groklab.report.quantization import quantization_blocks
from groklab.report.sweep import FINISHED, curve_blocks
from groklab.report.tables import REPORTED_THRESHOLDS, csv_text, fmt, latex_grid, pct
from groklab.runs.results import seed_rows
from groklab.runs.rundir import RunDir, blame, read_json_file, usable_metrics
from groklab.stats import GrokTimes, describe, kaplan_meier
from groklab.stats.speedup import format_speedup


def _censored_stat(quantity: str, values: list, budget: float, spec: str) -> dict:
    """Mean ± std and t-interval over the seeds with a value; the Kaplan–Meier median over all,
    the others censored at ``budget``."""
    g = GrokTimes.from_milestones(values, budget)
    s = describe([v for v in values if v is not None], bounds=(0, budget))
    return {"quantity": quantity, "seeds": g.k_of_n(), "mean": s.mean, "std": s.std,
            "ci_low": s.ci_t[0], "ci_high": s.ci_t[1], "km_median": kaplan_meier(g).median,
            "format": spec}


def over_seeds(rows: list[dict], memorized_threshold: float = 0.99) -> list[dict]:
    """Each milestone and final accuracy of a run (``seed_rows``) summarized over its seeds."""
    steps, epochs = rows[0]["budget_steps"], rows[0]["budget_epochs"]
    out = []
    for t in REPORTED_THRESHOLDS:
        out.append(_censored_stat(f"steps to val acc ≥ {pct(t)}",
                                  [r[f"steps_to_{t}"] for r in rows], steps, "{:.0f}"))
        out.append(_censored_stat(f"epochs to val acc ≥ {pct(t)}",
                                  [r[f"epochs_to_{t}"] for r in rows], epochs, "{:.1f}"))
    out.append(_censored_stat(f"memorized: epochs to train acc ≥ {pct(memorized_threshold)}",
                              [r["memorized_epoch"] for r in rows], epochs, "{:.1f}"))
    for key in ("final_train_acc", "final_val_acc"):
        s = describe([r.get(key) for r in rows], bounds=(0.0, 1.0))
        out.append({"quantity": key.replace("_", " "), "seeds": f"{s.n}/{len(rows)}",
                    "mean": s.mean, "std": s.std, "ci_low": s.ci_t[0], "ci_high": s.ci_t[1],
                    "km_median": None, "format": "{:.3f}"})
    return out


def _over_seeds_table(stats: list[dict]) -> tuple[list[str], list[list[str]]]:
    header = ["quantity", "seeds with a value", "mean ± std", "95 % CI (t, within the range)",
              "Kaplan–Meier median"]
    return header, [[s["quantity"], s["seeds"],
                     f"{fmt(s['mean'], s['format'])} ± {fmt(s['std'], s['format'])}",
                     f"[{fmt(s['ci_low'], s['format'])}, {fmt(s['ci_high'], s['format'])}]",
                     fmt(s["km_median"], s["format"])] for s in stats]


def _seed_table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    def reached(r, t):
        s = r[f"steps_to_{t}"]
        return "not reached" if s is None else f"{s:.0f} ({r[f'epochs_to_{t}']:.1f})"

    header = ["seed", "memorized epoch",
              *(f"steps (epochs) to {pct(t)}" for t in REPORTED_THRESHOLDS),
              "final train acc", "final val acc", "grokked"]
    return header, [[str(r["seed"]), fmt(r["memorized_epoch"], "{:.1f}"),
                     *(reached(r, t) for t in REPORTED_THRESHOLDS),
                     fmt(r.get("final_train_acc"), "{:.3f}"),
                     fmt(r.get("final_val_acc"), "{:.3f}"), "yes" if r["grokked"] else "no"]
                    for r in rows]


def _describe_run(summary: dict) -> str:
    cfg = summary.get("config", {})
    task, model, optim = (cfg.get(k, {}) for k in ("task", "model", "optim"))
    return (f"Task {task.get('name')} (p = {task.get('p')}, train fraction "
            f"{task.get('train_fraction')}); model {model.get('kind')} (d_model "
            f"{model.get('d_model')}, {model.get('n_layers')} layers); optimizer "
            f"{optim.get('name')} (lr {optim.get('learning_rate')}, weight decay "
            f"{optim.get('weight_decay')}); {len(summary['seeds'])} seeds trained "
            f"{summary['step']} steps ({summary['epoch']:g} epochs, "
            f"{summary['steps_per_epoch']} steps per epoch); status {summary.get('status')}."
            + _cost(summary))


def _cost(summary: dict) -> str:
    """Wall time, compilation and peak memory, as far as the summary records them."""
    parts = []
    if summary.get("wall_time_s") is not None:
        parts.append(f"{summary['wall_time_s']:.1f} s wall time")
    if summary.get("compile_time_s") is not None:
        parts.append(f"{summary['compile_time_s']:.1f} s of it compiling")
    if summary.get("peak_rss_mb") is not None:
        parts.append(f"peak resident memory {summary['peak_rss_mb']:.0f} MB")
    return f" Cost: {', '.join(parts)}." if parts else ""


def run_report(d: Path) -> tuple[str, list[Block], dict[str, str]]:
    """(title, blocks, tables/ files) of run directory ``d``; writes its figures. Its files are
    read and checked first (config.yaml, split.npz, summary.json): a damaged one is a one-line
    error naming it, before anything is written."""
    run = RunDir(d)
    run.check_files()
    summary = run.read_summary()
    with blame(run.summary_path):
        return _run_report(d, summary)


def _run_report(d: Path, summary: dict) -> tuple[str, list[Block], dict[str, str]]:
    rows = seed_rows(summary)
    memorized = summary.get("config", {}).get("train", {}).get("memorized_threshold", 0.99)
    stats = over_seeds(rows, memorized)
    seeds_table, stats_table = _seed_table(rows), _over_seeds_table(stats)
    name = d.resolve().name
    title = f"Run report: {name}"
    blocks: list[Block] = [
        Heading(title, 1), Text(_describe_run(summary)),
        Heading("Seeds"), Table(*seeds_table),
        Heading("Over seeds"),
        Text("Milestones: mean ± std and 95 % t-interval over the seeds that reached them; "
             "the Kaplan–Meier median over all seeds, the others censored at the steps "
             "(epochs) trained."),
        Table(*stats_table)]
    if summary.get("status") not in FINISHED:
        blocks.append(Text(f"The run is not finished (status {summary.get('status')}): "
                           "seeds are censored at the last step written."))
    blocks += integrity_blocks({name: d}, {name: summary.get("config", {}).get("seeds", [])})
    blocks += _origin_blocks(summary) + _comparison_blocks(d) + analysis_blocks(d)
    blocks += quantization_blocks(d)
    figures = d / "figures"
    times = {f"val acc ≥ {pct(t)}": GrokTimes.from_milestones(
        [r[f"steps_to_{t}"] for r in rows], summary["step"]) for t in REPORTED_THRESHOLDS}
    blocks += [
        Heading("Figures"),
        *curve_blocks({name: usable_metrics(RunDir(d).read_metrics())}, figures),
        Figure(plot_steps_strip(times, figures / "report_steps.png", ylabel="steps"),
               "Steps to each val-accuracy threshold: box over the seeds that reached it, one "
               "dot per seed; hollow triangles are seeds censored at the budget."),
        Figure(plot_kaplan_meier(times, figures / "report_km.png",
                                 ylabel="share of seeds not yet at the threshold"),
               "Kaplan–Meier curves of the steps to each threshold; ticks mark censored "
               "seeds.")]
    tables = {"seeds.csv": csv_text(rows), "seeds.tex": latex_grid(*seeds_table),
              "over_seeds.csv": csv_text([{k: v for k, v in s.items() if k != "format"}
                                          for s in stats]),
              "over_seeds.tex": latex_grid(*stats_table)}
    return title, blocks, tables


def _origin_blocks(summary: dict) -> list[Block]:
    """Where a transfer or distillation run started from."""
    if "transfer" in summary:
        t = summary["transfer"]
        src = t.get("source_task", {})
        steps = ", ".join(f"{e:g}" for e in t.get("epochs", []))
        return [Heading("Transfer"), Text(
            f"From `{t['run']}` ({src.get('name')} mod {src.get('p')}), checkpoint "
            f"{t.get('selector') or 'latest'} (epochs {steps} per seed, source seeds "
            f"{t.get('source_seeds')}). Frozen: {', '.join(t['frozen']) or 'nothing'} "
            f"({t['frozen_params']:,} parameters; {t['trainable_params']:,} trainable). "
            f"Re-initialized: {', '.join(t['reinitialized']) or 'nothing'}. Vocabulary map: "
            f"{t.get('vocab_map') or 'none (same vocabulary)'}.")]
    if "teacher" in summary:
        t = summary["teacher"]
        steps = ", ".join(f"{e:g}" for e in t.get("epochs", []))
        return [Heading("Teacher"), Text(
            f"Distilled from `{t['run']}`, checkpoint {t.get('selector') or 'latest'} "
            f"(epochs {steps} per seed).")]
    return []


def _number(x):
    return float("nan") if x is None else float("inf") if x == "inf" else float(x)


def _comparison_blocks(d: Path) -> list[Block]:
    """The run against its baseline (``comparison.json`` of ``--baseline``): per condition the
    Kaplan–Meier median steps to 90 / 99 %, k/N and the speed-up with its 95 % interval."""
    path = d / "comparison.json"
    if not path.exists():
        return []
    with blame(path):
        return _comparison(d, read_json_file(path))


def _comparison(d: Path, c: dict) -> list[Block]:
    shown = [t for t in ("0.9", "0.99") if t in c["thresholds"]]
    header = ["condition", "budget (steps)"]
    for t in shown:
        header += [f"steps to {pct(t)} (KM median)", f"k/N at {pct(t)}",
                   f"speed-up at {pct(t)} [95 % CI]"]
    rows = []
    for r in c["rows"]:
        cells = [r["run"], str(r["budget_steps"])]
        for t in shown:
            sp = r[f"speedup_{t}"]
            cells += [fmt(_number(r[f"km_median_{t}"])), r[f"reached_{t}"],
                      "reference" if sp is None else format_speedup(
                          _number(sp["estimate"]), tuple(map(_number, sp["ci"])),
                          sp["lower_bound"])]
        rows.append(cells)
    blocks: list[Block] = [
        Heading(f"{c['run_label'].capitalize()} vs {c['baseline_label']}"),
        Text(f"Baseline: `{c['baseline']}` (same architecture, recipe and seeds). A seed that "
             "never reached a threshold is censored at its own run's budget; speed-up = KM "
             f"median of {c['baseline_label']} / KM median of {c['run_label']}, with a "
             "bootstrap percentile interval over seeds; \"> x\" is a lower bound when the "
             "baseline's median is not reached. Per-seed steps and log-rank tests are in "
             "comparison.md."),
        Table(header, rows)]
    figure = d / "figures" / "transfer_vs_baseline.png"
    if figure.exists():
        blocks.append(Figure(figure, "Transfer (left) and the same architecture from random "
                                     "initialization (right): mean val (solid) and train "
                                     "(dashed) accuracy with 95 % bands; thin lines: seeds."))
    return blocks
