"""Recordings: BrainFlow files through BrainFlow's playback board, and a converter from
the OpenBCI GUI text format to such a file.

BrainFlow's ``PLAYBACK_FILE_BOARD`` replays a file written by ``DataFilter.write_file``
(or by a board's ``file://`` streamer) in real time, with the row layout and sampling
rate of the board that recorded it (the *master board*), so a recording runs through
exactly the code path of a live board. The file does not say which board that was: the
converter writes a sidecar ``<file>.json`` (master board, sampling rate, channel names)
that :func:`playback_config` reads; for other files pass the master board.
:func:`playback_config` checks the file with BrainFlow's own reader before anything
starts (:func:`recording_samples`), so a file the playback board would not play (empty,
binary, another board's width, a pause longer than the run's stall timeout) is refused
with what is wrong with it, instead of the run waiting for data forever.

Converting (uses :func:`edge_emotion.openbci.read_openbci_gui_txt`)::

    python -m edge_emotion.playback convert OpenBCI-RAW-2024.txt session.csv
    python -m edge_emotion.run --source playback:session.csv --channel-map AF3=1,...,ECG=8
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_emotion.brainflow_source import (
    BoardConfig,
    board_id,
    board_name,
    board_rows,
    read_brainflow_file,
    write_brainflow_file,
)
from edge_emotion.cli_help import apply_help_format, command_name

SIDECAR_FORMAT = "edge_emotion.recording/1"


def sidecar_path(path: str | Path) -> Path:
    return Path(str(path) + ".json")


# BrainFlow reads a whole file into memory to check it (as float64, about its text size).
MAX_RECORDING_BYTES = 1 << 30
# The run treats this much silence from a source as a lost connection (loop.run's
# stall_timeout_s is 5 s) and restarts it: a recording must not pause longer than that.
MAX_TIMESTAMP_GAP_S = 4.0


def recording_samples(path: str | Path, master_board: str | int) -> int:
    """Check a recording and return how many samples the playback board will play from it.

    The file is read with BrainFlow's own ``DataFilter.read_file``
    (:func:`~edge_emotion.brainflow_source.read_brainflow_file`), so the count is of the
    rows BrainFlow loads: a last line cut short (no newline) is not one of them. Raises
    ``ValueError`` that says what is wrong: empty, larger than ``MAX_RECORDING_BYTES``,
    not BrainFlow's format (binary, text that is not numbers, lines of differing
    lengths), another number of values per sample than ``master_board`` records, or
    timestamps that are not finite or pause longer than ``MAX_TIMESTAMP_GAP_S``.
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"recording: {path} is empty (no samples)")
    if size > MAX_RECORDING_BYTES:
        raise ValueError(
            f"recording: {path} is {size / 2**30:.1f} GiB; at most "
            f"{MAX_RECORDING_BYTES >> 30} GiB can be checked and played here: split it"
        )
    board = board_rows(master_board)
    n_rows = board.num_rows
    try:
        data = read_brainflow_file(path)
    except ValueError as exc:
        raise ValueError(f"recording: {exc}; {_format_problem(path, n_rows)}") from None
    if data.shape[1] == 0:
        raise ValueError(f"recording: {path} holds no complete line (no samples)")
    if data.shape[0] != n_rows:
        raise ValueError(
            f"recording: {path} has {data.shape[0]} values per line; "
            f"{board_name(board.board_id)} records {n_rows} (is --master-board right?)"
        )
    ts = data[board.timestamp]
    if not np.all(np.isfinite(ts)):
        raise ValueError(
            f"recording: {path}: the timestamp column ({board.timestamp + 1}) "
            f"holds NaN or infinite values at sample {int(np.argmin(np.isfinite(ts))) + 1}"
        )
    if ts.size > 1 and np.max(np.diff(ts)) > MAX_TIMESTAMP_GAP_S:
        at = int(np.argmax(np.diff(ts)))
        raise ValueError(
            f"recording: {path}: the timestamps jump by {ts[at + 1] - ts[at]:.4g} s after "
            f"sample {at + 1}; the playback board would go silent that long (more than "
            f"{MAX_TIMESTAMP_GAP_S:g} s reads as a lost connection). Cut the file at the gap"
        )
    return int(data.shape[1])


