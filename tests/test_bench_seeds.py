"""The pure parts of the side-by-side benchmark (benchmarks/seeds.py, benchmarks/report.py): the
long-minus-short arithmetic, finding the epoch of 99 % in the seeds' history and stdout, the
ratios and the generated table. No timing, no network, no environment is built."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import report  # noqa: E402
import seeds  # noqa: E402


def test_per_epoch_cancels_the_fixed_cost():
    fixed, per = 17.5, 3.5
    assert seeds.per_epoch(fixed + 4 * per, fixed + 12 * per, 4, 12) == pytest.approx(per)


@pytest.mark.parametrize("short,long", [(12, 4), (4, 4)])
def test_per_epoch_needs_a_longer_long_run(short, long):
    with pytest.raises(ValueError, match="longer"):
        seeds.per_epoch(10.0, 20.0, short, long)


def test_per_epoch_summary_minima_medians_and_fixed_cost():
    s = seeds.per_epoch_summary([31.0, 30.0, 40.0], [59.0, 58.0, 70.0], 4, 12)
    assert s["s_per_epoch_min"] == pytest.approx((58 - 30) / 8)
    assert s["s_per_epoch_median"] == pytest.approx((59 - 31) / 8)
    assert s["s_per_epoch_each"] == pytest.approx([28 / 8, 28 / 8, 30 / 8])
    assert s["fixed_s_min"] == pytest.approx(30 - 4 * 3.5)
    with pytest.raises(ValueError):
        seeds.per_epoch_summary([1.0], [2.0, 3.0], 4, 12)


def test_epoch_reaching_reads_the_seeds_history():
    history = {"epoch": [1, 2, 3, 4, 5], "val_acc": [0.01, 0.5, 0.9899, 0.99, 1.0],
               "train_acc": [0.02, 1.0, 1.0, 1.0, 1.0]}
    assert seeds.epoch_reaching(history) == 4
    assert seeds.epoch_reaching(history, 0.5) == 2
    assert seeds.epoch_reaching(history, 1.0, key="train_acc") == 2
    assert seeds.epoch_reaching({"epoch": [1], "val_acc": [0.3]}) is None
    assert seeds.epoch_reaching({}) is None
    with pytest.raises(ValueError, match="epochs"):
        seeds.epoch_reaching({"epoch": [1, 2], "val_acc": [0.1]})


def test_epoch_reaching_on_the_stored_reference_history():
    path = Path(__file__).resolve().parents[2] / "shared/reference/" \
        "seed-implementation-teacher-history.json"
    if not path.exists():
        pytest.skip("../shared/reference/ is not here")
    import json

    assert seeds.epoch_reaching(json.loads(path.read_text())) == 98  # its README says 98


STDOUT = """4. Starting training...
================================================================================
Epoch   1/150 (   10 steps, 16.0s): train_loss=5.0418, train_acc=0.95%, val_loss=4.7195, \
val_acc=1.37%, lr=0.001000, w_norm=67.31
Epoch  90/150 (  900 steps, 3.4s): train_loss=0.0100, train_acc=100.00%, val_loss=0.2, \
val_acc=97.50%, lr=0.001000, w_norm=80.00
Epoch 100/150 ( 1000 steps, 3.5s): train_loss=0.0010, train_acc=100.00%, val_loss=0.01, \
val_acc=99.60%, lr=0.001000, w_norm=81.00
================================================================================
Training complete!
"""


def test_stdout_history_parses_the_printed_epochs():
    h = seeds.stdout_history(STDOUT)
    assert h["epoch"] == [1, 90, 100]
    assert h["epoch_s"] == [16.0, 3.4, 3.5]
    assert h["val_acc"] == pytest.approx([0.0137, 0.975, 0.996])
    assert h["train_acc"][0] == pytest.approx(0.0095)
    assert seeds.epoch_reaching(h) == 100  # at the printed resolution (every 10th epoch)
    assert seeds.stdout_history("no epochs here")["epoch"] == []


def test_ratios_are_seeds_over_groklab_and_skip_missing_figures():
    r = seeds.ratios({"s_per_epoch_min": 3.5, "s_to_99": 360.0, "s_per_epoch_to_99": None},
                     {"s_per_epoch_min": 0.5, "s_to_99": 0.0, "s_per_epoch_to_99": 0.6})
    assert r == {"s_per_epoch_min": 7.0}


def test_missing_implementation_is_a_reason_not_an_error(tmp_path):
    assert "not at" in seeds.missing_reason(tmp_path / "absent")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train_nnx.py").write_text("")
    assert seeds.missing_reason(tmp_path) is None


def _results() -> dict:
    machine = {"cpu": "AMD EPYC", "cores": 2}
    per = seeds.per_epoch_summary([31.0, 30.0], [59.0, 58.0], 4, 12)
    per_g = seeds.per_epoch_summary([20.0, 21.0], [24.0, 25.0], 4, 12)
    s99 = {"s_to_99": 360.0, "epoch_to_99": 98, "s_per_epoch_to_99": 360 / 98}
    g99 = {"s_to_99": 60.0, "epoch_to_99": 90, "s_per_epoch_to_99": 60 / 90}
    return {
        "date": "2026-12-06 12:00",
        "seeds": {"machine": machine, "matmul_peak_gflops": [200.0, 210.0],
                  "seeds": {**per, "epochs_short": 4, "epochs_long": 12,
                            "s_process_short": [31.0, 30.0], "s_process_long": [59.0, 58.0]},
                  "groklab": {**per_g, "epochs_short": 4, "epochs_long": 12,
                              "s_process_short": [20.0, 21.0],
                              "s_process_long": [24.0, 25.0]},
                  "ratio": seeds.ratios(per, per_g)},
        "seeds99": {"machine": machine, "matmul_peak_gflops": 205.0, "seeds_seed": 42,
                    "groklab_seed": 2, "seeds": s99, "groklab": g99,
                    "ratio": seeds.ratios(s99, g99), "groklab_s_at_seeds_epoch": 64.0},
    }


def test_the_generated_table_names_cpu_peak_and_ratios():
    text = "\n".join(report.seeds_table(_results()))
    assert "AMD EPYC, 2 cores" in text and "200–210 GFLOP/s" in text
    assert "**7.0×**" in text  # 3.5 s / 0.5 s per epoch
    assert "**6.0×**" in text  # 360 s / 60 s to 99 %
    assert "epoch 98" in text and "epoch 90" in text
    assert "416" not in text
    lines = report.seeds_summary(_results())
    assert any("7.0×" in line and "AMD EPYC" in line for line in lines)


def test_a_skipped_part_is_reported_as_such():
    r = {"date": "x", "seeds": {"skipped": "the seeds' implementation is not at /x"}}
    text = "\n".join(report.seeds_table(r))
    assert "`seeds` part was skipped" in text
    assert report.seeds_summary(r) == ["seeds: skipped (the seeds' implementation is not at /x)"]
