"""BrainFlow boards as a :class:`~edge_emotion.source.Source`.

Any board BrainFlow supports, by name (``CYTON_DAISY_BOARD``, ``cyton-daisy``) or id
(``2``), with its connection parameters (BrainFlow's ``BrainFlowInputParams``: serial
port, MAC address, IP address/port/protocol, serial number, other_info, file, master
board) and a channel map that says which of the board's ExG channels carries which EEG
electrode and which carries the ECG lead. BrainFlow labels every ExG input as EEG, EMG,
ECG and EOG at once; only the map knows what was wired where.

Channel maps: ``{"AF3": 1, ..., "ECG": 16}`` — names to the 1-based position among the
board's ExG channels (``BoardShim.get_exg_channels``: the "N1P".."N8P" inputs of an
OpenBCI Cyton are 1..8, the Daisy's 9..16) — or ``"row:R"`` for a raw row of BrainFlow's
data array. :func:`parse_channel_map` reads ``"AF3=1,F7=2,ECG=16"`` or a JSON file.

Lifecycle: ``start`` = ``prepare_session`` + ``start_stream``; ``read`` drains
``get_board_data``; ``stop`` = ``stop_stream`` + ``release_session`` (of a prepared
session only). Every BrainFlow failure becomes a
:class:`~edge_emotion.source.SourceError` carrying BrainFlow's message: the run loop
retries one after the stream has started, and ends the run when the first connection
cannot be made.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_emotion.source import ChannelInfo, Chunk, SourceError, SourceExhausted, StreamInfo

log = logging.getLogger("edge_emotion.run")

PARAM_FIELDS = (
    "serial_port",
    "mac_address",
    "ip_address",
    "ip_address_aux",
    "ip_address_anc",
    "ip_port",
    "ip_port_aux",
    "ip_port_anc",
    "ip_protocol",
    "other_info",
    "timeout",
    "serial_number",
    "file",
    "file_aux",
    "file_anc",
    "master_board",
)


# The boards that take their data layout from ``master_board`` (they replay another's).
REPLAY_BOARDS = ("PLAYBACK_FILE_BOARD", "STREAMING_BOARD")


def _brainflow():
    """brainflow's board module, loaded once without pkg_resources' deprecation warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from brainflow import board_shim

            # The shared library is loaded (and pkg_resources imported) on first use.
            board_shim.BoardControllerDLL.get_instance()
        except (ImportError, OSError) as exc:  # pragma: no cover - depends on the install
            raise SourceError(
                f"brainflow cannot be loaded ({exc}); pip install 'edge-emotion[board]' "
                "(on aarch64 build BrainFlow from source, see the README)"
            ) from None
    return board_shim


def _data_filter():
    """brainflow's ``DataFilter`` (file I/O), imported without pkg_resources' warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from brainflow.data_filter import DataFilter
    return DataFilter


def write_brainflow_file(data: np.ndarray, path: str | Path, append: bool = False) -> None:
    """Write ``data`` ``(rows, samples)``, laid out as a board's ``get_board_data``, as a
    BrainFlow file (``DataFilter.write_file``), the format ``PLAYBACK_FILE_BOARD`` plays;
    ``append`` adds to an existing file instead of replacing it."""
    _data_filter().write_file(
        np.ascontiguousarray(data, dtype=np.float64), str(path), "a" if append else "w"
    )


def read_brainflow_file(path: str | Path) -> np.ndarray:
    """The samples of a BrainFlow file, ``(rows, samples)`` float64, laid out as the
    recording board's ``get_board_data`` (see :func:`board_rows`).

    Read with BrainFlow's own ``DataFilter.read_file``, the reader of the playback board,
    so the samples are those the board would play: a last line cut short is not one.
    BrainFlow's logger is silenced (it would print the failure again, without the file);
    a file it cannot read raises ``ValueError`` naming the path and BrainFlow's message.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    bf = _brainflow()
    data_filter = _data_filter()
    data_filter.disable_data_logger()
    try:
        data = data_filter.read_file(str(path))
    except bf.BrainFlowError as exc:
        raise ValueError(f"{path}: not a BrainFlow data file ({exc})") from None
    data = np.asarray(data, dtype=np.float64)
    return data[:, None] if data.ndim == 1 else data


