"""Recordings at the model's rates through the runtime's resampler
(training/recordings/model_rate.py): the time convention, what the device sees, cuts,
missing samples."""

from __future__ import annotations

import numpy as np
import pytest
from recording_files import ecg_like, write_two_stream_xdf
from scipy.signal import resample_poly

from edge_emotion.kernels.resample import StreamingResampler, rational_ratio
from edge_emotion.training.recordings import (
    Channel,
    Recording,
    RecordingError,
    Stream,
    model_rate_signals,
    read_recording,
    resample_aligned,
)
from edge_emotion.training.recordings.model_rate import missing_at_rate


@pytest.mark.parametrize(
    ("fs_in", "fs_out", "n"),
    [(500, 128, 5000), (256, 128, 1001), (250, 128, 777), (1000, 128, 4321), (128, 500, 300)],
)
def test_aligned_output_is_resample_poly_with_edges_held(fs_in, fs_out, n):
    x = np.random.default_rng(0).standard_normal((2, n)) + 300.0  # an electrode offset
    up, down = rational_ratio(fs_in, fs_out)
    ours = resample_aligned(x, fs_in, fs_out)
    ref = resample_poly(x, up, down, axis=1, padtype="edge")
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10)


def test_equal_rates_pass_through():
    x = np.arange(12.0).reshape(2, 6)
    np.testing.assert_array_equal(resample_aligned(x, 128, 128), x)


def test_device_stream_is_the_aligned_output_delayed():
    # What the device computes (StreamingResampler over chunks, from zero history) equals
    # the training path shifted by delay_samples, once past the filter's start-up.
    fs_in, fs_out = 500.0, 128.0
    x = np.random.default_rng(1).standard_normal((3, 6000)) * 10.0
    device = StreamingResampler(fs_in, fs_out, 3)
    chunks = np.array_split(x, [17, 500, 1250, 3001, 5000], axis=1)
    streamed = np.concatenate([device.process(c) for c in chunks], axis=1)
    aligned = resample_aligned(x, fs_in, fs_out)
    d = device.delay_samples
    assert d == 11  # 86 ms at 128 Hz: the documented latency of the device's stream
    settle = 2 * d  # the device starts from zeros, this path from the first sample held
    np.testing.assert_allclose(
        streamed[:, settle:], aligned[:, settle - d : streamed.shape[1] - d], atol=1e-10
    )
    assert not np.allclose(streamed[:, :d], aligned[:, :d])  # the start differs, as documented


def _recording(
    fs: float, eeg: np.ndarray, ecg: np.ndarray, ecg_fs: float | None = None
) -> Recording:
    names = ("Fp1", "Fp2", "O1")[: eeg.shape[0]]
    channels = tuple(Channel(n, n, "eeg") for n in names)
    if ecg_fs is None:
        stream = Stream("amp", fs, (*channels, Channel("ECG", "ECG", "ecg")), np.vstack([eeg, ecg]))
        return Recording(None, "edf", (stream,))
    streams = (
        Stream("amp", fs, channels, eeg),
        Stream("chest", ecg_fs, (Channel("ECG", "ECG", "ecg"),), ecg[None]),
    )
    return Recording(None, "edf", streams)


def test_segment_equals_the_whole_recording_cut():
    fs = 500.0
    n = int(60 * fs)
    rng = np.random.default_rng(2)
    rec = _recording(fs, rng.standard_normal((3, n)) * 15, ecg_like(n, fs) * 1000)
    whole = model_rate_signals(rec, None, True, 128.0, 128.0)
    assert whole.eeg.shape == (3, 60 * 128) and whole.ecg.shape == (60 * 128,)
    assert whole.eeg_start_s == 0.0 and whole.ecg_start_s == 0.0
    seg = model_rate_signals(rec, ["O1", "Fp1"], True, 128.0, 128.0, start_s=12.5, end_s=42.5)
    k0 = round(12.5 * 128)
    assert seg.eeg_channels == ("O1", "Fp1")
    assert seg.eeg.shape == (2, 30 * 128) and seg.eeg_start_s == 12.5
    np.testing.assert_allclose(seg.eeg, whole.eeg[[2, 0], k0 : k0 + 30 * 128], atol=1e-9)
    np.testing.assert_allclose(seg.ecg, whole.ecg[k0 : k0 + 30 * 128], atol=1e-9)
    assert seg.source_rates == {"eeg": 500.0, "ecg": 500.0}
    assert seg.duration_s == 30.0 and seg.missing_fraction == 0.0


