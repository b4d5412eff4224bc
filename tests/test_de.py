"""Band differential entropy: kernels against the scipy twin, streaming against batch,
input checks, and the eyes-closed alpha rise on a real OpenBCI recording."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from naive_de import band_de as naive_band_de
from naive_de import band_de_map as naive_band_de_map
from naive_de import band_de_windows as naive_band_de_windows

from edge_emotion.kernels.de import (
    DE_FLOOR,
    DEFAULT_BANDS,
    EEG_MAX_ABS,
    VAR_FLOOR,
    band_de,
    band_de_map,
    band_de_windows,
)
from edge_emotion.kernels.de_stream import StreamingBandDE

FS_CHOICES = (128.0, 250.0, 256.0, 500.0)
# |dDE| <= 5e-7 nats is a relative error of <= 1e-6 on the variance (DE = 0.5 ln(2 pi e var)).
DE_ATOL = 5e-7


@st.composite
def awkward_eeg(draw, min_samples=28, max_samples=900):
    """Noise, tones, large electrode offsets, near-constant and flat channels, short input."""
    n_ch = draw(st.integers(1, 6))
    n = draw(st.integers(min_samples, max_samples))
    fs = draw(st.sampled_from(FS_CHOICES))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    t = np.arange(n) / fs
    rows = []
    for _ in range(n_ch):
        kind = draw(st.sampled_from(["noise", "tone", "near_constant", "flat"]))
        offset = draw(st.sampled_from([0.0, -3e3, 6e4]))
        if kind == "noise":
            row = draw(st.sampled_from([0.1, 10.0, 500.0])) * rng.standard_normal(n)
        elif kind == "tone":
            f0 = draw(st.floats(1.0, 60.0))
            row = 20.0 * np.sin(2 * np.pi * f0 * t) + rng.standard_normal(n)
        elif kind == "near_constant":
            row = 1e-2 * rng.standard_normal(n)
        else:
            row = np.zeros(n)
        rows.append(offset + row)
    return np.stack(rows), fs


@settings(max_examples=40, deadline=None)
@given(case=awkward_eeg())
def test_band_de_matches_scipy_twin(case):
    eeg, fs = case
    out = band_de(eeg, fs)
    assert out.shape == (eeg.shape[0], 4)
    assert out.dtype == np.float64
    # band_de subtracts each channel's first sample before filtering (exact: the
    # band-passes have zero DC gain); against the twin on the same centred input it agrees
    # to 1e-6 in variance whatever the offset
    centred = eeg - eeg[:, :1]
    ref = naive_band_de(centred, fs, DEFAULT_BANDS)
    np.testing.assert_allclose(out, ref, rtol=0, atol=DE_ATOL)
    # against the twin on the raw input too, within the twin's own float64 conditioning:
    # it loses ~eps * offset / band std of relative precision
    raw = naive_band_de(eeg, fs, DEFAULT_BANDS)
    flat = np.ptp(eeg, axis=1) == 0
    np.testing.assert_array_equal(out[flat], DE_FLOOR)
    band_std = np.exp(ref - 0.5 * np.log(2 * np.pi * np.e))
    cond = np.abs(eeg).max(axis=1, keepdims=True) / band_std
    tol = DE_ATOL + 1e-13 * cond
    assert np.all(np.abs(out - raw)[~flat] <= tol[~flat])


@settings(max_examples=25, deadline=None)
@given(
    case=awkward_eeg(min_samples=64, max_samples=1500),
    sub=st.sampled_from([0.25, 0.5, 1.0]),
    zero_phase=st.booleans(),
)
def test_band_de_map_matches_scipy_twin(case, sub, zero_phase):
    eeg, fs = case
    sub_len = round(sub * fs)
    if abs(sub * fs - sub_len) > 1e-9 or eeg.shape[1] < sub_len:
        return
    out = band_de_map(eeg, fs, subwindow_s=sub, zero_phase=zero_phase)
    # both paths subtract each channel's first sample (the causal one: steady-state start)
    twin_in = eeg - eeg[:, :1]
    ref = naive_band_de_map(twin_in, fs, DEFAULT_BANDS, subwindow_s=sub, zero_phase=zero_phase)
    assert out.shape == (4, eeg.shape[0], eeg.shape[1] // sub_len)
    np.testing.assert_allclose(out, ref, rtol=0, atol=DE_ATOL)


def test_band_de_map_with_one_subwindow_is_band_de():
    rng = np.random.default_rng(0)
    eeg = 40.0 * rng.standard_normal((5, 512))
    np.testing.assert_allclose(
        band_de_map(eeg, 128.0, subwindow_s=4.0)[:, :, 0].T, band_de(eeg, 128.0), atol=1e-12
    )


def test_flat_channel_gives_the_documented_floor_not_minus_inf():
    rng = np.random.default_rng(1)
    eeg = np.vstack([np.full(640, 61379.36), 10.0 * rng.standard_normal(640)])
    out = band_de(eeg, 128.0)
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[0], DE_FLOOR)
    assert pytest.approx(0.5 * np.log(2 * np.pi * np.e * VAR_FLOOR)) == DE_FLOOR
    assert np.all(out[1] > DE_FLOOR + 20)
    # causal filtering starts in the steady state for the first sample: a flat channel
    # with an electrode offset is at the floor from the first sub-window on
    m = band_de_map(eeg, 128.0, zero_phase=False, subwindow_s=1.0)
    assert np.all(np.isfinite(m))
    np.testing.assert_array_equal(m[:, 0], DE_FLOOR)
    stream = StreamingBandDE(128.0, 2, window_s=2.0)
    stream.update(eeg[:, :256])
    np.testing.assert_array_equal(stream.de_map()[:, 0], DE_FLOOR)


def _rest_started_causal_map(eeg, fs, sub_len):
    """The causal map with scipy's filters started at rest on the raw signal (the old
    behaviour), to show what the steady-state start removes."""
    import scipy.signal

    from edge_emotion.kernels.filters import bandpass_bank_sos

    n_sub = eeg.shape[1] // sub_len
    out = []
    for sos in bandpass_bank_sos(DEFAULT_BANDS, fs):
        y = scipy.signal.sosfilt(sos, eeg, axis=-1)[:, -n_sub * sub_len :]
        out.append(np.var(y.reshape(eeg.shape[0], n_sub, sub_len), axis=-1))
    return 0.5 * np.log(2 * np.pi * np.e * np.stack(out))


def test_causal_path_has_no_start_up_transient_from_electrode_offsets():
    """OpenBCI-like offsets (~6e4 µV, different per channel) leave the causal DE of the
    very first window unchanged: batch and streaming equal the offset-free signal's."""
    fs = 128.0
    rng = np.random.default_rng(11)
    n = int(10 * fs)
    eeg = 15.0 * rng.standard_normal((4, n))
    offsets = np.array([[6e4], [-6.1e4], [3e3], [5.9e4]])
    clean = band_de_map(eeg, fs, zero_phase=False)
    shifted = band_de_map(eeg + offsets, fs, zero_phase=False)
    # rounding of (x + offset) - (x0 + offset) at 6e4 is ~1e-11 µV against a band std
    # of several µV: far below 1e-9 nats
    np.testing.assert_allclose(shifted, clean, rtol=0, atol=1e-9)
    stream = StreamingBandDE(fs, 4)
    for a in range(0, n, 32):  # device hops of 0.25 s
        stream.update((eeg + offsets)[:, a : a + 32])
    np.testing.assert_allclose(stream.de_map(), clean, rtol=0, atol=1e-9)
    # the same offsets with filters started at rest: seconds of wrong theta DE
    rest = _rest_started_causal_map(eeg + offsets, fs, 128)
    assert np.all(rest[0, :, 0] - clean[0, :, 0] > 3.0)
    # and without an offset the steady-state start is the rest start on x - x[0]
    np.testing.assert_allclose(
        _rest_started_causal_map(eeg - eeg[:, :1], fs, 128), clean, rtol=0, atol=DE_ATOL
    )


