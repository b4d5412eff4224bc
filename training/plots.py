"""Figures shared by the MAAN (binary arousal/valence) and EAV (5-class) experiments.

- :func:`plot_tsne`: the paper's Fig. 2 (Woo et al. 2023), a 2-D t-SNE of the features
  before the classifier, coloured by class;
- :func:`plot_curves`: loss per epoch (train solid, test dashed) and, when the histories
  hold ``test_acc*`` entries, test accuracy per epoch with each target's majority-class
  rate (what always answering the larger class scores);
- :func:`plot_confusions`: confusion matrices summed over folds, coloured by the share of
  each true class (recall), annotated with counts.

All three take ``class_names`` / ``targets`` so one function serves binary multi-target
and N-class problems, ``synthetic=True`` stamps every figure as synthetic data, and
``figure`` (:class:`edge_emotion.figures.FigureOptions`) sets the formats and resolution;
each returns the files written (one per format). Many models are laid out as a grid of at
most :data:`GRID_COLUMNS` columns, so a figure stays legible at a paper's column width.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge_emotion.figures import FigureOptions, pyplot, save_figure

BINARY_CLASSES = ("low", "high")
SYNTHETIC_STAMP = "SYNTHETIC data: pipeline check, not emotion results"
GRID_COLUMNS = 3
# one style per accuracy line: equal curves (arousal = valence) stay visible
LINE_STYLES = (("-", "o"), ("--", "s"), ("-.", "^"), (":", "D"))


def _grid(plt, names: Sequence[str], targets: Sequence[str], width: float, height: float):
    """Figure and ``axis(model_index, target_index)``: models x targets, or, with a single
    target (an N-class problem), the models in rows of at most ``GRID_COLUMNS``."""
    if len(targets) == 1:
        cols = min(len(names), GRID_COLUMNS)
        rows = math.ceil(len(names) / cols)
    else:
        rows, cols = len(names), len(targets)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    if len(targets) == 1:
        for k in range(len(names), rows * cols):
            axes.flat[k].set_visible(False)

    def axis(r: int, c: int):
        return axes.flat[r] if len(targets) == 1 else axes[r, c]

    return fig, axis


def _save(
    fig, path: str | Path, title: str, synthetic: bool, figure: FigureOptions | None
) -> list[Path]:
    import textwrap

    # ~11 characters of 11-pt text per inch: the title must not run past the figure
    width = max(30, int(11 * fig.get_figwidth()))
    lines = textwrap.wrap(title, width)
    if synthetic:
        lines += textwrap.wrap(SYNTHETIC_STAMP, width)
    fig.suptitle("\n".join(lines), fontsize=11, color="darkred" if synthetic else "black")
    fig.tight_layout()
    return save_figure(fig, path, figure)


def _panel_title(name: str, target: str, n_targets: int) -> str:
    return name if n_targets == 1 else f"{name}: {target}"


def tsne_embed(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D t-SNE (van der Maaten & Hinton 2008; scikit-learn) of ``(N, D)`` features."""
    from sklearn.manifold import TSNE

    features = np.asarray(features, dtype=np.float64)
    if features.shape[0] < 5:
        raise ValueError(f"t-SNE needs at least 5 points, got {features.shape[0]}")
    perplexity = float(min(30.0, max(2.0, (features.shape[0] - 1) / 3)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        features
    )


def plot_tsne(
    embeddings: dict[str, tuple[np.ndarray, np.ndarray]],
    path: str | Path,
    targets: Sequence[str] = ("arousal", "valence"),
    class_names: Sequence[str] = BINARY_CLASSES,
    *,
    title: str = "t-SNE of the features before the classifier (test data)",
    synthetic: bool = False,
    figure: FigureOptions | None = None,
) -> list[Path]:
    """One panel per model and target; points coloured by class.

    ``embeddings[name] = (features (N, D), labels)`` with integer labels ``(N, targets)``
    (or ``(N,)`` for a single target) indexing ``class_names``.
    """
    plt = pyplot()
    names = list(embeddings)
    fig, axis = _grid(plt, names, targets, 3.4, 3.2)
    binary = len(class_names) == 2
    colours = ("tab:blue", "tab:red") if binary else [f"C{k}" for k in range(len(class_names))]
    for r, name in enumerate(names):
        feats, labels = embeddings[name]
        labels = np.asarray(labels).reshape(len(feats), -1)
        if labels.shape[1] != len(targets):
            raise ValueError(
                f"labels of {name!r} must have one column per target {tuple(targets)}, "
                f"got shape {labels.shape}"
            )
        xy = tsne_embed(feats)
        dot = 5 if len(xy) > 300 else 14
        for c, target in enumerate(targets):
            ax = axis(r, c)
            for k, cls in enumerate(class_names):
                sel = labels[:, c] == k
                text = f"{cls} {target}" if binary else cls
                ax.scatter(xy[sel, 0], xy[sel, 1], s=dot, c=colours[k], alpha=0.65, label=text)
            ax.set_title(_panel_title(name, target, len(targets)), fontsize=10)
            ax.set_xlabel("t-SNE 1", fontsize=8)
            ax.set_ylabel("t-SNE 2", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 or len(targets) > 1:  # one class legend is enough for N classes
                ax.legend(fontsize=7, markerscale=2, loc="best", framealpha=0.7)
    return _save(fig, path, title, synthetic, figure)


def _fold_matrix(histories: Sequence[Sequence[dict]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Epoch numbers and a ``(folds, epochs)`` matrix of ``key``, NaN where a fold lacks it."""
    n = max((len(h) for h in histories), default=0)
    values = np.full((len(histories), n), np.nan)
    epochs = np.arange(1, n + 1)
    for i, hist in enumerate(histories):
        for j, record in enumerate(hist):
            values[i, j] = record.get(key, np.nan)
            epochs[j] = record.get("epoch", j + 1)
    return epochs, values


def _fold_lines(ax, epochs, values, colour, ls, label, marker: str | None = None) -> None:
    """Thin line per fold, bold mean over folds (the only one in the legend)."""
    present = ~np.all(np.isnan(values), axis=1)
    if not present.any():
        return
    values = values[present]
    if len(values) > 1:
        for row in values:
            ax.plot(epochs, row, lw=0.7, ls=ls, color=colour, alpha=0.3)
        label = f"{label} (mean of {len(values)})"
    # markers keep short runs and lines lying on one another visible: ~10 per line
    every = max(1, len(epochs) // 10)
    if marker is None and len(epochs) <= 12:
        marker = "o"
    mean = np.nanmean(values, axis=0)
    ax.plot(
        epochs, mean, lw=2, ls=ls, color=colour, marker=marker, ms=5, markevery=every, label=label
    )


def _epoch_axis(ax, epochs: np.ndarray, locator) -> None:
    """Whole epochs on the x axis, with room around a run of a single epoch."""
    if len(epochs):
        lo, hi = int(min(epochs)), int(max(epochs))
        ax.set_xlim(lo - 0.5, hi + 0.5)
        if hi - lo < 12:  # MaxNLocator falls back to fractions on a span under one
            ax.set_xticks(range(lo, hi + 1))
            return
    ax.xaxis.set_major_locator(locator(integer=True))


def _accuracy_label(key: str) -> str:
    rest = key.removeprefix("test_acc").removeprefix("uracy").lstrip("_")
    return rest or "accuracy"


def plot_curves(
    models: dict[str, Any],
    path: str | Path,
    loss_label: str = "BCE loss",
    *,
    chance: Mapping[str, float] | float | None = None,
    title: str = "Training curves (thin: folds; bold: mean over folds)",
    synthetic: bool = False,
    figure: FigureOptions | None = None,
) -> list[Path]:
    """Per model: loss per epoch (train solid, test dashed) and, when the histories hold
    ``test_acc*`` keys, test accuracy per epoch below it, each target in its own colour,
    line style and marker. ``chance``: per accuracy line (``test_acc_<target>`` ->
    ``target``; ``test_accuracy`` -> ``accuracy``) the majority-class rate, drawn dotted
    in that line's colour, or one number for all. Models sit in a grid of at most
    ``GRID_COLUMNS`` columns. ``models[name]["folds"][k]["history"]`` is a list of
    per-epoch dicts.

    The test numbers are for curves only: training keeps the last epoch's model.
    """
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    names = list(models)
    histories = {n: [f["history"] for f in models[n]["folds"]] for n in names}
    acc_keys = sorted(
        {
            k
            for hs in histories.values()
            for h in hs
            for r in h
            for k in r
            if k.startswith("test_acc")
        }
    )
    panels = 2 if acc_keys else 1
    cols = min(len(names), GRID_COLUMNS)
    rows = panels * math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(max(3.6 * cols, 4.6), 2.9 * rows), squeeze=False)
    for k in range(len(names), rows // panels * cols):
        for p in range(panels):
            axes[(k // cols) * panels + p, k % cols].set_visible(False)
    for k, name in enumerate(names):
        top, c = (k // cols) * panels, k % cols
        ax = axes[top, c]
        ep, train = _fold_matrix(histories[name], "train_loss")
        _fold_lines(ax, ep, train, "tab:blue", "-", "train")
        ep, test = _fold_matrix(histories[name], "test_loss")
        _fold_lines(ax, ep, test, "tab:orange", "--", "test")
        ax.set_title(f"{name}: loss", fontsize=10)
        _epoch_axis(ax, ep, MaxNLocator)
        ax.set_xlabel("epoch")
        ax.set_ylabel(loss_label)
        ax.legend(fontsize=8)
        if acc_keys:
            _accuracy_panel(axes[top + 1, c], name, histories[name], acc_keys, chance)
            _epoch_axis(axes[top + 1, c], ep, MaxNLocator)
    return _save(fig, path, title, synthetic, figure)


def _accuracy_panel(ax, name, histories, acc_keys, chance) -> None:
    for i, key in enumerate(acc_keys):
        ep, acc = _fold_matrix(histories, key)
        ls, marker = LINE_STYLES[i % len(LINE_STYLES)]
        label = _accuracy_label(key)
        _fold_lines(ax, ep, acc, f"C{i + 2}", ls, label, marker)
        rate = chance.get(label) if isinstance(chance, Mapping) else None
        if rate is not None:
            ax.axhline(
                rate,
                color=f"C{i + 2}",
                lw=1.2,
                ls=":",
                label=("" if label == "accuracy" else f"{label} ") + f"majority class {rate:.2f}",
            )
    if chance is not None and not isinstance(chance, Mapping):
        ax.axhline(chance, color="grey", lw=1.2, ls=":", label=f"chance {chance:.2f}")
    ax.set_ylim(0, 1.04)
    ax.set_title(f"{name}: test accuracy", fontsize=10)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    # below the panel: a legend inside would hide curves near 1.0 or near chance
    ax.legend(
        fontsize=7,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.3),
        ncol=2 if len(acc_keys) > 1 else 1,
        handlelength=2.5,
        frameon=False,
    )


def plot_confusions(
    models: dict[str, Any],
    path: str | Path,
    targets: Sequence[str] = ("arousal", "valence"),
    class_names: Sequence[str] = BINARY_CLASSES,
    *,
    title: str = "Confusion matrices summed over folds (colour: share of the true class)",
    synthetic: bool = False,
    figure: FigureOptions | None = None,
) -> list[Path]:
    """Confusion matrices ``models[name]["summary"][target]["confusion"]`` (rows: true,
    columns: predicted, ``len(class_names)`` square), one panel per model and target."""
    plt = pyplot()
    names = list(models)
    k = len(class_names)
    size = 1.9 + 0.28 * k
    fig, axis = _grid(plt, names, targets, size, size)
    rotate = max(len(c) for c in class_names) > 4
    for r, name in enumerate(names):
        for c, target in enumerate(targets):
            cm = np.asarray(models[name]["summary"][target]["confusion"], dtype=np.int64)
            if cm.shape != (k, k):
                raise ValueError(
                    f"confusion of {name!r}/{target!r} must be {k}x{k} for class_names "
                    f"{tuple(class_names)}, got {cm.shape}"
                )
            share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
            ax = axis(r, c)
            ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
            for i in range(k):
                for j in range(k):
                    colour = "white" if share[i, j] > 0.6 else "black"
                    ax.text(
                        j,
                        i,
                        f"{cm[i, j]}\n{share[i, j]:.0%}",
                        ha="center",
                        va="center",
                        color=colour,
                        fontsize=8 if k <= 3 else 7,
                    )
            ax.set_xticks(range(k), class_names, fontsize=8)
            ax.set_yticks(range(k), class_names, fontsize=8)
            if rotate:
                ax.tick_params(axis="x", labelrotation=40)
                for lab in ax.get_xticklabels():
                    lab.set_horizontalalignment("right")
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            ax.set_title(_panel_title(name, target, len(targets)), fontsize=10)
    return _save(fig, path, title, synthetic, figure)
