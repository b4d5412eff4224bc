"""The demo's features and decisions on two CPUs: write them on one, compare on the other.

``scripts/aarch64_check.sh`` runs this twice: ``reference`` on the x86-64 host (it needs
BrainFlow, which writes and reads back the demo recording), then ``compare`` on aarch64
under QEMU, which has no BrainFlow: it replays the very samples the host classified.

Both runs drive the runtime's :class:`~edge_emotion.classifier.Classifier` through
``tests/demo_harness.py`` (the demo recording, looped, 62 s in chunks of 0.05-1 s) twice:
with the onnxruntime INT8 engine (the run ``tests/test_demo_decisions.py`` pins) and with
onnxruntime fp32, recording the features of every hop that computed them. ``compare``
checks, against the reference:

- the demo generator (:func:`edge_emotion.synthetic.synthetic_recording`, seed 0);
- the features of every hop to ``--rtol`` (1e-9) relative, |a - b| <= rtol * max(|a|, |b|):
  the differential-entropy map in float64, the model's float32 inputs (DE map, HRV
  series), and the beat and artefact counts exactly;
- the engines on identical inputs (the reference's features), to ``--ptol``: fp32, and
  INT8 against the host's INT8 computed with or without x86's saturating u8 x s8 kernels
  (below);
- the decision records of the fp32 run, field for field (``scripts/compare_decisions.py``),
  probabilities to ``--ptol``, apart from the host clock, latencies and timestamps.

The INT8 run's decisions are compared and reported, not required to agree: on x86-64
CPUs without VNNI (AVX2, AVX-512F), onnxruntime multiplies u8 x s8 with VPMADDUBSW, whose
16-bit pair sums saturate when weights leave [-64, 63]; ``session.x64quantprecision``
(an onnxruntime session option, off by default) converts those products to u8 x u8. ARM
has no such shortcut, so an INT8 difference here is the x86 host's, which the engine line
shows: aarch64's INT8 equals the host's INT8 computed with that option.

Exit status 0 when all checked items agree, 1 otherwise. Files written (and rewritten on
the next run) in ``--out``: ``demo_input.npz`` and ``synthetic.npz`` (reference only),
``features.npz``, ``engine.npz``, ``decisions_int8.jsonl``, ``decisions_fp32.jsonl``.

    python scripts/aarch64_demo.py reference --out runs/aarch64-check/x86_64
    python scripts/aarch64_demo.py compare --reference runs/aarch64-check/x86_64 \\
        --out runs/aarch64-check/aarch64
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "scripts")]

import compare_decisions  # noqa: E402  (scripts/)
import demo_harness  # noqa: E402  (tests/)

import edge_emotion.classifier  # noqa: E402
from edge_emotion.kernels.config import EMOTIV_EPOC_CHANNELS  # noqa: E402
from edge_emotion.kernels.features import StreamingFeatureExtractor  # noqa: E402
from edge_emotion.source import ChannelInfo, StreamInfo  # noqa: E402

DEMO_SECONDS = 60.0  # write_synthetic_demo_recording's defaults: the file the harness replays
DEMO_SEED = 0
BACKENDS = {"int8": "onnxruntime", "fp32": "onnxruntime-fp32"}
FEATURE_COUNTS = ("n_beats", "n_artefacts")


@dataclass(frozen=True)
class CheckConfig:
    """What to run: ``reference`` writes to ``out``; ``compare`` also reads ``reference``.
    ``rtol``: relative tolerance of features; ``ptol``: absolute tolerance of P(high)."""

    mode: str
    out: Path
    reference: Path | None = None
    rtol: float = 1e-9
    ptol: float = 1e-5


class _RecordingExtractor(StreamingFeatureExtractor):
    """The runtime's extractor, keeping a copy of every hop's features, keyed by the
    window's end on the data clock (EEG samples pushed / EEG rate: ``window_end_s``)."""

    def __init__(self, config, log: list) -> None:
        self.log = log
        super().__init__(config)

    def features(self):
        de_map, hrv = super().features()
        # The model takes float32; the float64 map before that cast is where the two CPUs'
        # rounding would show first.
        de64 = self._de.de_map()
        end_s = round(self.eeg_samples_seen / self.config.eeg_fs, 6)
        self.log.append((end_s, de64, de_map.copy(), hrv.copy(), self.n_beats, self.n_artefacts))
        return de_map, hrv


