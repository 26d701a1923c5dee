"""The seeds' results table from a sweep's rows: per condition (a cell, i.e. one combination of
the axes) the steps (epochs) to a val-accuracy threshold — mean ± std and 95 % t-interval over
the seeds that reached it, the Kaplan–Meier median over all seeds (the others censored at the
budget) — the speed-up over the first condition (ratio of KM medians, bootstrap interval), the
final val accuracy and "k/N grokked"; and tests between conditions (Welch, Mann–Whitney, Cohen's
d on the seeds that reached it; log-rank on all), Holm-corrected.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict

from groklab.engine.milestones import THRESHOLD_KEYS
from groklab.stats import (
    GrokTimes,
    compare,
    describe,
    format_speedup,
    holm,
    kaplan_meier,
    logrank,
    speedup,
)

REPORTED_THRESHOLDS = (THRESHOLD_KEYS[1], THRESHOLD_KEYS[3])  # reports tabulate 90 and 99 %


def pct(threshold) -> str:
    """0.99 → "99 %"."""
    return f"{float(threshold) * 100:g} %"


def tag(threshold) -> str:
    """0.99 → "099", for file names."""
    return f"{round(float(threshold) * 100):03d}"


def csv_text(rows: list[dict]) -> str:
    """Rows as CSV text, columns in order of first appearance."""
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


def _num(x):
    if x is None or x == "":
        return None
    return float(x)


def _conditions(rows: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[str(r["cell_name"])].append(r)
    return dict(groups)


def condition_label(values: dict, axes: list[str], name: str) -> str:
    """"name=adamw, weight_decay=0.1" from a condition's axis values; ``name`` without axes."""
    return ", ".join(f"{a.split('.')[-1]}={_value(values[a])}" for a in axes) or name


def _value(v) -> str:
    """An axis value for a label; an empty one (None in the spec) is "none"."""
    return "none" if v is None or v == "" else str(v)


def _label(rs: list[dict], axes: list[str], name: str) -> str:
    return condition_label(rs[0], axes, name)


def _times(rows: list[dict], threshold: str) -> GrokTimes:
    return GrokTimes.from_milestones([_num(r[f"steps_to_{threshold}"]) for r in rows],
                                     [_num(r["budget_steps"]) for r in rows])


def condition_times(rows: list[dict], axes: list[str], threshold: str = "0.99",
                    by_values: bool = False) -> dict:
    """Per condition, in cell order, its seeds' steps to the threshold (censored at the
    budget), keyed by label or, with ``by_values``, by the tuple of its axis values."""
    return {(tuple(rs[0][a] for a in axes) if by_values else _label(rs, axes, name)):
            _times(rs, threshold) for name, rs in _conditions(rows).items()}


def condition_values(rows: list[dict], axes: list[str], key: str) -> dict[str, list]:
    """Per condition (by label, in cell order) its seeds' values of ``key`` (None if empty)."""
    return {_label(rs, axes, name): [_num(r.get(key)) for r in rs]
            for name, rs in _conditions(rows).items()}


def condition_table(rows: list[dict], axes: list[str], threshold: str = "0.99") -> list[dict]:
    """One dict per condition, in cell order, with its speed-up over the first condition (the
    reference; 1.0 and no interval for the reference itself)."""
    out = []
    g_ref = None
    for name, rs in _conditions(rows).items():
        g = _times(rs, threshold)
        if g_ref is None:
            g_ref, sp = g, None
        else:
            sp = speedup(g_ref, g)
        reached = g.times[g.grokked].tolist()
        spe = _num(rs[0]["steps_per_epoch"]) or 1.0
        s = describe(reached, bounds=(0.0, max(_num(r["budget_steps"]) for r in rs)))
        km = kaplan_meier(g)
        val = describe([_num(r["final_val_acc"]) for r in rs])
        out.append({
            "condition": _label(rs, axes, name),
            "cell_name": name, "n": g.n, "k": g.k, "k_of_n": g.k_of_n(),
            "steps_mean": s.mean, "steps_std": s.std, "steps_ci": s.ci_t,
            "epochs_mean": s.mean / spe if s.n else float("nan"),
            "epochs_std": s.std / spe if s.n > 1 else float("nan"),
            "km_median_steps": km.median, "final_val_acc_mean": val.mean,
            "final_val_acc_std": val.std,
            "speedup": 1.0 if sp is None else sp.estimate,
            "speedup_ci": (float("nan"),) * 2 if sp is None else sp.ci,
            "speedup_lower_bound": sp is not None and sp.lower_bound,
            "wall_time_s": _run_mean(rs, "wall_time_s"),
            "compile_time_s": _run_mean(rs, "compile_time_s"),
            "peak_rss_mb": _run_max(rs, "peak_rss_mb"),
        })
    ref_wall = out[0]["wall_time_s"] if out else None
    for t in out:
        t["wall_time_ratio"] = (t["wall_time_s"] / ref_wall
                                if t["wall_time_s"] is not None and ref_wall else None)
    return out


