"""Shared helpers for the export/bundle/engine tests: one small bundle per test session.

Exporting costs ~10 s (the dynamo ONNX exporter), so the tests share one bundle built
from a small, randomly initialised MAAN checkpoint (real architecture, real export
path); tests that tamper with a bundle copy it first.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np

SMALL_MODEL = {"eeg_width": 4, "ecg_width": 4, "depth": 1, "hidden": 16, "reduction": 2}


def write_checkpoint(
    path: Path, seed: int = 0, synthetic: bool = True, modality: str | None = None, **overrides
) -> Path:
    """A contract checkpoint (edge_emotion.checkpoint/1) of a small random MAAN, or with
    ``modality`` ("eeg"/"ecg") of a small random one-modality model (the ``base`` model,
    as the training CLI's ``--modalities`` writes; ``channels``: its EEG channels);
    ``thresholds``: the targets' decision thresholds."""
    import torch

    from edge_emotion.kernels.config import FeatureConfig
    from edge_emotion.normalization import Normalization
    from edge_emotion.training.checkpoint import save_checkpoint
    from edge_emotion.training.families import EEG_ECG
    from edge_emotion.training.models.maan import build_model, model_config

    torch.manual_seed(seed)
    channels = overrides.pop("channels", None)
    thresholds = overrides.pop("thresholds", {"arousal": 0.5, "valence": 0.45})
    fc = FeatureConfig()
    name = "maan"
    if modality is not None:
        eeg_channels = tuple(channels or fc.eeg_channels) if modality == "eeg" else ()
        fc = FeatureConfig(modalities=(modality,), eeg_channels=eeg_channels)
        name = "base"
        overrides = {"modalities": [modality], "n_channels": max(len(eeg_channels), 1), **overrides}
    cfg = model_config(name, **{**SMALL_MODEL, **overrides})
    model = build_model(cfg)
    rng = np.random.default_rng(seed)
    n_ch = len(fc.eeg_channels)
    norm = Normalization(
        rng.normal(1.0, 0.3, (4, n_ch)) if fc.has_eeg else None,
        rng.uniform(0.5, 1.5, (4, n_ch)) if fc.has_eeg else None,
        0.4 if fc.has_ecg else None,
        0.3 if fc.has_ecg else None,
    ).to_dict()
    ckpt = EEG_ECG.make_checkpoint(
        model,
        cfg,
        metrics={"val_accuracy": {"arousal": 0.5, "valence": 0.5}},
        dataset={"name": "test-random", "synthetic": synthetic},
        feature_config=fc.to_dict(),
        normalization=norm,
        targets=["arousal", "valence"],
        thresholds=thresholds,
    )
    return save_checkpoint(ckpt, path)


@functools.lru_cache(maxsize=1)
def exported_bundle() -> Path:
    """Path of a bundle exported once per session (fp32, INT8, FP16, model.pt)."""
    import torch

    from edge_emotion.bundle import load_bundle
    from edge_emotion.export.bundle_content import ExportOptions
    from edge_emotion.export.bundle_writer import export_bundle
    from edge_emotion.export.data import gaussian_features

    root = Path(tempfile.mkdtemp(prefix="ee_bundle_"))
    atexit.register(shutil.rmtree, root, True)
    ckpt_path = write_checkpoint(root / "ckpt.pt")
    ckpt = torch.load(ckpt_path, weights_only=True)
    norm = load_norm(ckpt)
    cal = gaussian_features(norm, 10, 32, 64, seed=0)
    held = gaussian_features(norm, 10, 32, 128, seed=1)
    export_bundle(ckpt, root / "bundle", cal, held, ExportOptions(fp16=True))
    load_bundle(root / "bundle")
    return root / "bundle"


def load_norm(ckpt):
    from edge_emotion.normalization import Normalization

    return Normalization.from_dict(ckpt["normalization"], 4, 14)


def copy_bundle(dst: Path) -> Path:
    """A private copy of the session bundle (for tests that modify files)."""
    return Path(shutil.copytree(exported_bundle(), dst / "bundle"))


def edit_manifest(bundle: Path, edit) -> None:
    """Apply ``edit(manifest_dict)`` to ``bundle/manifest.json`` in place."""
    import json

    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def rehash_file(bundle: Path, name: str) -> None:
    """What an attacker does after replacing a file: make the manifest's table agree."""
    import hashlib

    data = (bundle / name).read_bytes()
    edit_manifest(
        bundle,
        lambda m: m["files"][name].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data)),
    )