@dataclass(frozen=True)
class BoardRows:
    """Where a BrainFlow board puts what in its data array (rows of ``get_board_data``),
    from ``BoardShim.get_board_descr``; what a reader or writer of its files needs."""

    board_id: int
    sampling_rate: float
    num_rows: int
    exg: tuple[int, ...]  # ExG inputs in order: channel-map position k is row exg[k - 1]
    timestamp: int
    package_num: int | None
    accel: tuple[int, ...]
    eeg_names: tuple[str, ...] = ()  # the board's own electrode names, if it has them
    marker: int | None = None  # the row of insert_marker's values, if the board has one

    @property
    def name(self) -> str:
        return board_name(self.board_id)


def board_rows(board: str | int) -> BoardRows:
    """The :class:`BoardRows` of a board given by name or id (see :func:`board_id`)."""
    bf = _brainflow()
    bid = board_id(board)
    descr = bf.BoardShim.get_board_descr(bid)
    package = descr.get("package_num_channel")
    marker = descr.get("marker_channel")
    names = descr.get("eeg_names") or ""
    return BoardRows(
        board_id=bid,
        sampling_rate=float(descr["sampling_rate"]),
        num_rows=int(descr["num_rows"]),
        exg=tuple(int(r) for r in bf.BoardShim.get_exg_channels(bid)),
        timestamp=int(descr["timestamp_channel"]),
        package_num=None if package is None else int(package),
        accel=tuple(int(r) for r in descr.get("accel_channels", ())),
        eeg_names=tuple(n for n in str(names).split(",") if n),
        marker=None if marker is None else int(marker),
    )


def board_id(board: str | int) -> int:
    """BrainFlow board id from a name (``CYTON_DAISY_BOARD``, ``cyton-daisy``) or an id.

    Raises ``ValueError`` naming close matches for an unknown board.
    """
    ids = _brainflow().BoardIds
    if isinstance(board, (int, np.integer)) or (
        isinstance(board, str) and board.lstrip("-").isdigit()
    ):
        value = int(board)
        if value not in {b.value for b in ids}:
            raise ValueError(f"board: {value} is not a BrainFlow board id")
        return value
    key = str(board).strip().upper().replace("-", "_")
    for candidate in (key, key + "_BOARD"):
        if candidate in ids.__members__:
            return ids[candidate].value
    close = [n for n in ids.__members__ if key.replace("_BOARD", "") in n][:8]
    hint = f"; did you mean {', '.join(close)}?" if close else " (see brainflow.BoardIds)"
    raise ValueError(f"board: unknown BrainFlow board {board!r}{hint}")


def board_name(bid: int) -> str:
    return _brainflow().BoardIds(bid).name


def parse_channel_map(spec: str | dict | None) -> dict[str, int | str]:
    """A channel map from ``"AF3=1,F7=2,ECG=16"``, a JSON file path, or a dict.

    Values are 1-based ExG positions (whole numbers; JSON ``true`` or ``15.7`` are not)
    or ``"row:R"``. Raises ``ValueError`` naming the bad entry, and for two names that
    differ only in case or two names for one channel.
    """
    if spec is None:
        return {}
    if isinstance(spec, dict):
        items = list(spec.items())
    else:
        text = str(spec).strip()
        path = Path(text)
        if text.endswith(".json") or (path.suffix and path.is_file()):
            if not path.is_file():
                raise ValueError(f"channel map: file {text} not found")
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise ValueError(f"channel map: {text} is not valid JSON ({exc})") from None
            if not isinstance(data, dict):
                raise ValueError(f'channel map: {text} must hold an object {{"AF3": 1, ...}}')
            items = list(data.items())
        else:
            items = []
            for part in filter(None, (p.strip() for p in text.split(","))):
                if "=" not in part:
                    raise ValueError(
                        f"channel map: entry {part!r} must look like NAME=CHANNEL (e.g. AF3=1)"
                    )
                name, value = (s.strip() for s in part.split("=", 1))
                items.append((name, value))
    out: dict[str, int | str] = {}
    seen: dict[str, str] = {}  # upper-case name -> name, and channel -> name
    for name, value in items:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"channel map: channel names must be non-empty, got {name!r}")
        name = name.strip()
        if name.upper() in seen:
            raise ValueError(
                f"channel map: {name} is mapped twice ({seen[name.upper()]}, {name}; names "
                "are compared without case)"
            )
        where = _channel_position(name, value)
        if where in seen:
            at = f"ExG channel {where}" if isinstance(where, int) else where
            raise ValueError(f"channel map: {seen[where]} and {name} both point at {at}")
        seen[name.upper()] = seen[where] = name
        out[name] = where
    return out


