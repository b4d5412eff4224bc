"""The bundles the package ships (edge_emotion/bundles, scripts/make_shipped_bundles.py):
they load, say what they were trained on, run on one modality where they take one, are
found by name, are listed by ``run --list-bundles``, and are package data."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import numpy as np
import pytest

from edge_emotion.bundle import BundleError, load_bundle
from edge_emotion.kernels.config import OPENBCI_CYTON_CHANNELS
from edge_emotion.shipped import (
    BUNDLES_DIR,
    DEFAULT_BUNDLE,
    SYNTHETIC_DEMO_BUNDLE,
    list_bundles_lines,
    resolve_bundle,
    shipped_bundle_paths,
)

REPO = Path(__file__).resolve().parents[1]
# name -> (modalities, EEG channels)
EXPECTED = {
    "cyton8-ecg": (("eeg", "ecg"), OPENBCI_CYTON_CHANNELS),
    "cyton8-eeg": (("eeg",), OPENBCI_CYTON_CHANNELS),
    "ecg": (("ecg",), None),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_shipped_bundle_says_what_it_was_trained_on(name):
    bundle = load_bundle(BUNDLES_DIR / name)
    modalities, channels = EXPECTED[name]
    fc = bundle.feature_config
    assert fc.modalities == modalities
    if channels is not None:
        assert fc.eeg_channels == channels
    assert fc.eeg_fs == fc.ecg_fs == 125.0
    assert bundle.targets == ("arousal",)
    assert not bundle.is_demo
    assert bundle.normalization.mode == "session_baseline"
    about = bundle.manifest["about"]
    assert "ODC-By" in about["licence"]
    assert any("Zyma" in a for a in about["attribution"])
    assert any("Goldberger" in a for a in about["attribution"])
    assert "not an emotion" in about["target"]
    held = about["held_out_subject"]
    assert held not in about["training_subjects"] and len(about["training_subjects"]) == 23
    for scored in about["held_out_result"].values():
        assert 0.0 <= scored["balanced_accuracy"] <= 1.0 and scored["windows"] > 0
    for folder in (bundle.path, *(f.path for f in bundle.fallbacks.values())):
        size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        assert size < 2 * 1024 * 1024  # per model


def test_the_default_bundle_carries_the_one_modality_bundles_as_fallbacks():
    """``run --on-bad-modality fallback`` with the default bundle decides a window whose
    ECG (EEG) is bad with the shipped cyton8-eeg (ecg) model: the same files."""
    import hashlib

    bundle = load_bundle(BUNDLES_DIR / DEFAULT_BUNDLE)
    assert sorted(bundle.fallbacks) == ["ecg", "eeg"]
    assert bundle.manifest["about"]["fallbacks"] == {"eeg": "cyton8-eeg", "ecg": "ecg"}

    def digest(folder: Path) -> str:
        return hashlib.sha256((folder / "model.int8.onnx").read_bytes()).hexdigest()

    for modality, name in (("eeg", "cyton8-eeg"), ("ecg", "ecg")):
        fallback = bundle.fallbacks[modality]
        assert fallback.feature_config.modalities == (modality,)
        assert digest(fallback.path) == digest(BUNDLES_DIR / name)
        assert fallback.thresholds == load_bundle(BUNDLES_DIR / name).thresholds
    for one in ("cyton8-eeg", "ecg"):
        assert not load_bundle(BUNDLES_DIR / one).fallbacks


@pytest.mark.parametrize("name", ["cyton8-eeg", "ecg"])
def test_a_one_modality_bundle_runs_on_its_modality_alone(name):
    from edge_emotion.engines import create_engine

    bundle = load_bundle(BUNDLES_DIR / name)
    fc = bundle.feature_config
    rng = np.random.default_rng(0)
    eeg = rng.normal(3.0, 0.5, (2, *fc.eeg_shape)) if "eeg" in fc.modalities else None
    ecg = rng.uniform(0.7, 0.9, (2, 1, *fc.hrv_shape)) if "ecg" in fc.modalities else None
    for backend in ("onnxruntime", "onnxruntime-fp32"):
        engine = create_engine(bundle, backend)
        p = engine.predict(eeg, ecg)
        assert p.shape == (2, 1) and np.all((p >= 0) & (p <= 1))
        # what is given for the modality the bundle does not take is ignored
        junk = np.full((5, 3), np.nan)
        other = engine.predict(eeg if eeg is not None else junk, ecg if ecg is not None else junk)
        np.testing.assert_array_equal(other, p)
    with pytest.raises(ValueError, match="must have shape"):
        engine.predict(
            np.zeros((2, 1)) if eeg is not None else None,
            np.zeros((2, 1)) if ecg is not None else None,
        )


def test_bundles_are_found_by_name_or_folder(tmp_path):
    assert resolve_bundle(None) == BUNDLES_DIR / DEFAULT_BUNDLE
    assert resolve_bundle("ecg") == BUNDLES_DIR / "ecg"
    assert resolve_bundle(SYNTHETIC_DEMO_BUNDLE).name == "demo_bundle"
    assert resolve_bundle(str(BUNDLES_DIR / "ecg")) == BUNDLES_DIR / "ecg"
    with pytest.raises(BundleError, match="neither a bundle folder nor a shipped bundle"):
        resolve_bundle("cyton9")
    # a folder of that name in the working directory wins over the shipped name
    assert resolve_bundle(str(tmp_path)) == tmp_path


def test_list_bundles_shows_what_ships(capsys):
    from edge_emotion.run import main

    assert main(["--list-bundles"]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines() == list_bundles_lines()
    for name in [*EXPECTED, SYNTHETIC_DEMO_BUNDLE]:
        assert name in out
    assert f"{DEFAULT_BUNDLE} (default)" in out
    assert "Fp1,Fp2,C3,C4,P7,P8,O1,O2" in out and "EEG+ECG" in out
    assert "held-out Subject01" in out
    assert "fallbacks      ECG alone: ecg, EEG alone: cyton8-eeg" in out  # the default's


def test_shipped_files_are_package_data():
    """A non-editable install gets every shipped file: each lies under a package that
    pyproject lists, and that package's package-data globs match it."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    package_data = setuptools["package-data"]
    data_packages = [
        name
        for name in setuptools["packages"]
        if name.startswith("edge_emotion.") and name in package_data
    ]
    package = REPO / "edge_emotion"
    files = [
        f
        for folder in (package / "bundles", package / "demo_data")
        for f in folder.rglob("*")
        if f.is_file() and "__pycache__" not in f.parts and f.name != "trt_cache"
    ]
    assert files
    missing = []
    for f in files:
        covered = False
        for name in data_packages:
            folder = REPO / name.replace(".", "/")
            if f.is_relative_to(folder):
                rel = f.relative_to(folder).as_posix()
                covered |= any(fnmatch.fnmatch(rel, g) for g in package_data[name])
        if not covered:
            missing.append(f.relative_to(package).as_posix())
    assert not missing, f"not package data: {missing}"
    assert set(shipped_bundle_paths()) >= {*EXPECTED, SYNTHETIC_DEMO_BUNDLE}
