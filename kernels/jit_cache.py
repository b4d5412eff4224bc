"""Whether Numba's on-disk cache holds this package's compiled kernels.

Every kernel is ``@njit(cache=True)``: the first use on a machine compiles it (all of them
together take 10-60 s, more on a loaded or emulated CPU) and writes the machine code next
to the source (``kernels/__pycache__``, or ``$NUMBA_CACHE_DIR``); later processes load it
in about a second. :func:`note_first_compile` says so once, through logging, when nothing
is cached yet, so the pause before the first window is explained.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("edge_emotion.kernels")
_noted = False


def cache_dirs() -> list[Path]:
    """Where Numba keeps this package's compiled kernels: ``$NUMBA_CACHE_DIR`` when set
    (then nothing else), else next to the source."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return [Path(os.environ["NUMBA_CACHE_DIR"])]
    return [Path(__file__).resolve().parent / "__pycache__"]


def cache_is_cold() -> bool:
    """True when no compiled kernel index (``*.nbi``) is in any of :func:`cache_dirs`."""
    return not any(d.is_dir() and next(d.rglob("*.nbi"), None) for d in cache_dirs())


def note_first_compile() -> None:
    """Log, once per process and only with a cold cache, that the kernels compile now."""
    global _noted
    if _noted:
        return
    _noted = True
    if cache_is_cold():
        log.info(
            "compiling the Numba kernels (once per machine, 10-60 s; cached in %s)",
            cache_dirs()[0],
        )
