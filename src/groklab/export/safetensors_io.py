"""The safetensors file format (https://github.com/huggingface/safetensors), through the
``safetensors`` package's NumPy API: named arrays and a string-to-string metadata header, no
pickle. The package is an optional dependency (``pip install 'groklab[export]'``); a missing
one is a one-line ``ConfigError`` naming that command."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from groklab.atomic import write_atomic
from groklab.errors import ConfigError, short

INSTALL = "pip install 'groklab[export]'"


def _package():
    try:
        import safetensors.numpy as st
    except ImportError:
        raise ConfigError(f"exporting and loading models needs the safetensors package, which "
                          f"is not installed; install it with {INSTALL}") from None
    return st


def require() -> None:
    """Refuse at once (before any checkpoint is read) when the package is missing."""
    _package()


def write_tensors(path: str | Path, tensors: dict[str, np.ndarray],
                  metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` (C-contiguous copies, dtypes kept) to ``path`` atomically."""
    st = _package()
    arrays = {name: np.ascontiguousarray(np.asarray(a)) for name, a in tensors.items()}
    write_atomic(path, st.save(arrays, metadata=metadata))


def read_tensors(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors, metadata) of a safetensors file; a file that is not one is a one-line error."""
    st = _package()
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{short(str(path), 200)} does not exist; an export directory holds "
                          "model.safetensors")
    try:
        with safe_open(str(path), framework="np") as f:
            metadata = dict(f.metadata() or {})
        return st.load_file(str(path)), metadata
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types
        raise ConfigError(f"{short(str(path), 200)} is not a readable safetensors file "
                          f"({short(str(e), 120)})") from None
