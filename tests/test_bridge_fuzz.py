"""The fuzzer (scripts/fuzz_bridge.py) at 20,000 frames: every check it makes must hold
(the 1,000,000-frame run is a command, reported with the change)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fuzz_bridge.py"


def _fuzz():
    spec = importlib.util.spec_from_file_location("fuzz_bridge", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def test_fuzz_20k_frames_all_checks_hold():
    fuzz = _fuzz()
    r = fuzz.run(20_000, seed=1, verbose=False, measure_rate=False)  # raises if a check fails
    assert r["frames_in"] >= 20_000
    assert r["delivered_intact"] + r["missing_intact_shadowed"] == r["intact"]
    assert r["missing_intact_unexplained"] == 0
    # Every kind of damage was exercised, and each left its mark on the counters.
    assert all(n > 0 for n in r["ops"].values()), r["ops"]
    h, f = r["host"], r["framing"]
    assert h["duplicate_frames"] > 0 and h["reordered_frames"] > 0 and h["late_frames"] > 0
    assert h["invalid_info_frames"] > 0 and r["jump_resyncs_seen"] > 0
    assert f["crc_errors"] > 0 and f["overtaken"] > 0 and f["header_errors"] > 0
    assert r["tracemalloc_peak"] < fuzz.MEMORY_LIMIT


def test_fuzz_detects_a_decoder_that_loses_frames(monkeypatch):
    """The checks can fail: a framer that drops every 500th frame is caught."""
    fuzz = _fuzz()
    from edge_emotion.firmware_bridge.framing import FrameDecoder

    feed, count = FrameDecoder.feed, [0]

    def lossy(self, data):
        frames = feed(self, data)
        count[0] += len(frames)
        return [f for k, f in enumerate(frames, count[0] - len(frames)) if k % 500]

    monkeypatch.setattr(FrameDecoder, "feed", lossy)
    try:
        fuzz.run(3000, seed=2, verbose=False, measure_rate=False)
    except AssertionError as exc:
        assert "intact frames were not delivered" in str(exc)
    else:
        raise AssertionError("the fuzzer missed a decoder that loses frames")
