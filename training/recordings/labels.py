"""The labels table: which span of which recording carries which targets.

A CSV file (UTF-8, comma-separated, a header line) with the columns

``recording``
    path of the recording relative to the data folder (``/`` separators; no absolute paths,
    no ``..`` out of the folder);
``subject``
    who was recorded (cross-validation groups by it);
``start_s``, ``end_s``
    the labelled span in seconds on the recording's time axis; blank means from the start /
    to the end of the recording;

then one column per target (``arousal``, ``valence``, or just one): numbers. A target whose
values are all 0 or 1 is used as it is; any other target holds ratings, made binary with a
threshold (high, 1, when rating >= threshold, as for AMIGOS). Blank target cells are an
error: a row states every target.

Parsing is strict: every problem is a ``LabelsError`` naming the file, the line and the
column. The csv module reads the file (no pandas needed).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

REQUIRED_COLUMNS = ("recording", "subject", "start_s", "end_s")


class LabelsError(ValueError):
    """The labels table is malformed; the message names the file, line and column."""


@dataclass(frozen=True)
class LabelRow:
    """One labelled span. ``line`` is the CSV line number (the header is line 1)."""

    line: int
    recording: str
    subject: str
    start_s: float | None
    end_s: float | None
    values: tuple[float, ...]


@dataclass(frozen=True)
class LabelsTable:
    """The parsed table: target names (column order) and rows (file order)."""

    path: Path
    targets: tuple[str, ...]
    rows: tuple[LabelRow, ...]

    def is_binary(self, target: str) -> bool:
        """True when every value of ``target`` is 0 or 1 (used as it is)."""
        i = self.targets.index(target)
        return all(r.values[i] in (0.0, 1.0) for r in self.rows)

    def binary(self, threshold: float | None = None) -> np.ndarray:
        """``(rows, targets)`` int64 labels: 0/1 targets as they are, ratings ``>=
        threshold`` -> 1. A ratings target without a ``threshold`` is a ``LabelsError``."""
        values = np.array([r.values for r in self.rows], dtype=np.float64).reshape(
            len(self.rows), len(self.targets)
        )
        out = np.zeros(values.shape, dtype=np.int64)
        for i, target in enumerate(self.targets):
            if self.is_binary(target):
                out[:, i] = values[:, i].astype(np.int64)
                continue
            if threshold is None:
                row = next(r for r in self.rows if r.values[i] not in (0.0, 1.0))
                raise LabelsError(
                    f"{self.path}: column {target!r} holds ratings (e.g. {row.values[i]:g} on "
                    f"line {row.line}), not 0/1; give a threshold (high when rating >= it)"
                )
            out[:, i] = values[:, i] >= threshold
        return out


def _number(text: str, where: str, blank_ok: bool) -> float | None:
    text = text.strip()
    if not text:
        if blank_ok:
            return None
        raise LabelsError(f"{where}: empty; a number is needed")
    try:
        value = float(text)
    except ValueError:
        raise LabelsError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise LabelsError(f"{where}: {text!r} is not a finite number")
    return value


def _relative_path(text: str, where: str) -> str:
    text = text.strip().replace("\\", "/")
    if not text:
        raise LabelsError(f"{where}: empty; the recording's path relative to the data folder")
    path = PurePosixPath(text)
    if path.is_absolute() or (len(text) > 1 and text[1] == ":"):
        raise LabelsError(f"{where}: {text!r} is absolute; give it relative to the data folder")
    if ".." in path.parts:
        raise LabelsError(f"{where}: {text!r} leaves the data folder")
    return str(path)


def read_labels(path: str | Path) -> LabelsTable:
    """Parse the labels table at ``path``; see the module docstring."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise LabelsError(f"{path}: labels table not found") from None
    except UnicodeDecodeError as exc:
        raise LabelsError(f"{path}: not UTF-8 text ({exc})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise LabelsError(
            f"{path}: empty; expected a header line {','.join(REQUIRED_COLUMNS)},<targets>"
        )
    header = [h.strip() for h in header]
    if tuple(header[:4]) != REQUIRED_COLUMNS:
        raise LabelsError(
            f"{path}: line 1: the columns must start with {','.join(REQUIRED_COLUMNS)}, got "
            f"{','.join(header[:4])}"
        )
    targets = tuple(header[4:])
    if not targets:
        raise LabelsError(f"{path}: line 1: no target column after {','.join(REQUIRED_COLUMNS)}")
    for name in targets:
        if not name:
            raise LabelsError(f"{path}: line 1: a target column has no name")
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        raise LabelsError(f"{path}: line 1: duplicate columns {dup}")
    rows = []
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue  # blank line
        if len(cells) != len(header):
            raise LabelsError(
                f"{path}: line {line}: {len(cells)} cells, the header has {len(header)}"
            )
        where = {h: f"{path}: line {line}, column {h!r}" for h in header}
        recording = _relative_path(cells[0], where["recording"])
        subject = cells[1].strip()
        if not subject:
            raise LabelsError(f"{where['subject']}: empty; say who was recorded")
        start = _number(cells[2], where["start_s"], blank_ok=True)
        end = _number(cells[3], where["end_s"], blank_ok=True)
        if start is not None and start < 0:
            raise LabelsError(f"{where['start_s']}: {start:g} s is before the recording's start")
        if start is not None and end is not None and end <= start:
            raise LabelsError(f"{where['end_s']}: {end:g} s is not after start_s {start:g} s")
        values = tuple(
            _number(cells[4 + i], where[t], blank_ok=False) for i, t in enumerate(targets)
        )
        rows.append(LabelRow(line, recording, subject, start, end, values))  # type: ignore[arg-type]
    if not rows:
        raise LabelsError(f"{path}: no rows after the header")
    return LabelsTable(path, targets, tuple(rows))