def run_demo(samples, backend: str) -> tuple[list[dict], dict[str, np.ndarray]]:
    """``demo_harness.demo_decisions`` on ``samples`` ((rows, fs, streams) as the playback
    board delivers them) with ``backend``, and the features of every hop.

    The harness takes neither the samples nor an extractor as arguments, so both are
    patched in for the call (patch.object fails loudly should either name go away)."""
    log: list = []
    with (
        mock.patch.object(demo_harness, "demo_board_samples", lambda folder: samples),
        mock.patch.object(
            edge_emotion.classifier,
            "StreamingFeatureExtractor",
            lambda config: _RecordingExtractor(config, log),
        ),
        tempfile.TemporaryDirectory() as unused,
    ):
        records = demo_harness.demo_decisions(Path(unused), backend=backend)
    if not log:
        raise RuntimeError("the demo computed no features: nothing to compare")
    ends, de64, de, hrv, beats, artefacts = zip(*log, strict=True)
    features = {
        "window_end_s": np.array(ends),
        "de_float64": np.stack(de64),
        "de": np.stack(de),
        "hrv": np.stack(hrv),
        "n_beats": np.array(beats),
        "n_artefacts": np.array(artefacts),
    }
    return records, features


def engine_outputs(features: dict, backend: str, x64_quant_precision: bool = False):
    """P(high), (hops, targets), of the demo bundle's ``backend`` on each hop's features.

    ``x64_quant_precision``: set onnxruntime's ``session.x64quantprecision`` (u8 x u8
    instead of saturating u8 x s8 products on x86-64 without VNNI; no effect elsewhere)."""
    from edge_emotion.bundle import DEMO_BUNDLE_PATH, load_bundle
    from edge_emotion.engines import OnnxRuntimeEngine, create_engine

    bundle = load_bundle(DEMO_BUNDLE_PATH)
    if backend == "onnxruntime":  # the INT8 engine sets the option itself unless told not to
        engine = OnnxRuntimeEngine(bundle, "int8", quant_precision=x64_quant_precision)
    else:
        engine = create_engine(bundle, backend)
    return np.concatenate(
        [
            engine.predict(d[None].astype(np.float32), h.reshape(1, 1, -1).astype(np.float32))
            for d, h in zip(features["de"], features["hrv"], strict=True)
        ]
    )


def demo_signals() -> np.ndarray:
    """The synthetic demo's EEG and ECG rows (write_synthetic_demo_recording's call,
    before BrainFlow writes them)."""
    from edge_emotion.demo_recording import SYNTHETIC_FS as DEMO_FS
    from edge_emotion.synthetic import synthetic_recording

    rng = np.random.default_rng(DEMO_SEED)
    return synthetic_recording(EMOTIV_EPOC_CHANNELS, DEMO_SECONDS, DEMO_FS, rng)


def max_rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max(|a|, |b|) over elements (0 where equal or both NaN; inf for a
    shape mismatch or a NaN on one side only)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf")
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))
    return float(np.nan_to_num(np.where(same, 0.0, rel), nan=np.inf).max(initial=0.0))


def environment() -> str:
    import llvmlite
    import llvmlite.binding
    import numba
    import onnxruntime
    import scipy

    # Numba compiles for NUMBA_CPU_NAME if set, else for the CPU LLVM detects.
    cpu = numba.config.CPU_NAME or llvmlite.binding.get_host_cpu_name()
    return (
        f"{platform.machine()}, Python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, numba {numba.__version__} (llvmlite "
        f"{llvmlite.__version__}, code for {cpu}), onnxruntime {onnxruntime.__version__}"
    )