def _channel_position(name: str, value) -> int | str:
    """A channel-map value as a 1-based ExG position (int) or ``"row:R"``; ValueError else."""
    expected = f"expected a 1-based ExG channel number or row:N, got {name}={value!r}"
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("row:"):
            if not text[4:].isdigit():
                raise ValueError(f"channel map: {expected}")
            return f"row:{int(text[4:])}"
        if not text.lstrip("+").isdigit():
            raise ValueError(f"channel map: {expected}")
        pos = int(text)
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"channel map: {expected}")
    elif isinstance(value, float) and not value.is_integer():
        raise ValueError(f"channel map: {expected} (not a whole number)")
    else:
        pos = int(value)
    if pos < 1:
        raise ValueError(f"channel map: {name}={pos}; ExG channels are numbered from 1")
    return pos


BUFFER_S = 60.0  # board samples BrainFlow keeps between reads (s); the loop reads every hop


@dataclass
class BoardConfig:
    """A BrainFlow board and how to reach it.

    ``board``: name or id; ``params``: fields of ``BrainFlowInputParams`` (see
    ``PARAM_FIELDS``; ``master_board`` may be a name); ``channel_map``: see the module
    docstring — empty means BrainFlow's own EEG names for the board's EEG channels;
    ``ecg_names``: names in the map that are ECG leads (the rest are EEG);
    ``commands``: strings sent with ``config_board`` after ``prepare_session`` (e.g.
    ``"loopback_true"`` for the playback board); ``file_rows``: for a playback file, its
    number of samples, so the end of the recording ends the run.
    """

    board: str | int
    params: dict = field(default_factory=dict)
    channel_map: dict = field(default_factory=dict)
    ecg_names: tuple[str, ...] = ("ECG",)
    commands: tuple[str, ...] = ()
    file_rows: int | None = None
    poll_s: float = 0.005