def test_de_is_half_log_of_variance_for_a_band_limited_tone():
    # a 10 Hz tone of amplitude A lies in the alpha pass-band: var ~ A^2 / 2
    fs = 256.0
    t = np.arange(int(20 * fs)) / fs
    eeg = (30.0 * np.sin(2 * np.pi * 10.0 * t))[np.newaxis]
    alpha = band_de(eeg, fs)[0, 1]
    assert alpha == pytest.approx(0.5 * np.log(2 * np.pi * np.e * 30.0**2 / 2), abs=0.02)


@pytest.mark.parametrize(
    ("eeg", "kwargs", "match"),
    [
        (np.zeros(500), {}, "eeg must be 2-D"),
        (np.zeros((2, 27)), {}, "at least 28 samples"),
        (np.zeros((0, 500)), {}, "eeg"),
        (np.zeros((2, 0)), {}, "eeg"),
        (np.zeros((2, 3, 500)), {}, "eeg"),
        (np.array([[1.0, np.nan] * 50]), {}, "NaN"),
        (np.array([[1.0, np.inf] * 50]), {}, "NaN or infinite"),
        (np.array([["a"] * 50]), {}, "eeg must be a numeric"),
        (np.zeros((2, 500)), {"fs": 20.0}, "fs"),
        (np.zeros((2, 500)), {"fs": "fast"}, "fs"),
        (np.zeros((2, 500)), {"bands": ()}, "bands"),
        (np.zeros((2, 500)), {"bands": (("gamma", 31.0, 70.0),)}, r"bands\[0\]"),
        (np.zeros((2, 500)), {"bands": (("x", 0.0, 4.0),)}, r"bands\[0\]"),
        (np.zeros((2, 500)), {"bands": (("x", 9.0, 8.0),)}, r"bands\[0\]"),
        (np.zeros((2, 500)), {"bands": "alpha"}, "bands"),
    ],
)
def test_band_de_rejects_bad_input(eeg, kwargs, match):
    args = {"fs": 128.0, **kwargs}
    with pytest.raises(ValueError, match=match):
        band_de(eeg, **args)


