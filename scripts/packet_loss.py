"""How packet loss degrades the runtime's features and decisions; sets the default
missing-sample threshold.

Each recording is cut into packets (``--packet-ms``, 40 ms: what Bluetooth wearables
send) and fed packet by packet into the runtime's :class:`Classifier`, once without loss
(the reference) and once per loss rate (0–20 %) and pattern: ``random`` (each packet
lost independently) and ``burst`` (a Gilbert–Elliott channel: losses come in runs of
``--burst`` packets on average, at the same overall rate). A lost packet is what the
firmware bridge and the LSL source report: the next chunk carries ``lost_samples``
and its timestamps skip.

Two runs per case:

- *permissive* (every window's features computed and classified whatever its missing
  share; gaps up to 5 s filled), once per fill method (``hold``: the last value, the
  runtime's old behaviour; ``linear``: the straight line across the gap): the error of
  the DE map (nats) and of the heart rate from the HRV series (bpm) against the
  reference, and the agreement of the decisions (both targets' labels) with the
  reference's, by the window's missing share. The default threshold is the largest
  missing share up to which linear filling keeps agreement at or above ``--target``.
- *default* (the runtime as shipped, with that threshold and linear filling): the share
  of windows after warm-up that classify, and their agreement with the reference.

Recordings: the demo recording (generated, 14 EEG + ECG at 250 Hz) and real EEG + ECG
from PhysioNet's eegmat (``../shared/data/eegmat/SubjectNN_1.edf``, 19 EEG + ECG at
500 Hz, read with pyedflib), its electrodes mapped onto the demo bundle's 14. The demo
model is not an emotion model: agreement measures how stable the runtime's output stays
under loss, not accuracy.

    python scripts/packet_loss.py --out docs/packet_loss.png --json docs/packet_loss.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_emotion.bundle import DEMO_BUNDLE_PATH, load_bundle
from edge_emotion.classifier import Classifier, LoopConfig
from edge_emotion.engines import create_engine
from edge_emotion.kernels.features import StreamingFeatureExtractor
from edge_emotion.quality import QualityConfig
from edge_emotion.source import Chunk
from edge_emotion.synthetic import recording_streams, synthetic_recording

RATES = (0.0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2)
PATTERNS = ("random", "burst")
MISSING_BINS = (0.0, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2, 1.0)
# eegmat's 10-20 electrodes for the demo bundle's 14 (Emotiv) positions: same or nearest.
EEGMAT_FOR = {
    "AF3": "Fp1",
    "F7": "F7",
    "F3": "F3",
    "FC5": "C3",
    "T7": "T3",
    "P7": "T5",
    "O1": "O1",
    "O2": "O2",
    "P8": "T6",
    "T8": "T4",
    "FC6": "C4",
    "F4": "F4",
    "F8": "F8",
    "AF4": "Fp2",
}


@dataclass
class Recording:
    name: str
    signal: np.ndarray  # (14 EEG in bundle order + ECG, n) µV
    fs: float


def demo_recording(fc, seconds: float) -> Recording:
    sig = synthetic_recording(fc.eeg_channels, seconds, 250.0, np.random.default_rng(11))
    return Recording("demo", sig, 250.0)


def eegmat_recording(path: Path, fc) -> Recording:
    import pyedflib

    with pyedflib.EdfReader(str(path)) as f:
        labels = [s.replace("EEG ", "").replace("ECG ", "").strip() for s in f.getSignalLabels()]
        fs = float(f.getSampleFrequency(0))
        rows = []
        for name in fc.eeg_channels:
            rows.append(f.readSignal(labels.index(EEGMAT_FOR[name])))
        ecg_i = labels.index("ECG")
        scale = {"mv": 1e3, "uv": 1.0, "v": 1e6}[f.getPhysicalDimension(ecg_i).strip().lower()]
        rows.append(f.readSignal(ecg_i) * scale)
    return Recording(path.stem, np.vstack(rows), fs)


def loss_mask(n: int, rate: float, pattern: str, burst: float, rng) -> np.ndarray:
    """Which of ``n`` packets are lost."""
    if rate <= 0:
        return np.zeros(n, dtype=bool)
    if pattern == "random":
        return rng.random(n) < rate
    # Gilbert-Elliott: bad state loses every packet; mean stay in it = burst packets.
    p_bg = 1.0 / burst
    p_gb = rate * p_bg / (1.0 - rate)
    out = np.zeros(n, dtype=bool)
    bad = rng.random() < rate
    u = rng.random(n)
    for i in range(n):
        out[i] = bad
        bad = (u[i] >= p_bg) if bad else (u[i] < p_gb)
    return out


@dataclass
class RunResult:
    """Per hop key (window end in hops): decision and features."""

    labels: dict = field(default_factory=dict)
    probs: dict = field(default_factory=dict)
    missing: dict = field(default_factory=dict)
    reason: dict = field(default_factory=dict)
    de: dict = field(default_factory=dict)
    hr: dict = field(default_factory=dict)


def run_once(bundle, engine, rec: Recording, lost: np.ndarray, packet: int, config: LoopConfig):
    fc = bundle.feature_config
    res = RunResult()
    holder: dict = {}

    class Capturing(StreamingFeatureExtractor):
        def features(self):
            de, hrv = super().features()
            holder["last"] = (de, hrv)
            return de, hrv

    clf = Classifier(
        bundle,
        engine,
        recording_streams(fc.eeg_channels, rec.fs, fc.ecg_channel),
        config,
        extractor_factory=Capturing,
    )
    n = rec.signal.shape[1]
    pending_lost = 0
    for k in range(n // packet):
        if lost[k]:
            pending_lost += packet
            continue
        a = k * packet
        chunk = Chunk(
            0, rec.signal[:, a : a + packet], np.arange(a, a + packet) / rec.fs, pending_lost
        )
        pending_lost = 0
        for d in clf.feed(chunk):
            key = round(d.window_end_s / clf.hop_s)
            res.labels[key] = None if d.abstained else tuple(d.labels.values())
            if not d.abstained:
                res.probs[key] = np.array(list(d.probabilities.values()))
            res.missing[key] = d.missing_fraction
            res.reason[key] = d.reason.name
            feats = holder.pop("last", None)
            if feats is not None:
                de, hrv = feats
                res.de[key] = np.asarray(de, dtype=np.float64)
                rr = hrv[hrv > 0]
                res.hr[key] = 60.0 / float(rr.mean()) if rr.size else np.nan
    return res


def compare(ref: RunResult, run: RunResult, warm_end_key: int) -> dict:
    keys = [k for k in run.labels if k >= warm_end_key and k in ref.labels]
    classified = [k for k in keys if run.labels[k] is not None]
    both = [k for k in classified if ref.labels[k] is not None]
    agree = [run.labels[k] == ref.labels[k] for k in both]
    dp = [float(np.max(np.abs(run.probs[k] - ref.probs[k]))) for k in both]
    de_err = [
        float(np.mean(np.abs(run.de[k] - ref.de[k]))) for k in keys if k in run.de and k in ref.de
    ]
    hr_err = [abs(run.hr[k] - ref.hr[k]) for k in keys if k in run.hr and k in ref.hr]
    hr_err = [e for e in hr_err if np.isfinite(e)]
    return {
        "windows": len(keys),
        "classified_share": len(classified) / max(len(keys), 1),
        "agreement": float(np.mean(agree)) if agree else float("nan"),
        "compared": len(both),
        "prob_error": float(np.median(dp)) if dp else float("nan"),
        "de_error_nats": float(np.median(de_err)) if de_err else float("nan"),
        "hr_error_bpm": float(np.median(hr_err)) if hr_err else float("nan"),
        "mean_missing": float(np.mean([run.missing[k] for k in keys])) if keys else float("nan"),
    }


def by_missing(ref: RunResult, run: RunResult, warm_end_key: int, acc: dict) -> None:
    """Accumulate, per missing-share bin: windows, agreeing windows, DE errors."""
    for k, lab in run.labels.items():
        if k < warm_end_key or k not in ref.labels or ref.labels[k] is None:
            continue
        b = int(np.searchsorted(MISSING_BINS, run.missing[k], side="left"))
        b = min(max(b, 1), len(MISSING_BINS) - 1) - 1
        cell = acc.setdefault(b, {"n": 0, "classified": 0, "agree": 0, "de": []})
        cell["n"] += 1
        if lab is not None:
            cell["classified"] += 1
            cell["agree"] += lab == ref.labels[k]
        if k in run.de and k in ref.de:
            cell["de"].append(float(np.mean(np.abs(run.de[k] - ref.de[k]))))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--eegmat", type=Path, default=Path("../shared/data/eegmat"))
    ap.add_argument("--subjects", default="00,01,02", help="eegmat subjects (rest files)")
    ap.add_argument("--demo-seconds", type=float, default=180.0)
    ap.add_argument("--packet-ms", type=float, default=40.0)
    ap.add_argument("--burst", type=float, default=5.0, help="mean burst length (packets)")
    ap.add_argument("--target", type=float, default=0.80, help="agreement to keep")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("docs/packet_loss.png"))
    ap.add_argument("--json", type=Path, default=Path("docs/packet_loss.json"))
    ap.add_argument(
        "--report-only", action="store_true", help="redraw the figure and table from --json"
    )
    args = ap.parse_args(argv)
    if args.report_only:
        report = json.loads(args.json.read_text())
        plot(report, args.out)
        print(f"wrote {args.out}")
        print(markdown_table(report))
        return 0

    bundle = load_bundle(DEMO_BUNDLE_PATH)
    engine = create_engine(bundle, "onnxruntime-fp32")
    fc = bundle.feature_config
    recs = [demo_recording(fc, args.demo_seconds)]
    for s in filter(None, args.subjects.split(",")):
        p = args.eegmat / f"Subject{s.strip()}_1.edf"
        if p.is_file():
            recs.append(eegmat_recording(p, fc))
        else:
            print(f"skipped {p}: not found", file=sys.stderr)
    warm_key = round(fc.window_s / fc.hop_s)
    permissive = {
        fill: LoopConfig(fill=fill, max_fill_s=5.0, quality=QualityConfig(max_missing_fraction=1.0))
        for fill in ("hold", "linear")
    }
    t0 = time.monotonic()
    refs = {}
    bins: dict = {"hold": {}, "linear": {}}
    perm_rows = []
    for rec in recs:
        packet = max(1, round(args.packet_ms * 1e-3 * rec.fs))
        n_packets = rec.signal.shape[1] // packet
        refs[rec.name] = ref = run_once(
            bundle, engine, rec, np.zeros(n_packets, bool), packet, LoopConfig()
        )
        for pattern in PATTERNS:
            for rate in RATES[1:]:
                lost = loss_mask(
                    n_packets, rate, pattern, args.burst, np.random.default_rng(args.seed)
                )
                for fill, cfg in permissive.items():
                    run = run_once(bundle, engine, rec, lost, packet, cfg)
                    by_missing(ref, run, warm_key, bins[fill])
                    row = compare(ref, run, warm_key)
                    perm_rows.append(
                        {
                            "recording": rec.name,
                            "pattern": pattern,
                            "rate": rate,
                            "fill": fill,
                            **row,
                        }
                    )
                print(
                    f"[{time.monotonic() - t0:6.0f} s] {rec.name} {pattern} {rate:.0%}: "
                    f"DE error hold/linear {perm_rows[-2]['de_error_nats']:.3f}/"
                    f"{perm_rows[-1]['de_error_nats']:.3f} nats, agreement "
                    f"{perm_rows[-2]['agreement']:.3f}/{perm_rows[-1]['agreement']:.3f}",
                    flush=True,
                )

    def bin_table(fill):
        out = []
        for b in range(len(MISSING_BINS) - 1):
            c = bins[fill].get(b)
            if not c or not c["n"]:
                continue
            out.append(
                {
                    "missing_from": MISSING_BINS[b],
                    "missing_to": MISSING_BINS[b + 1],
                    "windows": c["n"],
                    "agreement": c["agree"] / max(c["classified"], 1),
                    "classified_share": c["classified"] / c["n"],
                    "de_error_nats": float(np.median(c["de"])) if c["de"] else float("nan"),
                }
            )
        return out

    tables = {fill: bin_table(fill) for fill in bins}
    threshold = 0.0
    for row in tables["linear"]:
        if row["agreement"] >= args.target and row["windows"] >= 20:
            threshold = row["missing_to"]
        else:
            break
    print(f"threshold: windows up to {threshold:.0%} missing keep agreement >= {args.target:.0%}")

    default_rows = []
    shipped = LoopConfig(quality=QualityConfig(max_missing_fraction=threshold))
    for rec in recs:
        packet = max(1, round(args.packet_ms * 1e-3 * rec.fs))
        n_packets = rec.signal.shape[1] // packet
        for pattern in PATTERNS:
            for rate in RATES:
                lost = loss_mask(
                    n_packets, rate, pattern, args.burst, np.random.default_rng(args.seed)
                )
                run = run_once(bundle, engine, rec, lost, packet, shipped)
                row = compare(refs[rec.name], run, warm_key)
                row["gaps"] = sum(r == "GAP" for r in run.reason.values())
                default_rows.append(
                    {"recording": rec.name, "pattern": pattern, "rate": rate, **row}
                )
        print(f"[{time.monotonic() - t0:6.0f} s] default runs of {rec.name} done", flush=True)

    report = {
        "command": "python scripts/packet_loss.py " + " ".join(argv or sys.argv[1:]),
        "packet_ms": args.packet_ms,
        "burst_packets": args.burst,
        "target_agreement": args.target,
        "threshold": threshold,
        "recordings": [r.name for r in recs],
        "by_missing": tables,
        "permissive": perm_rows,
        "default": default_rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(_finite(report), indent=1, allow_nan=False) + "\n")
    print(f"wrote {args.json}")
    plot(report, args.out)
    print(f"wrote {args.out}")
    print(markdown_table(report))
    return 0


def _finite(obj):
    """NaN (no window to compare) as JSON null."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def _pct(v: float) -> str:
    return f"{v:.1%}" if np.isfinite(v) else "—"


