"""What every engine shares: input checks, the bundle's normalisation, the sigmoid."""

from __future__ import annotations

from typing import Any

import numpy as np

from edge_emotion.bundle import Bundle


class EngineUnavailable(RuntimeError):
    """A backend cannot run here (library missing, no GPU, file missing from the bundle)."""


def describe_error(exc: BaseException) -> str:
    """``Type: first line of the message``: a library's exception, short enough for one line."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else 'no message'}"


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    # exp of a non-positive number never overflows; same result as 1/(1+exp(-x)).
    out = np.empty_like(logits, dtype=np.float32)
    pos = logits >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-logits[pos]))
    e = np.exp(logits[~pos])
    out[~pos] = e / (1.0 + e)
    return out


class Engine:
    """Base class: input checks, normalisation and sigmoid; subclasses run ``_logits``."""

    name: str = "engine"

    def __init__(self, bundle: Bundle):
        self.bundle = bundle
        fc = bundle.feature_config
        self._eeg_shape = tuple(fc.eeg_shape)
        self._ecg_shape = (1, *tuple(fc.hrv_shape))
        self.n_targets = len(bundle.targets)
        self.fallback: list[str] = []
        self.selection = ""  # how --backend auto chose this engine (the header line)

    @property
    def targets(self) -> tuple[str, ...]:
        return self.bundle.targets

    def check_inputs(self, eeg: Any, ecg: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Return (eeg, ecg) as float64 arrays with a batch axis, or raise ``ValueError``.

        A single window without its batch axis — eeg (bands, channels, subwindows), ecg
        (1, L) or (L,) — is accepted and treated as batch 1. An input the bundle's model
        does not take (one-modality bundles) comes back ``None``, whatever was passed.
        """
        takes = self.bundle.feature_config.modalities
        out: dict[str, np.ndarray] = {}
        for name, value, shape, layout in (
            ("eeg", eeg, self._eeg_shape, " (bands, channels, subwindows)"),
            ("ecg", ecg, self._ecg_shape, ""),
        ):
            if name not in takes:
                continue
            if value is None:
                raise ValueError(f"this model takes {'+'.join(takes)}; {name} is missing")
            x = np.asarray(value, dtype=np.float64)
            if x.shape == shape or (name == "ecg" and x.shape == shape[1:]):
                x = x.reshape(1, *shape)
            if x.ndim != len(shape) + 1 or x.shape[1:] != shape:
                raise ValueError(
                    f"{name} must have shape (batch, {', '.join(map(str, shape))}){layout}, "
                    f"got {x.shape}"
                )
            out[name] = x
        sizes = {x.shape[0] for x in out.values()}
        if len(sizes) > 1:
            raise ValueError(
                f"eeg and ecg batch sizes differ: {out['eeg'].shape[0]} vs {out['ecg'].shape[0]}"
            )
        if 0 in sizes:
            raise ValueError(f"{' and '.join(out)} must hold at least one window (batch >= 1)")
        if not all(np.isfinite(x).all() for x in out.values()):
            raise ValueError(
                f"{' and '.join(out)} must be finite (no NaN/inf); abstain on such windows"
            )
        return out.get("eeg"), out.get("ecg")

    def feeds(self, eeg: np.ndarray | None, ecg: np.ndarray | None) -> dict[str, np.ndarray]:
        """Normalised inputs by the model's input names, in its order (for graph runners)."""
        given = {"eeg": eeg, "ecg": ecg}
        return {name: np.ascontiguousarray(given[name]) for name in self.bundle.input_names}

    def predict(self, eeg: Any, ecg: Any) -> np.ndarray:
        """P(high) per target, (B, n_targets) float32, for raw (unnormalised) features."""
        eeg, ecg = self.check_inputs(eeg, ecg)
        eeg_n, ecg_n = self.bundle.normalization.apply(eeg, ecg)
        logits = self._logits(eeg_n, ecg_n)
        return _sigmoid(np.asarray(logits, dtype=np.float32).reshape(-1, self.n_targets))

    def predict_logits(self, eeg: Any, ecg: Any) -> np.ndarray:
        """Raw model logits (B, n_targets) for raw features (used by parity checks)."""
        eeg, ecg = self.check_inputs(eeg, ecg)
        eeg_n, ecg_n = self.bundle.normalization.apply(eeg, ecg)
        return np.asarray(self._logits(eeg_n, ecg_n), dtype=np.float32)

    def _logits(
        self, eeg: np.ndarray | None, ecg: np.ndarray | None
    ) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} bundle={self.bundle.path}>"
