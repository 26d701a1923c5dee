"""The live progress table (shown on a terminal only, not with --quiet) and the end-of-run result
table of ``groklab train``."""

import io
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import rich
from rich.console import Console

from groklab.cli.main import main
from groklab.cli.progress import LiveProgress, print_result

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TINY = ["--p", "7", "--set", "model.d_model=16", "--set", "model.n_layers=1",
        "--batch_size", "8", "--num_seeds", "2", "--epochs", "3"]


@dataclass
class FakeProgress:
    """The attributes the engine's progress report carries."""

    step: int
    total_steps: int
    epoch: float
    records: list
    steps_per_s: float
    eta_s: float


def record(seed, train_acc, val_acc, train_loss, val_loss, weight_norm):
    return dict(step=0, epoch=0.0, seed=seed, train_acc=train_acc, val_acc=val_acc,
                train_loss=train_loss, val_loss=val_loss, weight_norm=weight_norm, lr=1e-3,
                wd=1.0, grad_norm=1.0, sc_fraction=0.0, diverged_step=None, grok_alarm=False)


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def use_console(monkeypatch, file) -> None:
    """Make ``file`` (a terminal, as far as rich is concerned) the console rich's Live uses."""
    monkeypatch.setattr(rich, "_console", Console(file=file, force_terminal=True, width=160,
                                                  color_system=None))


