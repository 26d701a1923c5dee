"""The integrity of a run's ``metrics.jsonl``: which records it holds, where a resume can restart
without losing or duplicating one, and what a report should flag (docs/reliability.md §2).

The file is append-only: each evaluation appends one line per seed in one write. So a crash can
leave only a cut-off last line (the normal trace of a kill while appending). Anything else—a line
in the middle that is not a record, the same (step, seed) twice, steps going backwards, a step
with records for only some seeds—means the file was damaged or written by two processes, and is
reported rather than silently dropped.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from groklab.runs.files import JsonlScan, scan_jsonl


def _is_record(r: dict) -> bool:
    step, seed = r.get("step"), r.get("seed")
    return (isinstance(step, int) and not isinstance(step, bool) and step >= 0
            and isinstance(seed, int) and not isinstance(seed, bool))


@dataclass
class MetricsCheck:
    """``metrics.jsonl`` of a run with ``seeds``, read once and checked."""

    records: list[dict]  # the valid records, in file order
    line_numbers: list[int]
    bad_lines: list[tuple[int, str]]  # lines that are not a record (not the cut-off last one)
    cut_tail: bool
    seeds: tuple[int, ...]

    @classmethod
    def read(cls, path: str | Path, seeds: Sequence[int]) -> MetricsCheck:
        scan: JsonlScan = scan_jsonl(path)
        records, numbers, bad = [], [], list(scan.bad_lines)
        for r, n in zip(scan.records, scan.line_numbers):
            if _is_record(r):
                records.append(r)
                numbers.append(n)
            else:
                bad.append((n, json.dumps(r)))
        bad.sort()
        return cls(records, numbers, bad, scan.cut_tail, tuple(seeds))

    # ----- resuming -----

    def _last_trusted_step(self) -> float:
        """Records after the first damaged line cannot vouch for what that line held: a resume
        must restart at or before the last step written before it."""
        if not self.bad_lines:
            return float("inf")
        first_bad = self.bad_lines[0][0]
        before = [r["step"] for r, n in zip(self.records, self.line_numbers) if n < first_bad]
        return max(before, default=0)

    def _per_step(self, last_step: int) -> dict[int, list[dict]]:
        steps: dict[int, list[dict]] = {}
        for r in self.records:
            if r["step"] <= last_step:
                steps.setdefault(r["step"], []).append(r)
        return steps

    def why_not_resumable_at(self, step: int) -> str | None:
        """None when every record up to ``step`` is present exactly once (identical copies
        aside) for every seed; otherwise what is missing, in a few words."""
        if step > self._last_trusted_step():
            return f"line {self.bad_lines[0][0]} is damaged"
        steps = self._per_step(step)
        if step > 0 and step not in steps:
            return f"no records at step {step}"
        want = sorted(self.seeds)
        for s in sorted(steps):
            unique = {json.dumps(r, sort_keys=True) for r in steps[s]}
            seeds = sorted(r["seed"] for r in map(json.loads, unique))
            if seeds != want:
                return (f"step {s} has records for seeds {seeds}, expected {want}"
                        if len(seeds) <= len(want) else
                        f"step {s} has conflicting records for one seed")
        return None

    def kept(self, step: int) -> list[dict]:
        """The records up to ``step``, in file order, each (step, seed) once."""
        seen, out = set(), []
        for r in self.records:
            key = (r["step"], r["seed"])
            if r["step"] <= step and key not in seen:
                seen.add(key)
                out.append(r)
        return out

    # ----- reporting -----

    def problems(self) -> list[str]:
        """What a reader of this run should know, one sentence each (empty when the file is
        sound). A cut-off last line is listed too: the record it held is missing until the run
        is resumed."""
        out = []
        if self.bad_lines:
            nums = [n for n, _ in self.bad_lines]
            shown = ", ".join(map(str, nums[:5])) + (" …" if len(nums) > 5 else "")
            out.append(f"{len(nums)} damaged line(s) skipped (line {shown})")
        if self.cut_tail:
            out.append("the last line is cut off (a crash while appending); its record is "
                       "missing until the run is resumed")
        counts = Counter((r["step"], r["seed"]) for r in self.records)
        dups = sorted(k for k, c in counts.items() if c > 1)
        if dups:
            (s, seed), more = dups[0], len(dups) - 1
            out.append(f"{len(dups)} duplicated record(s) (step {s} seed {seed}"
                       + (f" and {more} more" if more else "") + ")")
        last: dict[int, int] = {}
        for r, n in zip(self.records, self.line_numbers):
            prev = last.get(r["seed"])
            if prev is not None and r["step"] < prev:
                out.append(f"steps out of order at line {n} (seed {r['seed']}: step "
                           f"{r['step']} after step {prev})")
                break
            last[r["seed"]] = r["step"]
        by_step: dict[int, set] = {}
        for r in self.records:
            by_step.setdefault(r["step"], set()).add(r["seed"])
        want = set(self.seeds)
        short = sorted(s for s, got in by_step.items() if got != want)
        if short:
            out.append(f"{len(short)} step(s) without a record for every seed (first: step "
                       f"{short[0]})")
        return out
