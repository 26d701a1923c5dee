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

import csv
import io
import json
import math
import os
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from groklab.config import RunConfig, dump_yaml, parse_config_text, read_text_file
from groklab.errors import ConfigError, short
from groklab.runs.files import read_jsonl, write_atomic, write_json_atomic

try:
    import fcntl
except ImportError:  # not POSIX
    fcntl = None

# Changing these on --resume is allowed: they set how long to train, or where records are
# copied (the ``log`` section), not what is trained.
RESUMABLE_CHANGES = {("train", "epochs"), ("train", "steps"), ("train", "max_steps"),
                     ("train", "stop_at")}
RESUMABLE_SECTIONS = {"log"}


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
        diffs = [d for d in diffs if tuple(d[0].split(".")) not in RESUMABLE_CHANGES
                 and d[0].split(".")[0] not in RESUMABLE_SECTIONS]
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
        """The run's config.yaml; a missing, unreadable or invalid one is a one-line error
        naming the file."""
        from groklab.engine.setup import plan_run

        path = self.config_path
        with blame(path):
            data = parse_config_text(read_text_file(path, "run config"), ".yaml",
                                     f"run config {short(str(path), 200)}")
            cfg = RunConfig.from_dict(data)
            plan_run(cfg, check_memory_fits=False)  # a saved config must still make sense
            return cfg

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
        """split.npz, checked against the run's config (every array there, one row per seed of
        the config, indices within the task's table, a partition of it, labels within the
        vocabulary); anything else is a one-line error naming the file."""
        path = self.split_path
        if not path.is_file():
            raise damaged(path, "it is missing")
        try:
            with np.load(path, allow_pickle=False) as z:
                split = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
            raise damaged(path, f"it cannot be read as a NumPy archive ({error_text(e)})") from None
        _check_split(split, self.load_config(), path)
        return split

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

    def check_files(self) -> RunConfig:
        """Read and check the run's config.yaml and, where they exist, split.npz and
        summary.json (what --resume, a transfer source and a report rely on); a damaged one is
        a one-line error naming it. Returns the config."""
        cfg = self.load_config()
        if self.split_path.exists():
            self.load_split()
        if self.summary_path.exists():
            self.read_summary()
        return cfg

    def read_summary(self) -> dict:
        """summary.json, with the keys every reader relies on checked (``check_summary``)."""
        summary = read_json_file(self.summary_path)
        check_summary(summary, self.summary_path)
        return summary


# ----- reading files groklab wrote: damage is a one-line error naming the file -----

# a file groklab wrote is read whole; this bounds what a damaged or foreign one can make it read
MAX_READ_BYTES = 1 << 30


def damaged(path: str | Path, why: str) -> ConfigError:
    """The error for a file of a run or sweep directory that is missing, unreadable or not what
    groklab wrote: it names the file and why."""
    return ConfigError(f"{short(str(path), 200)} is damaged or not written by groklab: {why}")


def error_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    name = type(exc).__name__
    detail = f"{name}: {first}" if first else name
    return detail if len(detail) <= 160 else detail[:160] + "…"


@contextmanager
def blame(path: str | Path):
    """Run the reading of ``path``'s contents: a ConfigError passes through (prefixed with the
    file when it does not name it yet), and data of the wrong shape (a KeyError, TypeError,
    ValueError, IndexError or AttributeError while it is used) becomes ``damaged(path)``."""
    name = short(str(path), 200)
    try:
        yield
    except ConfigError as e:
        if name in str(e):
            raise
        raise ConfigError(f"{name}: {e}") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, ZeroDivisionError,
            OverflowError, csv.Error) as e:
        raise damaged(path, error_text(e)) from None


