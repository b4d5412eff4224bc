"""Long silent steps say what they are doing (issue 18): the first Numba compile is named
once, with where the cache lives, and only when nothing is cached yet."""

from __future__ import annotations

import logging

from edge_emotion.kernels import jit_cache


def test_the_first_compile_is_named_once_and_only_with_a_cold_cache(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert jit_cache.cache_dirs() == [tmp_path]
    assert jit_cache.cache_is_cold()
    monkeypatch.setattr(jit_cache, "_noted", False)
    with caplog.at_level(logging.INFO, logger="edge_emotion.kernels"):
        jit_cache.note_first_compile()
        jit_cache.note_first_compile()
    notes = [r.getMessage() for r in caplog.records if "compiling the Numba kernels" in r.message]
    assert len(notes) == 1 and str(tmp_path) in notes[0] and "once" in notes[0]

    (tmp_path / "kernels_x").mkdir()
    (tmp_path / "kernels_x" / "rpeaks._detect-10.py311.nbi").write_bytes(b"")
    assert not jit_cache.cache_is_cold()
    monkeypatch.setattr(jit_cache, "_noted", False)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="edge_emotion.kernels"):
        jit_cache.note_first_compile()
    assert not caplog.records


def test_the_streaming_extractor_gives_the_note_before_it_compiles(tmp_path, monkeypatch, caplog):
    from edge_emotion.kernels.config import FeatureConfig
    from edge_emotion.kernels.features import StreamingFeatureExtractor

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(jit_cache, "_noted", False)
    with caplog.at_level(logging.INFO, logger="edge_emotion.kernels"):
        StreamingFeatureExtractor(FeatureConfig())
    assert any("compiling the Numba kernels" in r.message for r in caplog.records)


def test_library_chatter_reaches_the_terminal_only_with_verbose(capsys):
    """onnxruntime's calibrator prints "Collecting tensor data ..." from inside the export;
    the export holds it back unless --verbose set its logger to DEBUG."""
    from edge_emotion.export.onnx_export import quiet_loggers

    logger = logging.getLogger("edge_emotion.export")
    level = logger.level
    try:
        with quiet_loggers("onnxruntime"):
            print("Collecting tensor data and making histogram ...")
        assert "Collecting" not in capsys.readouterr().out
        logger.setLevel(logging.DEBUG)  # what `python -m edge_emotion.export --verbose` does
        with quiet_loggers("onnxruntime"):
            print("Collecting tensor data and making histogram ...")
        assert "Collecting" in capsys.readouterr().out
    finally:
        logger.setLevel(level)


def test_the_data_summary_says_why_trials_were_skipped():
    from edge_emotion.training.dataset_cli import describe_line

    info = {
        "segments": 211,
        "trials": 16,
        "subjects": 4,
        "modalities": ["eeg", "ecg"],
        "load_summary": {"trials_skipped": 49, "skipped_by_reason": {"empty": 48, "odd": 1}},
        "class_balance": {"arousal": {"high_fraction": 0.3}},
    }
    line = describe_line(info)
    assert "skipped spans/trials: 49 (empty: 48, trial stored empty" in line
    assert "trial beyond --trials empty); odd: 1)" in line
