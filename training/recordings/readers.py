"""Readers for the recordings users hold: EDF/EDF+/BDF/BDF+, BrainFlow files, XDF.

:func:`read_recording` picks the reader from the file's extension and checks that the file
starts the way that format does (a text file named ``.edf`` is an error, not garbage).

- **EDF, EDF+, BDF, BDF+** through pyedflib. Why pyedflib and not MNE: it is small (numpy
  only; MNE brings a dozen packages into the ``train`` extra), reads the physical values
  and the physical unit of each signal and keeps each signal at its own rate (MNE's
  ``read_raw_edf`` resamples signals of different rates to one rate on reading, which would
  put a second resampler in front of the runtime's), and it writes the same formats, so the
  tests generate their fixtures with the library that reads them. Signals are grouped into
  one :class:`~.recording.Stream` per sampling rate; EDF+/BDF+ annotations become markers.
- **BrainFlow files** (``DataFilter.write_file``: one line per sample, one column per row of
  the board's data array) through ``DataFilter.read_file``, with the JSON sidecar
  ``<file>.json`` that :mod:`edge_emotion.playback` writes (``master_board``,
  ``sampling_rate``, ``channels``). ``channels`` entries are names (entry ``i`` is ExG
  input ``i + 1``) or objects ``{"name", "role", "unit", "exg" | "row"}`` (a recorder that
  knows roles and units); parallel ``roles``/``units`` lists are read as well. Without
  roles, units or names the BrainFlow convention holds: ExG rows are EEG in µV, named as
  the runtime names them (a channel map, else the board's own EEG names). A file's rows
  are taken as contiguous samples at the board's rate (the format marks no gaps); non-zero
  values of the board's marker row become markers.
- **XDF** through pyxdf: see :mod:`.xdf`.

Units are read from the file and converted to µV for EEG and ECG channels (and any other
channel in a voltage unit); a unit that is not a voltage on an EEG or ECG channel, or an
unknown one, is a :class:`~.recording.RecordingError` naming the file and the channel.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge_emotion.training.recordings.channels import MICROVOLT
from edge_emotion.training.recordings.recording import (
    Channel,
    Marker,
    Recording,
    RecordingError,
    Stream,
    channel_from_label,
    file_head,
)

EDF_SUFFIXES = {".edf": "edf", ".bdf": "bdf", ".rec": "edf"}
XDF_SUFFIXES = (".xdf", ".xdfz")
BRAINFLOW_SUFFIXES = (".csv", ".tsv", ".txt")
_EDF_MAGIC = b"0       "
_BDF_MAGIC = b"\xffBIOSEMI"


def read_recording(path: str | Path, **options) -> Recording:
    """Read ``path`` with the reader its extension names (``.edf``/``.rec``, ``.bdf``,
    ``.xdf``/``.xdfz``, BrainFlow ``.csv``/``.tsv``/``.txt``); ``options`` go to that
    reader (``default_unit`` to all; ``master_board``/``channel_map`` to BrainFlow's)."""
    path = Path(path)
    if not path.is_file():
        raise RecordingError(f"{path}: no such file")
    suffix = "".join(path.suffixes[-2:]).lower() if path.name.endswith(".gz") else ""
    suffix = suffix or path.suffix.lower()
    if suffix in EDF_SUFFIXES:
        return read_edf(path, **options)
    if suffix in XDF_SUFFIXES or suffix == ".xdf.gz":
        from edge_emotion.training.recordings.xdf import read_xdf

        return read_xdf(path, **options)
    if suffix in BRAINFLOW_SUFFIXES:
        return read_brainflow(path, **options)
    raise RecordingError(
        f"{path}: unknown recording type {path.suffix!r}; expected EDF/BDF (.edf, .bdf), "
        "XDF (.xdf) or a BrainFlow file (.csv)"
    )


def read_edf(path: str | Path, default_unit: str | None = None) -> Recording:
    """Read an EDF/EDF+ (``.edf``) or BDF/BDF+ (``.bdf``) file; see the module docstring."""
    import pyedflib

    path = Path(path)
    expected = EDF_SUFFIXES.get(path.suffix.lower(), "edf")
    head = file_head(path, 8)
    found = "bdf" if head == _BDF_MAGIC else "edf" if head == _EDF_MAGIC else None
    if found is None:
        raise RecordingError(
            f"{path}: not an EDF or BDF file (it starts with {head!r}; an EDF header starts "
            f"with {_EDF_MAGIC!r}, a BDF header with {_BDF_MAGIC!r})"
        )
    if found != expected:
        raise RecordingError(
            f"{path}: holds a {found.upper()} header but is named .{path.suffix[1:]}; rename "
            f"it to .{found}"
        )
    try:
        reader = pyedflib.EdfReader(str(path))
    except OSError as exc:
        raise RecordingError(f"{path}: cannot be read as {found.upper()} ({exc})") from None
    try:
        groups: dict[float, list[tuple[Channel, np.ndarray]]] = {}
        for i in range(reader.signals_in_file):
            label = reader.getLabel(i)
            fs = float(reader.getSampleFrequency(i))
            where = f"{path}: channel {label!r}"
            channel, scale = channel_from_label(
                label, None, "other", reader.getPhysicalDimension(i), where, default_unit
            )
            values = reader.readSignal(i).astype(np.float64, copy=False) * scale
            groups.setdefault(fs, []).append((channel, values))
        onsets, durations, texts = reader.readAnnotations()
        try:
            start = reader.getStartdatetime()
        except (ValueError, OSError):  # an unparsable date in the header
            start = None
    finally:
        reader.close()
    streams = []
    for fs, members in groups.items():
        lengths = {v.size for _, v in members}
        if len(lengths) != 1:  # pyedflib reads whole data records; cannot happen in one rate
            raise RecordingError(f"{path}: signals at {fs:g} Hz differ in length {lengths}")
        streams.append(
            Stream(
                name=f"{found.upper()} {fs:g} Hz",
                sampling_rate=fs,
                channels=tuple(c for c, _ in members),
                data=np.vstack([v for _, v in members]),
            )
        )
    markers = tuple(
        Marker(float(o), float(d) if d >= 0 else None, str(t))
        for o, d, t in zip(onsets, durations, texts, strict=True)
    )
    return Recording(path, found, tuple(streams), markers, start)


def sidecar_of(path: Path) -> dict:
    """The BrainFlow sidecar ``<file>.json`` as a dict (``{}`` when there is none)."""
    side = Path(str(path) + ".json")
    if not side.is_file():
        return {}
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordingError(f"{side}: sidecar is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise RecordingError(f"{side}: sidecar must hold a JSON object")
    return meta


def _sidecar_channels(meta: dict, side: str) -> list[dict]:
    """Sidecar channel entries as dicts with ``name`` (and ``role``, ``unit``, ``exg``/``row``)."""
    entries = meta.get("channels") or []
    roles, units = meta.get("roles"), meta.get("units")
    if not isinstance(entries, list):
        raise RecordingError(f"{side}: 'channels' must be a list")
    out = []
    for i, entry in enumerate(entries):
        item = {"name": entry} if isinstance(entry, str) else entry
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise RecordingError(
                f"{side}: channels[{i}] must be a name or an object with a 'name', got {entry!r}"
            )
        item = dict(item)
        for key, values in (("role", roles), ("unit", units)):
            if isinstance(values, list) and i < len(values) and key not in item:
                item[key] = values[i]
        out.append(item)
    return out


def read_brainflow(
    path: str | Path,
    master_board: str | int | None = None,
    channel_map: dict | str | None = None,
    default_unit: str | None = None,
) -> Recording:
    """Read a BrainFlow file and its sidecar; see the module docstring.

    ``master_board`` (the board whose row layout the file has) defaults to the sidecar's;
    ``channel_map`` (``{"AF3": 1, "ECG": "row:9"}`` or ``"AF3=1,..."``, as for the runtime's
    ``--channel-map``) overrides the sidecar's channels. ``default_unit`` is unused (BrainFlow
    ExG rows are µV) unless a sidecar entry has an empty unit.
    """
    from edge_emotion.brainflow_source import (
        board_name,
        board_rows,
        parse_channel_map,
        read_brainflow_file,
    )

    path = Path(path)
    side = f"{path}.json"
    meta = sidecar_of(path)
    master = master_board if master_board is not None else meta.get("master_board")
    if master is None:
        raise RecordingError(
            f"{path}: no sidecar {Path(side).name} says which board recorded it; pass "
            "master_board (e.g. CYTON_DAISY_BOARD)"
        )
    try:
        board = board_rows(master)
    except ValueError as exc:
        raise RecordingError(f"{path}: {exc}") from None
    bid = board.board_id
    head = file_head(path, 4096)
    if b"\x00" in head:
        raise RecordingError(f"{path}: binary content; a BrainFlow file is text")
    try:
        raw = read_brainflow_file(path)
    except ValueError as exc:
        raise RecordingError(str(exc)) from None
    n_rows = board.num_rows
    if raw.shape[0] != n_rows:
        raise RecordingError(
            f"{path}: {raw.shape[0]} columns per line, but {board_name(bid)} writes {n_rows}; "
            "is master_board right?"
        )
    fs = float(meta.get("sampling_rate") or board.sampling_rate)
    exg = list(board.exg)
    if channel_map is not None:
        entries = [{"name": n, "at": w} for n, w in parse_channel_map(channel_map).items()]
    elif meta.get("channels"):
        entries = _sidecar_channels(meta, side)
    else:
        names = list(board.eeg_names) or [f"EXG{i + 1}" for i in range(len(exg))]
        entries = [{"name": n} for n in names[: len(exg)]]
    channels, rows = [], []
    for i, entry in enumerate(entries):
        at = entry.get("at", entry.get("row", entry.get("exg", i + 1)))
        if "row" in entry or (isinstance(at, str) and at.startswith("row:")):
            row = int(str(at).removeprefix("row:"))
        elif isinstance(at, int) and 1 <= at <= len(exg):
            row = exg[at - 1]
        else:
            raise RecordingError(
                f"{path}: channel {entry['name']!r} is on ExG input {at!r}, but "
                f"{board_name(bid)} has ExG inputs 1..{len(exg)}"
            )
        if not 0 <= row < n_rows:
            raise RecordingError(
                f"{path}: channel {entry['name']!r}: row {row} not in 0..{n_rows - 1}"
            )
        unit = entry.get("unit") or ("" if "unit" in entry else MICROVOLT)
        channel, scale = channel_from_label(
            entry["name"],
            entry.get("role"),
            "eeg",
            unit,
            f"{path}: channel {entry['name']!r}",
            default_unit,
        )
        channels.append((channel, scale))
        rows.append(row)
    if len(set(rows)) != len(rows):
        raise RecordingError(f"{path}: two channels point at the same board row")
    data = np.vstack([raw[r] * s for r, (_, s) in zip(rows, channels, strict=True)])
    start = None
    if raw.shape[1] and np.isfinite(raw[board.timestamp, 0]):
        first = float(raw[board.timestamp, 0])
        if first > 1e9:  # Unix time (after 2001): a real recording, not a generated file
            start = datetime.fromtimestamp(first, tz=timezone.utc)
    markers: tuple[Marker, ...] = ()
    if board.marker is not None:
        row = raw[board.marker]
        hits = np.flatnonzero(np.isfinite(row) & (row != 0))
        markers = tuple(Marker(k / fs, None, f"{row[k]:g}") for k in hits)
    stream = Stream(board_name(bid), fs, tuple(c for c, _ in channels), data)
    return Recording(path, "brainflow", (stream,), markers, start)
