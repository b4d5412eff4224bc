"""PNG figures: the paper's Fig. 2 (t-SNE of pre-classifier features), curves, confusions.

matplotlib's non-interactive Agg backend is used, so plots work without a display.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


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
    title_suffix: str = "",
) -> Path:
    """Grid: rows = models (e.g. base, MAAN), columns = targets; points coloured low/high.

    ``embeddings[name] = (features (N, D), labels (N, targets))``.
    """
    plt = _pyplot()
    names = list(embeddings)
    fig, axes = plt.subplots(
        len(names), len(targets), figsize=(4.2 * len(targets), 3.8 * len(names)), squeeze=False
    )
    for r, name in enumerate(names):
        feats, labels = embeddings[name]
        xy = tsne_embed(feats)
        for c, target in enumerate(targets):
            ax = axes[r, c]
            for cls, colour, text in ((0, "tab:blue", "low"), (1, "tab:red", "high")):
                sel = labels[:, c] == cls
                ax.scatter(
                    xy[sel, 0], xy[sel, 1], s=5, c=colour, alpha=0.6, label=f"{text} {target}"
                )
            ax.set_title(f"{name}: {target}{title_suffix}", fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.legend(fontsize=7, markerscale=2, loc="best")
    fig.suptitle("t-SNE of the features before the classifier (test fold)", fontsize=11)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_curves(models: dict[str, Any], path: str | Path) -> Path:
    """Training loss (solid) and test loss (dashed) per epoch, every fold, one panel per model."""
    plt = _pyplot()
    names = list(models)
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for fold in models[name]["folds"]:
            hist = fold["history"]
            ep = [h["epoch"] for h in hist]
            line = ax.plot(ep, [h["train_loss"] for h in hist], lw=1)[0]
            if hist and "test_loss" in hist[0]:
                ax.plot(ep, [h["test_loss"] for h in hist], lw=1, ls="--", color=line.get_color())
        ax.set_title(f"{name}: loss per epoch (solid train, dashed test)", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("BCE loss")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_confusions(
    models: dict[str, Any], path: str | Path, targets: Sequence[str] = ("arousal", "valence")
) -> Path:
    """Confusion matrices summed over folds: rows = models, columns = targets."""
    plt = _pyplot()
    names = list(models)
    fig, axes = plt.subplots(
        len(names), len(targets), figsize=(3.4 * len(targets), 3.2 * len(names)), squeeze=False
    )
    for r, name in enumerate(names):
        for c, target in enumerate(targets):
            cm = np.asarray(models[name]["summary"][target]["confusion"])
            ax = axes[r, c]
            ax.imshow(cm, cmap="Blues")
            for i in range(2):
                for j in range(2):
                    colour = "white" if cm[i, j] > cm.max() / 2 else "black"
                    ax.text(j, i, str(cm[i, j]), ha="center", va="center", color=colour)
            ax.set_xticks([0, 1], ["low", "high"])
            ax.set_yticks([0, 1], ["low", "high"])
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            ax.set_title(f"{name}: {target}", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
