"""``--backend auto`` on a CPU: the faster certified onnxruntime model, by the rule in
:mod:`edge_emotion.engines.auto` (fake timings and parity reports: no clock here)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from export_helpers import copy_bundle, rehash_file

from edge_emotion.bundle import DEMO_BUNDLE_PATH, BundleError, load_bundle
from edge_emotion.engines import auto, create_engine
from edge_emotion.engines.auto import FP32, INT8, choose, int8_refusal, median_call_ms


def test_the_faster_certified_backend_is_chosen_and_the_reason_names_the_times():
    c = choose({INT8: 0.7, FP32: 0.35}, {INT8: None, FP32: None})
    assert c.backend == FP32
    assert "fp32 is the faster" in c.reason and "INT8 0.700 ms" in c.reason
    assert "certified by parity.json" in c.reason
    assert choose({INT8: 0.2, FP32: 0.35}, {INT8: None, FP32: None}).backend == INT8


def test_a_faster_int8_that_parity_does_not_certify_loses_and_the_reason_says_why():
    c = choose({INT8: 0.1, FP32: 0.35}, {INT8: "agrees on 0.9 < 0.99", FP32: None})
    assert c.backend == FP32
    assert "INT8 not certified: agrees on 0.9 < 0.99" in c.reason


def test_an_untimed_backend_is_not_chosen():
    assert choose({INT8: float("nan"), FP32: 0.5}, {INT8: None, FP32: None}).backend == FP32
    assert choose({}, {}).backend == FP32


def _with_parity(tmp_path, edit):
    b = copy_bundle(tmp_path)
    report = json.loads((b / "parity.json").read_text())
    edit(report)
    (b / "parity.json").write_text(json.dumps(report))
    rehash_file(b, "parity.json")
    return load_bundle(b)


def test_the_parity_report_certifies_int8_only_when_it_meets_its_goal(tmp_path):
    def fail(r):
        r["int8_vs_fp32"].update(decision_agreement_all_targets=0.9, goal=0.99, meets_goal=False)

    def ok(r):
        r["int8_vs_fp32"].update(decision_agreement_all_targets=0.995, goal=0.99, meets_goal=True)

    assert "0.900 of decisions < 0.99" in int8_refusal(_with_parity(tmp_path / "a", fail))
    assert int8_refusal(_with_parity(tmp_path / "b", ok)) is None
    missing = _with_parity(tmp_path / "c", lambda r: r.pop("int8_vs_fp32"))
    assert "no readable int8_vs_fp32" in int8_refusal(missing)


def test_a_parity_report_changed_after_loading_is_refused(tmp_path):
    b = copy_bundle(tmp_path)
    bundle = load_bundle(b)
    (b / "parity.json").write_text("{}")
    with pytest.raises(BundleError, match=r"parity\.json changed after the bundle was loaded"):
        int8_refusal(bundle)


def test_auto_keeps_fp32_when_int8_is_faster_but_not_certified(tmp_path, monkeypatch):
    def fail(r):
        r["int8_vs_fp32"].update(decision_agreement_all_targets=0.5, meets_goal=False)

    bundle = _with_parity(tmp_path, fail)
    monkeypatch.setattr(auto, "median_call_ms", lambda engines: {INT8: 0.1, FP32: 0.9})
    eng = create_engine(bundle, "auto")
    assert eng.name == FP32 and "INT8 not certified" in eng.selection


def test_the_timer_times_every_engine_in_turns():
    class Clock:  # each call to predict advances the fake clock by the engine's cost
        t = 0.0

        def __call__(self):
            return self.t

    clock = Clock()
    demo = load_bundle(DEMO_BUNDLE_PATH)

    class Fake:
        def __init__(self, name, cost):
            self.name, self.cost, self.calls, self.bundle = name, cost, 0, demo

        def predict(self, eeg, ecg):
            self.calls += 1
            clock.t += self.cost

    engines = {INT8: Fake(INT8, 0.002), FP32: Fake(FP32, 0.001)}
    ms = median_call_ms(engines, calls=7, clock=clock)
    assert ms == pytest.approx({INT8: 2.0, FP32: 1.0})
    assert engines[INT8].calls == engines[FP32].calls == auto.WARM_CALLS + 7
    assert np.isfinite(list(ms.values())).all()