@pytest.mark.parametrize("value", [1e101, 1e153, -1e200, 1e300, 1.7e308])
def test_every_form_rejects_samples_beyond_the_supported_range(value):
    """Issue 15 §13: band_de at >= 1e153 returned inf or NaN without a word (the sums of
    squares overflow). Each form now raises and names the bound; a stream is unchanged."""
    rng = np.random.default_rng(4)
    eeg = rng.standard_normal((2, 1280))
    eeg[1, 700] = value
    pattern = r"magnitude at most 1e\+100"
    with pytest.raises(ValueError, match=pattern):
        band_de(eeg, 128.0)
    for zero_phase in (True, False):
        with pytest.raises(ValueError, match=pattern):
            band_de_map(eeg, 128.0, zero_phase=zero_phase)
    with pytest.raises(ValueError, match=pattern):
        band_de_windows(eeg, 128.0, [1280])
    stream = StreamingBandDE(128.0, 2)
    stream.update(eeg[:, :640])
    with pytest.raises(ValueError, match="chunk must hold samples of magnitude at most 1e"):
        stream.update(eeg[:, 640:])
    assert stream.samples_seen == 640


def test_the_largest_supported_samples_give_finite_de():
    """At EEG_MAX_ABS itself DE is finite and shifted by exactly ln(scale) from unit EEG."""
    eeg = np.random.default_rng(5).standard_normal((2, 1280))
    eeg /= np.max(np.abs(eeg))
    big = eeg * EEG_MAX_ABS
    expected = band_de(eeg, 128.0) + np.log(EEG_MAX_ABS)
    np.testing.assert_allclose(band_de(big, 128.0), expected, rtol=1e-12)
    causal = band_de_map(eeg, 128.0, zero_phase=False) + np.log(EEG_MAX_ABS)
    np.testing.assert_allclose(band_de_map(big, 128.0, zero_phase=False), causal, rtol=1e-12)
    stream = StreamingBandDE(128.0, 2)
    stream.update(big)
    np.testing.assert_allclose(stream.de_map(), causal, rtol=1e-9)


