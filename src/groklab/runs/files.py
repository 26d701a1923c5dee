"""Atomic file writes (temp file in the same directory, fsync, rename) and tolerant reading of
append-only JSONL (docs/reliability.md §2, §5)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


def _umask() -> int:
    """The process umask, read without changing it where Linux shows it (``os.umask`` sets it,
    which would race with threads creating files)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` so a reader (or a crash) sees the old or the new file,
    never a truncated one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file 0600; a plain open() would give 0666 minus the umask
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | Path, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


@dataclass
class JsonlScan:
    """What an append-only JSONL file holds: the records that parse (with their 1-based line
    numbers), the lines that do not, and whether the last line was cut off (no newline: the
    normal trace of a crash while appending, not corruption)."""

    records: list[dict] = field(default_factory=list)
    line_numbers: list[int] = field(default_factory=list)
    bad_lines: list[tuple[int, str]] = field(default_factory=list)  # (line number, text)
    cut_tail: bool = False


def scan_jsonl(path: str | Path) -> JsonlScan:
    """Every line of a JSONL file, sorted into records and lines that are not a JSON object
    (bytes that are not UTF-8 count as bad lines, not as an error)."""
    path = Path(path)
    scan = JsonlScan()
    if not path.exists():
        return scan
    data = path.read_bytes()
    lines = data.split(b"\n")
    ends_cut = not data.endswith(b"\n") and data != b""
    if lines and lines[-1] == b"":
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            record = None
        if isinstance(record, dict):
            scan.records.append(record)
            scan.line_numbers.append(number)
        elif ends_cut and number == len(lines):
            scan.cut_tail = True
        else:
            scan.bad_lines.append((number, raw.decode("utf-8", "replace")))
    return scan


def read_jsonl(path: str | Path) -> list[dict]:
    """Every record of a JSONL file: a last line cut off by a crash and lines that do not parse
    are skipped (``scan_jsonl`` says which; reports flag them)."""
    return scan_jsonl(path).records
