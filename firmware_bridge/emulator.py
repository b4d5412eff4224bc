"""Command line of the device emulator (loopback only): a wearable without hardware.

    python -m edge_emotion.firmware_bridge.emulator --tcp 0 --duration 20
    # emulator: listening on bridge:tcp://127.0.0.1:PORT
    python -m edge_emotion.firmware_bridge.emulator --pty

The device (signals, frames, fault injection) is
:mod:`edge_emotion.firmware_bridge.emulated_device`; the TCP and pseudo-terminal
endpoints are :mod:`edge_emotion.firmware_bridge.emulator_endpoints`. Over TCP the
device keeps running while hosts come and go (up to ``--max-clients`` at once) and the
run ends early after ``--accept-timeout`` seconds without a host. It prints the source
spec to connect to and, at the end, what it sent, dropped and received.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from edge_emotion.cli_help import HelpFormatter, command_name
from edge_emotion.firmware_bridge.emulated_device import DeviceEmulator, EmulatorConfig
from edge_emotion.firmware_bridge.emulator_endpoints import PtyPair, serve_pty, serve_tcp
from edge_emotion.kernels.config import EMOTIV_EPOC_CHANNELS


def _load_npz(path: str, config: EmulatorConfig) -> dict[int, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        if "eeg" not in z or "ecg" not in z:
            raise ValueError(f"{path}: expected arrays 'eeg' (channels, n) and 'ecg' (n,) in µV")
        eeg = np.asarray(z["eeg"], dtype=np.float64)
        ecg = np.asarray(z["ecg"], dtype=np.float64).reshape(1, -1)
    if eeg.ndim != 2 or eeg.shape[0] != len(config.eeg_names):
        raise ValueError(
            f"{path}: 'eeg' has shape {eeg.shape}; expected ({len(config.eeg_names)}, n) "
            "for the --eeg-names given"
        )
    return {0: eeg, 1: ecg}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=command_name("edge_emotion.firmware_bridge.emulator"),
        description="Emulate a wearable speaking the bridge protocol (loopback only).",
        epilog="example: %(prog)s --tcp 0 --duration 60\n"
        "then: python -m edge_emotion.run --source bridge:tcp://127.0.0.1:PORT",
        formatter_class=HelpFormatter,
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--tcp",
        type=int,
        metavar="PORT",
        default=None,
        help="listen on 127.0.0.1:PORT (0 = any free port; default)",
    )
    where.add_argument("--pty", action="store_true", help="use a pseudo-terminal pair instead")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of signal")
    p.add_argument(
        "--speed", type=float, default=1.0, help="1 = real time, 0 = as fast as possible"
    )
    p.add_argument(
        "--eeg-names",
        default=",".join(EMOTIV_EPOC_CHANNELS),
        help="comma-separated EEG channel names",
    )
    p.add_argument("--eeg-fs", type=float, default=128.0, help="EEG sampling rate, Hz")
    p.add_argument("--ecg-fs", type=float, default=128.0, help="ECG sampling rate, Hz")
    p.add_argument(
        "--samples-per-frame", type=int, default=16, help="samples per DATA frame and channel"
    )
    p.add_argument(
        "--drop-prob", type=float, default=0.0, help="probability of dropping a DATA frame"
    )
    p.add_argument(
        "--corrupt-prob", type=float, default=0.0, help="probability of flipping a bit in a frame"
    )
    p.add_argument("--npz", help="play arrays eeg (channels, n) and ecg (n,) in µV from a file")
    p.add_argument(
        "--accept-timeout",
        type=float,
        default=30.0,
        help="end after this many seconds without a host",
    )
    p.add_argument("--max-clients", type=int, default=4, help="hosts served at once")
    p.add_argument("--seed", type=int, default=0, help="random seed of signals and faults")
    return p


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    a = p.parse_args(argv)
    try:
        config = EmulatorConfig(
            eeg_names=tuple(n.strip() for n in a.eeg_names.split(",") if n.strip()),
            eeg_fs=a.eeg_fs,
            ecg_fs=a.ecg_fs,
            samples_per_frame=a.samples_per_frame,
            speed=a.speed,
            drop_prob=a.drop_prob,
            corrupt_prob=a.corrupt_prob,
            seed=a.seed,
        )
        if a.max_clients < 1:
            raise ValueError(f"--max-clients: expected >= 1, got {a.max_clients}")
        signals = _load_npz(a.npz, config) if a.npz else None
        emulator = DeviceEmulator(config, signals)
    except (ValueError, OSError) as exc:
        p.error(str(exc))
    if a.pty:
        pty = PtyPair()
        print(f"emulator: pty ready, connect with --source bridge:{pty.path}", flush=True)
        try:
            report = serve_pty(emulator, a.duration, pty)
        finally:
            pty.close()
    else:
        report = serve_tcp(
            emulator,
            a.duration,
            port=a.tcp or 0,
            accept_timeout_s=a.accept_timeout,
            max_clients=a.max_clients,
            on_ready=lambda spec: print(f"emulator: listening on {spec}", flush=True),
        )
    print(report.summary(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
