"""Block statistics of the quality windows against their numpy twin
(tests/naive_blockstats.py), and the ring buffer that holds the blocks."""

from __future__ import annotations

import numpy as np
import pytest
from naive_blockstats import NaiveBlockStatistics

from edge_emotion.kernels.blockstats import BlockStatistics
from edge_emotion.kernels.ringbuffer import RingBuffer


def _feed_both(fast, twin, values, missing, raw, parts):
    for part in np.array_split(np.arange(values.shape[1]), parts):
        fast.add(values[:, part], missing[:, part], raw[:, part])
        twin.add(values[:, part], missing[:, part], raw[:, part])


def _assert_same(fast, twin, flat_std):
    got, ref = fast.window(flat_std), twin.window(flat_std)
    np.testing.assert_array_equal(got.count, ref["count"])
    np.testing.assert_allclose(got.std, ref["std"], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(got.missing, ref["missing"])
    np.testing.assert_array_equal(got.saturated, ref["saturated"])
    np.testing.assert_allclose(got.flat_fraction, ref["flat"], rtol=0, atol=1e-15)


@pytest.mark.parametrize("seed", range(8))
def test_window_equals_the_numpy_twin(seed):
    rng = np.random.default_rng(seed)
    n_ch, n_blocks = int(rng.integers(1, 5)), int(rng.integers(1, 6))
    rail = 100.0
    fast, twin = BlockStatistics(n_ch, n_blocks, rail), NaiveBlockStatistics(n_ch, n_blocks, rail)
    _assert_same(fast, twin, 0.5)  # no block closed yet
    for _ in range(int(rng.integers(1, 12))):
        n = int(rng.integers(0, 40))  # empty blocks too
        offset = rng.choice([0.0, 60_000.0, -2e5])  # electrode offsets far above the noise
        values = offset + rng.standard_normal((n_ch, n)) * rng.choice([1e-3, 0.3, 10.0])
        if n and rng.random() < 0.3:
            values[int(rng.integers(n_ch))] = offset  # a flat channel
        raw = values.copy()
        raw[rng.random(raw.shape) < 0.05] = np.nan  # NaN delivered: missing, not saturated
        raw[rng.random(raw.shape) < 0.05] = -rail  # exactly at the rail counts
        missing = ~np.isfinite(raw) | (rng.random(raw.shape) < 0.05)
        _feed_both(fast, twin, values, missing, raw, int(rng.integers(1, 4)))
        fast.close_block()
        twin.close_block()
        _assert_same(fast, twin, float(rng.choice([0.0, 0.5, 5.0])))


def test_a_lead_off_block_shows_as_its_share_of_the_window():
    rng = np.random.default_rng(3)
    ws = BlockStatistics(3, n_blocks=4, saturation=1e9)
    for _ in range(4):
        x = rng.standard_normal((3, 20)) * 10
        if _ == 3:
            x[2] = 5.0
        ws.add(x, np.zeros(x.shape, bool), x)
        ws.close_block()
    np.testing.assert_allclose(ws.window(flat_std=0.5).flat_fraction, [0.0, 0.0, 0.25])


def test_reset_forgets_everything():
    ws = BlockStatistics(1, 2, 1.0)
    ws.add(np.ones((1, 5)), np.ones((1, 5), bool), np.full((1, 5), 9.0))
    ws.close_block()
    ws.add(np.ones((1, 5)), np.ones((1, 5), bool), np.full((1, 5), 9.0))
    ws.reset()
    ws.close_block()
    w = ws.window()
    assert w.count[0] == 0 and w.missing[0] == 0 and w.saturated[0] == 0 and w.std[0] == 0


def test_bad_input_is_refused_before_anything_is_added():
    ws = BlockStatistics(2, 3, 10.0)
    good = np.zeros((2, 4))
    with pytest.raises(ValueError, match=r"values must have shape \(2, n\)"):
        ws.add(np.zeros((3, 4)), np.zeros((3, 4), bool), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="missing must have the shape of values"):
        ws.add(good, np.zeros((2, 3), bool), good)
    bad = good.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="values must be finite"):
        ws.add(bad, np.zeros((2, 4), bool), good)
    ws.close_block()
    assert ws.window().count.tolist() == [0.0, 0.0]
    for kwargs, msg in (
        (dict(n_channels=0, n_blocks=1, saturation=1.0), "n_channels"),
        (dict(n_channels=1, n_blocks=0, saturation=1.0), "n_blocks"),
        (dict(n_channels=1, n_blocks=1, saturation=0.0), "saturation"),
    ):
        with pytest.raises(ValueError, match=msg):
            BlockStatistics(**kwargs)


def test_ring_buffer_keeps_newest_contiguously():
    rb = RingBuffer(2, 7)
    stream = np.arange(200.0).reshape(2, 100)
    i = 0
    for n in [3, 0, 5, 7, 1, 12, 2, 30]:
        rb.push(stream[:, i : i + n])
        i += n
        held = min(i, 7)
        np.testing.assert_array_equal(rb.latest(), stream[:, i - held : i])
        assert rb.latest().strides[1] == rb.latest().itemsize  # rows are contiguous views
        np.testing.assert_array_equal(rb.latest(2), stream[:, i - 2 : i])
    with pytest.raises(ValueError, match="shape"):
        rb.push(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="n must be"):
        rb.latest(8)
