"""JAX's persistent compilation cache for groklab's commands (docs/performance.md "Compilation").

A second identical ``groklab train`` loads its compiled programs from disk instead of compiling
them. Where the cache lives, chosen by ``GROKLAB_COMPILE_CACHE``:

- unset (or ``1``): ``$XDG_CACHE_HOME/groklab/jax`` (``~/.cache/groklab/jax``), unless
  ``JAX_COMPILATION_CACHE_DIR`` is set, in which case JAX's own settings are left alone;
- ``0`` / ``off`` / ``false`` / ``no``: groklab turns nothing on (JAX's defaults apply);
- any other value: that directory instead of ``~/.cache/groklab/jax``.

JAX keys each entry by the program's HLO (shapes and dtypes included), the jaxlib version, the
backend, the device kinds, the compile options and every flag in ``XLA_FLAGS``
(``jax/_src/cache_key.py``). It does not key by the host CPU (the CPU backend reports its
platform version as plain ``cpu``), and a cached CPU executable is machine code for the host that
compiled it. So groklab splits its directory by :func:`key`: the jax and jaxlib versions,
``XLA_FLAGS`` (after :mod:`groklab.xla_flags` added its flags) and the host's CPU model and
instruction-set flags. A home directory shared between different machines then never hands one
machine another's code, and a changed flag starts a fresh subdirectory even where JAX would
already key by it.

This module imports no JAX: :func:`enable` sets the ``JAX_*`` environment variables JAX reads
when it is first imported (and updates ``jax.config`` if it already is).
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
from pathlib import Path

ENV = "GROKLAB_COMPILE_CACHE"
OFF = frozenset({"0", "off", "false", "no"})
# Every compiled program is written, however fast it compiled: a run's dozens of small
# initialization programs (each ≈ 0.1-0.3 s on 2 cores) add up to seconds of start-up.
MIN_COMPILE_TIME_S = 0.0
# Least recently used entries are removed above this size (needs the ``filelock`` package,
# which JAX uses for the cache's lock; without it the cache is not bounded).
MAX_SIZE_BYTES = 2 * 1024**3


def default_root(environ=None) -> Path:
    """``$XDG_CACHE_HOME/groklab/jax``, or ``~/.cache/groklab/jax`` (the XDG base directory
    rules: a relative ``XDG_CACHE_HOME`` is ignored)."""
    environ = os.environ if environ is None else environ
    xdg = environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg) / "groklab" / "jax"
    return Path(environ.get("HOME") or Path.home()) / ".cache" / "groklab" / "jax"


def root(environ=None) -> Path | None:
    """The directory groklab's cache subdirectories go under, or None when groklab leaves the
    cache to JAX (``GROKLAB_COMPILE_CACHE=0``, or ``JAX_COMPILATION_CACHE_DIR`` set and
    ``GROKLAB_COMPILE_CACHE`` not)."""
    environ = os.environ if environ is None else environ
    value = environ.get(ENV, "").strip()
    if value.lower() in OFF:
        return None
    if value and value != "1":
        return Path(value).expanduser()
    if environ.get("JAX_COMPILATION_CACHE_DIR"):
        return None
    return default_root(environ)


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "none"


def host_cpu() -> str:
    """The CPU model and its instruction-set flags (``/proc/cpuinfo``), else what ``platform``
    knows: what the machine code XLA's CPU backend generates depends on."""
    fields = [platform.machine(), platform.processor()]
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                name, _, value = line.partition(":")
                name = name.strip()
                if name in ("vendor_id", "cpu family", "model", "model name", "flags",
                            "Features", "CPU implementer", "CPU part"):
                    fields.append(f"{name}={' '.join(sorted(value.split()))}")
                elif not line.strip() and len(fields) > 2:
                    break  # the first processor's block is enough
    except OSError:
        pass
    return "\n".join(fields)


def key(environ=None) -> str:
    """The subdirectory of :func:`root` for this process: ``jax<version>-<hash>``, the hash over
    the jax and jaxlib versions, ``XLA_FLAGS`` and :func:`host_cpu`."""
    environ = os.environ if environ is None else environ
    jax_version = _version("jax")
    parts = [f"jax={jax_version}", f"jaxlib={_version('jaxlib')}",
             "XLA_FLAGS=" + " ".join(sorted(environ.get("XLA_FLAGS", "").split())),
             host_cpu()]
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return f"jax{jax_version}-{digest}"


def directory(environ=None) -> Path | None:
    """Where this process's compiled programs go, or None when groklab leaves the cache to JAX."""
    base = root(environ)
    return None if base is None else base / key(environ)


def enable() -> Path | None:
    """Turn the persistent cache on for this process (and the processes it starts) in
    :func:`directory`; returns the directory, or None when groklab leaves the cache to JAX or the
    directory cannot be created (the run then compiles as usual)."""
    path = directory()
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"groklab: warning: compilation cache off: cannot create {path} "
              f"({exc.strerror or exc}); set {ENV}=0 or {ENV}=DIR", file=sys.stderr)
        return None
    settings = {
        "jax_compilation_cache_dir": str(path),
        "jax_persistent_cache_min_compile_time_secs": MIN_COMPILE_TIME_S,
        "jax_persistent_cache_min_entry_size_bytes": -1,  # no size floor
    }
    from importlib.util import find_spec

    if find_spec("filelock") is not None:
        settings["jax_compilation_cache_max_size"] = MAX_SIZE_BYTES
    for name, value in settings.items():
        os.environ[name.upper()] = str(value)
    if "jax" in sys.modules:  # too late for the environment: JAX read it on import
        import jax

        for name, value in settings.items():
            jax.config.update(name, value)
    return path
