"""Figures worth putting in a paper (issue 18): every format asked for at the resolution
asked for, chance as the majority-class rate, balanced accuracy in the tables, and many
models laid out as a grid instead of a strip."""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from edge_emotion.figures import (
    DEFAULT_DPI,
    FigureOptions,
    add_figure_args,
    figure_options_from_args,
)
from edge_emotion.training.metrics import majority_rate, multiclass_metrics
from edge_emotion.training.plots import plot_confusions, plot_curves

EMOTIONS = ("neutral", "sadness", "anger", "happiness", "calmness")


def _history(n_epochs: int, keys: tuple[str, ...]) -> list[dict]:
    return [
        {"epoch": e + 1, "train_loss": 1 / (e + 1), "test_loss": 0.7, **dict.fromkeys(keys, 0.7)}
        for e in range(n_epochs)
    ]


def test_figure_options_from_the_command_line():
    parser = argparse.ArgumentParser()
    add_figure_args(parser)
    opts = figure_options_from_args(parser.parse_args([]))
    assert opts == FigureOptions(("png",), DEFAULT_DPI) and 200 <= DEFAULT_DPI <= 300
    opts = figure_options_from_args(parser.parse_args(["--format", "svg", "png", "svg"]))
    assert opts.formats == ("svg", "png")
    for bad in (["--format", "jpg"], ["--dpi", "0"], ["--dpi", "many"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)
    with pytest.raises(ValueError, match="figure formats"):
        FigureOptions(())


def test_each_format_is_written_at_the_resolution_asked(tmp_path):
    from PIL import Image

    models = {"maan": {"folds": [{"history": _history(5, ("test_acc_arousal",))}]}}
    written = plot_curves(
        models, tmp_path / "curves.png", figure=FigureOptions(("png", "svg", "pdf"), 100)
    )
    assert [p.name for p in written] == ["curves.png", "curves.svg", "curves.pdf"]
    assert ET.parse(written[1]).getroot().tag.endswith("svg")
    assert written[2].read_bytes()[:5] == b"%PDF-"
    with Image.open(written[0]) as low:
        width_100 = low.width
    (png,) = plot_curves(models, tmp_path / "hi.png", figure=FigureOptions(("png",), 300))
    with Image.open(png) as high:
        assert high.width == pytest.approx(3 * width_100, rel=0.05)


def test_chance_is_the_majority_class_rate_drawn_per_target(tmp_path, monkeypatch):
    # 30 % of the arousal windows high: always "low" scores 0.70
    assert majority_rate([[70, 0], [30, 0]]) == pytest.approx(0.70)
    assert majority_rate([[0, 0], [0, 0]]) == 0.0
    import matplotlib.figure

    drawn = []
    real = matplotlib.figure.Figure.savefig

    def spy(fig, *args, **kwargs):
        for ax in fig.axes:
            drawn.extend(
                (line.get_label(), line.get_linestyle(), line.get_marker())
                for line in ax.get_lines()
            )
        return real(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    keys = ("test_acc_arousal", "test_acc_valence")
    models = {"maan": {"folds": [{"history": _history(20, keys)}]}}
    plot_curves(models, tmp_path / "c.png", chance={"arousal": 0.7, "valence": 0.55})
    labels = [d[0] for d in drawn]
    assert "arousal majority class 0.70" in labels and "valence majority class 0.55" in labels
    # equal arousal and valence curves stay apart by style and marker
    arousal = next(d for d in drawn if d[0] == "arousal")
    valence = next(d for d in drawn if d[0] == "valence")
    assert arousal[1:] != valence[1:] and arousal[2] not in ("", "None")


def test_balanced_accuracy_of_many_classes_is_the_mean_recall():
    y = np.array([0] * 8 + [1] * 2)
    m = multiclass_metrics(y, np.zeros_like(y), 5)  # always the larger class
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["balanced_accuracy"] == pytest.approx(0.5)  # classes 2-4 absent: not counted


def test_many_models_are_a_grid_legible_at_column_width(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    models = {
        name: {"summary": {"emotion": {"confusion": rng.integers(0, 30, (5, 5)).tolist()}}}
        for name in ("eeg", "audio", "video", "fusion", "fusion-concat")
    }
    (png,) = plot_confusions(models, tmp_path / "confusion.png", ("emotion",), EMOTIONS)
    with Image.open(png) as im:
        assert im.width / im.height < 2  # a 2 x 3 grid, not a 1 x 5 strip (5:1)
    curves = {n: {"folds": [{"history": _history(6, ("test_accuracy",))}]} for n in models}
    (png,) = plot_curves(curves, tmp_path / "curves.png", chance={"accuracy": 0.2})
    with Image.open(png) as im:
        assert im.width / im.height < 1.5
