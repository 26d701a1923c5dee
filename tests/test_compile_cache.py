"""groklab.compile_cache: where JAX's persistent compilation cache lives, how it is keyed and
turned off, and that a program loaded from it trains exactly as a freshly compiled one."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from groklab import compile_cache

TINY_TRAIN = ["train", "--set", "task.p=7", "--set", "model.d_model=16", "--set",
              "model.n_layers=1", "--set", "model.dropout=0.1", "--set", "train.batch_size=8",
              "--set", "train.epochs=6", "--quiet"]


def test_the_cache_lives_in_the_user_cache_directory(tmp_path):
    env = {"HOME": str(tmp_path / "home")}
    assert compile_cache.root(env) == tmp_path / "home" / ".cache" / "groklab" / "jax"
    assert compile_cache.root({**env, "XDG_CACHE_HOME": "relative"}) == \
        tmp_path / "home" / ".cache" / "groklab" / "jax"  # XDG: relative paths are ignored
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    assert compile_cache.root(env) == tmp_path / "xdg" / "groklab" / "jax"
    assert compile_cache.root({**env, "GROKLAB_COMPILE_CACHE": "1"}) == \
        tmp_path / "xdg" / "groklab" / "jax"
    d = compile_cache.directory(env)
    assert d.parent == tmp_path / "xdg" / "groklab" / "jax"
    assert d.name.startswith("jax0.")


@pytest.mark.parametrize("off", ["0", "off", "OFF", "false", "no"])
def test_it_can_be_turned_off(tmp_path, off):
    assert compile_cache.root({"GROKLAB_COMPILE_CACHE": off, "HOME": str(tmp_path)}) is None
    assert compile_cache.directory({"GROKLAB_COMPILE_CACHE": off}) is None


def test_another_directory_and_jax_own_setting(tmp_path):
    assert compile_cache.root({"GROKLAB_COMPILE_CACHE": str(tmp_path / "c")}) == tmp_path / "c"
    # JAX configured by its own variable: groklab leaves it alone, unless told a directory
    assert compile_cache.root({"JAX_COMPILATION_CACHE_DIR": str(tmp_path)}) is None
    assert compile_cache.root({"JAX_COMPILATION_CACHE_DIR": str(tmp_path),
                               "GROKLAB_COMPILE_CACHE": str(tmp_path / "c")}) == tmp_path / "c"


def test_the_directory_is_split_by_flags_versions_and_cpu(monkeypatch):
    base = {"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=-reduce"}
    k = compile_cache.key(base)
    assert k == compile_cache.key(dict(base))  # deterministic
    assert k != compile_cache.key({"XLA_FLAGS": ""})
    assert k != compile_cache.key({"XLA_FLAGS": base["XLA_FLAGS"] + " --xla_cpu_use_onednn=true"})
    monkeypatch.setattr(compile_cache, "host_cpu", lambda: "another machine")
    assert k != compile_cache.key(base)
    monkeypatch.setattr(compile_cache, "_version", lambda dist: "9.9.9")
    assert compile_cache.key(base).startswith("jax9.9.9-")


def test_the_host_cpu_names_its_instruction_sets():
    cpu = compile_cache.host_cpu()
    if Path("/proc/cpuinfo").exists() and "flags" in Path("/proc/cpuinfo").read_text():
        assert "flags=" in cpu


def test_an_unwritable_cache_directory_is_one_warning(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("GROKLAB_COMPILE_CACHE", str(blocker / "cache"))
    assert compile_cache.enable() is None
    err = capsys.readouterr().err
    assert err.startswith("groklab: warning: compilation cache off") and err.count("\n") == 1


def _train(out: Path, cache: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    env["GROKLAB_COMPILE_CACHE"] = str(cache)
    proc = subprocess.run([sys.executable, "-m", "groklab", *TINY_TRAIN, "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    summary["stderr"] = proc.stderr
    return summary


def _entries(cache: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in cache.rglob("*-cache")}


@pytest.mark.slow
def test_a_cached_program_gives_identical_metrics(tmp_path):
    """Three `groklab train` processes of one tiny config: the first compiles and fills a fresh
    cache, the second loads every program from it (nothing new is written, and compiling takes
    less time), the third finds its biggest entry cut short (a process killed while writing it)
    and compiles that program again with a warning. metrics.jsonl holds no timings: all three
    are the same bytes."""
    cache = tmp_path / "cache"
    first = _train(tmp_path / "first", cache)
    entries = _entries(cache)
    assert any(name.startswith("jit_run_chunk-") for name in entries), entries
    assert all(p.parent.parent == cache for p in cache.rglob("*-cache"))  # one keyed subdir

    second = _train(tmp_path / "second", cache)
    assert _entries(cache) == entries  # every program came from the cache
    assert second["compile_time_s"] < first["compile_time_s"]
    metrics = (tmp_path / "first" / "metrics.jsonl").read_bytes()
    assert (tmp_path / "second" / "metrics.jsonl").read_bytes() == metrics

    chunk = next(p for p in cache.rglob("jit_run_chunk-*-cache"))
    chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])
    third = _train(tmp_path / "third", cache)
    assert "persistent compilation cache" in third["stderr"]
    assert (tmp_path / "third" / "metrics.jsonl").read_bytes() == metrics
    for s in (first, second, third):
        assert s["status"] == "completed"