def render(monkeypatch, *updates, enabled=True) -> str:
    buf = io.StringIO()
    use_console(monkeypatch, buf)
    with LiveProgress(enabled=enabled) as live:
        for p in updates:
            live.update(p)
    return ANSI.sub("", buf.getvalue())


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the (last) table in ``text``, as lists of stripped cells."""
    rows = [line for line in text.splitlines() if line.startswith("│")]
    return [[c.strip() for c in line.strip("│").split("│")] for line in rows]


def test_live_table_shows_step_epoch_rate_eta_and_each_seeds_metrics(monkeypatch):
    records = [record(0, 20 / 21, 1 / 3, 0.0123456, 2.5, 16.37),
               record(7, 1.0, 0.9047619, 1.25e-4, 0.3, 20.0)]
    text = render(monkeypatch, FakeProgress(123, 900, 41.0, records, 85.34, 9.26))
    assert "step 123/900 · epoch 41.0 · 85.3 steps/s · ETA 9s" in text
    header = next(line for line in text.splitlines() if line.startswith("┃"))
    assert [c.strip() for c in header.strip("┃").split("┃")] == [
        "seed", "train acc", "val acc", "train loss", "val loss", "‖w‖"]
    assert table_rows(text) == [
        ["0", "95.24%", "33.33%", "0.01235", "2.5", "16.37"],
        ["7", "100.00%", "90.48%", "0.000125", "0.3", "20"],
    ]


def test_live_table_shows_the_latest_update(monkeypatch):
    first = FakeProgress(3, 30, 1.0, [record(0, 0.1, 0.05, 2.0, 2.1, 16.0)], 10.0, 2.7)
    second = FakeProgress(6, 30, 2.0, [record(0, 0.5, 0.25, 1.0, 1.9, 16.5)], 12.0, 2.0)
    text = render(monkeypatch, first, second)
    last = text[text.rindex("step "):]  # the final render
    assert last.startswith("step 6/30 · epoch 2.0 · 12.0 steps/s · ETA 2s")
    assert table_rows(last) == [["0", "50.00%", "25.00%", "1", "1.9", "16.5"]]


@pytest.mark.parametrize("eta", [float("nan"), float("inf")])
def test_unknown_eta_and_a_diverged_seeds_missing_metrics(monkeypatch, eta):
    records = [record(0, 1.0, 0.5, 0.01, 1.0, 18.0),
               record(1, None, None, None, None, None)]  # NaN metrics are written as null
    text = render(monkeypatch, FakeProgress(60, 90, 20.0, records, 0.0, eta))
    assert "step 60/90 · epoch 20.0 · 0.0 steps/s · ETA ?" in text
    assert table_rows(text) == [["0", "100.00%", "50.00%", "0.01", "1", "18"],
                                ["1", "nan", "nan", "nan", "nan", "nan"]]


def test_disabled_progress_writes_nothing(monkeypatch):
    records = [record(0, 0.5, 0.5, 1.0, 1.0, 1.0)]
    assert render(monkeypatch, FakeProgress(3, 9, 1.0, records, 5.0, 1.2), enabled=False) == ""


@pytest.mark.slow
def test_train_on_a_terminal_shows_the_live_table(monkeypatch, tmp_path):
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", term)
    use_console(monkeypatch, term)
    assert main(["train", *TINY, "--out", str(tmp_path / "run")]) == 0
    text = ANSI.sub("", term.getvalue())
    final = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text()
             .splitlines()][-2:]
    live = text[text.rindex("step 9/9"):text.index("completed at step 9")]
    assert re.match(r"step 9/9 · epoch 3\.0 · \d+\.\d steps/s · ETA 0s", live), live[:200]
    assert table_rows(live) == [
        [str(r["seed"]), f"{100 * r['train_acc']:.2f}%", f"{100 * r['val_acc']:.2f}%",
         f"{r['train_loss']:.4g}", f"{r['val_loss']:.4g}", f"{r['weight_norm']:.4g}"]
        for r in final]


@pytest.mark.slow
@pytest.mark.parametrize("terminal, quiet", [(True, True), (False, False)],
                         ids=["quiet-on-a-terminal", "piped"])
def test_train_quiet_or_piped_shows_no_live_table(monkeypatch, tmp_path, terminal, quiet):
    out = FakeTerminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    use_console(monkeypatch, out)
    argv = ["train", *TINY, "--out", str(tmp_path / "run")] + (["--quiet"] if quiet else [])
    assert main(argv) == 0
    text = ANSI.sub("", out.getvalue())
    assert "completed at step 9 (epoch 3)" in text  # the result table is still printed
    # the console would render a live table into ``out``: train_cmd must not start one
    assert "steps/s" not in text and "ETA" not in text and "train loss" not in text


def test_print_result_lists_each_seeds_milestones_and_the_run_directory(capsys):
    def seed(s, memorized, e05, e09, e099, grokked, diverged, final):
        return {"seed": s, "memorized_epoch": memorized, "grokked": grokked,
                "diverged": diverged, "final": final,
                "epochs_to_val_acc": {"0.5": e05, "0.9": e09, "0.95": None, "0.99": e099}}

    summary = {
        "status": "stopped_early", "step": 300, "epoch": 100.0, "wall_time_s": 12.345,
        "compile_time_s": 4.56,
        "seeds": [
            seed(0, 12.0, 20.0, 30.5, 41.0, True, False, {"train_acc": 1.0, "val_acc": 0.995}),
            seed(1, 15.0, 25.0, None, None, False, False,
                 {"train_acc": 0.99, "val_acc": 0.6}),
            seed(2, None, None, None, None, False, True, {"train_acc": None, "val_acc": None}),
        ],
    }
    out = Path("runs") / "myrun"  # short enough for one line at the console's width 120
    print_result(summary, out)
    text = capsys.readouterr().out
    assert "stopped_early at step 300 (epoch 100) · 12.3s wall, 4.6s compile" in text
    assert table_rows(text) == [
        ["0", "ep 12", "ep 20", "ep 30.5", "ep 41", "yes", "100.00%", "99.50%"],
        ["1", "ep 15", "ep 25", "—", "—", "no", "99.00%", "60.00%"],
        ["2", "—", "—", "—", "—", "diverged", "nan", "nan"],
    ]
    assert f"run directory: {out}   figure: {out / 'figures' / 'curves.png'}" in text
