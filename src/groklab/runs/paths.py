"""Output paths checked before any work starts (docs/reliability.md §4): a run, sweep, analysis
or export that could never be written is refused in one line before anything is planned,
compiled or trained, and nothing is left behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from groklab.errors import ConfigError, short

NAME_MAX = 255  # bytes in one path component (Linux, macOS)
PATH_MAX = 4096  # bytes in a whole path


def _limit(path: Path, name: str, default: int) -> int:
    try:
        return int(os.pathconf(path, name))
    except (OSError, ValueError):
        return default


def check_writable(path: str | Path, flag: str = "--out", kind: str = "directory") -> None:
    """Refuse ``path`` (a ``kind``, "directory" or "file", to create or to reuse) when it
    cannot be written: a name longer than the file system allows, a file where a directory
    must be, or a place that refuses writing (a read-only file system, /proc, /sys, missing
    permission). The nearest existing directory is tested by creating and removing an empty
    temporary directory in it, so what is refused is what the operating system refuses."""
    given = short(str(path), 200)
    p = Path(os.path.abspath(path))
    existing = p
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if existing != p and not existing.is_dir():
        raise ConfigError(f"{flag} {given} cannot be created: Not a directory "
                          f"({short(str(existing), 200)} is a file)")
    if existing == p and kind == "directory" and not p.is_dir():
        raise ConfigError(f"{flag} {given} exists and is not a directory; choose another "
                          f"{flag}")
    if existing == p and kind == "file" and p.is_dir():
        raise ConfigError(f"{flag} {given} is a directory; give a file name")
    where = existing if existing.is_dir() else existing.parent
    name_max = _limit(where, "PC_NAME_MAX", NAME_MAX)
    for part in p.relative_to(existing).parts if existing != p else ():
        if len(os.fsencode(part)) > name_max:
            raise ConfigError(f"{flag} {given} cannot be created: the name {short(part, 40)} "
                              f"is {len(os.fsencode(part))} bytes long, over the file "
                              f"system's limit of {name_max}")
    path_max = _limit(where, "PC_PATH_MAX", PATH_MAX)
    if len(os.fsencode(str(p))) >= path_max:
        raise ConfigError(f"{flag} {given} is {len(os.fsencode(str(p)))} bytes long, over the "
                          f"limit of {path_max - 1}")
    try:
        probe = tempfile.mkdtemp(prefix=".groklab-write-test-", dir=where)
    except OSError as e:
        raise ConfigError(f"{flag} {given} cannot be written: {short(str(where), 200)} refuses "
                          f"new files ({e.strerror or e})") from None
    os.rmdir(probe)
