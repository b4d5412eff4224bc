"""The streaming polyphase resampler against its scipy twin (tests/naive_resample.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from naive_resample import delay_samples, resample_causal
from scipy.signal import resample_poly

from edge_emotion.kernels.resample import StreamingResampler, rational_ratio

RATES = [(250, 128), (125, 128), (256, 128), (500, 128), (1000, 256), (200, 128), (128, 128)]


def _chunked(res, x, sizes):
    out, i = [], 0
    for n in sizes:
        out.append(res.process(x[:, i : i + n]))
        i += n
    out.append(res.process(x[:, i:]))
    return np.concatenate(out, axis=1)


@pytest.mark.parametrize(("fs_in", "fs_out"), RATES)
def test_equals_the_scipy_twin_in_any_chunking(fs_in, fs_out):
    rng = np.random.default_rng(fs_in)
    x = rng.standard_normal((3, 2500)) * 50 + 1000.0
    res = StreamingResampler(fs_in, fs_out, 3)
    y = _chunked(res, x, rng.integers(0, 90, size=60))
    twin = resample_causal(x, fs_in, fs_out)
    assert y.shape == twin.shape
    if res.passthrough:
        np.testing.assert_array_equal(y, x)
        return
    np.testing.assert_allclose(y, twin, rtol=0, atol=1e-9)
    # After the causal delay it is resample_poly's output, sample for sample.
    d = res.delay_samples
    assert d == delay_samples(fs_in, fs_out)
    ref = resample_poly(x, res.up, res.down, axis=1)
    np.testing.assert_allclose(y[:, d:], ref[:, : y.shape[1] - d], rtol=0, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 40), min_size=1, max_size=30),
    pair=st.sampled_from(RATES[:5]),
)
def test_chunking_does_not_change_a_bit(sizes, pair):
    x = np.random.default_rng(1).standard_normal((2, sum(sizes) + 5))
    a = _chunked(StreamingResampler(*pair, 2), x, sizes)
    b = StreamingResampler(*pair, 2).process(x)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("fs_in", "fs_out"), RATES)
def test_awkward_inputs(fs_in, fs_out):
    # one sample at a time, empty chunks, a constant (DC gain 1 once the filter is full),
    # huge values, one channel
    n = 1200
    x = np.full((1, n), 3.0e5)
    res = StreamingResampler(fs_in, fs_out, 1)
    parts = [res.process(x[:, i : i + 1]) for i in range(n)] + [res.process(x[:, :0])]
    y = np.concatenate(parts, axis=1)
    np.testing.assert_allclose(y, resample_causal(x, fs_in, fs_out), rtol=1e-12)
    settled = y[:, 2 * res.delay_samples + 1 :]
    np.testing.assert_allclose(settled, 3.0e5, rtol=1e-3)


@pytest.mark.parametrize(("fs_in", "fs_out"), RATES)
def test_inputs_for_is_the_exact_number_of_inputs(fs_in, fs_out):
    res = StreamingResampler(fs_in, fs_out, 1)
    for m in (1, 2, 31, 32, 33, 1000):
        need = res.inputs_for(m)
        assert resample_causal(np.zeros((1, need)), fs_in, fs_out).shape[1] >= m
        assert resample_causal(np.zeros((1, need - 1)), fs_in, fs_out).shape[1] < m


@pytest.mark.parametrize(("fs_in", "fs_out"), [(250, 128), (128, 128)])
def test_non_finite_chunk_is_refused_and_changes_nothing(fs_in, fs_out):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 400))
    res = StreamingResampler(fs_in, fs_out, 2)
    first = res.process(x[:, :200])
    bad = x[:, 200:260].copy()
    bad[1, 7] = np.nan
    bad[0, 3] = np.inf
    with pytest.raises(ValueError, match="chunk contains 2 NaN or infinite values"):
        res.process(bad)
    with pytest.raises(ValueError, match="chunk contains 1 NaN"):
        res.process([[0.0, np.nan], [0.0, 0.0]])  # the validating path says the same
    rest = res.process(x[:, 200:])
    np.testing.assert_array_equal(
        np.concatenate((first, rest), axis=1),
        _chunked(StreamingResampler(fs_in, fs_out, 2), x, [200]),
    )


def test_bad_input():
    with pytest.raises(ValueError, match="fs_in"):
        StreamingResampler(0, 128, 1)
    with pytest.raises(ValueError, match="n_channels"):
        StreamingResampler(250, 128, 0)
    with pytest.raises(ValueError, match="rational"):
        rational_ratio(250.0, 128.0 * np.pi)
    r = StreamingResampler(250, 128, 2)
    with pytest.raises(ValueError, match="2 channels"):
        r.process(np.zeros((3, 10)))
    with pytest.raises(ValueError, match="2-D"):
        r.process(np.zeros(10))
    with pytest.raises(ValueError, match="numeric"):
        r.process([["a", "b"], ["c", "d"]])
    assert r.process(np.zeros((2, 10), dtype=np.float32)).dtype == np.float64