def _pooled(rows, key, **match):
    sel = [r for r in rows if all(r[k] == v for k, v in match.items())]
    w = np.array([r["windows"] for r in sel], dtype=float)
    v = np.array([np.nan if r[key] is None else r[key] for r in sel], dtype=float)
    ok = np.isfinite(v)
    return float(np.sum(v[ok] * w[ok]) / np.sum(w[ok])) if ok.any() else float("nan")


def markdown_table(report) -> str:
    lines = [
        "| loss | pattern | DE error hold / linear (nats) | HR error linear (bpm) | "
        "classified | agreement |",
        "|---|---|---|---|---|---|",
    ]
    for pattern in PATTERNS:
        for rate in RATES:
            perm = report["permissive"]
            de_h = _pooled(perm, "de_error_nats", pattern=pattern, rate=rate, fill="hold")
            de_l = _pooled(perm, "de_error_nats", pattern=pattern, rate=rate, fill="linear")
            hr = _pooled(perm, "hr_error_bpm", pattern=pattern, rate=rate, fill="linear")
            d = report["default"]
            cls = _pooled(d, "classified_share", pattern=pattern, rate=rate)
            agr = _pooled(d, "agreement", pattern=pattern, rate=rate)
            de_txt = "—" if rate == 0 else f"{de_h:.3f} / {de_l:.3f}"
            hr_txt = "—" if rate == 0 else f"{hr:.2f}"
            lines.append(
                f"| {rate:.0%} | {pattern} | {de_txt} | {hr_txt} | {_pct(cls)} | {_pct(agr)} |"
            )
    return "\n".join(lines)