def write_run(out: Path, records: dict, features: dict, engine: dict) -> list[Path]:
    """features.npz, engine.npz and decisions_<precision>.jsonl in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "features.npz", out / "engine.npz"]
    np.savez_compressed(paths[0], **features)
    np.savez_compressed(paths[1], **engine)
    for precision, recs in records.items():
        paths.append(out / f"decisions_{precision}.jsonl")
        paths[-1].write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in recs))
    return paths


def reference(cfg: CheckConfig) -> int:
    print(f"reference on {environment()}")
    with tempfile.TemporaryDirectory() as folder:
        rows, fs, streams = demo_harness.demo_board_samples(Path(folder))
        # The harness as the tests run it, nothing patched: what run_demo must reproduce.
        harness = demo_harness.demo_decisions(Path(folder))
    records, features = {}, None
    for precision, backend in BACKENDS.items():
        records[precision], feats = run_demo((rows, fs, streams), backend)
        features = features or feats
    if demo_harness.stable_form(records["int8"]) != demo_harness.stable_form(harness):
        print("FAILED: the recorded run differs from tests/demo_harness.py's own demo run")
        return 1
    from test_demo_decisions import DEMO_DIGEST, DIGEST_IGNORES

    # onnxruntime's INT8 arithmetic on x86-64 depends on the CPU (see the module docstring).
    pinned = demo_harness.digest(records["int8"], DIGEST_IGNORES) == DEMO_DIGEST
    engine = {p: engine_outputs(features, b) for p, b in BACKENDS.items()}
    engine["int8_x64quantprecision"] = engine_outputs(features, "onnxruntime", True)
    (stream,) = streams
    paths = [cfg.out / "demo_input.npz", cfg.out / "synthetic.npz"]
    paths += write_run(cfg.out, records, features, engine)
    np.savez_compressed(
        paths[0],
        rows=rows,
        fs=fs,
        names=[c.name for c in stream.channels],
        roles=[c.role for c in stream.channels],
    )
    np.savez_compressed(paths[1], signals=demo_signals())
    print(
        f"{len(records['int8'])} decisions per engine, features of {len(features['de'])} hops; "
        f"INT8 decisions equal to tests/demo_harness.py's run and "
        f"{'equal' if pinned else 'NOT equal'} to tests/test_demo_decisions.py's pinned digest"
    )
    for p in paths:
        print(f"wrote {p}")
    return 0


def _load_reference(ref: Path):
    with np.load(ref / "demo_input.npz") as z:
        fs = float(z["fs"])
        channels = tuple(
            ChannelInfo(str(n), str(r)) for n, r in zip(z["names"], z["roles"], strict=True)
        )
        samples = (z["rows"], fs, (StreamInfo(fs, channels),))
    with np.load(ref / "synthetic.npz") as z:
        signals = z["signals"]
    with np.load(ref / "features.npz") as z:
        features = dict(z)
    with np.load(ref / "engine.npz") as z:
        engine = dict(z)
    records = {p: compare_decisions.read_decisions(ref / f"decisions_{p}.jsonl") for p in BACKENDS}
    return samples, signals, features, engine, records


def compare_features(mine: dict, ref: dict, rtol: float) -> bool:
    n = len(ref["window_end_s"])
    if not np.array_equal(mine["window_end_s"], ref["window_end_s"]):
        print(
            f"features: computed at {len(mine['window_end_s'])} hops here, {n} in the "
            "reference, not at the same windows"
        )
        return False
    rels = {k: max_rel_diff(mine[k], ref[k]) for k in ("de_float64", "de", "hrv")}
    same_inputs = sum(
        np.array_equal(mine["de"][i], ref["de"][i])
        and np.array_equal(mine["hrv"][i], ref["hrv"][i])
        for i in range(n)
    )
    counts = all(np.array_equal(mine[k], ref[k]) for k in FEATURE_COUNTS)
    worst = max(rels.values())
    print(
        f"features of {n} hops: max rel diff {worst:.3g} (tolerance {rtol:g}): DE maps in "
        f"float64 {rels['de_float64']:.3g}; the model's float32 inputs DE {rels['de']:.3g}, "
        f"HRV {rels['hrv']:.3g}, bit-identical in {same_inputs}/{n} hops; beat and artefact "
        f"counts {'identical' if counts else 'DIFFERENT'}"
    )
    return worst <= rtol and counts


def compare_records(mine: list[dict], ref: dict, label: str, ptol: float) -> bool:
    """Every field but probabilities identical, probabilities within ``ptol``."""
    mine_by_hop = {r["hop"]: r for r in mine}
    ignore = (*compare_decisions.DEFAULT_IGNORE, "probabilities")
    common, diffs = compare_decisions.compare(mine_by_hop, ref, ignore)
    dp = [
        abs(mine_by_hop[h]["probabilities"][t] - ref[h]["probabilities"][t])
        for h in common
        if mine_by_hop[h]["probabilities"] and ref[h]["probabilities"]
        for t in ref[h]["probabilities"]
    ]
    max_dp = max(dp, default=0.0)
    n_labels = sum(mine_by_hop[h]["labels"] != ref[h]["labels"] for h in common)
    classified = sum(not r["abstained"] for r in mine)
    same_hops = len(common) == len(ref) == len(mine_by_hop)
    ok = same_hops and not diffs and max_dp <= ptol
    print(
        f"decisions, {label}: {len(mine_by_hop)} records here, {len(ref)} in the reference; "
        f"{'all fields identical' if not diffs else f'{len(diffs)} records differ'} apart "
        f"from probabilities (max |dP| {max_dp:.3g}, labels differ in {n_labels} of "
        f"{classified} classified hops); not compared: "
        f"{', '.join(compare_decisions.DEFAULT_IGNORE)}"
    )
    for hop in list(diffs)[:5]:
        print(f"  hop {hop}: " + "; ".join(diffs[hop][:5]))
    return ok


def compare(cfg: CheckConfig) -> int:
    print(f"compare on {environment()}")
    try:
        samples, ref_signals, ref_features, ref_engine, ref_records = _load_reference(cfg.reference)
    except (OSError, KeyError, ValueError) as exc:
        print(f"error: cannot read the reference run in {cfg.reference}: {exc}")
        return 2
    failures = []

    rel = max_rel_diff(demo_signals(), ref_signals)
    print(f"demo generator (synthetic_recording, seed {DEMO_SEED}): max rel diff {rel:.3g}")
    if not rel <= cfg.rtol:
        failures.append("demo generator")

    records, features = {}, None
    for precision, backend in BACKENDS.items():
        records[precision], feats = run_demo(samples, backend)
        features = features or feats
    if not compare_features(features, ref_features, cfg.rtol):
        failures.append("features")

    engine = {p: engine_outputs(ref_features, b) for p, b in BACKENDS.items()}
    dp = {
        "fp32": np.abs(engine["fp32"] - ref_engine["fp32"]).max(),
        "int8": np.abs(engine["int8"] - ref_engine["int8"]).max(),
        "int8_x64": np.abs(engine["int8"] - ref_engine["int8_x64quantprecision"]).max(),
    }
    print(
        f"engines on the reference's features, max |dP| here vs x86-64: fp32 {dp['fp32']:.3g}; "
        f"INT8 {dp['int8']:.3g}, and {dp['int8_x64']:.3g} against x86-64's INT8 with "
        f"session.x64quantprecision=1 (tolerance {cfg.ptol:g}, for INT8 either)"
    )
    if not (dp["fp32"] <= cfg.ptol and min(dp["int8"], dp["int8_x64"]) <= cfg.ptol):
        failures.append("engines")

    if not compare_records(records["fp32"], ref_records["fp32"], "onnxruntime-fp32", cfg.ptol):
        failures.append("fp32 decisions")
    int8_same = compare_records(
        records["int8"], ref_records["int8"], "onnxruntime INT8 (not required)", cfg.ptol
    )

    for p in write_run(cfg.out, records, features, engine):
        print(f"wrote {p}")
    if failures:
        print(f"FAILED: {', '.join(failures)} differ from the reference in {cfg.reference}")
        return 1
    print(
        f"PASSED: features, engines and fp32 decisions agree with the reference in "
        f"{cfg.reference}; INT8 decisions {'agree too' if int8_same else 'differ (see above)'}"
    )
    return 0


def parse_args(argv: list[str] | None = None) -> CheckConfig:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=("reference", "compare"))
    p.add_argument("--out", type=Path, required=True, help="folder for this run's files")
    p.add_argument("--reference", type=Path, help="the reference run's --out (compare)")
    p.add_argument("--rtol", type=float, default=1e-9, help="relative tolerance of features")
    p.add_argument("--ptol", type=float, default=1e-5, help="absolute tolerance of P(high)")
    a = p.parse_args(argv)
    if a.mode == "compare" and a.reference is None:
        p.error("compare needs --reference")
    for name in ("rtol", "ptol"):
        if not getattr(a, name) >= 0:
            p.error(f"--{name} must be a non-negative number, got {getattr(a, name)}")
    return CheckConfig(a.mode, a.out, a.reference, a.rtol, a.ptol)


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    return reference(cfg) if cfg.mode == "reference" else compare(cfg)


if __name__ == "__main__":
    sys.exit(main())