def test_band_de_map_rejects_bad_subwindows():
    eeg = np.zeros((2, 1000))
    with pytest.raises(ValueError, match="subwindow_s"):
        band_de_map(eeg, 250.0, subwindow_s=0.25)  # 62.5 samples
    with pytest.raises(ValueError, match="subwindow_s"):
        band_de_map(eeg, 128.0, subwindow_s=-1.0)
    with pytest.raises(ValueError, match="at least 1280 samples"):
        band_de_map(eeg, 128.0, subwindow_s=10.0)
    with pytest.raises(ValueError, match="zero_phase"):
        band_de_map(eeg, 128.0, zero_phase="yes")


@settings(max_examples=25, deadline=None)
@given(
    n_ch=st.integers(1, 4),
    n=st.integers(256, 900),
    n_windows=st.integers(0, 6),
    offset=st.sampled_from([0.0, 6e4, -3e3]),
    fs=st.sampled_from([128.0, 256.0]),
    seed=st.integers(0, 2**31),
)
def test_band_de_windows_matches_scipy_twin(n_ch, n, n_windows, offset, fs, seed):
    """Many windows of one causally filtered recording (the training feature path)."""
    window_s, sub_s = 1.0, 0.25
    rng = np.random.default_rng(seed)
    x = offset * rng.uniform(0.5, 1.0, (n_ch, 1)) + 20.0 * rng.standard_normal((n_ch, n))
    window_len = round(window_s * fs)
    ends = np.sort(rng.integers(window_len, n + 1, n_windows)) if n >= window_len else []
    got = band_de_windows(x, fs, ends, DEFAULT_BANDS, window_s, sub_s)
    assert got.shape == (len(ends), 4, n_ch, 4)
    want = naive_band_de_windows(x, fs, ends, DEFAULT_BANDS, window_s, sub_s)
    np.testing.assert_allclose(got, want, rtol=0, atol=DE_ATOL)
    for w, end in enumerate(ends):  # = the causal map of the recording up to the end
        ref = band_de_map(x[:, :end], fs, subwindow_s=sub_s, zero_phase=False)[..., -4:]
        np.testing.assert_allclose(got[w], ref, rtol=0, atol=1e-8)


def test_band_de_windows_rejects_bad_input():
    x = np.zeros((2, 400))
    one_s = {"window_s": 1.0, "subwindow_s": 0.5}
    with pytest.raises(ValueError, match=r"window_ends must lie in \[128, 400\]"):
        band_de_windows(x, 128.0, [127], **one_s)
    with pytest.raises(ValueError, match="window_ends must lie in"):
        band_de_windows(x, 128.0, [401], **one_s)
    with pytest.raises(ValueError, match="window_ends must lie in"):
        band_de_windows(x, 128.0, [300])  # the default 10 s window does not fit
    with pytest.raises(ValueError, match="sample counts"):
        band_de_windows(x, 128.0, [200.5], **one_s)
    with pytest.raises(ValueError, match="whole multiple"):
        band_de_windows(x, 128.0, [300], window_s=1.0, subwindow_s=0.75)
    with pytest.raises(ValueError, match="2-D"):
        band_de_windows(x[0], 128.0, [300], **one_s)
    assert band_de_windows(np.zeros((3, 0)), 128.0, []).shape == (0, 4, 3, 10)


@st.composite
def chunkings(draw):
    n = draw(st.integers(0, 700))
    cuts = draw(st.lists(st.integers(0, n), max_size=12))
    return n, sorted(cuts)


