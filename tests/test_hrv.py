"""HRV kernels vs their NumPy twin (tests/naive_hrv.py) and vs neurokit2.hrv_time."""

from __future__ import annotations

import naive_hrv
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_emotion.kernels.hrv import (
    clean_rr,
    hrv_series,
    hrv_time,
    hrv_window,
    rr_intervals,
)

nk = pytest.importorskip("neurokit2")

KEYS = ("MeanNN", "SDNN", "RMSSD", "pNN50")


def _assert_matches_nk(peaks, fs):
    ours = hrv_time(peaks, fs)
    ref = nk.hrv_time(peaks, sampling_rate=fs).iloc[0]
    for k in KEYS:
        np.testing.assert_allclose(ours[k], ref[f"HRV_{k}"], rtol=1e-9, atol=1e-9, err_msg=k)
    np.testing.assert_allclose(ours["HR"], 60_000.0 / ref["HRV_MeanNN"], rtol=1e-12)


@pytest.mark.parametrize(("fs", "hr", "seed"), [(250, 62, 1), (360, 95, 2), (128, 140, 3)])
def test_hrv_time_matches_neurokit_on_simulated_ecg(fs, hr, seed):
    ecg = nk.ecg_simulate(
        duration=60, sampling_rate=fs, heart_rate=hr, heart_rate_std=6, random_state=seed
    )
    _, info = nk.ecg_peaks(ecg, sampling_rate=fs)
    peaks = np.asarray(info["ECG_R_Peaks"])
    assert len(peaks) > 40
    _assert_matches_nk(peaks, fs)
    # HR of the simulator's own rhythm, within the simulator's spread
    assert abs(hrv_time(peaks, fs)["HR"] - hr) < 10


@pytest.mark.parametrize("record", ["100", "106", "119", "201", "208", "232"])
def test_hrv_time_matches_neurokit_on_mitbih_reference_peaks(shared_data, record):
    d = np.load(shared_data / "mitdb" / f"{record}.npz")
    peaks, fs = d["rpeaks"], float(d["fs"])
    _assert_matches_nk(peaks, fs)


def test_local_median_correction_on_ectopic_mitbih_record(shared_data):
    # Record 119 has ventricular bigeminy/trigeminy (PVCs, label V): the correction must
    # flag the intervals around them and bring RMSSD down towards the sinus rhythm's.
    d = np.load(shared_data / "mitdb" / "119.npz")
    peaks, fs, sym = d["rpeaks"], float(d["fs"]), d["symbols"]
    rr = rr_intervals(peaks, fs)
    res = clean_rr(rr)
    around_v = np.zeros(len(rr), dtype=bool)
    v = np.flatnonzero(sym == "V")
    around_v[np.clip(v - 1, 0, len(rr) - 1)] = True  # interval ending at the PVC
    around_v[np.clip(v, 0, len(rr) - 1)] = True  # interval starting at the PVC
    assert res.n_artefacts == int(res.artefacts.sum()) > 0
    # most flagged intervals touch a PVC, and most PVC intervals are flagged
    assert (res.artefacts & around_v).sum() / res.n_artefacts > 0.9
    assert (res.artefacts & around_v).sum() / around_v.sum() > 0.8
    raw, cleaned = hrv_time(peaks, fs), hrv_time(peaks, fs, correction="local_median")
    assert cleaned["RMSSD"] < 0.5 * raw["RMSSD"]
    np.testing.assert_allclose(res.rr_ms, naive_hrv.clean_rr(rr)[0], rtol=0, atol=1e-9)


def test_clean_rr_corrects_missed_and_extra_beats():
    rr = np.full(30, 800.0)
    rr[10] = 1600.0  # a missed beat
    rr[20], rr[21] = 300.0, 500.0  # an extra (false) beat splitting one interval
    res = clean_rr(rr)
    assert set(np.flatnonzero(res.artefacts)) == {10, 20, 21}
    assert res.n_artefacts == 3
    np.testing.assert_allclose(res.rr_ms, 800.0)
    ex = clean_rr(rr, action="exclude")
    assert len(ex.rr_ms) == 27 and ex.n_artefacts == 3
    assert clean_rr(rr, method="none").n_artefacts == 0


