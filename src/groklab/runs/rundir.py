"""The run directory contract (docs/architecture.md §3).

```
DIR/config.yaml      fully resolved config
DIR/split.npz        train/val indices (and label noise) actually used, per seed
DIR/metrics.jsonl    one JSON object per evaluation per seed (append-only)
DIR/summary.json     written atomically at every checkpoint and at the end
DIR/checkpoints/     Orbax (see runs.checkpoints)
DIR/figures/         PNG (+PDF on request)
```
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import yaml

from groklab.config import RunConfig, dump_yaml
from groklab.errors import ConfigError
from groklab.runs.files import read_jsonl, write_atomic, write_json_atomic

try:
    import fcntl
except ImportError:  # not POSIX
    fcntl = None

# Changing these on --resume is allowed: they set how long to train, not what is trained.
RESUMABLE_CHANGES = {("train", "epochs"), ("train", "steps"), ("train", "stop_at")}


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    config_path = property(lambda self: self.path / "config.yaml")
    split_path = property(lambda self: self.path / "split.npz")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    summary_path = property(lambda self: self.path / "summary.json")
    checkpoints_path = property(lambda self: self.path / "checkpoints")
    figures_path = property(lambda self: self.path / "figures")

    def holds_run(self) -> bool:
        return self.config_path.exists()

    # ----- checks before anything is written -----

    def check_new(self) -> None:
        """Refuse to write into a directory that already holds a run or other files."""
        if self.holds_run():
            raise ConfigError(f"{str(self.path)!r} already holds a run; pass --resume to continue "
                              "it or choose another --out")
        if self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise ConfigError(f"{str(self.path)!r} exists and is not an empty directory; "
                              "choose another --out")

    def check_resume(self, cfg: RunConfig) -> None:
        """Refuse to resume a run whose saved config differs from ``cfg`` (except its budget)."""
        if not self.holds_run():
            raise ConfigError(f"nothing to resume: {str(self.path)!r} holds no run "
                              "(no config.yaml)")
        saved = self.load_config().to_dict()
        diffs = _diff(saved, cfg.to_dict())
        diffs = [d for d in diffs if tuple(d[0].split(".")) not in RESUMABLE_CHANGES]
        if diffs:
            key, old, new = diffs[0]
            raise ConfigError(f"cannot resume {str(self.path)!r}: {key} was {old!r}, now {new!r}; "
                              "resume with the saved config or start a new --out")

    # ----- one writer -----

    def lock(self) -> int | None:
        """Hold the directory for this process: an exclusive ``flock`` on the directory itself
        (no file is added), released by ``unlock`` or when the process ends, however it ends.
        Raises ConfigError when another process (or another writer in this one) holds it."""
        if fcntl is None:  # no flock on this platform: one writer is the user's care
            return None
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _flock_holder(fd)
            os.close(fd)
            who = f"groklab process {holder}" if holder else "another groklab process"
            raise ConfigError(f"{str(self.path)!r} is being written by {who}; let it finish "
                              "(or stop it) before resuming, or choose another --out") from None
        return fd

    @staticmethod
    def unlock(fd: int | None) -> None:
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the lock

    # ----- files -----

    def load_config(self) -> RunConfig:
        return RunConfig.from_dict(yaml.safe_load(self.config_path.read_text()))

    def write_config(self, cfg: RunConfig) -> None:
        write_atomic(self.config_path, dump_yaml(cfg))

    def write_split(self, seeds, splits) -> None:
        """Per-seed arrays stacked on a leading seed axis (every seed has the same sizes)."""
        buf = io.BytesIO()
        np.savez(
            buf,
            seeds=np.asarray(seeds, np.int64),
            train_idx=np.stack([s.train_idx for s in splits]),
            val_idx=np.stack([s.val_idx for s in splits]),
            train_labels=np.stack([s.train_labels for s in splits]),
            noisy_positions=np.stack([s.noisy_positions for s in splits]),
            train_fraction=np.float64(splits[0].train_fraction),
            label_noise=np.float64(splits[0].label_noise),
        )
        write_atomic(self.split_path, buf.getvalue())

    def load_split(self) -> dict[str, np.ndarray]:
        with np.load(self.split_path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def append_metrics(self, records: list[dict]) -> None:
        with self.metrics_path.open("a") as f:
            f.write("".join(json.dumps(r, allow_nan=False) + "\n" for r in records))
            f.flush()

    def read_metrics(self) -> list[dict]:
        return read_jsonl(self.metrics_path)

    def write_metrics(self, records: list[dict]) -> None:
        """Replace metrics.jsonl with ``records`` (atomically; a resume's kept records)."""
        write_atomic(self.metrics_path,
                     "".join(json.dumps(r, allow_nan=False) + "\n" for r in records))

    REJECTED_NAME = "metrics.rejected.txt"

    def set_aside_metrics_lines(self, lines: list[tuple[int, str]]) -> None:
        """Keep damaged metrics lines (with their line numbers) in metrics.rejected.txt,
        appended to what earlier resumes set aside: nothing is deleted."""
        path = self.path / self.REJECTED_NAME
        old = path.read_text(errors="replace") if path.exists() else ""
        write_atomic(path, old + "".join(f"line {n}: {text}\n" for n, text in lines))

    def write_summary(self, summary: dict) -> None:
        write_json_atomic(self.summary_path, summary)

    def read_summary(self) -> dict:
        return json.loads(self.summary_path.read_text())


def _flock_holder(fd: int) -> int | None:
    """The PID holding a flock on the file behind ``fd``, from Linux's /proc/locks (None where
    that is not available). A lock of a dead process is released by the kernel, so a stale lock
    cannot exist: the next writer simply gets it."""
    st = os.fstat(fd)
    dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (blocked waiters add "->")
        if "FLOCK" in parts and "->" not in parts:
            i = parts.index("FLOCK")
            if len(parts) > i + 4 and parts[i + 4] == dev:
                return int(parts[i + 3])
    return None


def _diff(a, b, prefix=""):
    out = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    if a != b:
        out.append((prefix.rstrip("."), a, b))
    return out
