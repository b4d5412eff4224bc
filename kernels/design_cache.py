"""Filter designs kept on disk, so the device does not import scipy.signal to redo them.

The runtime designs the same Butterworth band-passes (``scipy.signal.butter``) and their
initial states (``scipy.signal.sosfilt_zi``) at every start, and importing
``scipy.signal`` to do it costs more than the rest of the runtime's imports together:
about 80 MB of memory (it pulls in ``scipy.stats``, ``scipy.interpolate``, ...) and 2 s of
start-up on a 2-core machine. So scipy designs a filter once; its float64 result is
stored exactly (IEEE-754 hex) in ``filter_designs-scipy<version>.json`` next to Numba's
cache of the kernels (``$NUMBA_CACHE_DIR``, else the kernels' ``__pycache__``, else
``~/.cache/edge_emotion`` when that is not writable), and later starts read it back.

Keys hold every input of the design and the file names scipy's version, so an entry is
either exactly what scipy would return or not there. A file that is missing, damaged or
larger than ``MAX_FILE_BYTES`` is a miss (the design is computed again and the file
rewritten); a file that cannot be written is no error: the design is just not kept.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

MAX_FILE_BYTES = 1 << 20
MAX_ENTRIES = 256

_table: dict[str, list] | None = None


def cache_file() -> Path | None:
    """Where the designs are kept; None when no candidate folder is writable."""
    try:
        scipy_version = version("scipy")
    except PackageNotFoundError:
        return None
    name = f"filter_designs-scipy{scipy_version}.json"
    candidates = [os.environ.get("NUMBA_CACHE_DIR"), Path(__file__).parent / "__pycache__"]
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    candidates.append(Path(xdg) / "edge_emotion")
    for folder in candidates:
        if not folder:
            continue
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder / name
    return None


def _load(path: Path | None) -> dict[str, list]:
    if path is None:
        return {}
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
        table = json.loads(raw) if len(raw) <= MAX_FILE_BYTES else {}
    except (OSError, ValueError):
        return {}
    return table if isinstance(table, dict) and len(table) <= MAX_ENTRIES else {}


def _decode(entry) -> np.ndarray | None:
    try:
        shape, values = entry
        arr = np.array([float.fromhex(v) for v in values], dtype=np.float64)
        return arr.reshape([int(n) for n in shape])
    except (TypeError, ValueError):
        return None


def cached_design(key: str, design: Callable[[], np.ndarray]) -> np.ndarray:
    """The float64 array ``design()`` returns, from the file when it holds ``key``."""
    global _table
    path = cache_file()
    if _table is None:
        _table = _load(path)
    arr = _decode(_table[key]) if key in _table else None
    if arr is not None:
        return arr
    arr = np.ascontiguousarray(design(), dtype=np.float64)
    if len(_table) >= MAX_ENTRIES:
        _table = {}
    _table[key] = [list(arr.shape), [float(v).hex() for v in arr.ravel()]]
    if path is not None:
        try:
            with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as f:
                json.dump(_table, f)
            os.replace(f.name, path)
        except OSError:
            pass  # a read-only or full disk: the design is just not kept
    return arr