def _run_values(rs: list[dict], key: str) -> list[float]:
    """A run-level value of a condition's rows (every seed row of a run repeats it), once per
    run: its cells' distinct values."""
    values = {_num(r.get(key)) for r in rs} - {None}
    return [v for v in values if math.isfinite(v)]


def _run_mean(rs: list[dict], key: str) -> float | None:
    v = _run_values(rs, key)
    return sum(v) / len(v) if v else None


def _run_max(rs: list[dict], key: str) -> float | None:
    v = _run_values(rs, key)
    return max(v) if v else None


def pairwise_tests(rows: list[dict], axes: list[str], threshold: str = "0.99") -> list[dict]:
    """Every condition against the first one (the reference), with Holm-corrected p-values."""
    groups = list(_conditions(rows).items())
    if len(groups) < 2:
        return []
    ref_name, ref = groups[0]
    g_ref = _times(ref, threshold)
    tests = []
    for name, rs in groups[1:]:
        g = _times(rs, threshold)
        c = compare(g.times[g.grokked], g_ref.times[g_ref.grokked])
        z, p_lr = logrank(g, g_ref)
        tests.append({"condition": _label(rs, axes, name),
                      "reference": _label(ref, axes, ref_name), "welch_p": c.welch_p,
                      "mwu_p": c.mwu_p, "cohens_d": c.cohens_d, "d_ci": c.d_ci,
                      "logrank_z": z, "logrank_p": p_lr})
    _holm_columns(tests, ("welch_p", "mwu_p", "logrank_p"))
    return tests


def final_accuracy_tests(rows: list[dict], axes: list[str],
                         metric: str = "final_val_acc") -> list[dict]:
    """Every condition against the first one on a summary metric of its seeds (final val
    accuracy by default): Welch, Mann–Whitney and Cohen's d, Holm-corrected across conditions.
    Unlike the tests on steps to a threshold, these are defined when no seed grokked."""
    groups = list(_conditions(rows).items())
    if len(groups) < 2:
        return []
    ref_name, ref = groups[0]
    tests = []
    for name, rs in groups[1:]:
        a, b = [_num(r[metric]) for r in rs], [_num(r[metric]) for r in ref]
        c = compare(a, b)
        tests.append({"condition": _label(rs, axes, name),
                      "reference": _label(ref, axes, ref_name), "metric": metric,
                      "mean": describe(a).mean, "reference_mean": describe(b).mean,
                      "welch_p": c.welch_p, "mwu_p": c.mwu_p, "cohens_d": c.cohens_d,
                      "d_ci": c.d_ci})
    _holm_columns(tests, ("welch_p", "mwu_p"))
    return tests


def _holm_columns(tests: list[dict], keys: tuple[str, ...]) -> None:
    """Add ``KEY_holm`` for each p-value column: Holm-adjusted over the finite ones."""
    for key in keys:
        ps = [t[key] for t in tests]
        finite = [i for i, p in enumerate(ps) if not math.isnan(p)]
        adj = holm([ps[i] for i in finite])
        for t in tests:
            t[key + "_holm"] = float("nan")
        for i, a in zip(finite, adj):
            tests[i][key + "_holm"] = a


def fmt(x, spec: str = "{:.0f}") -> str:
    """A number for a table: "—" when undefined (None, nan), "∞ (not reached)" for inf."""
    return "—" if x is None or (isinstance(x, float) and (math.isnan(x))) else (
        "∞ (not reached)" if x == math.inf else spec.format(x))


