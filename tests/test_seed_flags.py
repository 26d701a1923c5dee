"""The seed scripts' command lines run through groklab with their meaning (train_nnx.py's model
and budget flags, distillation.py's weights and aliases); flags are never abbreviated; every
long-running command has --quiet."""

from __future__ import annotations

import json

import pytest
import yaml

from groklab.cli.main import build_parser, main
from groklab.cli.train_cmd import config_from_args
from groklab.config import RunConfig, apply_overrides
from groklab.engine.setup import plan_run


def parsed(argv: list[str]):
    args, extra = build_parser().parse_known_args(argv)
    assert not extra
    return args


def test_the_seed_scripts_documented_command_line_means_the_same():
    """The seeds' own command line (train_nnx.py's model and budget flags)."""
    args = parsed(["train", "--p", "97", "--depth", "2", "--dim", "128", "--heads", "1",
                   "--dropout", "0.2", "--epochs", "150", "--seed", "42", "--save_dir", "DIR",
                   "--optimizer", "adamw", "--learning_rate", "1e-3", "--weight_decay", "1.0",
                   "--warmup_steps", "10", "--batch_size", "512", "--train_fraction", "0.5",
                   "--operation", "div"])
    cfg = config_from_args(args)
    m, t, o = cfg.model, cfg.train, cfg.optim
    assert (m.n_layers, m.d_model, m.n_heads, m.dropout) == (2, 128, 1, 0.2)
    assert (t.epochs, t.batch_size, cfg.seeds, args.out) == (150, 512, (42,), "DIR")
    assert (o.name, o.learning_rate, o.weight_decay, o.warmup_steps) == ("adamw", 1e-3, 1.0, 10)
    assert (cfg.task.p, cfg.task.name, cfg.task.train_fraction) == (97, "div", 0.5)
    assert m.mlp_dim == 4 * 128  # the seed model's 4× MLP


def test_max_steps_stops_at_the_budget_or_the_cap_whichever_comes_first():
    base = apply_overrides(RunConfig(), ["task.name=add", "task.p=11", "train.batch_size=16",
                                         "train.epochs=4"])
    spe = plan_run(base, check_memory_fits=False).phases[-1].steps_per_epoch
    assert plan_run(base, check_memory_fits=False).total_steps == 4 * spe
    capped = apply_overrides(base, ["train.max_steps=5"])
    assert plan_run(capped, check_memory_fits=False).total_steps == 5
    loose = apply_overrides(base, [f"train.max_steps={100 * spe}"])
    assert plan_run(loose, check_memory_fits=False).total_steps == 4 * spe
    staged = apply_overrides(base, ["train.batch_schedule=increasing", "train.batch_start=4",
                                    "train.batch_stages=2", "train.max_steps=7"])
    phases = plan_run(staged, check_memory_fits=False).phases
    assert phases[-1].end_step == 7 and all(p.start_step < 7 for p in phases)


def test_a_tiny_seed_command_line_trains(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--p", "7", "--operation", "add", "--depth", "1", "--dim", "16",
                 "--heads", "2", "--dropout", "0.1", "--epochs", "3", "--max_steps", "4",
                 "--batch_size", "8", "--seed", "42", "--beta2", "0.99", "--save_dir", str(out),
                 "--quiet"]) == 0
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["model"]["n_layers"] == 1 and cfg["model"]["d_model"] == 16
    assert cfg["model"]["n_heads"] == 2 and cfg["model"]["dropout"] == 0.1
    assert cfg["optim"]["b2"] == 0.99 and cfg["seeds"] == [42]
    assert json.loads((out / "summary.json").read_text())["step"] == 4


@pytest.mark.parametrize("flag, value", [("--lr", "0.01"), ("--epoch", "3"),
                                          ("--optim", "adamw"), ("--num", "2")])
def test_abbreviated_flags_are_refused(flag, value, tmp_path, capsys):
    assert main(["train", flag, value, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag in err
    assert not (tmp_path / "r").exists()


def test_distillation_script_flags(tmp_path):
    from groklab.cli.distill_cmd import weighted

    args = parsed(["distill", "--teacher_checkpoint", "T", "--output_dir", "S",
                   "--disable_ground_truth", "--strategies", "logit,attention,feature",
                   "--attention_weight", "2", "--feature_weight", "0.5", "--beta1", "0.8"])
    assert args.out == "S" and args.no_ground_truth and args.teacher == "T"
    assert weighted(("logit", "attention", "feature"), args) == ("logit", "attention:2",
                                                                   "feature:0.5")
    assert config_from_args(args).optim.b1 == 0.8
    from groklab.errors import ConfigError

    lone = parsed(["distill", "--teacher", "T", "--feature_weight", "3"])
    with pytest.raises(ConfigError, match="--feature_weight 3 weights the feature strategy"):
        weighted(("logit",), lone)


@pytest.mark.parametrize("command", ["train", "distill", "transfer", "sweep", "analyze",
                                     "quantize"])
def test_every_long_running_command_has_quiet(command):
    assert "--quiet" in build_parser()._subparsers._group_actions[0].choices[command] \
        .format_help()


def test_a_quiet_sweep_prints_only_its_last_line(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "q", "base": {"set": {"task.name": "add", "task.p": 5, "model.d_model": 8,
                                      "model.n_heads": 1, "model.n_layers": 1,
                                      "train.epochs": 1, "train.batch_size": 8}},
        "grid": {"optim.learning_rate": [0.001]}, "num_seeds": 1}))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "sw"), "--quiet"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("results:")


def test_without_out_every_run_gets_its_own_timestamped_directory(tmp_path, monkeypatch,
                                                                  capsys):
    import re

    from groklab.cli import train_cmd

    assert re.fullmatch(r"runs/add_p5_\d{8}-\d{6}", train_cmd.default_out("add_p5"))
    monkeypatch.chdir(tmp_path)
    stamps = iter(["20261206-120000", "20261206-120001"])
    monkeypatch.setattr(train_cmd.time, "strftime", lambda fmt: next(stamps))
    argv = ["train", "--operation", "add", "--p", "5", "--dim", "8", "--heads", "1", "--depth",
            "1", "--epochs", "1", "--batch_size", "8", "--quiet"]
    assert main(argv) == 0 and main(argv) == 0  # the second run is not refused
    made = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert made == ["add_p5_20261206-120000", "add_p5_20261206-120001"]
    capsys.readouterr()
    assert main(["train", "--resume"]) == 2
    assert "--resume needs --out DIR" in capsys.readouterr().err