@settings(max_examples=25, deadline=None)
@given(
    n_ch=st.integers(1, 5),
    pre=st.integers(256, 600),
    chunks=chunkings(),
    offset=st.sampled_from([0.0, 6e4, -3e3]),
    seed=st.integers(0, 2**31),
)
def test_streaming_equals_causal_map_for_any_chunking(n_ch, pre, chunks, offset, seed):
    fs, window_s, sub_s = 128.0, 2.0, 0.5
    n_more, cuts = chunks
    rng = np.random.default_rng(seed)
    x = offset * rng.uniform(0.5, 1.0, (n_ch, 1)) + 20.0 * rng.standard_normal((n_ch, pre + n_more))
    stream = StreamingBandDE(fs, n_ch, window_s=window_s, subwindow_s=sub_s)
    edges = [0, pre, *(pre + c for c in cuts), pre + n_more]
    for a, b in itertools.pairwise(edges):
        stream.update(x[:, a:b])
        assert stream.samples_seen == b
        ref = band_de_map(x[:, :b], fs, subwindow_s=sub_s, zero_phase=False)[..., -4:]
        got = stream.de_map()
        assert got.shape == (4, n_ch, 4)
        # sums of squares vs two-pass variance: relative variance error ~1e-12
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-8)


def test_streaming_default_config_with_quarter_second_hops():
    rng = np.random.default_rng(7)
    fs, n_ch = 128.0, 14
    x = 4000.0 + 15.0 * rng.standard_normal((n_ch, int(25 * fs)))
    stream = StreamingBandDE(fs, n_ch)
    assert stream.de_map.__doc__
    for start in range(0, x.shape[1], 32):
        stream.update(x[:, start : start + 32])
        if stream.ready:
            ref = band_de_map(x[:, : start + 32], fs, zero_phase=False)[..., -10:]
            np.testing.assert_allclose(stream.de_map(), ref, rtol=0, atol=1e-8)
    assert stream.de_map().shape == (4, 14, 10)


def test_streaming_errors_and_state():
    stream = StreamingBandDE(128.0, 2, window_s=1.0, subwindow_s=0.5)
    with pytest.raises(RuntimeError, match="128 samples"):
        stream.de_map()
    rng = np.random.default_rng(2)
    x = 10.0 * rng.standard_normal((2, 300))
    stream.update(x[:, :200])
    bad = x[:, 200:250].copy()
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        stream.update(bad)
    assert stream.samples_seen == 200  # the bad chunk changed nothing
    stream.update(x[:, 200:])
    ref = band_de_map(x, 128.0, subwindow_s=0.5, zero_phase=False)[..., -2:]
    np.testing.assert_allclose(stream.de_map(), ref, atol=1e-8)
    with pytest.raises(ValueError, match="2 channels"):
        stream.update(np.zeros((3, 10)))
    stream.update(np.zeros((2, 0)))
    stream.update([[1.0, 2.0], [3.0, 4.0]])  # lists are converted
    stream.reset()
    assert not stream.ready and stream.samples_seen == 0
    # after reset the next first sample sets new offsets: same map as a fresh stream
    y = 5e4 + x
    stream.update(y[:, :7])
    stream.update(y[:, 7:])
    ref = band_de_map(y, 128.0, subwindow_s=0.5, zero_phase=False)[..., -2:]
    np.testing.assert_allclose(stream.de_map(), ref, atol=1e-8)
    with pytest.raises(ValueError, match="window_s"):
        StreamingBandDE(128.0, 2, window_s=1.2, subwindow_s=0.5)
    with pytest.raises(ValueError, match="n_channels"):
        StreamingBandDE(128.0, 0)
    with pytest.raises(ValueError, match="bands"):
        StreamingBandDE(128.0, 2, bands=(("a", 8.0, 80.0),))


# ----------------------------------------------------------------------------- real EEG

OPENBCI = "openbci/OpenBCI_GUI-v6-blinks-jawClench-alpha.txt"
# OpenBCI's default Cyton montage (GUI electrode guide): Fp1, Fp2, C3, C4, P7, P8, O1, O2.
FRONTAL, OCCIPITAL = [0, 1], [6, 7]


@pytest.fixture(scope="module")
def openbci(shared_data):
    from edge_emotion.openbci import read_openbci_gui_txt

    return read_openbci_gui_txt(shared_data / OPENBCI)