def read_text(path: str | Path) -> str:
    """The UTF-8 text of a file groklab wrote; missing, unreadable or not text is
    ``damaged``."""
    path = Path(path)
    if not path.is_file():
        raise damaged(path, "it is missing" if not path.exists() else "it is not a file")
    with path.open("rb") as f:
        raw = f.read(MAX_READ_BYTES + 1)
    if len(raw) > MAX_READ_BYTES:
        raise damaged(path, f"it is larger than {MAX_READ_BYTES:,} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise damaged(path, "it is not UTF-8 text") from None


def read_json_file(path: str | Path, kind: type = dict):
    """The JSON value of a file groklab wrote (a ``kind``: a mapping unless told); anything
    else is ``damaged``."""
    text = read_text(path)
    try:
        value = json.loads(text)
    except RecursionError:
        raise damaged(path, "it is nested too deeply") from None
    except ValueError as e:
        raise damaged(path, f"it is not valid JSON ({error_text(e)})") from None
    if not isinstance(value, kind):
        raise damaged(path, f"it holds a JSON {type(value).__name__}, not a "
                            f"{'mapping' if kind is dict else kind.__name__}")
    return value


def usable_metrics(records: list) -> list[dict]:
    """The metrics records a figure or an analysis can use: a mapping with an integer step and
    seed and finite accuracies and losses where present. A damaged record is left out
    (groklab.runs.metrics finds and reports it), never a traceback."""
    def finite(x) -> bool:
        return _is_number(x) and math.isfinite(x)

    return [r for r in records if isinstance(r, dict) and _is_int(r.get("step"))
            and _is_int(r.get("seed")) and all(finite(r.get(k)) for k in ("train_acc", "val_acc"))
            and all(r.get(k) is None or finite(r[k]) for k in ("train_loss", "val_loss"))]


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def check_summary(summary: dict, path: str | Path) -> None:
    """The keys of summary.json that readers use (docs/architecture.md §3.3), with their
    types; ``damaged(path)`` names the first that is wrong."""
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise damaged(path, what)

    need(isinstance(summary.get("status"), str), "'status' is missing or not a string")
    need(_is_int(summary.get("step")) and summary["step"] >= 0,
         "'step' is missing or not a step number")
    need(_is_number(summary.get("epoch")), "'epoch' is missing or not a number")
    need(_is_int(summary.get("steps_per_epoch")) and summary["steps_per_epoch"] >= 1,
         "'steps_per_epoch' is missing or not a positive integer")
    for key in ("wall_time_s", "compile_time_s", "steps_per_s"):
        need(summary.get(key) is None or _is_number(summary[key]),
             f"{key!r} is not a number")
    need(isinstance(summary.get("config", {}), dict), "'config' is not a mapping")
    seeds = summary.get("seeds")
    need(isinstance(seeds, list) and len(seeds) >= 1, "'seeds' is missing or not a list")
    for i, s in enumerate(seeds):
        where = f"seeds[{i}]"
        need(isinstance(s, dict), f"{where} is not a mapping")
        need(_is_int(s.get("seed")), f"{where}.seed is missing or not an integer")
        need(isinstance(s.get("grokked"), bool), f"{where}.grokked is missing or not a boolean")
        for key in ("steps_to_val_acc", "epochs_to_val_acc"):
            need(isinstance(s.get(key), dict) and all(v is None or _is_number(v)
                                                      for v in s[key].values()),
                 f"{where}.{key} is missing or not a mapping of numbers")
        need(isinstance(s.get("final", {}), dict), f"{where}.final is not a mapping")
        for key in ("memorized_epoch", "memorized_step"):
            need(s.get(key) is None or _is_number(s[key]), f"{where}.{key} is not a number")


SPLIT_ARRAYS = ("seeds", "train_idx", "val_idx", "train_labels", "noisy_positions",
                "train_fraction", "label_noise")


def _check_split(split: dict, cfg: RunConfig, path: Path) -> None:
    """split.npz as ``write_split`` writes it, for the run whose config is ``cfg``."""
    from groklab.tasks import make_task

    missing = [k for k in SPLIT_ARRAYS if k not in split]
    if missing:
        raise damaged(path, f"it has no {', '.join(missing)} array")
    seeds = split["seeds"]
    if seeds.ndim != 1 or seeds.dtype.kind not in "iu" or list(seeds) != list(cfg.seeds):
        raise damaged(path, f"its seeds {short(seeds.tolist())} are not the run's seeds "
                            f"{short(list(cfg.seeds))}")
    t = cfg.task
    try:
        task = make_task(t.name, t.p, t.layout)
    except ConfigError as e:
        raise damaged(path.parent / "config.yaml", str(e)) from None
    n = len(task.labels)
    for key in ("train_idx", "val_idx", "train_labels", "noisy_positions"):
        a = split[key]
        if a.ndim != 2 or a.shape[0] != len(seeds) or a.dtype.kind not in "iub":
            raise damaged(path, f"{key} has shape {a.shape} and type {a.dtype}; expected "
                                f"integers, one row per seed ({len(seeds)})")
    tr, va = split["train_idx"], split["val_idx"]
    if split["train_labels"].shape != tr.shape:
        raise damaged(path, "train_labels and train_idx differ in shape")
    if tr.shape[1] + va.shape[1] != n:
        raise damaged(path, f"train_idx and val_idx hold {tr.shape[1] + va.shape[1]} rows per "
                            f"seed; the task {task.name} mod {t.p} has {n}")
    for key, a, hi in (("train_idx", tr, n), ("val_idx", va, n),
                       ("train_labels", split["train_labels"], task.d_vocab)):
        if a.size and (a.min() < 0 or a.max() >= hi):
            raise damaged(path, f"{key} holds values outside [0, {hi})")
    for key in ("train_fraction", "label_noise"):
        a = split[key]
        if a.shape != () or a.dtype.kind != "f" or not np.isfinite(a):
            raise damaged(path, f"{key} is not a number")


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
