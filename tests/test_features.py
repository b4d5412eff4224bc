"""FeatureConfig validation/serialisation, and the streaming == batch feature path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_emotion.kernels.config import FeatureConfig
from edge_emotion.kernels.de import DEFAULT_BANDS
from edge_emotion.kernels.features import (
    StreamingFeatureExtractor,
    samples_before,
    trial_features,
)
from edge_emotion.synthetic import synthetic_ecg


def test_config_defaults_match_contract():
    c = FeatureConfig()
    assert c.eeg_shape == (4, 14, 10)
    assert c.hrv_shape == (32,)
    assert c.eeg_channels[0] == "AF3" and c.eeg_channels[-1] == "AF4"
    assert c.bands == DEFAULT_BANDS


def test_config_json_round_trip_and_digest():
    c = FeatureConfig(ecg_fs=250, hop_s=0.5, hrv_length=40, bands=[["alpha", 8, 13]])
    text = json.dumps(c.to_dict())
    back = FeatureConfig.from_dict(json.loads(text))
    assert back == c
    assert back.digest() == c.digest()
    assert FeatureConfig.from_json(c.to_json()) == c
    # rates spelled as ints or floats are the same config
    assert FeatureConfig(ecg_fs=250).digest() == FeatureConfig(ecg_fs=250.0).digest()
    assert FeatureConfig().digest() != FeatureConfig(hrv_length=33).digest()
    assert len(c.digest()) == 64


def test_config_digest_is_the_one_shipped_bundles_carry():
    # The demo bundle (and every exported bundle) stores this digest; a FeatureConfig
    # change that moved it would make the runtime refuse them.
    assert FeatureConfig().digest() == (
        "a21ab0711a05416cd3edd71fc69a307103fec054ff2b96d9b9cd1cdedba552fb"
    )


def test_config_ecg_rate_range_is_the_rpeak_detectors():
    from edge_emotion.kernels.rpeaks import FS_MAX_HZ, FS_MIN_HZ

    assert FeatureConfig(ecg_fs=FS_MIN_HZ).ecg_fs == FS_MIN_HZ
    for fs in (FS_MIN_HZ - 1, FS_MAX_HZ + 1):
        with pytest.raises(ValueError, match=r"ecg_fs must be between 100 and 1000 Hz"):
            FeatureConfig(ecg_fs=fs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"eeg_fs": -1}, "eeg_fs"),
        ({"ecg_fs": 50}, "ecg_fs"),
        ({"window_s": 10.5}, "subwindow_s"),
        ({"hop_s": 0.3}, "hop_s"),
        ({"hop_s": 20.0}, "hop_s"),
        ({"bands": [("alpha", 8, 70)]}, "bands"),
        ({"bands": [("a", 8, 13), ("a", 14, 20)]}, "unique"),
        ({"bands": []}, "bands"),
        ({"hrv_length": 0}, "hrv_length"),
        ({"hrv_length": 2.5}, "hrv_length"),
        ({"eeg_channels": ("AF3", "AF3")}, "duplicate"),
        ({"eeg_channels": ()}, "eeg_channels"),
        ({"ecg_channel": "AF3"}, "ecg_channel"),
        ({"rr_correction": "magic"}, "rr_correction"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FeatureConfig(**kwargs)


def test_config_from_dict_rejects_unknown_and_wrong_format():
    d = FeatureConfig().to_dict()
    with pytest.raises(ValueError, match="unknown keys"):
        FeatureConfig.from_dict({**d, "window": 3})
    with pytest.raises(ValueError, match="format"):
        FeatureConfig.from_dict({**d, "format": "other/9"})
    with pytest.raises(ValueError, match="JSON"):
        FeatureConfig.from_json("{not json")


# --------------------------------------------------------------------------------------
# the feature path
# --------------------------------------------------------------------------------------


def _signals(config: FeatureConfig, duration_s: float, seed: int = 0):
    """EEG with band structure + a realistic ECG (Gaussian-wave beats with RSA)."""
    rng = np.random.default_rng(seed)
    n = round(duration_s * config.eeg_fs)
    t = np.arange(n) / config.eeg_fs
    n_ch = len(config.eeg_channels)
    eeg = np.cumsum(rng.standard_normal((n_ch, n)), axis=1) * 0.3
    eeg += 20 * rng.standard_normal((n_ch, 1)) * np.sin(2 * np.pi * 10.0 * t)
    eeg += 5 * rng.standard_normal((n_ch, n))
    ecg, _ = synthetic_ecg(duration_s, config.ecg_fs, np.random.default_rng(seed), 68.0)
    return eeg, ecg


def _stream(config, eeg, ecg, ends_s, rng, max_chunk):
    """Push both modalities in random chunks; features() at each end time."""
    ext = StreamingFeatureExtractor(config)
    ne = nc = 0
    de_out, hrv_out, beats = [], [], []
    for end in ends_s:
        e_to = samples_before(end, config.eeg_fs)
        c_to = samples_before(end, config.ecg_fs)
        while ne < e_to or nc < c_to:
            k = int(rng.integers(0, max_chunk + 1))
            ext.push_eeg(eeg[:, ne : min(ne + k, e_to)])
            ne = min(ne + k, e_to)
            k = int(rng.integers(0, 2 * max_chunk + 1))
            ext.push_ecg(ecg[nc : min(nc + k, c_to)])
            nc = min(nc + k, c_to)
        assert ext.eeg_samples_seen == e_to and ext.ecg_samples_seen == c_to
        de, hrv = ext.features()
        de_out.append(de)
        hrv_out.append(hrv)
        beats.append(ext.n_beats)
    return np.stack(de_out), np.stack(hrv_out), np.array(beats), ext


@pytest.mark.parametrize(
    ("ecg_fs", "max_chunk", "seed", "offset"),
    [(128.0, 40, 0, 0.0), (250.0, 7, 1, 6e4), (360.0, 300, 2, -3e3)],
)
def test_streaming_equals_trial_features(ecg_fs, max_chunk, seed, offset):
    config = FeatureConfig(ecg_fs=ecg_fs)
    eeg, ecg = _signals(config, 40.0, seed)
    rng = np.random.default_rng(seed)
    eeg = eeg + offset * rng.uniform(0.5, 1.0, (eeg.shape[0], 1))  # electrode offsets
    ends = config.window_s + config.hop_s * np.arange(0, 121, 3)  # 10 s .. 40 s
    de_b, hrv_b, beats_b = trial_features(eeg, ecg, config, ends, return_beats=True)
    de_s, hrv_s, beats_s, _ = _stream(config, eeg, ecg, ends, rng, max_chunk)
    assert de_b.shape == (len(ends), *config.eeg_shape) and de_b.dtype == np.float32
    assert hrv_b.shape == (len(ends), config.hrv_length) and hrv_b.dtype == np.float32
    np.testing.assert_allclose(de_s, de_b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hrv_s, hrv_b, rtol=1e-6, atol=0)
    np.testing.assert_array_equal(beats_s, beats_b)
    # ~68 bpm: a full 10-s ECG window holds about 11 beats
    assert beats_b[-1] >= 9 and ((hrv_b[-1] > 0.7) & (hrv_b[-1] < 1.1)).sum() >= 8


def test_trial_features_match_independent_references():
    """DE against scipy sosfilt (on each channel minus its first sample: the steady-state
    start) + np.var; HRV against detect_rpeaks + hrv_series."""
    from scipy.signal import sosfilt

    from edge_emotion.kernels import StreamingRPeakDetector, detect_rpeaks, hrv_series
    from edge_emotion.kernels.filters import bandpass_bank_sos

    config = FeatureConfig(ecg_fs=250.0)
    eeg, ecg = _signals(config, 25.0, seed=3)
    eeg += np.linspace(-6e4, 6e4, eeg.shape[0])[:, None]
    ends = np.array([10.0, 17.25, 25.0])
    de, hrv = trial_features(eeg, ecg, config, ends)
    sos = bandpass_bank_sos(config.bands, config.eeg_fs)
    sub = config.eeg_subwindow_samples
    peaks = detect_rpeaks(ecg, config.ecg_fs)
    delay = StreamingRPeakDetector(config.ecg_fs).delay_samples
    for w, end in enumerate(ends):
        stop = round(end * config.eeg_fs)
        for b in range(len(config.bands)):
            y = sosfilt(sos[b], eeg[:, :stop] - eeg[:, :1], axis=1)
            y = y[:, stop - config.eeg_window_samples :]
            ref = 0.5 * np.log(2 * np.pi * np.e * y.reshape(y.shape[0], -1, sub).var(axis=2))
            np.testing.assert_allclose(de[w, b], ref, rtol=1e-5, atol=1e-5)
        e_stop = round(end * config.ecg_fs) - delay
        e_start = e_stop - config.ecg_window_samples
        ref = hrv_series(peaks, config.ecg_fs, max(e_start, 0), e_stop, config.hrv_length)
        np.testing.assert_array_equal(hrv[w], ref)
    # alpha (8-14 Hz) carries the 10-Hz rhythm: highest DE of the four bands
    assert (de[:, 1].mean(axis=-1) > de[:, 0].mean(axis=-1)).all()


def test_electrode_offsets_do_not_change_the_first_windows():
    """With filters started in the steady state for the first sample, ~6e4 µV offsets
    (OpenBCI) leave the very first window's DE map as it is without them."""
    config = FeatureConfig(ecg_fs=250.0)
    eeg, ecg = _signals(config, 12.0, seed=8)
    eeg -= eeg[:, :1]
    offsets = np.random.default_rng(8).uniform(-6e4, 6e4, (eeg.shape[0], 1))
    ends = [10.0, 11.0, 12.0]
    de0, _ = trial_features(eeg, ecg, config, ends)
    de1, _ = trial_features(eeg + offsets, ecg, config, ends)
    np.testing.assert_allclose(de1, de0, rtol=0, atol=1e-6)  # float32 output
    ext = StreamingFeatureExtractor(config)
    ext.push_eeg(eeg[:, :1280] + offsets)
    ext.push_ecg(ecg[:2500])
    np.testing.assert_allclose(ext.features()[0], de0[0], rtol=0, atol=1e-6)


