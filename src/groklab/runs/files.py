"""Reading append-only JSONL tolerantly (docs/reliability.md §2); the atomic writers of
``groklab.atomic``, which run files are written with."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from groklab.atomic import write_atomic, write_json_atomic

__all__ = ["JsonlScan", "read_jsonl", "scan_jsonl", "write_atomic", "write_json_atomic"]


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
