"""The on-disk EAV window cache: same windows as the in-memory loader, reuse and invalidation,
damaged entries refused, and training through it equal to training in memory."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from edge_emotion.training.datasets.eav_cache import EAVWindows, build_eav_cache
from edge_emotion.training.datasets.eav_loader import load_eav
from edge_emotion.training.datasets.eav_synthetic import SyntheticEAVConfig, write_synthetic_eav

SYN = SyntheticEAVConfig(n_subjects=2, n_trials=10, trial_s=10.0, seed=5)
CONFIG = SYN.loader_config()

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def eav(tmp_path_factory):
    root = write_synthetic_eav(tmp_path_factory.mktemp("eav_cache_src"), SYN)
    return root, load_eav(root, config=CONFIG)


def test_cached_windows_equal_the_in_memory_loader(eav, tmp_path):
    root, mem = eav
    cached = build_eav_cache(root, tmp_path / "cache", config=CONFIG)
    assert len(cached) == len(mem) and cached.config == CONFIG
    for k in ("label", "subject", "trial", "window", "mask"):
        np.testing.assert_array_equal(getattr(cached, k), getattr(mem, k))
    got = cached.take(np.arange(len(cached)))
    for k in ("eeg", "audio", "video", "mask"):
        np.testing.assert_array_equal(got[k], getattr(mem, k))
    # any order, rows from both participants in one batch
    idx = np.array([len(mem) - 1, 0, 7, len(mem) // 2])
    part = cached.take(idx)
    np.testing.assert_array_equal(part["video"], mem.video[idx])
    np.testing.assert_array_equal(part["eeg"], mem.eeg[idx])
    assert cached.summary["subjects"] == [1, 2]
    assert cached.summary["windows"] == mem.summary["windows"]
    with pytest.raises(IndexError, match="out of range"):
        cached.take(np.array([len(mem)]))


def test_entries_are_reused_and_invalidated_by_source_or_config(eav, tmp_path):
    root, _ = eav
    src = tmp_path / "src"
    shutil.copytree(root, src)
    cache = tmp_path / "cache"
    first = build_eav_cache(src, cache, [1], CONFIG)
    meta = first.folders[0] / "meta.json"
    stamp = meta.stat().st_mtime_ns
    again = build_eav_cache(src, cache, [1], CONFIG)
    assert again.folders == first.folders and meta.stat().st_mtime_ns == stamp
    # a source file changes: a new entry, the old one is not served
    wav = sorted((src / "subject1" / "Audio").iterdir())[0]
    os.utime(wav, ns=(wav.stat().st_atime_ns, wav.stat().st_mtime_ns + 10**9))
    changed = build_eav_cache(src, cache, [1], CONFIG)
    assert changed.folders != first.folders
    # another loader configuration: another entry
    other = build_eav_cache(src, cache, [1], CONFIG.__class__(**{**CONFIG.to_dict(), "n_mels": 16}))
    assert other.folders[0] not in (first.folders[0], changed.folders[0])
    assert other.take(np.arange(2))["audio"].shape == (2, 16, CONFIG.shapes["audio"][1])
    with pytest.raises(ValueError, match="different loader configurations"):
        EAVWindows([changed.folders[0], other.folders[0]])


def test_incomplete_or_damaged_entries_are_refused(eav, tmp_path):
    root, _ = eav
    cached = build_eav_cache(root, tmp_path / "cache", [1], CONFIG)
    folder = cached.folders[0]
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "meta.json").unlink()  # an interrupted build never wrote it
    with pytest.raises(FileNotFoundError, match="not a complete EAV cache entry"):
        EAVWindows([broken])
    shutil.rmtree(broken)
    shutil.copytree(folder, broken)
    video = broken / "video.npy"
    with open(video, "r+b") as fh:  # truncated: the header promises more than the file holds
        fh.truncate(video.stat().st_size - 10)
    with pytest.raises(ValueError, match=r"video\.npy: header says"):
        EAVWindows([broken])
    shutil.rmtree(broken)
    shutil.copytree(folder, broken)
    meta = json.loads((broken / "meta.json").read_text())
    (broken / "meta.json").write_text(json.dumps({**meta, "format": "something/0"}))
    with pytest.raises(ValueError, match="format 'something/0'"):
        EAVWindows([broken])


def test_training_from_the_cache_equals_training_in_memory(eav, tmp_path):
    from edge_emotion.training.eav_experiment import train_and_evaluate, variant_config
    from edge_emotion.training.loop import TrainConfig
    from edge_emotion.training.models.eav_fusion import EAVModelConfig, model_config_for_data
    from edge_emotion.training.models.transformer import AudioConfig, EEGConfig, VideoConfig

    root, mem = eav
    cached = build_eav_cache(root, tmp_path / "cache", config=CONFIG)
    small = EAVModelConfig(
        fusion_dim=16,
        fusion_heads=2,
        tokens_per_modality=2,
        eeg=EEGConfig(filters=8, dim=16, depth=1, heads=2),
        audio=AudioConfig(patch=8, stride=8, dim=16, depth=1, heads=2),
        video=VideoConfig(patch=8, dim=16, depth=1, heads=2),
    )
    cfg = variant_config("fusion", model_config_for_data(CONFIG.shapes, small))
    tr, te = np.flatnonzero(mem.subject == 1), np.flatnonzero(mem.subject == 2)
    train = TrainConfig(epochs=2, batch_size=4, device="cpu", seed=0)
    a = train_and_evaluate(cfg, mem, tr, te, train, missing_modality=True)
    b = train_and_evaluate(cfg, cached, tr, te, train, missing_modality=True)
    assert a["history"] == b["history"]
    assert a["missing_modality_accuracy"] == b["missing_modality_accuracy"]
    np.testing.assert_array_equal(a["test_features"], b["test_features"])
