"""Band-pass filter banks against scipy.signal (sosfiltfilt / sosfilt) and input checks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st
from naive_de import sosfiltfilt_longdouble

from edge_emotion.kernels.de import DEFAULT_BANDS
from edge_emotion.kernels.filters import (
    StreamingFilterBank,
    bandpass_bank_sos,
    design_bandpass_sos,
    filtfilt_padlen,
    sosfilt_bank,
    sosfiltfilt_bank,
)

FS_CHOICES = (128.0, 250.0, 256.0, 500.0, 1000.0)


def _scipy_bank(x, bank, zero_phase=True):
    f = scipy.signal.sosfiltfilt if zero_phase else scipy.signal.sosfilt
    return np.stack([f(sos, x, axis=-1) for sos in bank])


def test_design_is_scipy_butter_and_padlen_is_scipys():
    sos = design_bandpass_sos(8.0, 14.0, 128.0)
    ref = scipy.signal.butter(4, [8.0, 14.0], btype="bandpass", fs=128.0, output="sos")
    np.testing.assert_array_equal(sos, ref)
    bank = bandpass_bank_sos(DEFAULT_BANDS, 128.0)
    assert bank.shape == (4, 4, 6)
    assert filtfilt_padlen(bank[0]) == 27
    assert design_bandpass_sos(8.0, 14.0, 128.0, order=2).shape == (2, 6)


@settings(max_examples=30, deadline=None)
@given(
    n_ch=st.integers(1, 20),
    extra=st.integers(0, 700),
    fs=st.sampled_from(FS_CHOICES),
    offset=st.floats(-1e5, 1e5),
    scale=st.floats(1e-3, 1e3),
    seed=st.integers(0, 2**31),
)
def test_sosfiltfilt_bank_matches_scipy(n_ch, extra, fs, offset, scale, seed):
    rng = np.random.default_rng(seed)
    n = 28 + extra
    x = offset + scale * rng.standard_normal((n_ch, n))
    bank = bandpass_bank_sos(DEFAULT_BANDS, fs)
    ref = _scipy_bank(x, bank)
    out = sosfiltfilt_bank(x, bank)
    assert out.shape == (4, n_ch, n)
    # Both round, and rounding the offset that the band-passes remove dominates: scipy's
    # own float64 error reaches ~150 eps * offset.
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-9 * scale + 1e-13 * abs(offset))
    # Measured against the same computation in long double, the kernel's error is about
    # scipy's own (300 random cases: median 0.49x, at most 1.32x).
    if np.finfo(np.longdouble).eps < np.finfo(np.float64).eps:  # not where it is a double
        exact = np.stack([sosfiltfilt_longdouble(sos, x) for sos in bank])
        err_kernel = float(np.abs(out - exact).max())
        err_scipy = float(np.abs(ref - exact).max())
        assert err_kernel <= 3 * err_scipy + 1e-15 * scale, (err_kernel, err_scipy)


@pytest.mark.parametrize("order", [1, 2, 3, 5, 8, 9])
def test_banks_of_any_order_match_scipy(order):
    # the kernels run sections four at a time, padding with pass-through sections, and
    # channels sixteen at a time: cover orders that are not multiples of four and more
    # channels than one vector holds
    rng = np.random.default_rng(order)
    x = 30.0 + rng.standard_normal((19, 700))
    bank = np.stack(
        [
            scipy.signal.butter(order, [lo, hi], btype="bandpass", fs=250.0, output="sos")
            for _, lo, hi in DEFAULT_BANDS
        ]
    )
    np.testing.assert_allclose(sosfiltfilt_bank(x, bank), _scipy_bank(x, bank), atol=1e-10)
    np.testing.assert_allclose(
        sosfilt_bank(x, bank), _scipy_bank(x, bank, zero_phase=False), atol=1e-10
    )


def test_sosfiltfilt_bank_groups_filters_with_different_padlen():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 300))
    # a 3rd-order low-pass has a first-order section (b2 = a2 = 0): padlen 12, not 15
    low = scipy.signal.butter(3, 20.0, fs=250.0, output="sos")
    band = scipy.signal.butter(2, [8.0, 14.0], btype="bandpass", fs=250.0, output="sos")
    bank = np.stack([low, band, low])
    assert [filtfilt_padlen(s) for s in bank] == [12, 15, 12]
    np.testing.assert_allclose(sosfiltfilt_bank(x, bank), _scipy_bank(x, bank), atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    n_ch=st.integers(1, 10),
    n=st.integers(1, 400),
    cuts=st.lists(st.integers(0, 400), max_size=6),
    fs=st.sampled_from(FS_CHOICES),
    seed=st.integers(0, 2**31),
)
def test_streaming_bank_equals_causal_batch_for_any_chunking(n_ch, n, cuts, fs, seed):
    rng = np.random.default_rng(seed)
    x = 50.0 + 10.0 * rng.standard_normal((n_ch, n))
    bank = bandpass_bank_sos(DEFAULT_BANDS, fs)
    ref = _scipy_bank(x, bank, zero_phase=False)
    batch = sosfilt_bank(x, bank)
    np.testing.assert_allclose(batch, ref, rtol=0, atol=1e-10)
    fb = StreamingFilterBank(bank, n_ch)
    edges = [0, *sorted(c for c in cuts if c <= n), n]
    parts = [fb.process(x[:, a:b]) for a, b in itertools.pairwise(edges)]
    assert fb.samples_seen == n
    np.testing.assert_array_equal(np.concatenate(parts, axis=2), batch)
    fb.reset()
    np.testing.assert_array_equal(fb.process(x), batch)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"low_hz": 8.0, "high_hz": 8.0, "fs": 128.0}, "band"),
        ({"low_hz": 0.0, "high_hz": 8.0, "fs": 128.0}, "band"),
        ({"low_hz": 30.0, "high_hz": 64.0, "fs": 128.0}, "band"),
        ({"low_hz": 8.0, "high_hz": 14.0, "fs": 10.0}, "fs"),
        ({"low_hz": 8.0, "high_hz": 14.0, "fs": float("nan")}, "fs"),
        ({"low_hz": 8.0, "high_hz": 14.0, "fs": 128.0, "order": 0}, "order"),
        ({"low_hz": 8.0, "high_hz": 14.0, "fs": 128.0, "order": 2.5}, "order"),
    ],
)
def test_design_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        design_bandpass_sos(**kwargs)


def test_bank_and_filters_reject_bad_input():
    bank = bandpass_bank_sos(DEFAULT_BANDS, 128.0)
    with pytest.raises(ValueError, match="bands"):
        bandpass_bank_sos([], 128.0)
    with pytest.raises(ValueError, match="bands"):
        bandpass_bank_sos([("alpha", 8.0, 70.0)], 128.0)
    with pytest.raises(ValueError, match="band"):
        bandpass_bank_sos(["alpha"], 128.0)
    with pytest.raises(ValueError, match="sos_bank"):
        sosfiltfilt_bank(np.zeros((2, 100)), bank[0])
    bad = bank.copy()
    bad[0, 0, 3] = 2.0
    with pytest.raises(ValueError, match="sos_bank"):
        sosfiltfilt_bank(np.zeros((2, 100)), bad)
    with pytest.raises(ValueError, match="x"):
        sosfiltfilt_bank(np.zeros(100), bank)
    with pytest.raises(ValueError, match="at least 28 samples"):
        sosfiltfilt_bank(np.zeros((2, 27)), bank)
    x = np.zeros((2, 100))
    x[1, 50] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        sosfiltfilt_bank(x, bank)
    fb = StreamingFilterBank(bank, 3)
    with pytest.raises(ValueError, match="3 channels"):
        fb.process(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="n_channels"):
        StreamingFilterBank(bank, 0)
    assert fb.process(np.zeros((3, 0))).shape == (4, 3, 0)
