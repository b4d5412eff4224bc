"""The hop benchmarks' shared inputs (the synthetic demo's bundle and 60 s of its EEG +
ECG), and median (p50) and p99, in seconds, for each benchmark in the pytest-benchmark
JSON."""

from __future__ import annotations

import numpy as np
import pytest

from edge_emotion.bundle import DEMO_BUNDLE_PATH, load_bundle
from edge_emotion.demo_recording import SYNTHETIC_FS
from edge_emotion.synthetic import synthetic_recording


@pytest.fixture(scope="module")
def bundle():
    """The synthetic demo's bundle (14 Emotiv EEG channels + ECG at 128 Hz)."""
    return load_bundle(DEMO_BUNDLE_PATH)


@pytest.fixture(scope="module")
def signal(bundle):
    """60 s of generated EEG + ECG for ``bundle``'s channels at ``SYNTHETIC_FS`` (250 Hz,
    a Cyton-class board rate): the same samples for every hop benchmark."""
    fc = bundle.feature_config
    return synthetic_recording(fc.eeg_channels, 60.0, SYNTHETIC_FS, np.random.default_rng(11))


def pytest_benchmark_update_json(config, benchmarks, output_json):
    by_name = {b.fullname: b for b in benchmarks}
    for entry in output_json.get("benchmarks", []):
        meta = by_name.get(entry.get("fullname"))
        samples = getattr(getattr(meta, "stats", None), "data", None)
        if samples:
            values = np.asarray(samples, dtype=float)
            entry["stats"]["p50"] = float(np.percentile(values, 50))
            entry["stats"]["p99"] = float(np.percentile(values, 99))