def test_clean_rr_all_out_of_range_is_clipped_not_crashed():
    res = clean_rr([3000.0, 3100.0, 2900.0])
    assert res.n_artefacts == 3
    np.testing.assert_allclose(res.rr_ms, 2000.0)


# --------------------------------------------------------------------------------------
# property tests against the naive twin
# --------------------------------------------------------------------------------------


@st.composite
def peak_trains(draw):
    """Ascending peak indices: regular rhythms with jitter, ectopics, gaps, tiny trains."""
    n = draw(st.integers(0, 60))
    base = draw(st.integers(30, 400))  # samples per beat
    steps = draw(
        st.lists(
            st.one_of(
                st.integers(max(1, base - base // 10), base + base // 10),
                st.integers(1, 3 * base),  # ectopic / missed / extra beats
                st.integers(10 * base, 200 * base),  # huge gaps (lead off)
            ),
            min_size=n,
            max_size=n,
        )
    )
    start = draw(st.integers(0, 5000))
    return np.cumsum([start, *steps])[:n].astype(np.int64)


FS = st.sampled_from([100.0, 128.0, 250.0, 360.0, 1000.0])


@settings(max_examples=100, deadline=None)
@given(peaks=peak_trains(), fs=FS)
def test_rr_and_clean_match_naive(peaks, fs):
    rr = rr_intervals(peaks, fs)
    np.testing.assert_allclose(rr, naive_hrv.rr_intervals(peaks, fs), rtol=1e-15, atol=0)
    assert len(rr) == max(len(peaks) - 1, 0)
    for action in ("correct", "exclude"):
        res = clean_rr(rr, action=action)
        ref, ref_flags = naive_hrv.clean_rr(rr, action=action)
        np.testing.assert_array_equal(res.artefacts, ref_flags)
        np.testing.assert_allclose(res.rr_ms, ref, rtol=1e-12, atol=0)
        assert res.n_artefacts == int(ref_flags.sum())


@settings(max_examples=100, deadline=None)
@given(peaks=peak_trains(), fs=FS)
def test_hrv_time_matches_naive(peaks, fs):
    if len(peaks) < 2:
        with pytest.raises(ValueError, match="at least 2"):
            hrv_time(peaks, fs)
        return
    for correction in ("none", "local_median"):
        ours = hrv_time(peaks, fs, correction=correction)
        ref = naive_hrv.hrv_time(peaks, fs, correct=correction != "none")
        for k, v in ref.items():
            np.testing.assert_allclose(ours[k], v, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=k)


@settings(max_examples=100, deadline=None)
@given(
    peaks=peak_trains(),
    fs=FS,
    a=st.integers(0, 20_000),
    span=st.integers(0, 20_000),
    length=st.integers(1, 40),
    correction=st.sampled_from(["local_median", "none"]),
)
def test_hrv_series_matches_naive(peaks, fs, a, span, length, correction):
    series, n_beats, n_art = hrv_window(peaks, fs, a, a + span, length, correction)
    ref = naive_hrv.hrv_series(peaks, fs, a, a + span, length, correct=correction != "none")
    assert series.dtype == np.float32 and series.shape == (length,)
    np.testing.assert_allclose(series, ref, rtol=1e-6, atol=0)
    assert n_beats == int(((peaks >= a) & (peaks < a + span)).sum())
    assert 0 <= n_art <= max(n_beats - 1, 0)
    np.testing.assert_array_equal(hrv_series(peaks, fs, a, a + span, length, correction), series)


def test_hrv_series_zero_embedding_and_truncation():
    fs = 100.0
    peaks = np.arange(0, 5000, 80)  # 0.8-s beats
    s = hrv_series(peaks, fs, 0, 1000, 32)  # 13 beats -> 12 intervals, then zeros
    np.testing.assert_allclose(s[:12], 0.8, rtol=1e-6)
    assert (s[12:] == 0).all()
    s = hrv_series(peaks, fs, 0, 5000, 8)  # too many: keep the newest 8
    np.testing.assert_allclose(s, 0.8, rtol=1e-6)
    jittered = peaks + np.arange(len(peaks)) % 2  # alternating 0.79 / 0.81 s
    np.testing.assert_allclose(
        hrv_series(jittered, fs, 0, 5000, 4), naive_hrv.hrv_series(jittered, fs, 0, 5000, 4)
    )
    assert (hrv_series(peaks, fs, 0, 50, 8) == 0).all()  # one beat: no interval


@pytest.mark.parametrize(
    ("peaks", "match"),
    [
        ([100, 100, 300], "duplicate"),
        ([300, 100, 500], "ascending"),
        ([[1, 2], [3, 4]], "1-D"),
        ([-5, 100], "non-negative"),
        ([1.5, 300.0], "whole-number"),
        ([np.nan, 300.0], "whole-number"),
        (["a", "b"], "integer"),
        ([True, False], "integer"),
    ],
)
def test_bad_peaks_raise(peaks, match):
    with pytest.raises(ValueError, match=match):
        rr_intervals(peaks, 250.0)
    with pytest.raises(ValueError, match=match):
        hrv_series(peaks, 250.0, 0, 1000, 8)


@pytest.mark.parametrize(
    ("peaks", "match"),
    [
        # Issue 15 §13: np.diff wrapped -(2**63) - 5 to a positive step, so this passed.
        ([0, 2**62, -(2**62) - 5], r"non-negative sample indices, got peaks\[2\]"),
        (np.array([0, 2**63 + 5], np.uint64), r"no larger than 2\*\*63 - 1, got peaks\[1\]"),
        ([0.0, 2.0**60], r"no larger than 2\*\*53 \(as floats\)"),
        ([0, 2**62, 2**62 - 1], "strictly ascending"),
    ],
    ids=["wrapping-negative", "uint64-above-int64", "float-above-2**53", "descending"],
)
@pytest.mark.parametrize(
    "call",
    [
        lambda p: rr_intervals(p, 250.0),
        lambda p: hrv_time(p, 250.0),
        lambda p: hrv_time(p, 250.0, correction="local_median"),
        lambda p: hrv_window(p, 250.0, 0, 2**62, 8),
        lambda p: hrv_series(p, 250.0, 0, 2**62, 8),
    ],
    ids=["rr_intervals", "hrv_time", "hrv_time-corrected", "hrv_window", "hrv_series"],
)
def test_peaks_whose_differences_would_overflow_are_rejected(call, peaks, match):
    with pytest.raises(ValueError, match=match):
        call(peaks)


def test_the_largest_int64_peaks_are_accepted():
    rr = rr_intervals(np.array([0, 2**62, 2**63 - 1], np.int64), 1000.0)
    np.testing.assert_array_equal(rr, [2.0**62, 2.0**62 - 1])  # ms at 1 kHz, rounded


def test_window_bounds_beyond_int64_are_rejected_by_name():
    with pytest.raises(ValueError, match="stop"):
        hrv_series([1, 100], 250.0, 0, 2**70, 8)
    with pytest.raises(ValueError, match="stop"):
        hrv_window([1, 100], 250.0, 0, 1e300, 8)


def test_local_median_of_huge_intervals_does_not_overflow():
    """The median of two neighbours was 0.5 * (a + b): inf for a = b = 1e308, and
    |x - inf| > 0.2 * inf is False, so the 1-ms interval went unflagged."""
    res = clean_rr([1e308, 1e308, 1.0, 1e308, 1e308], rr_range_ms=(0.0, np.inf))
    np.testing.assert_array_equal(res.artefacts, [False, False, True, False, False])
    np.testing.assert_array_equal(res.rr_ms, 1e308)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="fs"):
        rr_intervals([1, 100], 0.0)
    with pytest.raises(ValueError, match="start"):
        hrv_series([1, 100], 250.0, 500, 100, 8)
    with pytest.raises(ValueError, match="length"):
        hrv_series([1, 100], 250.0, 0, 100, 0)
    with pytest.raises(ValueError, match="correction"):
        hrv_time([1, 100, 200], 250.0, correction="kubios")
    with pytest.raises(ValueError, match="threshold"):
        clean_rr([800.0, 810.0], threshold=2.0)
    with pytest.raises(ValueError, match="rr_ms"):
        clean_rr([800.0, -1.0])
    with pytest.raises(ValueError, match="action"):
        clean_rr([800.0, 810.0], action="drop")
    assert rr_intervals([], 250.0).shape == (0,)
    assert rr_intervals([7], 250.0).shape == (0,)
