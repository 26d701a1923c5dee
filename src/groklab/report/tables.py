"""The seeds' results table from a sweep's rows: per condition (a cell, i.e. one combination of
the axes) the steps (epochs) to a val-accuracy threshold — mean ± std and 95 % t-interval over
the seeds that reached it, the Kaplan–Meier median over all seeds (the others censored at the
budget) — the final val accuracy and "k/N grokked"; and tests between conditions (Welch,
Mann–Whitney, Cohen's d on the seeds that reached it; log-rank on all), Holm-corrected.
"""

from __future__ import annotations

import math
from collections import defaultdict

from groklab.stats import GrokTimes, compare, describe, holm, kaplan_meier, logrank


def _num(x):
    if x is None or x == "":
        return None
    return float(x)


def _conditions(rows: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[str(r["cell_name"])].append(r)
    return dict(groups)


def _label(rs: list[dict], axes: list[str], name: str) -> str:
    return ", ".join(f"{a.split('.')[-1]}={rs[0][a]}" for a in axes) or name


def _times(rows: list[dict], threshold: str) -> GrokTimes:
    return GrokTimes.from_milestones([_num(r[f"steps_to_{threshold}"]) for r in rows],
                                     [_num(r["budget_steps"]) for r in rows])


def condition_table(rows: list[dict], axes: list[str], threshold: str = "0.99") -> list[dict]:
    """One dict per condition, in cell order."""
    out = []
    for name, rs in _conditions(rows).items():
        g = _times(rs, threshold)
        reached = g.times[g.grokked].tolist()
        spe = _num(rs[0]["steps_per_epoch"]) or 1.0
        s = describe(reached)
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
        })
    return out


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
    for key in ("welch_p", "mwu_p", "logrank_p"):
        ps = [t[key] for t in tests]
        finite = [i for i, p in enumerate(ps) if not math.isnan(p)]
        adj = holm([ps[i] for i in finite])
        for t in tests:
            t[key + "_holm"] = float("nan")
        for i, a in zip(finite, adj):
            tests[i][key + "_holm"] = a
    return tests


def _f(x, fmt="{:.0f}") -> str:
    return "—" if x is None or (isinstance(x, float) and (math.isnan(x))) else (
        "∞ (not reached)" if x == math.inf else fmt.format(x))


def markdown_table(table: list[dict], threshold: str) -> str:
    pct = f"{float(threshold) * 100:g} %"
    lines = [f"| condition | steps (epochs) to {pct}: mean ± std [95 % CI] | KM median steps | "
             "final val acc | grokked |", "|---|---|---|---|---|"]
    for t in table:
        ci = t["steps_ci"]
        lines.append(
            f"| {t['condition']} | {_f(t['steps_mean'])} ± {_f(t['steps_std'])} "
            f"({_f(t['epochs_mean'], '{:.1f}')} ± {_f(t['epochs_std'], '{:.1f}')} ep) "
            f"[{_f(ci[0])}, {_f(ci[1])}] | {_f(t['km_median_steps'])} | "
            f"{_f(t['final_val_acc_mean'], '{:.3f}')} ± {_f(t['final_val_acc_std'], '{:.3f}')} "
            f"| {t['k_of_n']} |")
    return "\n".join(lines)


def markdown_tests(tests: list[dict]) -> str:
    if not tests:
        return ""
    lines = ["| condition vs reference | Welch p (Holm) | Mann–Whitney p (Holm) | "
             "Cohen's d [95 % CI] | log-rank p (Holm) |", "|---|---|---|---|---|"]
    for t in tests:
        lines.append(
            f"| {t['condition']} vs {t['reference']} | {_f(t['welch_p'], '{:.3g}')} "
            f"({_f(t['welch_p_holm'], '{:.3g}')}) | {_f(t['mwu_p'], '{:.3g}')} "
            f"({_f(t['mwu_p_holm'], '{:.3g}')}) | {_f(t['cohens_d'], '{:.2f}')} "
            f"[{_f(t['d_ci'][0], '{:.2f}')}, {_f(t['d_ci'][1], '{:.2f}')}] | "
            f"{_f(t['logrank_p'], '{:.3g}')} ({_f(t['logrank_p_holm'], '{:.3g}')}) |")
    return "\n".join(lines)


def latex_table(table: list[dict], threshold: str) -> str:
    """A booktabs table of the conditions."""
    pct = f"{float(threshold) * 100:g}\\,\\%"

    def esc(s: str) -> str:
        s = s.replace("_", "\\_").replace("%", "\\%").replace("&", "\\&")
        return s.replace("∞ (not reached)", "$\\infty$").replace("—", "--")

    lines = ["\\begin{tabular}{lrrrl}", "\\toprule",
             f"condition & steps to {pct} (mean $\\pm$ std) & KM median & final val acc & "
             "grokked \\\\", "\\midrule"]
    for t in table:
        lines.append(f"{esc(t['condition'])} & {esc(_f(t['steps_mean']))} $\\pm$ "
                     f"{esc(_f(t['steps_std']))} & {esc(_f(t['km_median_steps']))} & "
                     f"{_f(t['final_val_acc_mean'], '{:.3f}')} & {t['k_of_n']} \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"