def plot(report, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), dpi=80)
    d = report["default"]
    rates = np.array(RATES)
    for pattern, style in (("random", "-o"), ("burst", "--s")):
        cls = [_pooled(d, "classified_share", pattern=pattern, rate=r) for r in RATES]
        agr = [_pooled(d, "agreement", pattern=pattern, rate=r) for r in RATES]
        axes[0].plot(100 * rates, 100 * np.array(cls), style, label=f"classified, {pattern}")
        axes[0].plot(
            100 * rates, 100 * np.array(agr), style, alpha=0.6, label=f"agreement, {pattern}"
        )
    axes[0].set(
        xlabel="packet loss (%)",
        ylabel="% of windows after warm-up",
        title=f"runtime as shipped (threshold {report['threshold']:.0%})",
        ylim=(0, 102),
    )
    axes[0].legend(fontsize=7)
    for fill, style in (("hold", "--s"), ("linear", "-o")):
        tab = [r for r in report["by_missing"][fill] if r["missing_to"] <= 0.2]
        x = [100 * (r["missing_from"] + r["missing_to"]) / 2 for r in tab]
        axes[1].plot(x, [100 * r["agreement"] for r in tab], style, label=fill)
        axes[2].plot(x, [r["de_error_nats"] for r in tab], style, label=fill)
    axes[1].axhline(100 * report["target_agreement"], color="grey", lw=0.8)
    axes[1].axvline(100 * report["threshold"], color="grey", lw=0.8, ls=":")
    axes[1].set(
        xlabel="missing samples in the window (%)",
        ylabel="agreement (%)",
        title="decisions vs loss-free",
    )
    axes[2].set(
        xlabel="missing samples in the window (%)",
        ylabel="median |ΔDE| (nats)",
        title="DE map error",
    )
    for ax in axes[1:]:
        ax.legend(fontsize=7)
    fig.suptitle(
        f"packet loss ({report['packet_ms']:g} ms packets; bursts of {report['burst_packets']:g}): "
        + ", ".join(report["recordings"]),
        fontsize=9,
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)


if __name__ == "__main__":
    sys.exit(main())
