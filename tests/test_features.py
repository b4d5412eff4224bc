"""FeatureConfig validation/serialisation, and the streaming == batch feature path."""

from __future__ import annotations

import json

import pytest

from edge_emotion.kernels.features import DEFAULT_BANDS, FeatureConfig


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
