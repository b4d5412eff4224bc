"""Reader for OpenBCI GUI text recordings (``OpenBCI-RAW-*.txt``, GUI v5/v6 format).

The format: ``%``-prefixed header lines (``%OpenBCI Raw EXG Data``, ``%Number of channels
= 8``, ``%Sample Rate = 250 Hz``, ``%Board = ...``), one line of column names
(``Sample Index, EXG Channel 0, ..., Accel Channel 0..2, ..., Timestamp, Marker Channel,
Timestamp (Formatted)``), then one comma-separated row per sample. EXG values are µV
(the GUI applies the ADS1299 scale), accelerometer values are g, ``Timestamp`` is Unix
time in ms (stamped per received packet, so consecutive samples may share one).

Only numpy is needed, so a converter to BrainFlow's playback format or a runtime source
can build on it without torch or brainflow.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["OpenBCIRecording", "read_openbci_gui_txt"]

_RATE = re.compile(r"^%\s*Sample Rate\s*=\s*([0-9]+(?:\.[0-9]+)?)\s*Hz", re.IGNORECASE)
_NCH = re.compile(r"^%\s*Number of channels\s*=\s*([0-9]+)", re.IGNORECASE)
_BOARD = re.compile(r"^%\s*Board\s*=\s*(.+)$", re.IGNORECASE)


@dataclass(frozen=True)
class OpenBCIRecording:
    """One OpenBCI GUI recording.

    Attributes:
        eeg: ``(channels, samples)`` float64, µV.
        fs: sampling rate in Hz, from the ``%Sample Rate`` header.
        timestamps: ``(samples,)`` float64 Unix time in seconds (packet time stamps).
        accel: ``(3, samples)`` float64 accelerometer in g (zeros where not recorded).
        channel_names: EXG column names as in the file (``"EXG Channel 0"``, ...); the
            GUI does not record electrode positions.
        markers: ``(samples,)`` float64 marker channel (0 where no marker), or zeros if
            the file has no marker column.
        sample_index: ``(samples,)`` int64 board packet counter (wraps at 255 on Cyton).
        board: the ``%Board`` header value, or ``""``.
        path: the file read.
    """

    eeg: np.ndarray
    fs: float
    timestamps: np.ndarray
    accel: np.ndarray
    channel_names: tuple[str, ...]
    markers: np.ndarray
    sample_index: np.ndarray
    board: str
    path: Path

    @property
    def n_samples(self) -> int:
        return int(self.eeg.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs


def read_openbci_gui_txt(path: str | Path) -> OpenBCIRecording:
    """Read an OpenBCI GUI v5/v6 text recording; ``ValueError`` if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"path must be an existing OpenBCI GUI .txt file, got {str(path)!r}")
    header: list[str] = []
    columns: list[str] | None = None
    n_skip = 0
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            n_skip += 1
            stripped = line.strip()
            if stripped.startswith("%"):
                header.append(stripped)
                continue
            if not stripped:
                continue
            columns = [c.strip() for c in stripped.split(",")]
            break
    if not header or not header[0].lower().startswith("%openbci raw"):
        raise ValueError(
            f"{path.name} is not an OpenBCI GUI recording: expected a first line "
            f"'%OpenBCI Raw EXG Data' (or EEG), got {header[0] if header else 'none'!r}"
        )
    fs = _header_value(header, _RATE, path, "%Sample Rate = <Hz> Hz")
    n_ch = int(_header_value(header, _NCH, path, "%Number of channels = <n>"))
    board = next((m.group(1).strip() for h in header if (m := _BOARD.match(h))), "")
    if not 0 < fs <= 100_000 or n_ch < 1:
        raise ValueError(f"{path.name}: implausible header, sample rate {fs} Hz, {n_ch} channels")
    if columns is None or not columns or columns[0].lower() != "sample index":
        raise ValueError(
            f"{path.name}: expected a column-name line starting with 'Sample Index' after the "
            "% header (OpenBCI GUI v5/v6 format)"
        )
    col = {name.lower(): i for i, name in enumerate(columns)}
    exg_names = [f"EXG Channel {k}" for k in range(n_ch)]
    missing = [name for name in [*exg_names, "Timestamp"] if name.lower() not in col]
    if missing:
        raise ValueError(f"{path.name}: the column-name line lacks {', '.join(missing)}")
    numeric = [i for i, name in enumerate(columns) if name.lower() != "timestamp (formatted)"]
    try:
        with warnings.catch_warnings():
            # an empty body is reported below as a ValueError, not as a numpy warning
            warnings.filterwarnings("ignore", message=".*input contained no data")
            data = np.loadtxt(
                path,
                delimiter=",",
                skiprows=n_skip,
                usecols=numeric,
                dtype=np.float64,
                ndmin=2,
                comments="%",
            )
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{path.name}: malformed data rows ({exc})") from None
    if data.shape[0] == 0:
        raise ValueError(f"{path.name}: no data rows after the header")
    where = {c: k for k, c in enumerate(numeric)}

    def column(name: str) -> np.ndarray | None:
        i = col.get(name.lower())
        return None if i is None else data[:, where[i]]

    eeg = np.stack([column(name) for name in exg_names])
    accel_cols = [column(f"Accel Channel {k}") for k in range(3)]
    n = data.shape[0]
    accel = np.stack([a if a is not None else np.zeros(n) for a in accel_cols])
    markers = column("Marker Channel")
    sample_index = column("Sample Index")
    if not np.isfinite(eeg).all():
        raise ValueError(f"{path.name}: EXG columns contain NaN or infinite values")
    return OpenBCIRecording(
        eeg=np.ascontiguousarray(eeg),
        fs=float(fs),
        timestamps=np.ascontiguousarray(column("Timestamp") / 1000.0),
        accel=np.ascontiguousarray(accel),
        channel_names=tuple(exg_names),
        markers=np.zeros(n) if markers is None else np.ascontiguousarray(markers),
        sample_index=sample_index.astype(np.int64),
        board=board,
        path=path,
    )


def _header_value(header: list[str], pattern: re.Pattern, path: Path, expected: str) -> float:
    for line in header:
        m = pattern.match(line)
        if m:
            return float(m.group(1))
    raise ValueError(f"{path.name}: header line {expected!r} not found")