def test_band_de_matches_scipy_on_real_openbci(openbci):
    fs = openbci.fs
    eeg = openbci.eeg  # raw µV with ~6e4 µV electrode offsets
    np.testing.assert_allclose(
        band_de(eeg, fs), naive_band_de(eeg, fs, DEFAULT_BANDS), atol=DE_ATOL
    )
    for start_s in (0.0, 31.0, 77.5):
        seg = eeg[:, int(start_s * fs) : int((start_s + 10.0) * fs)]
        np.testing.assert_allclose(
            band_de(seg, fs), naive_band_de(seg, fs, DEFAULT_BANDS), atol=DE_ATOL
        )
    m = band_de_map(eeg, fs, subwindow_s=2.0)
    np.testing.assert_allclose(
        m, naive_band_de_map(eeg, fs, DEFAULT_BANDS, subwindow_s=2.0), atol=DE_ATOL
    )


def _max_sum_interval(v):
    """[start, stop) of the contiguous run with the largest sum (Kadane)."""
    best, cur, start = (-np.inf, 0, 0), 0.0, 0
    for i, x in enumerate(v):
        if cur <= 0:
            cur, start = x, i
        else:
            cur += x
        if cur > best[0]:
            best = (cur, start, i + 1)
    return best[1], best[2]


def test_eyes_closed_period_is_found_from_occipital_alpha(openbci):
    """The marker column is empty, so the period is located from the data: occipital
    (O1/O2) alpha DE per 1-s sub-window; the eyes-closed period is the interval whose
    alpha lies most above the recording's median (maximum-sum interval of alpha minus
    median, robust to the brief alpha dip near 60 s). It spans ~28-76 s."""
    fs = openbci.fs
    m = band_de_map(openbci.eeg, fs, subwindow_s=1.0)
    alpha = m[1, OCCIPITAL].mean(axis=0)
    first_start_s = (openbci.n_samples - alpha.size * int(fs)) / fs
    i0, i1 = _max_sum_interval(alpha - np.median(alpha))
    start_s, stop_s = first_start_s + i0, first_start_s + i1
    assert 26.0 <= start_s <= 32.0 and 72.0 <= stop_s <= 78.0, (start_s, stop_s)


def test_alpha_de_rises_with_eyes_closed_at_occipital_channels(openbci):
    """Eyes closed: ~28-76 s (test above). Eyes open: 2-16 s (blinks at ~4, 6, 14, 16 s
    on Fp1/Fp2 and a jaw clench at ~8-12 s) and 76-86 s (blinks at 76-80 s, jaw clench
    at 82-85 s). Statistics are medians over 2-s windows of band_de, robust to the
    artefact windows. The artefacts of the first part raise power in every band, so
    there alpha is compared relative to its neighbours (alpha DE minus the mean of
    theta and beta DE, a log power ratio)."""
    fs, eeg = openbci.fs, openbci.eeg

    def windows(a_s, b_s, w_s=2.0):
        starts = np.arange(a_s, b_s - w_s + 1e-9, w_s)
        return np.stack([band_de(eeg[:, int(t * fs) : int((t + w_s) * fs)], fs) for t in starts])

    def relative_alpha(d):
        return d[:, :, 1] - 0.5 * (d[:, :, 0] + d[:, :, 2])

    closed = windows(30.0, 74.0)
    open_start, open_end = windows(2.0, 16.0), windows(76.0, 86.0)

    rise = np.median(closed[:, :, 1], 0) - np.median(open_end[:, :, 1], 0)
    assert np.all(rise[OCCIPITAL] > 0.25), rise
    assert rise[OCCIPITAL].min() > rise[FRONTAL].max() + 0.2, rise

    for eyes_open in (open_start, open_end):
        rel = np.median(relative_alpha(closed), 0) - np.median(relative_alpha(eyes_open), 0)
        assert np.all(rel[OCCIPITAL] > 0.3), rel
        assert rel[OCCIPITAL].min() > rel[FRONTAL].max() + 0.2, rel
        assert set(np.argsort(rel)[-2:]) == set(OCCIPITAL), rel
