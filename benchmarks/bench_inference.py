"""Per-decision inference latency at batch 1: torch vs onnxruntime fp32 vs onnxruntime INT8.

One window (EEG DE map (4, 14, 10) + HRV series (1, 32)) through ``engine.predict``
(normalisation, model, sigmoid) of the shipped demo bundle, one CPU thread per engine
(the runtime's setting). torch is the reference of the group: pytest-benchmark's
comparison table gives each engine's ratio to it. Run:

    python -m pytest benchmarks/bench_inference.py --benchmark-only --benchmark-group-by=group
"""

from __future__ import annotations

import numpy as np
import pytest

from edge_emotion.bundle import DEMO_BUNDLE_PATH, load_bundle
from edge_emotion.engines import create_engine

BACKENDS = ("torch", "onnxruntime-fp32", "onnxruntime")


@pytest.fixture(scope="module")
def bundle():
    if not (DEMO_BUNDLE_PATH / "manifest.json").is_file():
        pytest.skip(f"no demo bundle at {DEMO_BUNDLE_PATH} (scripts/make_demo_bundle.py)")
    return load_bundle(DEMO_BUNDLE_PATH)


@pytest.fixture(scope="module")
def window(bundle):
    rng = np.random.default_rng(0)
    n = bundle.normalization
    eeg = n.eeg_mean[None, :, :, None] + n.eeg_std[None, :, :, None] * rng.normal(
        size=(1, *bundle.feature_config.eeg_shape)
    )
    ecg = n.ecg_mean + n.ecg_std * rng.normal(size=(1, 1, *bundle.feature_config.hrv_shape))
    return eeg, ecg


@pytest.mark.parametrize("backend", BACKENDS)
def test_inference_batch1(benchmark, bundle, window, backend):
    engine = create_engine(bundle, backend, threads=1)
    eeg, ecg = window
    for _ in range(20):  # warm-up: first runs allocate and pick kernels
        engine.predict(eeg, ecg)
    benchmark.group = "inference batch 1 (per decision)"
    benchmark.extra_info["engine"] = engine.name
    probs = benchmark(engine.predict, eeg, ecg)
    assert probs.shape == (1, len(bundle.targets))