def test_few_beats_give_partial_zero_embedded_series():
    config = FeatureConfig(ecg_fs=250.0)
    eeg, ecg = _signals(config, 20.0, seed=4)
    flat = np.zeros_like(ecg)
    de, hrv, beats = trial_features(eeg, flat, config, [20.0], return_beats=True)
    assert beats[0] == 0 and (hrv == 0).all() and np.isfinite(de).all()
    # the first window's ECG part starts before the stream did: fewer beats, still valid
    _, hrv, beats = trial_features(eeg, ecg, config, [10.0, 20.0], return_beats=True)
    assert 0 < beats[0] < beats[1]
    assert (hrv[0] > 0).sum() == beats[0] - 1
    assert (hrv[0][beats[0] - 1 :] == 0).all()


def test_streaming_state_stays_bounded_over_a_long_run():
    config = FeatureConfig(ecg_fs=250.0, eeg_channels=("Fz", "Cz"))
    eeg, ecg = _signals(config, 300.0, seed=5)
    ends = np.array([100.0, 200.0, 300.0])
    de_s, hrv_s, _, ext = _stream(config, eeg, ecg, ends, np.random.default_rng(5), 400)
    cap = ext._peaks.shape[0]
    assert ext._n_peaks <= cap < 100
    de_b, hrv_b = trial_features(eeg, ecg, config, ends)
    np.testing.assert_allclose(de_s, de_b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hrv_s, hrv_b, rtol=1e-6)
    ext.reset()
    assert not ext.ready and ext.ecg_samples_seen == 0
    with pytest.raises(RuntimeError, match="before features"):
        ext.features()


