"""Filter designs kept on disk (kernels/design_cache.py): exactly scipy's, a damaged or
missing file is a miss, and a runtime whose designs are kept never imports scipy.signal."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.signal

from edge_emotion.kernels import design_cache
from edge_emotion.kernels.design_cache import cached_design


@pytest.fixture
def cache(tmp_path, monkeypatch):
    path = tmp_path / "designs.json"
    monkeypatch.setattr(design_cache, "cache_file", lambda: path)
    monkeypatch.setattr(design_cache, "_table", None)
    return path


def _butter():
    return scipy.signal.butter(4, [8.0, 14.0], btype="bandpass", fs=128.0, output="sos")


def test_a_kept_design_is_exactly_scipys_and_is_not_computed_again(cache, monkeypatch):
    calls = []

    def design():
        calls.append(1)
        return _butter()

    first = cached_design("k", design)
    assert cache.is_file() and len(calls) == 1
    monkeypatch.setattr(design_cache, "_table", None)  # a new process: read from the file
    again = cached_design("k", design)
    assert len(calls) == 1
    assert np.array_equal(again, _butter()) and np.array_equal(first, again)
    assert again.dtype == np.float64 and again.shape == (4, 6)


@pytest.mark.parametrize(
    "content", [b"not json", b"[1, 2]", json.dumps({"k": [[4, 6], ["zz"]]}).encode()]
)
def test_a_damaged_file_is_a_miss_and_is_rewritten(cache, content):
    cache.write_bytes(content)
    assert np.array_equal(cached_design("k", _butter), _butter())
    assert "k" in json.loads(cache.read_text())


def test_an_oversized_file_is_not_read(cache):
    cache.write_bytes(b" " * (design_cache.MAX_FILE_BYTES + 10))
    assert np.array_equal(cached_design("k", _butter), _butter())


def test_no_writable_folder_still_designs(monkeypatch):
    monkeypatch.setattr(design_cache, "cache_file", lambda: None)
    monkeypatch.setattr(design_cache, "_table", None)
    assert np.array_equal(cached_design("k", _butter), _butter())


RUNTIME = """
import sys
from edge_emotion.bundle import DEMO_BUNDLE_PATH, load_bundle
from edge_emotion.classifier import warm_up
from edge_emotion.engines import create_engine
bundle = load_bundle(DEMO_BUNDLE_PATH)
warm_up(bundle, create_engine(bundle, "onnxruntime-fp32"))
print("scipy.signal" in sys.modules)
"""


def test_the_runtime_does_not_import_scipy_signal_once_its_designs_are_kept():
    outs = [
        subprocess.run(
            [sys.executable, "-c", RUNTIME], capture_output=True, text=True, check=True
        ).stdout.split()[-1]
        for _ in range(2)
    ]
    assert outs[1] == "False"  # the first run may have designed (and kept) them