def _format_problem(path: Path, n_rows: int, max_lines: int = 100_000) -> str:
    """Where BrainFlow's reader went wrong in ``path``: the first line that is not
    ``n_rows`` numbers."""
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            if number > max_lines:
                break
            if b"\0" in line:
                return f"line {number} holds binary data"
            try:
                text = line.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                return f"line {number} is not text"
            fields = text.split("\t" if "\t" in text else ",")
            if not text.strip():
                return f"line {number} is blank"
            try:
                [float(x) for x in fields if x.strip()]
            except ValueError:
                return f"line {number} holds values that are not numbers: {text[:60]!r}"
            count = len([x for x in fields if x != ""])
            if count != n_rows:
                return f"line {number} has {count} values, expected {n_rows}"
    return f"expected lines of {n_rows} tab-separated numbers"


def playback_config(
    path: str | Path,
    master_board: str | int | None = None,
    channel_map: dict | None = None,
    loop: bool = False,
    ecg_names: tuple[str, ...] = ("ECG",),
) -> BoardConfig:
    """A :class:`BoardConfig` that replays ``path`` on BrainFlow's playback board.

    ``master_board`` defaults to the sidecar's; ``channel_map`` to the sidecar's channel
    names (position i -> ExG i+1). With ``loop`` the file repeats (``loopback_true``);
    otherwise the run ends with the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"recording: {path} not found")
    meta = {}
    side = sidecar_path(path)
    if side.is_file():
        try:
            meta = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"recording: sidecar {side} is not valid JSON ({exc})") from None
    master = master_board if master_board is not None else meta.get("master_board")
    if master is None:
        raise ValueError(
            f"recording: {path} has no sidecar {side.name}; say which board recorded it with "
            "--master-board (e.g. CYTON_DAISY_BOARD)"
        )
    if channel_map is None or not channel_map:
        names = meta.get("channels") or []
        channel_map = {name: i + 1 for i, name in enumerate(names)}
        # A recording made by --record says which channels were ECG leads.
        roles = meta.get("roles") or []
        ecg_names = (*ecg_names, *(n for n, r in zip(names, roles, strict=False) if r == "ecg"))
    samples = recording_samples(path, master)  # checked even when looping: else it never plays
    return BoardConfig(
        board="PLAYBACK_FILE_BOARD",
        params={"file": str(path.resolve()), "master_board": board_id(master)},
        channel_map=dict(channel_map),
        ecg_names=ecg_names,
        commands=("loopback_true",) if loop else (),
        file_rows=None if loop else samples,
    )


@dataclass(frozen=True)
class Conversion:
    """What :func:`convert_openbci_txt` wrote."""

    path: Path
    sidecar: Path
    master_board: str
    sampling_rate: float
    n_channels: int
    n_samples: int


def _field(obj, *names):
    for name in names:
        if isinstance(obj, dict) and name in obj:
            return obj[name]
        if hasattr(obj, name):
            return getattr(obj, name)
    return None


# OpenBCI boards by ExG channel count (the GUI's own file says which; the count decides).
_MASTER_BY_CHANNELS = {4: "GANGLION_BOARD", 8: "CYTON_BOARD", 16: "CYTON_DAISY_BOARD"}
# The electrode placement OpenBCI's documentation wires to each board's inputs (1-based).
_STANDARD_PLACEMENT = {"CYTON_BOARD": "cyton", "CYTON_DAISY_BOARD": "cyton-daisy"}


def openbci_standard_map(master_board: str) -> dict[str, int] | None:
    """Electrode name -> ExG input of OpenBCI's standard placement on ``master_board``
    (Cyton: Fp1, Fp2, C3, C4, P7, P8, O1, O2 on inputs 1-8), or ``None`` for a board
    without one. The GUI's files do not record positions: a run assumes this placement
    when no channel map is given, and says so."""
    from edge_emotion.kernels.config import MONTAGES

    montage = _STANDARD_PLACEMENT.get(master_board)
    return None if montage is None else {n: i + 1 for i, n in enumerate(MONTAGES[montage])}


def convert_openbci_txt(
    txt_path: str | Path, out_path: str | Path, master_board: str | int | None = None
) -> Conversion:
    """Convert an OpenBCI GUI text recording to a BrainFlow file the playback board plays.

    ExG channels (µV) go to the master board's ExG rows, the GUI's Unix timestamps (ms)
    to its timestamp row (s), the sample counter to its package row. The master board is
    chosen from the channel count (4 Ganglion, 8 Cyton, 16 Cyton+Daisy) unless given;
    its sampling rate must equal the file's, or playback would run at the wrong speed.
    """
    from edge_emotion.openbci import read_openbci_gui_txt

    rec = read_openbci_gui_txt(txt_path)
    exg = np.asarray(_field(rec, "eeg", "exg", "data"), dtype=np.float64)
    fs = float(_field(rec, "fs", "sampling_rate"))
    if exg.ndim != 2:
        raise ValueError(f"{txt_path}: expected (channels, samples) ExG data, got {exg.shape}")
    n_ch, n = exg.shape
    master = master_board if master_board is not None else _MASTER_BY_CHANNELS.get(n_ch)
    if master is None:
        raise ValueError(
            f"{txt_path}: {n_ch} ExG channels match no OpenBCI board; pass master_board"
        )
    board = board_rows(master)
    bid = board.board_id
    if abs(board.sampling_rate - fs) > 1e-6:
        raise ValueError(
            f"{txt_path} was sampled at {fs:g} Hz but {board_name(bid)} plays at "
            f"{board.sampling_rate:g} Hz; pass a master board with the file's rate"
        )
    rows = list(board.exg)
    if n_ch > len(rows):
        raise ValueError(f"{txt_path}: {n_ch} channels do not fit {board_name(bid)}")
    data = np.zeros((board.num_rows, n))
    data[rows[:n_ch]] = exg
    ts = _field(rec, "timestamps", "timestamp", "time_s")
    ts = np.arange(n) / fs if ts is None else np.asarray(ts, dtype=np.float64)
    if ts.size == n and np.nanmedian(ts) > 1e11:  # milliseconds since the epoch
        ts = ts / 1000.0
    data[board.timestamp] = ts if ts.size == n else np.arange(n) / fs
    if board.package_num is not None:
        counter = _field(rec, "sample_index")
        counter = np.arange(n) % 256 if counter is None else np.asarray(counter, dtype=np.float64)
        data[board.package_num] = counter
    accel = _field(rec, "accel", "accelerometer")
    if accel is not None and board.accel:
        accel = np.asarray(accel, dtype=np.float64)
        if accel.ndim == 2 and accel.shape[1] == n:
            k = min(accel.shape[0], len(board.accel))
            data[list(board.accel[:k])] = accel[:k]
    out_path = Path(out_path)
    write_brainflow_file(data, out_path)
    # The GUI does not record electrode positions; ExG inputs are named by number (1-based,
    # as on the board) and the channel map gives them electrode names.
    names = [f"EXG{i + 1}" for i in range(n_ch)]
    side = sidecar_path(out_path)
    side.write_text(
        json.dumps(
            {
                "format": SIDECAR_FORMAT,
                "master_board": board_name(bid),
                "sampling_rate": fs,
                "channels": names,
                "source": Path(txt_path).name,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return Conversion(out_path, side, board_name(bid), fs, n_ch, n)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=command_name("edge_emotion.playback"),
        description="Convert recordings for BrainFlow's playback board.",
        epilog="example: %(prog)s convert OpenBCI-RAW.txt session.csv",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser(
        "convert",
        help="OpenBCI GUI .txt -> BrainFlow file (+ .json sidecar)",
        description="Convert an OpenBCI GUI text recording to a BrainFlow file and its JSON "
        "sidecar, for --source playback:FILE.",
        epilog="example: %(prog)s OpenBCI-RAW.txt session.csv",
    )
    conv.add_argument("txt", help="OpenBCI GUI recording (OpenBCI-RAW-*.txt)")
    conv.add_argument("out", help="BrainFlow file to write (e.g. session.csv)")
    conv.add_argument("--master-board", default=None, help="board layout (default: by channels)")
    return apply_help_format(parser)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        c = convert_openbci_txt(args.txt, args.out, args.master_board)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"wrote {c.path} ({c.n_samples} samples x {c.n_channels} ExG channels at "
        f"{c.sampling_rate:g} Hz, {c.n_samples / c.sampling_rate:.1f} s; master board "
        f"{c.master_board})\nwrote {c.sidecar}\nplay it: python -m edge_emotion.run "
        f"--source playback:{c.path} --channel-map NAME=N,...,ECG=N"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
