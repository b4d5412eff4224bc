"""Where a live hop's cold-start cost goes, and what onnxruntime's options do about it.

The device sleeps between hops (0.25 s) and classifies with cold caches. This script
times one onnxruntime call of the demo bundle's model (``engine.predict``: normalisation,
model, sigmoid) in the conditions that separate the causes:

- ``hot``: back to back (the hot-loop benchmark's condition);
- ``sleep``: after ``--sleep`` s asleep (the device's condition);
- ``thrash``: right after touching ``--thrash-mb`` of memory, no sleep (caches evicted,
  the core kept busy): what cache misses alone cost;
- ``sleep+prime``: asleep, woken ``--prime-ms`` before the timed call to make one
  untimed call (the "warm-up just before the hop boundary"), asleep again until the call;
- ``spin``: a fixed arithmetic loop that touches no memory, hot and after the sleep: if
  it slows after a sleep, the core (frequency, the hypervisor's scheduling) is slow to
  wake, not the caches;
- page faults: minor faults (``getrusage``) per call after a sleep.

Each option row builds one engine with those session options. Rows are interleaved
round by round (every row sleeps, then is called, in turn), so they share the machine's
load conditions; the table gives median and p99 (µs) over ``--rounds`` rounds, and the
process CPU time per call. Every row also gives the agreement of its decisions with fp32's
and the largest probability difference, on the hops of ``--agree-s`` seconds of the
generated demo recording (INT8 with and without ``session.x64quantprecision``).

    python scripts/cold_start.py --rounds 40
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np

from edge_emotion.bundle import DEMO_BUNDLE_PATH, load_bundle
from edge_emotion.classifier import Classifier
from edge_emotion.engines.onnxruntime_engine import OnnxRuntimeEngine
from edge_emotion.source import Chunk
from edge_emotion.synthetic import recording_streams, synthetic_recording

OPTION_ROWS: dict[str, dict] = {
    # name: OnnxRuntimeEngine keyword arguments
    "fp32 as shipped (1 thread)": {"precision": "fp32"},
    "fp32 intra 2, spinning": {"precision": "fp32", "intra_op_threads": 2, "spinning": True},
    "fp32 intra 2, no spinning": {"precision": "fp32", "intra_op_threads": 2, "spinning": False},
    "fp32 no arena": {"precision": "fp32", "arena": False},
    "fp32 graph opt basic": {"precision": "fp32", "graph_level": "basic"},
    "fp32 graph opt off": {"precision": "fp32", "graph_level": "off"},
    "fp32 io binding": {"precision": "fp32", "io_binding": True},
    "int8 without x64quantprec.": {"precision": "int8", "quant_precision": False},
    "int8 (x64quantprecision)": {"precision": "int8"},
    "int8 io binding": {"precision": "int8", "io_binding": True},
}


def spin(n: int = 20000) -> float:
    """A fixed amount of arithmetic on registers; returns the seconds it took."""
    t = time.perf_counter()
    x = 0
    for i in range(n):
        x += i * i
    return time.perf_counter() - t


def thrash(buf: np.ndarray) -> None:
    buf += 1.0  # reads and writes every cache line


def window(bundle, rng):
    n = bundle.normalization
    fc = bundle.feature_config
    eeg = n.eeg_mean[None, :, :, None] + n.eeg_std[None, :, :, None] * rng.normal(
        size=(1, *fc.eeg_shape)
    )
    ecg = n.ecg_mean + n.ecg_std * rng.normal(size=(1, 1, *fc.hrv_shape))
    return eeg.astype(np.float32), ecg.astype(np.float32)


def demo_windows(bundle, seconds: float = 120.0) -> tuple[np.ndarray, np.ndarray]:
    """The engine inputs of the runtime's hops over a generated demo recording."""
    fc = bundle.feature_config
    seen = []

    class Capture:
        name = "capture"

        def predict(self, eeg, ecg):
            seen.append((eeg.copy(), ecg.copy()))
            return np.full((1, len(bundle.targets)), 0.5)

    fs = 250.0
    sig = synthetic_recording(fc.eeg_channels, seconds, fs, np.random.default_rng(0))
    clf = Classifier(bundle, Capture(), recording_streams(fc.eeg_channels, fs, fc.ecg_channel))
    for i in range(0, sig.shape[1], 125):
        clf.feed(Chunk(0, sig[:, i : i + 125], np.arange(i, min(i + 125, sig.shape[1])) / fs))
    return np.concatenate([e for e, _ in seen]), np.concatenate([c for _, c in seen])


