"""``python -m edge_emotion.run``: continuous arousal/valence decisions from a board.

With no arguments it runs the built-in demo: 3 minutes of a real recording (PhysioNet
eegmat, one subject held out of training: rest, then mental arithmetic; see
:mod:`edge_emotion.demo_recording`) replayed in real time through BrainFlow's playback
board in a Cyton+Daisy's layout and classified by the default bundle (``cyton8-ecg``);
its summary scores the decisions against the known states. ``--source demo:synthetic``
runs the generated demo through the synthetic demo bundle (25 s). Otherwise::

    python -m edge_emotion.run --board CYTON_DAISY_BOARD --serial-port /dev/ttyUSB0 \\
        --channel-map AF3=1,F7=2,...,AF4=14,ECG=16 --bundle path/to/bundle --out run.jsonl
    python -m edge_emotion.run --source playback:session.csv --channel-map ...
    python -m edge_emotion.run --source openbci:OpenBCI-RAW-2024.txt --channel-map ...
    python -m edge_emotion.run --source bridge:/dev/ttyACM0
    python -m edge_emotion.run --source lsl:EEG,ECG?markers=Markers --record session.csv
    python -m edge_emotion.run --list-boards
    python -m edge_emotion.run --list-bundles

Each hop (0.25 s) prints one line — P(high) per target and its label, or the reason it
abstained — and ``--out`` appends the full record as JSON lines. Ctrl-C ends cleanly.
Exit status: 0 when the run ended as asked (duration, Ctrl-C, end of a recording), 2
for bad arguments or a source that cannot feed the model, 1 when the run failed (the
first connection could not be made, a fatal source error, an output that cannot be
written).
Needs no torch: engines are TensorRT or onnxruntime unless ``--backend torch``.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

# Only the standard library and run_args here: main() installs the Ctrl-C handlers before
# the runtime's imports (numpy, scipy, numba: about 2 s), so a Ctrl-C during them ends the
# start-up quietly instead of with Python's KeyboardInterrupt traceback.
from edge_emotion.run_args import (
    SYNTHETIC_DEMO_DURATION_S,
    Interrupts,
    board_params,
    build_parser,
    check_args,
    check_hop,
)

log = logging.getLogger("edge_emotion.run")


def open_source(args, bundle, workdir: Path):
    """Build the source the arguments ask for; returns (source, description)."""
    from edge_emotion.brainflow_source import BoardConfig, BrainFlowSource, parse_channel_map

    spec = args.source or ("board" if args.board else "demo")
    ecg_names = (bundle.feature_config.ecg_channel,)
    channel_map = parse_channel_map(args.channel_map)
    if spec.startswith("lsl:"):
        from edge_emotion.lsl_source import LslSource, parse_lsl_spec

        cfg = parse_lsl_spec(spec, channel_map, ecg_names)
        return LslSource(cfg), f"LSL stream(s) {', '.join(cfg.streams)}" + (
            f" with markers from {cfg.markers}" if cfg.markers else ""
        )
    if spec.startswith("bridge:"):
        from edge_emotion.firmware_bridge.source import open_bridge_source

        return open_bridge_source(spec), f"firmware bridge {spec.partition(':')[2]}"
    if spec.partition(":")[0] == "demo":
        from edge_emotion.demo_recording import demo_config

        cfg, rec = demo_config(spec, bundle, workdir, ecg_names)
        source = BrainFlowSource(cfg)
        source.known_states = rec.known_states  # what the summary scores decisions against
        return source, rec.description
    if spec.startswith("playback:") or spec.startswith("openbci:"):
        from edge_emotion.playback import (
            convert_openbci_txt,
            openbci_standard_map,
            playback_config,
        )

        kind, _, path = spec.partition(":")
        if kind == "openbci":
            conv = convert_openbci_txt(
                path, workdir / (Path(path).stem + ".csv"), args.master_board
            )
            log.info("converted %s -> %s (%s)", path, conv.path, conv.master_board)
            path = str(conv.path)
            if not channel_map and openbci_standard_map(conv.master_board):
                channel_map = openbci_standard_map(conv.master_board)
                log.info("no --channel-map: OpenBCI's standard placement %s", channel_map)
        cfg = playback_config(
            path, args.master_board, channel_map, loop=args.loop, ecg_names=ecg_names
        )
        return BrainFlowSource(cfg), f"recording {path} on BrainFlow PLAYBACK_FILE_BOARD"
    if spec == "board":
        if not args.board:
            raise ValueError("--source board needs --board NAME (e.g. CYTON_DAISY_BOARD)")
        cfg = BoardConfig(
            board=args.board,
            params=board_params(args),
            channel_map=channel_map,
            ecg_names=ecg_names,
        )
        src = BrainFlowSource(cfg)
        from edge_emotion.brainflow_source import board_name

        return src, f"BrainFlow {board_name(src.board_id)} at {src.sampling_rate:g} Hz"
    raise ValueError(
        f"--source {spec!r}: expected demo, board, playback:FILE, openbci:FILE.txt, "
        "bridge:SPEC or lsl:NAME_OR_TYPE"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    interrupts = Interrupts()
    interrupts.install()
    try:
        status = _main(argv, interrupts)
        sys.stdout.flush()  # a reader that has gone shows here, not in Python's exit
        return status
    except KeyboardInterrupt:
        print("ended: interrupted (Ctrl-C twice) during start-up", flush=True)
        return 130
    except BrokenPipeError:
        # Whoever read stdout stopped (`--list-boards | head`): end quietly, with the status
        # of an output that could not be written. Python flushes stdout again at exit and
        # would report the same error there, so stdout becomes /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        interrupts.restore()


def _main(argv: list[str] | None, interrupts: Interrupts) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_boards:
        return _list_boards()
    if args.list_bundles:
        from edge_emotion.shipped import list_bundles_lines

        print("\n".join(list_bundles_lines()))
        return 0
    check_args(parser, args)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    from edge_emotion.bundle import load_bundle
    from edge_emotion.classifier import Classifier, LoopConfig, warm_up
    from edge_emotion.engines import create_engine
    from edge_emotion.lane_plan import ConfigurationError, plan_lanes
    from edge_emotion.loop import run
    from edge_emotion.quality import QualityConfig
    from edge_emotion.shipped import DEFAULT_BUNDLE, SYNTHETIC_DEMO_BUNDLE, resolve_bundle
    from edge_emotion.sinks import JsonlSink, LslSink, StdoutSink, SummarySink
    from edge_emotion.source import SourceError, StreamInfo
    from edge_emotion.window_model import create_fallbacks

    synthetic = args.source == "demo:synthetic"
    duration = (
        args.duration
        if args.duration is not None
        else (SYNTHETIC_DEMO_DURATION_S if synthetic else None)
    )
    try:
        bundle = load_bundle(
            resolve_bundle(args.bundle, SYNTHETIC_DEMO_BUNDLE if synthetic else DEFAULT_BUNDLE)
        )
        check_hop(parser, args.hop, bundle.feature_config)
        engine = create_engine(bundle, args.backend)
        fallbacks = {}
        if args.on_bad_modality == "fallback":
            fallbacks = create_fallbacks(bundle, lambda b: create_engine(b, args.backend))
        loop_config = LoopConfig(
            hop_s=args.hop,
            policy=args.on_bad_modality,
            quality=QualityConfig(
                saturation_uv=args.saturation_uv, max_missing_fraction=args.max_missing
            ),
        )
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if interrupts.requested:
        print(f"ended: {interrupts.why} during start-up")
        return 0
    summary = SummarySink(window_s=bundle.feature_config.window_s)
    sinks: list = [summary]
    if not args.quiet:
        sinks.append(StdoutSink(every=args.print_every))
    with tempfile.TemporaryDirectory(prefix="edge_emotion_") as tmp:
        source = None
        try:
            source, description = open_source(args, bundle, Path(tmp))
            summary.set_known_states(getattr(source, "known_states", ()))
            if description.startswith("firmware bridge") and not args.no_downlink:
                from edge_emotion.firmware_bridge.downlink import BridgeSink

                sinks.append(BridgeSink(source))  # decisions back to the wearable
            recorder = None
            if args.record:
                from edge_emotion.recorder import Recorder, RecordingSource

                recorder = Recorder(args.record, description, getattr(source, "layout_id", None))
                source = RecordingSource(source, recorder)
                sinks.append(recorder)
            if args.out:
                sinks.append(JsonlSink(args.out))
            if args.lsl:
                sinks.append(
                    LslSink(args.lsl, list(bundle.targets), args.hop or bundle.feature_config.hop_s)
                )
        except (ValueError, SourceError, OSError, ImportError) as exc:
            _release(source, sinks)
            print(f"error: {exc}", file=sys.stderr)
            return 2
        known = getattr(source, "stream", None)  # BrainFlow boards: known before start
        if isinstance(known, StreamInfo):
            try:
                plan_lanes((known,), bundle.feature_config)
            except ConfigurationError as exc:
                _release(source, sinks)
                print(f"error: the source cannot feed this model:\n{exc}", file=sys.stderr)
                return 2
        kind = "DEMO bundle (synthetic data; not an emotion model)" if bundle.is_demo else "bundle"
        print(f"source : {description}")
        print(f"model  : {kind} {bundle.path}")
        print(
            f"engine : {engine.name}"
            + (f" — {engine.selection}" if getattr(engine, "selection", "") else "")
            + (
                f"  (skipped: {'; '.join(engine.fallback)})"
                if getattr(engine, "fallback", None)
                else ""
            )
        )
        fc = bundle.feature_config
        inputs = {
            "eeg": f"EEG {len(fc.eeg_channels)} ch at {fc.eeg_fs:g} Hz",
            "ecg": f"ECG at {fc.ecg_fs:g} Hz",
        }
        print(
            f"windows: {fc.window_s:g} s every {args.hop or fc.hop_s:g} s; "
            + ", ".join(inputs[m] for m in fc.modalities)
            + f"; bad modality -> {args.on_bad_modality}"
            + "".join(f", {m} fallback on {f.name}" for m, f in fallbacks.items())
            + (f"; stopping after {duration:g} s" if duration else "; Ctrl-C to stop"),
            flush=True,
        )

        if not interrupts.requested:  # else the loop below ends before it starts the source
            warm_up(bundle, engine)
            for fallback in fallbacks.values():
                fallback.warm_up()

        def make_classifier(streams):
            return Classifier(bundle, engine, streams, loop_config, fallbacks)

        try:
            stats = run(
                source,
                make_classifier,
                sinks,
                duration_s=duration,
                connect_retries=args.connect_retries,
                should_stop=lambda: interrupts.requested,
            )
        except ConfigurationError as exc:
            print(f"error: the source cannot feed this model:\n{exc}", file=sys.stderr)
            return 2
    if interrupts.requested and stats.ended_by == "stop requested":
        stats.ended_by = interrupts.why
    for line in summary.lines():
        print(line)
    print(
        f"ended: {stats.ended_by}"
        + (f"; {stats.reconnects} reconnects" if stats.reconnects else "")
    )
    if args.out:
        print(f"wrote {args.out}")
    if recorder is not None:
        for path in recorder.written_paths:
            print(f"wrote {path}")
    if stats.failed:
        print(f"error: {stats.ended_by}", file=sys.stderr)
        return 1
    return 0


def _release(source, sinks: list) -> None:
    """Stop the source and close the sinks opened before a start-up error: ``run`` (which
    would do it) never gets them. Both are safe on what was never started."""
    for close in ([source.stop] if source is not None else []) + [s.close for s in sinks]:
        try:
            close()
        except Exception as exc:  # one that fails must not hide the error being reported
            log.warning("releasing %s failed: %s", getattr(close, "__self__", close), exc)


def _list_boards() -> int:
    from edge_emotion.brainflow_source import board_layouts
    from edge_emotion.source import SourceError

    try:
        layouts = board_layouts()
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{'id':>4}  {'board':<34} {'ExG':>4} {'rate (Hz)':>10}")
    for b in layouts:
        print(f"{b.board_id:>4}  {b.name:<34} {len(b.exg):>4} {b.sampling_rate:>10g}")
    print(
        f"{len(layouts)} boards. Use --board NAME (or id) with its connection options; "
        "PLAYBACK_FILE_BOARD and STREAMING_BOARD take the layout of --master-board."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
