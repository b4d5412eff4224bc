"""The run command's arguments, their checks and its Ctrl-C handling (see
:mod:`edge_emotion.run`).

Every argument is checked where it is parsed, so a bad command line ends at once with
exit status 2 and one line, ``python -m edge_emotion.run: error: argument --hop: ...``,
before a bundle is read or a board started; :func:`check_hop` does the checks that need
the bundle, in the same form.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys

from edge_emotion.cli_help import HelpFormatter, command_name

SYNTHETIC_DEMO_DURATION_S = 25.0
RUN_EXAMPLES = """examples:
  python -m edge_emotion.run                                  # the built-in demo (eegmat)
  python -m edge_emotion.run --list-bundles
  python -m edge_emotion.run --board CYTON_DAISY_BOARD --serial-port /dev/ttyUSB0 \\
      --out session.jsonl --record session.csv
  python -m edge_emotion.run --source openbci:OpenBCI-RAW.txt --bundle cyton8-eeg
  python -m edge_emotion.run --source lsl:EEG,ECG --bundle my_bundle/"""


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse with one-line errors: ``prog: error: argument --hop: ...`` and exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (--help lists the options)\n")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a positive, finite number (``nan``, ``inf``, 0 and below refused)."""
    value = _number(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive, finite number, got {text!r}")
    return value


def fraction(text: str) -> float:
    """argparse type: a number in [0, 1] (``nan`` refused)."""
    value = _number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a fraction in [0, 1], got {text!r}")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    return _whole_number(text, 1)


def non_negative_int(text: str) -> int:
    """argparse type: a whole number of at least 0."""
    return _whole_number(text, 0)


def non_empty(text: str) -> str:
    """argparse type: any text but an empty or blank one (``--board ''`` is not the demo)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def channel_map_arg(text: str) -> dict:
    """argparse type: a channel map, as ``brainflow_source.parse_channel_map`` reads it."""
    from edge_emotion.brainflow_source import parse_channel_map

    try:
        return parse_channel_map(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("channel map: ")) from None


def board_params(args: argparse.Namespace) -> dict:
    """The BrainFlow connection options given on the command line (``BrainFlowInputParams``
    field names)."""
    params = {}
    for key in (
        "serial_port",
        "mac_address",
        "ip_address",
        "other_info",
        "serial_number",
        "ip_port",
        "ip_protocol",
        "timeout",
        "master_board",
    ):
        value = getattr(args, key)
        if value is not None:
            params[key] = value
    return params


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """What one argument cannot say alone: options that the chosen source would ignore."""
    spec = args.source or ("board" if args.board else "demo")
    kind = spec.partition(":")[0]
    if args.channel_map is not None and kind in ("demo", "bridge"):
        parser.error(
            f"argument --channel-map: the {kind} source names its own channels and would "
            "ignore it; use it with --board, --source playback:FILE or --source "
            "openbci:FILE.txt"
        )
    plays_a_file = kind in ("playback", "openbci")
    if args.loop and not plays_a_file:
        parser.error(
            f"argument --loop: the {kind} source would ignore it"
            + (" (it loops its own recording)" if kind == "demo" else "")
            + "; it repeats a recording given with --source playback:FILE or --source "
            "openbci:FILE.txt"
        )
    replays = kind == "board" and _replays(args.board)
    if args.master_board is not None and not (plays_a_file or replays):
        parser.error(
            f"argument --master-board: the {kind} source"
            + (f" ({args.board})" if kind == "board" else "")
            + " would ignore it; it names the board that recorded a file: use it with "
            "--source playback:FILE, --source openbci:FILE.txt or --board "
            "PLAYBACK_FILE_BOARD / STREAMING_BOARD"
        )


def _replays(board: str | None) -> bool:
    """Whether ``--board`` is one of BrainFlow's boards that take a master board's layout.
    An unknown name is left to the source, which names close matches."""
    if board is None:
        return False
    from edge_emotion.brainflow_source import REPLAY_BOARDS, board_id, board_name
    from edge_emotion.source import SourceError

    try:
        return board_name(board_id(board)) in REPLAY_BOARDS
    except (ValueError, SourceError):
        return True


def check_hop(parser: argparse.ArgumentParser, hop_s: float | None, fc) -> None:
    """``--hop`` against the bundle's windows: at most a window, whole samples at both rates."""
    if hop_s is None:
        return
    if hop_s > fc.window_s:
        parser.error(
            f"argument --hop: {hop_s:g} s is longer than the model's {fc.window_s:g} s window"
        )
    for name, fs in (("EEG", fc.eeg_fs), ("ECG", fc.ecg_fs)):
        samples = hop_s * fs
        if abs(samples - round(samples)) > 1e-9 * max(1.0, samples):
            parser.error(
                f"argument --hop: {hop_s:g} s is not a whole number of {name} samples at "
                f"{fs:g} Hz (the bundle's hop is {fc.hop_s:g} s)"
            )


class Interrupts:
    """Ctrl-C and SIGTERM, for the whole run, start-up included.

    The first asks the run to stop: start-up skips what is left and the loop ends after
    the current hop, releasing the board. A second Ctrl-C interrupts whatever is running,
    once; while that unwinds (the board released, files closed) further presses are
    ignored. An interrupt that lands inside a finaliser, where Python can only print it
    as "Exception ignored", is dropped silently and re-armed: the stop flag already says
    what it meant.
    """

    def __init__(self) -> None:
        self.requested = False
        self.why = ""
        self._raised = False
        self._saved: dict = {}

    def install(self) -> None:
        self._saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        self._saved_hook = sys.unraisablehook
        for sig in self._saved:
            signal.signal(sig, self._on_signal)
        sys.unraisablehook = self._unraisable

    def restore(self) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        sys.unraisablehook = self._saved_hook

    def _on_signal(self, signum, _frame) -> None:
        if self.requested and signum == signal.SIGINT:
            if not self._raised:
                self._raised = True
                raise KeyboardInterrupt
            return
        self.requested = True
        self.why = "interrupted (Ctrl-C)" if signum == signal.SIGINT else "terminated (SIGTERM)"

    def _unraisable(self, unraisable) -> None:
        if issubclass(unraisable.exc_type, KeyboardInterrupt):
            self._raised = False
            return
        self._saved_hook(unraisable)


def build_parser() -> argparse.ArgumentParser:
    from edge_emotion.classifier import POLICIES
    from edge_emotion.engines import BACKENDS
    from edge_emotion.quality import QualityConfig

    p = OneLineErrorParser(
        prog=command_name("edge_emotion.run"),
        description="Continuous arousal/valence recognition from a BrainFlow board, a "
        "recording or the firmware bridge. No arguments: the built-in demo.",
        epilog=RUN_EXAMPLES,
        formatter_class=HelpFormatter,
    )
    src = p.add_argument_group("source")
    src.add_argument(
        "--source",
        type=non_empty,
        default=None,
        help="demo (default: a real recording) | demo:synthetic | board | playback:FILE | "
        "openbci:FILE.txt | bridge:SPEC | lsl:NAME_OR_TYPE[,NAME_OR_TYPE][?markers=NAME_OR_TYPE]",
    )
    src.add_argument(
        "--list-boards",
        action="store_true",
        help="list BrainFlow's boards (id, name, ExG channels, rate) and exit",
    )
    src.add_argument(
        "--list-bundles",
        action="store_true",
        help="list the bundles that ship (montage, modalities, rate, training data) and exit",
    )
    src.add_argument(
        "--connect-retries",
        type=non_negative_int,
        default=2,
        help="quick retries of the first connection before the run fails; "
        "a stream that has started is retried for as long as the run lasts",
    )
    src.add_argument(
        "--board",
        type=non_empty,
        help="BrainFlow board name or id (e.g. CYTON_DAISY_BOARD, 2)",
    )
    for name in ("serial-port", "mac-address", "ip-address", "other-info", "serial-number"):
        src.add_argument(f"--{name}", default=None, help=f"BrainFlow {name.replace('-', '_')}")
    src.add_argument("--ip-port", type=int, default=None, help="BrainFlow ip_port")
    src.add_argument("--ip-protocol", type=int, default=None, help="BrainFlow IpProtocolTypes")
    src.add_argument("--timeout", type=int, default=None, help="board discovery timeout (s)")
    src.add_argument("--master-board", default=None, help="board that recorded a playback file")
    src.add_argument(
        "--channel-map",
        type=channel_map_arg,
        default=None,
        help="NAME=EXG,... (1-based ExG channel, or row:N) or a JSON file; e.g. "
        "AF3=1,F7=2,...,ECG=16",
    )
    src.add_argument("--loop", action="store_true", help="repeat a playback file")
    run_g = p.add_argument_group("model and loop")
    run_g.add_argument(
        "--bundle",
        default=None,
        help="a shipped bundle's name (--list-bundles) or a bundle folder (default: "
        "cyton8-ecg; the synthetic demo's own with --source demo:synthetic)",
    )
    run_g.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="inference engine; auto times INT8 and fp32 here and keeps the faster one "
        "the bundle's parity report certifies (TensorRT first where it imports)",
    )
    run_g.add_argument(
        "--hop",
        type=positive_float,
        default=None,
        help="seconds between decisions (default: the bundle's)",
    )
    run_g.add_argument(
        "--on-bad-modality",
        choices=POLICIES,
        default="abstain",
        help="when EEG or ECG alone is bad: abstain, or decide with the bundle's "
        "single-modality model of the good one (export --fallback)",
    )
    run_g.add_argument(
        "--saturation-uv",
        type=positive_float,
        default=QualityConfig.saturation_uv,
        help="an EEG sample beyond this many µV counts as a railed amplifier",
    )
    run_g.add_argument(
        "--max-missing",
        type=fraction,
        default=QualityConfig.max_missing_fraction,
        help="a window with more than this fraction of missing samples abstains; "
        "gaps up to this share of the "
        "window are filled in place, longer ones restart the stream with one GAP record",
    )
    run_g.add_argument(
        "--duration",
        type=positive_float,
        default=None,
        help="stop after this many seconds (default: the end of a recording; the "
        f"synthetic demo {SYNTHETIC_DEMO_DURATION_S:g} s)",
    )
    out = p.add_argument_group("output")
    out.add_argument("--out", default=None, help="append decisions to this JSONL file")
    out.add_argument(
        "--record",
        default=None,
        metavar="FILE",
        help="record the raw signals (BrainFlow file + FILE.json sidecar), decisions "
        "and markers; replay with --source playback:FILE",
    )
    out.add_argument(
        "--lsl",
        nargs="?",
        const="edge_emotion",
        default=None,
        help="publish decisions as an LSL stream (optional name)",
    )
    out.add_argument(
        "--no-downlink",
        action="store_true",
        help="with a bridge source, do not send decisions back to the device",
    )
    out.add_argument(
        "--print-every", type=positive_int, default=1, help="print every n-th decision"
    )
    out.add_argument("--quiet", action="store_true", help="no per-decision lines")
    out.add_argument(
        "--log-level", default="INFO", help="DEBUG | INFO | WARNING | ERROR (Python logging)"
    )
    return p