def agreement(bundle, engines, seconds: float) -> dict[str, tuple[float, float]]:
    """Per engine: the share of hops whose decisions (all targets) equal fp32's, and the
    largest probability difference, on the demo recording's hops."""
    eeg, ecg = demo_windows(bundle, seconds)
    ref = engines["fp32 as shipped (1 thread)"].predict(eeg, ecg)
    out = {}
    for name, eng in engines.items():
        p = eng.predict(eeg, ecg)
        agree = float(np.mean(np.all(bundle.decide(p) == bundle.decide(ref), axis=1)))
        out[name] = (agree, float(np.max(np.abs(p - ref))))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--sleep", type=float, default=0.25)
    p.add_argument("--prime-ms", type=float, default=5.0)
    p.add_argument("--thrash-mb", type=float, default=32.0)
    p.add_argument("--agree-s", type=float, default=120.0, help="s of demo recording")
    args = p.parse_args(argv)
    bundle = load_bundle(DEMO_BUNDLE_PATH)
    engines = {name: OnnxRuntimeEngine(bundle, **kw) for name, kw in OPTION_ROWS.items()}
    rng = np.random.default_rng(0)
    eeg, ecg = window(bundle, rng)
    for eng in engines.values():
        for _ in range(20):
            eng.predict(eeg, ecg)
    buf = np.zeros(int(args.thrash_mb * 2**20 / 8))
    conds = ("hot", "sleep", "thrash", "sleep+prime")
    times = {(name, c): [] for name in engines for c in conds}
    cpu = {name: [] for name in engines}
    faults = {name: [] for name in engines}
    spins = {"hot": [], "sleep": []}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    pc = time.perf_counter
    for r in range(args.rounds):
        for name, eng in engines.items():
            for _ in range(3):
                eng.predict(eeg, ecg)
            t = pc()
            eng.predict(eeg, ecg)
            times[name, "hot"].append(pc() - t)
            time.sleep(args.sleep)
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            c0, t = time.process_time(), pc()
            eng.predict(eeg, ecg)
            times[name, "sleep"].append(pc() - t)
            cpu[name].append(time.process_time() - c0)
            faults[name].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
            thrash(buf)
            t = pc()
            eng.predict(eeg, ecg)
            times[name, "thrash"].append(pc() - t)
            time.sleep(args.sleep - args.prime_ms / 1e3)
            eng.predict(eeg, ecg)
            time.sleep(args.prime_ms / 1e3)
            t = pc()
            eng.predict(eeg, ecg)
            times[name, "sleep+prime"].append(pc() - t)
        spin()
        spins["hot"].append(spin())
        time.sleep(args.sleep)
        spins["sleep"].append(spin())
        print(f"round {r + 1}/{args.rounds}", end="\r", file=sys.stderr, flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    agree = agreement(bundle, engines, args.agree_s)
    head = "".join(f"{c + ' p50/p99':>22}" for c in conds)
    print(f"\n{'µs per call':<28}{head}{'cpu µs':>9}{'faults':>8}{'agree':>8}{'max|dp|':>9}")
    for name in engines:
        cells = ""
        for c in conds:
            v = 1e6 * np.array(times[name, c])
            cells += f"{np.median(v):>13.0f} /{np.percentile(v, 99):>7.0f}"
        a, dp = agree[name]
        print(
            f"{name:<28}{cells}{1e6 * np.median(cpu[name]):>9.0f}"
            f"{np.median(faults[name]):>8.0f}{a:>8.4f}{dp:>9.4f}"
        )
    for c, v in spins.items():
        v = 1e6 * np.array(v)
        print(f"spin loop {c:<6}: median {np.median(v):.0f} µs, p99 {np.percentile(v, 99):.0f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