class BrainFlowSource:
    """A :class:`~edge_emotion.source.Source` over ``brainflow.BoardShim``."""

    buffered = True  # BrainFlow's ring buffer holds the samples between reads (pacing)

    def __init__(self, config: BoardConfig) -> None:
        bf = _brainflow()
        self.config = config
        self.board_id = board_id(config.board)
        params = bf.BrainFlowInputParams()
        for key, value in config.params.items():
            if key not in PARAM_FIELDS:
                raise ValueError(f"board params: unknown field {key!r}; known: {PARAM_FIELDS}")
            if key == "master_board":
                value = board_id(value)
            setattr(params, key, value)
        self.params = params
        self.layout_id = (
            params.master_board if board_name(self.board_id) in REPLAY_BOARDS else self.board_id
        )
        if self.layout_id < -50:
            raise ValueError("board params: the playback/streaming board needs master_board")
        descr = bf.BoardShim.get_board_descr(self.layout_id)
        self.sampling_rate = float(descr["sampling_rate"])
        exg = list(bf.BoardShim.get_exg_channels(self.layout_id))
        self.timestamp_row = int(descr["timestamp_channel"])
        names = descr.get("eeg_names", "")
        channel_map = dict(config.channel_map)
        if not channel_map and names:
            channel_map = {n: i + 1 for i, n in enumerate(names.split(","))}
        rows, infos = [], []
        for name, where in channel_map.items():
            if isinstance(where, str):
                row = int(where[4:])
                if not 0 <= row < int(descr["num_rows"]):
                    raise ValueError(
                        f"channel map: {name}={where}; {board_name(self.layout_id)} has rows "
                        f"0..{int(descr['num_rows']) - 1}"
                    )
            else:
                if not 1 <= where <= len(exg):
                    raise ValueError(
                        f"channel map: {name}={where}; {board_name(self.layout_id)} has ExG "
                        f"channels 1..{len(exg)}"
                    )
                row = exg[where - 1]
            rows.append(row)
            role = "ecg" if name.upper() in {n.upper() for n in config.ecg_names} else "eeg"
            infos.append(ChannelInfo(name=name, role=role, unit="uV"))
        if len(set(rows)) != len(rows):
            raise ValueError("channel map: two names point at the same board channel")
        self.rows = rows
        self.stream = StreamInfo(sampling_rate=self.sampling_rate, channels=tuple(infos))
        self._shim = None
        self._streaming = False
        self.samples_read = 0

    def start(self) -> tuple[StreamInfo, ...]:
        bf = _brainflow()
        if self.params.file and not Path(self.params.file).is_file():
            raise SourceError(f"board file {self.params.file} not found")
        try:
            bf.BoardShim.disable_board_logger()
            self._shim = bf.BoardShim(self.board_id, self.params)
            self._shim.prepare_session()
            for cmd in self.config.commands:
                self._shim.config_board(cmd)
            # BrainFlow's ring buffer is touched as it wraps: its default (450000 samples,
            # 110 MB at 32 rows) became resident within an hour though drained every hop.
            self._shim.start_stream(max(1000, round(BUFFER_S * self.sampling_rate)))
            self._streaming = True
        except bf.BrainFlowError as exc:
            self.stop()
            raise SourceError(
                f"{board_name(self.board_id)}: cannot start ({exc}); check the connection "
                "parameters (serial port, MAC/IP address) and that the board is on"
            ) from None
        self.samples_read = 0
        log.info(
            "started %s at %g Hz (%d mapped channels)",
            board_name(self.board_id),
            self.sampling_rate,
            len(self.rows),
        )
        return (self.stream,)

    def read(self, timeout_s: float = 0.1) -> list[Chunk]:
        if self._shim is None:
            raise SourceError("read() before start()")
        bf = _brainflow()
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                if self._shim.get_board_data_count() > 0:
                    data = self._shim.get_board_data()
                    break
                if self._exhausted():
                    raise SourceExhausted("end of recording")
                if time.monotonic() >= deadline:
                    return []
                time.sleep(self.config.poll_s)
        except bf.BrainFlowError as exc:
            raise SourceError(f"{board_name(self.board_id)}: {exc}") from None
        self.samples_read += data.shape[1]
        return [
            Chunk(
                stream=0,
                data=data[self.rows],
                timestamps=data[self.timestamp_row],
            )
        ]

    def _exhausted(self) -> bool:
        rows = self.config.file_rows
        return rows is not None and self.samples_read >= rows

    def stop(self) -> None:
        shim, self._shim = self._shim, None
        if shim is None:
            return
        bf = _brainflow()
        try:
            if self._streaming:
                shim.stop_stream()
        except bf.BrainFlowError as exc:
            log.warning("stop_stream failed: %s", exc)
        finally:
            self._streaming = False
            try:
                # A session whose prepare_session failed was never created: releasing it
                # only fails again (BOARD_NOT_CREATED_ERROR), so say nothing.
                if shim.is_prepared():
                    shim.release_session()
                    log.info("released %s", board_name(self.board_id))
            except bf.BrainFlowError as exc:
                log.warning("release_session failed: %s", exc)


def board_layouts() -> list[BoardRows]:
    """Every BrainFlow board with a data layout of its own (the playback and streaming
    boards take theirs from a master board and are left out), by id."""
    bf = _brainflow()
    out = []
    for b in sorted(bf.BoardIds, key=lambda b: b.value):
        try:
            out.append(board_rows(b.value))
        except (bf.BrainFlowError, KeyError):  # no layout of its own (NO_BOARD, PLAYBACK...)
            continue
    return out


def layout_for(
    sampling_rate: float, n_channels: int, prefer: int | None = None
) -> BoardRows | None:
    """A board layout that can hold ``n_channels`` ExG channels at ``sampling_rate`` (Hz)
    — ``prefer`` if it can, else the fewest spare ExG inputs — or None."""
    rate_ok = [b for b in board_layouts() if abs(b.sampling_rate - sampling_rate) < 1e-6]
    fits = [b for b in rate_ok if len(b.exg) >= n_channels]
    for b in fits:
        if b.board_id == prefer:
            return b
    return min(fits, key=lambda b: (len(b.exg), abs(b.board_id))) if fits else None