def test_outside_the_span_is_an_error_naming_the_file(tmp_path):
    rec = _recording(256.0, np.zeros((1, 2560)), np.zeros(2560))
    rec.path = tmp_path / "short.edf"
    with pytest.raises(RecordingError, match=r"short\.edf: segment 5-12 s is outside .* 0-10 s"):
        model_rate_signals(rec, None, True, 128.0, 128.0, start_s=5.0, end_s=12.0)


def test_missing_samples_are_held_and_marked():
    fs = 256.0
    n = int(20 * fs)
    eeg = np.random.default_rng(3).standard_normal((2, n))
    eeg[1, 2560:2816] = np.nan  # 1 s missing on one channel at 10 s
    eeg[0, :10] = np.nan  # a leading gap takes the first good value
    rec = _recording(fs, eeg, ecg_like(n, fs))
    sig = model_rate_signals(rec, None, False, 128.0, 128.0)
    assert sig.ecg is None and np.isfinite(sig.eeg).all()
    marked = np.flatnonzero(sig.eeg_missing[1])
    # 10-11 s at 128 Hz is samples 1280-1407, widened by the filter's reach.
    assert marked.min() < 1280 and marked.max() > 1407
    assert marked.min() > 1280 - 64 and marked.max() < 1407 + 64
    assert np.all(np.diff(marked) == 1)
    assert sig.eeg_missing[0, :3].all() and not sig.eeg_missing[0, 64:].any()
    assert 0 < sig.missing_fraction < 0.05
    # Missing samples are filled as the device fills them (edge_emotion.lane): on the line
    # between the good samples around the gap, so the model-rate samples inside it are
    # (after the low-pass) a straight line.
    filled = sig.eeg[1, 1300:1390]
    line = np.polyval(np.polyfit(np.arange(filled.size), filled, 1), np.arange(filled.size))
    assert np.max(np.abs(filled - line)) < 1e-6
    good = (eeg[1, 2559], eeg[1, 2816])  # the samples either side of the gap
    assert min(good) - 1e-6 <= filled.min() and filled.max() <= max(good) + 1e-6


def test_missing_mask_matches_where_resampled_nan_would_spread():
    # A NaN reaches exactly the outputs whose filter touches it: compare with NaN
    # propagated through scipy's resample_poly (zero taps do not count there either).
    mask = np.zeros((1, 3000), dtype=bool)
    mask[0, 1200] = True
    ours = missing_at_rate(mask, 500.0, 128.0)[0]
    x = np.where(mask, np.nan, 0.0)
    spread = ~np.isfinite(resample_poly(x, 32, 125, axis=1, padtype="edge"))[0]
    assert spread.any()
    assert np.all(ours[spread])  # never marks less than the filter reaches
    assert ours.sum() <= spread.sum() + 4


def test_xdf_streams_with_different_rates_and_starts(tmp_path):
    rec = read_recording(write_two_stream_xdf(tmp_path / "x.xdf", seconds=8.0, ecg_offset_s=0.25))
    sig = model_rate_signals(rec, ["T3", "Fp1"], True, 128.0, 128.0)
    assert sig.eeg_channels == ("T7", "Fp1")
    # Both begin where the later stream (ECG) begins, to within half a model sample.
    assert sig.eeg_start_s == pytest.approx(0.25, abs=0.5 / 128)
    assert sig.ecg_start_s == pytest.approx(0.25, abs=0.5 / 128)
    assert sig.source_rates == {"eeg": 256.0, "ecg": 130.0}
    assert sig.eeg.shape[1] == sig.ecg.shape[0] == int((8.0 - 0.25) * 128)
    # The ECG's R waves survive 130 -> 128 Hz: one per 60/72 s.
    peaks = np.flatnonzero(
        (sig.ecg[1:-1] > sig.ecg[:-2]) & (sig.ecg[1:-1] >= sig.ecg[2:]) & (sig.ecg[1:-1] > 500)
    )
    assert np.median(np.diff(peaks)) == pytest.approx(128 * 60 / 72, abs=1.5)


def test_model_rate_equal_to_the_file_rate_is_a_plain_cut():
    fs = 128.0
    eeg = np.random.default_rng(4).standard_normal((2, 1280))
    ecg = ecg_like(1280, fs)
    sig = model_rate_signals(_recording(fs, eeg, ecg), None, True, fs, fs, start_s=2.5, end_s=7.0)
    np.testing.assert_array_equal(sig.eeg, eeg[:, 320:896])
    np.testing.assert_array_equal(sig.ecg, ecg[320:896])