def condition_rows(table: list[dict], threshold: str) -> tuple[list[str], list[list[str]]]:
    """The conditions table as a header and rows of formatted cells (Markdown and HTML)."""
    pct = f"{float(threshold) * 100:g} %"
    header = ["condition", f"steps (epochs) to {pct}: mean ± std [95 % CI]", "KM median steps",
              f"speed-up vs {table[0]['condition'] if table else 'reference'} [95 % CI]",
              "final val acc", "grokked", "wall time s (× reference)", "peak RSS MB"]
    rows = []
    for i, t in enumerate(table):
        ci = t["steps_ci"]
        rows.append([
            t["condition"],
            f"{fmt(t['steps_mean'])} ± {fmt(t['steps_std'])} "
            f"({fmt(t['epochs_mean'], '{:.1f}')} ± {fmt(t['epochs_std'], '{:.1f}')} ep) "
            f"[{fmt(ci[0])}, {fmt(ci[1])}]",
            fmt(t["km_median_steps"]),
            _speedup_cell(t, i),
            f"{fmt(t['final_val_acc_mean'], '{:.3f}')} ± {fmt(t['final_val_acc_std'], '{:.3f}')}",
            t["k_of_n"],
            "—" if t.get("wall_time_s") is None else
            f"{fmt(t['wall_time_s'])} ({fmt(t.get('wall_time_ratio'), '{:.2f}')}×)",
            fmt(t.get("peak_rss_mb"))])
    return header, rows


def _speedup_cell(t: dict, i: int) -> str:
    """The condition's speed-up over the reference (row 0); "—" when undefined."""
    return "reference" if i == 0 else format_speedup(t["speedup"], t["speedup_ci"],
                                                     t["speedup_lower_bound"])


def _p_cell(t: dict, key: str) -> str:
    """A p-value with its Holm-adjusted value: "0.012 (0.024)"."""
    return f"{fmt(t[key], '{:.3g}')} ({fmt(t[key + '_holm'], '{:.3g}')})"


def _d_cell(t: dict) -> str:
    """Cohen's d with its interval: "1.23 [0.45, 2.01]"."""
    return (f"{fmt(t['cohens_d'], '{:.2f}')} "
            f"[{fmt(t['d_ci'][0], '{:.2f}')}, {fmt(t['d_ci'][1], '{:.2f}')}]")


def test_rows(tests: list[dict]) -> tuple[list[str], list[list[str]]]:
    """The tests table as a header and rows of formatted cells (Markdown and HTML)."""
    header = ["condition vs reference", "Welch p (Holm)", "Mann–Whitney p (Holm)",
              "Cohen's d [95 % CI]", "log-rank p (Holm)"]
    rows = [[f"{t['condition']} vs {t['reference']}", _p_cell(t, "welch_p"),
             _p_cell(t, "mwu_p"), _d_cell(t), _p_cell(t, "logrank_p")] for t in tests]
    return header, rows


def final_accuracy_rows(tests: list[dict]) -> tuple[list[str], list[list[str]]]:
    """The tests on final val accuracy as a header and rows of formatted cells."""
    header = ["condition vs reference", "final val acc (mean vs reference)", "Welch p (Holm)",
              "Mann–Whitney p (Holm)", "Cohen's d [95 % CI]"]
    rows = [[f"{t['condition']} vs {t['reference']}",
             f"{fmt(t['mean'], '{:.4f}')} vs {fmt(t['reference_mean'], '{:.4f}')}",
             _p_cell(t, "welch_p"), _p_cell(t, "mwu_p"), _d_cell(t)]
            for t in tests]
    return header, rows


def markdown_grid(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table; a ``|`` inside a cell is escaped."""
    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"
    return "\n".join([line(header), "|" + "---|" * len(header), *map(line, rows)])


def _tex(s: str) -> str:
    s = s.replace("_", "\\_").replace("%", "\\%").replace("&", "\\&").replace("±", "$\\pm$")
    s = s.replace("≥", "$\\geq$").replace(">", "$>$").replace("×", "$\\times$")
    s = s.replace("Δ", "$\\Delta$")
    return s.replace("∞ (not reached)", "$\\infty$").replace("∞", "$\\infty$").replace(
        "—", "--")


def latex_grid(header: list[str], rows: list[list[str]]) -> str:
    """A booktabs table of already formatted cells, first column left-aligned."""
    lines = [f"\\begin{{tabular}}{{l{'r' * (len(header) - 1)}}}", "\\toprule",
             " & ".join(map(_tex, header)) + " \\\\", "\\midrule",
             *(" & ".join(_tex(str(c)) for c in r) + " \\\\" for r in rows),
             "\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def latex_table(table: list[dict], threshold: str) -> str:
    """A booktabs table of the conditions: the same cells as the Markdown and HTML table
    (mean ± std in steps and epochs, the 95 % CI, the speed-up with its CI, final val acc ±
    std)."""
    return latex_grid(*condition_rows(table, threshold))
