"""What every engine shares: input checks, the bundle's normalisation, the sigmoid."""

from __future__ import annotations

from typing import Any

import numpy as np

from edge_emotion.bundle import INPUT_ECG, INPUT_EEG, Bundle


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

    @property
    def targets(self) -> tuple[str, ...]:
        return self.bundle.targets

    def check_inputs(self, eeg: Any, ecg: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Return (eeg, ecg) as float64 arrays with a batch axis, or raise ``ValueError``.

        A single window without its batch axis — eeg (bands, channels, subwindows), ecg
        (1, L) or (L,) — is accepted and treated as batch 1. A modality the bundle does not
        take (one-modality bundles) is ``None`` in and out; what is given for it is ignored.
        """
        modalities = self.bundle.feature_config.modalities
        eeg = np.asarray(eeg, dtype=np.float64) if "eeg" in modalities else None
        ecg = np.asarray(ecg, dtype=np.float64) if "ecg" in modalities else None
        if eeg is not None and eeg.shape == self._eeg_shape:
            eeg = eeg[None]
        if ecg is not None and ecg.shape in (self._ecg_shape, self._ecg_shape[1:]):
            ecg = ecg.reshape(1, *self._ecg_shape)
        if eeg is not None and (eeg.ndim != 4 or eeg.shape[1:] != self._eeg_shape):
            raise ValueError(
                f"eeg must have shape (batch, {', '.join(map(str, self._eeg_shape))}) "
                f"(bands, channels, subwindows), got {eeg.shape}"
            )
        if ecg is not None and (ecg.ndim != 3 or ecg.shape[1:] != self._ecg_shape):
            raise ValueError(
                f"ecg must have shape (batch, {', '.join(map(str, self._ecg_shape))}), "
                f"got {ecg.shape}"
            )
        given = [x for x in (eeg, ecg) if x is not None]
        if len({x.shape[0] for x in given}) > 1:
            raise ValueError(f"eeg and ecg batch sizes differ: {eeg.shape[0]} vs {ecg.shape[0]}")
        if given[0].shape[0] == 0:
            raise ValueError("eeg and ecg must hold at least one window (batch >= 1)")
        if not all(np.isfinite(x).all() for x in given):
            raise ValueError("eeg and ecg must be finite (no NaN/inf); abstain on such windows")
        return eeg, ecg

    def feeds(self, eeg: np.ndarray | None, ecg: np.ndarray | None) -> dict[str, np.ndarray]:
        """The model's inputs by graph input name (a one-modality model takes one)."""
        given = {INPUT_EEG: eeg, INPUT_ECG: ecg}
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

    def _logits(self, eeg: np.ndarray, ecg: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} bundle={self.bundle.path}>"
