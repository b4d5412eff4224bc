"""Abstention codes: one enum in the runtime, the same codes on the wire, in the C header
and in PROTOCOL.md; which code each check gives, and which wins when several fail."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import edge_emotion.firmware_bridge as fb
from edge_emotion.bundle import DEMO_BUNDLE_PATH, load_bundle
from edge_emotion.decision import AbstainReason, Decision, dominant_reason
from edge_emotion.firmware_bridge import protocol
from edge_emotion.kernels.blockstats import WindowStatistics
from edge_emotion.quality import (
    ModalityQuality,
    QualityConfig,
    abstention,
    assess_features,
    assess_heart,
    assess_signal,
)

BRIDGE = Path(fb.__file__).resolve().parent


def test_protocol_uses_the_runtime_enum():
    assert protocol.AbstainReason is AbstainReason


def test_c_header_lists_every_code():
    header = (BRIDGE / "c" / "ebridge.h").read_text()
    body = re.search(r"enum eb_reason \{(.*?)\};", header, re.S).group(1)
    c_codes = {name: int(value) for name, value in re.findall(r"EB_REASON_(\w+)\s*=\s*(\d+)", body)}
    assert c_codes == {r.name: r.value for r in AbstainReason}


def test_protocol_md_table_lists_every_code():
    text = (BRIDGE / "PROTOCOL.md").read_text()
    rows = dict(re.findall(r"^\| (\d+) \| `(\w+)` \|", text, re.M))
    assert {int(k): v for k, v in rows.items()} == {r.value: r.name for r in AbstainReason}


def test_wire_values_of_the_original_codes_are_kept():
    assert [int(AbstainReason[n]) for n in ("NONE", "SIGNAL_QUALITY", "LEAD_OFF")] == [0, 1, 2]
    assert [int(AbstainReason[n]) for n in ("NOT_ENOUGH_DATA", "MODEL_ERROR", "OTHER")] == [
        3,
        4,
        255,
    ]
    assert all(0 <= r.value <= 255 for r in AbstainReason)


def _stats(n_ch=3, **overrides):
    base = dict(
        count=np.full(n_ch, 1000.0),
        std=np.full(n_ch, 20.0),
        missing=np.zeros(n_ch),
        saturated=np.zeros(n_ch),
        flat_fraction=np.zeros(n_ch),
    )
    return WindowStatistics(**{**base, **overrides})


def _codes(q: ModalityQuality):
    return [p.reason for p in q.problems]


def test_each_check_has_its_code():
    cfg = QualityConfig()
    names = ["A", "B", "C"]
    assert _codes(assess_signal(_stats(missing=np.array([0, 0, 300.0])), names, cfg)) == [
        AbstainReason.SAMPLES_MISSING
    ]
    assert _codes(assess_signal(_stats(std=np.array([20, 0.01, 20.0])), names, cfg)) == [
        AbstainReason.LEAD_OFF
    ]
    assert _codes(assess_signal(_stats(flat_fraction=np.array([0, 0.5, 0])), names, cfg)) == [
        AbstainReason.LEAD_OFF
    ]
    assert _codes(assess_signal(_stats(saturated=np.array([50.0, 0, 0])), names, cfg)) == [
        AbstainReason.SATURATED
    ]
    ecg = assess_signal(_stats(1), ["ECG"], cfg)
    rr = np.zeros(32)
    rr[:3] = 0.8
    assess_heart(rr, ecg, cfg)
    assert _codes(ecg) == [AbstainReason.TOO_FEW_BEATS]
    ecg = assess_signal(_stats(1), ["ECG"], cfg)
    rr[:20] = 0.2  # 300 bpm
    assess_heart(rr, ecg, cfg)
    assert _codes(ecg) == [AbstainReason.HEART_RATE_IMPLAUSIBLE]
    q = {"eeg": ModalityQuality(), "ecg": ModalityQuality()}
    assess_features(np.array([np.nan]), np.zeros(3), q)
    assert _codes(q["eeg"]) == [AbstainReason.NON_FINITE_FEATURES] and q["ecg"].ok


def test_the_cause_wins_over_its_symptoms_across_modalities():
    cfg = QualityConfig()
    eeg = assess_signal(
        _stats(std=np.array([20, 0.01, 20.0]), saturated=np.array([0, 0, 900.0])),
        ["A", "B", "C"],
        cfg,
    )
    ecg = assess_signal(_stats(1, missing=np.array([300.0])), ["ECG"], cfg)
    reason, detail = abstention({"eeg": eeg, "ecg": ecg})
    assert reason is AbstainReason.SAMPLES_MISSING
    assert detail == "eeg bad: flat/lead-off: B, saturated: C; ecg bad: 30% samples missing"
    reason, detail = abstention({"eeg": eeg, "ecg": assess_signal(_stats(1), ["ECG"], cfg)})
    assert reason is AbstainReason.SATURATED and detail.startswith("eeg bad: flat")
    assert (
        dominant_reason([AbstainReason.TOO_FEW_BEATS, AbstainReason.LEAD_OFF])
        is AbstainReason.LEAD_OFF
    )
    with pytest.raises(ValueError, match="at least one"):
        abstention({"eeg": ModalityQuality()})


def test_decision_is_frozen_and_consistent():
    d = Decision(hop=1, window_end_s=0.5, reason=3, detail="warming up (0.50/10 s of data)")
    assert d.reason is AbstainReason.NOT_ENOUGH_DATA and d.abstained
    assert d.to_dict()["reason_code"] == {"name": "NOT_ENOUGH_DATA", "number": 3}
    assert d.to_dict()["reason"] == "warming up (0.50/10 s of data)"
    with pytest.raises(AttributeError):
        d.hop = 2
    with pytest.raises(ValueError, match="needs a detail"):
        Decision(hop=0, window_end_s=0.25, reason=AbstainReason.LEAD_OFF)
    with pytest.raises(ValueError, match="no probabilities"):
        Decision(
            hop=0,
            window_end_s=0.25,
            reason=AbstainReason.LEAD_OFF,
            detail="x",
            probabilities={"arousal": 0.5},
            labels={"arousal": "high"},
        )
    with pytest.raises(ValueError, match="needs probabilities"):
        Decision(hop=0, window_end_s=0.25)
    with pytest.raises(ValueError, match="is not a valid AbstainReason"):
        Decision(hop=0, window_end_s=0.25, reason=77, detail="x")


# -- the classifier's own failures ---------------------------------------------------------


class _Engine:
    name = "stub"

    def __init__(self, predict):
        self.predict = predict


def _last_decision(engine, extractor_factory=None):
    from edge_emotion.classifier import Classifier
    from edge_emotion.source import Chunk
    from edge_emotion.synthetic import recording_streams, synthetic_recording

    bundle = load_bundle(DEMO_BUNDLE_PATH)
    fc = bundle.feature_config
    x = synthetic_recording(fc.eeg_channels, 11.0, 250.0, np.random.default_rng(2))
    streams = recording_streams(fc.eeg_channels, 250.0, fc.ecg_channel)
    clf = Classifier(bundle, engine, streams, extractor_factory=extractor_factory)
    out = clf.feed(Chunk(0, x, np.arange(x.shape[1]) / 250.0))
    assert len(out) == 44 and all(d.reason is AbstainReason.NOT_ENOUGH_DATA for d in out[:39])
    return out[-1]


def test_engine_failure_and_invalid_output_have_their_codes():
    def fails(eeg, ecg):
        raise RuntimeError("device lost")

    d = _last_decision(_Engine(fails))
    assert d.reason is AbstainReason.MODEL_ERROR and d.detail == "inference failed: device lost"
    d = _last_decision(_Engine(lambda eeg, ecg: np.array([[np.nan, 0.5]])))
    assert d.reason is AbstainReason.INVALID_OUTPUT and "invalid probabilities" in d.detail
    d = _last_decision(_Engine(lambda eeg, ecg: np.array([[0.9, 0.1]])))
    assert d.reason is AbstainReason.NONE and d.labels == {"arousal": "high", "valence": "low"}
    # Labels are the bundle's decide(): P(high) exactly at a threshold is high.
    thr = load_bundle(DEMO_BUNDLE_PATH).thresholds
    at = np.array([[thr["arousal"], np.nextafter(thr["valence"], 0)]])
    d = _last_decision(_Engine(lambda eeg, ecg: at))
    assert d.labels == {"arousal": "high", "valence": "low"}


def test_feature_failure_has_its_code():
    from edge_emotion.kernels.features import StreamingFeatureExtractor

    class Broken(StreamingFeatureExtractor):
        def features(self):
            raise FloatingPointError("overflow")

    d = _last_decision(_Engine(lambda eeg, ecg: np.array([[0.9, 0.1]])), Broken)
    assert d.reason is AbstainReason.FEATURES_FAILED and d.detail == "features failed: overflow"


def test_run_summary_counts_by_code():
    from edge_emotion.sinks import SummarySink

    s = SummarySink()
    for hop in range(3):
        s.write(Decision(hop=hop, window_end_s=0.25, reason=3, detail=f"warming up ({hop})"))
    s.write(Decision(hop=3, window_end_s=1.0, reason=5, detail="eeg bad: 5% samples missing"))
    assert s.lines()[0] == (
        "4 decisions, 0 classified, 4 abstained (warming up: 3, samples missing: 1)"
    )