def test_feature_path_rejects_bad_input():
    config = FeatureConfig(ecg_fs=250.0)
    eeg, ecg = _signals(config, 12.0)
    with pytest.raises(ValueError, match="14 channels"):
        trial_features(eeg[:3], ecg, config, [10.0])
    with pytest.raises(ValueError, match="window_s"):
        trial_features(eeg, ecg, config, [9.0])
    with pytest.raises(ValueError, match="eeg holds only"):
        trial_features(eeg, ecg, config, [12.5])
    with pytest.raises(ValueError, match="ecg holds only"):
        trial_features(eeg, ecg[:2000], config, [11.0])
    with pytest.raises(ValueError, match="window_ends_s"):
        trial_features(eeg, ecg, config, [[10.0]])
    bad = eeg.copy()
    bad[2, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        trial_features(bad, ecg, config, [10.0])
    with pytest.raises(ValueError, match="config"):
        trial_features(eeg, ecg, config.to_dict(), [10.0])
    ext = StreamingFeatureExtractor(config)
    with pytest.raises(ValueError, match="14 channels"):
        ext.push_eeg(np.zeros((3, 10)))
    with pytest.raises(ValueError, match="chunk"):
        ext.push_ecg(np.full(10, np.inf))
    de, hrv = trial_features(eeg, ecg, config, [])
    assert de.shape == (0, *config.eeg_shape) and hrv.shape == (0, 32)


@pytest.mark.parametrize("value", [1e101, 1e153, -1e300])
def test_trial_features_reject_eeg_beyond_the_kernels_range(value):
    """trial_features had its own DE code: at 1e153 µV it returned inf/NaN maps without a
    word, where the device's streaming path raised. Both now name EEG_MAX_ABS."""
    config = FeatureConfig(ecg_fs=250.0)
    eeg, ecg = _signals(config, 12.0)
    eeg[3, 700] = value
    with pytest.raises(ValueError, match=r"magnitude at most 1e\+100"):
        trial_features(eeg, ecg, config, [10.0, 11.0])
    ext = StreamingFeatureExtractor(config)
    with pytest.raises(ValueError, match=r"magnitude at most 1e\+100"):
        ext.push_eeg(eeg)


def test_streaming_equals_trial_features_on_real_arrhythmic_ecg(shared_data):
    """MIT-BIH 119 (ventricular bigeminy) at its own 360 Hz: same beats, same series."""
    d = np.load(shared_data / "mitdb" / "119.npz")
    fs = float(d["fs"])
    config = FeatureConfig(ecg_fs=fs, eeg_channels=("O1", "O2"), hop_s=0.5)
    start = round(60 * fs)  # a stretch with PVCs
    ecg = d["ecg"][start : start + round(45 * fs)].astype(np.float64)
    eeg, _ = _signals(config, 45.0, seed=7)
    ends = np.arange(10.0, 45.01, 2.5)
    de_b, hrv_b, beats_b = trial_features(eeg, ecg, config, ends, return_beats=True)
    de_s, hrv_s, beats_s, ext = _stream(config, eeg, ecg, ends, np.random.default_rng(7), 500)
    np.testing.assert_allclose(de_s, de_b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hrv_s, hrv_b, rtol=1e-6)
    np.testing.assert_array_equal(beats_s, beats_b)
    assert beats_b.min() >= 8
    # the last window holds the cardiologists' beats (+-1 at the window edges)
    stop = ext.ecg_samples_seen - ext.delay_samples
    ref = d["rpeaks"] - start
    n_ref = int(((ref >= stop - config.ecg_window_samples) & (ref < stop)).sum())
    assert abs(ext.n_beats - n_ref) <= 1, (ext.n_beats, n_ref)


def test_kernels_demo_runs_on_generated_signals(capsys):
    from edge_emotion.kernels.__main__ import main

    assert main(["--synthetic"]) == 0
    out = capsys.readouterr().out
    assert "generated ECG" in out and "generated EEG" in out
    assert "F1 1.0000" in out  # the generated beats are unambiguous
    assert "HRV series of the last 10 s" in out and "Streaming (device path" in out
    # the alpha rhythm switched on at 30 s shows in the printed alpha DE blocks
    lines = out.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("Alpha DE"))
    cells = " ".join(lines[i + 1 : i + 3]).split()
    start_s = np.array([float(c[:-1]) for c in cells[0::2]])
    alpha = np.array([float(c) for c in cells[1::2]])
    assert alpha[start_s >= 30].min() > alpha[start_s < 30].max() + 1.0, out
