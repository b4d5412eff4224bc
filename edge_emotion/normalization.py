"""Feature normalisation: the statistics fitted in training and applied on the device.

One contract, three users: training fits the statistics on each training fold
(:meth:`Normalization.fit`) and normalises with them, the checkpoint and the bundle
manifest carry them as JSON (:meth:`Normalization.to_dict` / :meth:`Normalization.from_dict`),
and the runtime's engines apply them to every window (:meth:`Normalization.apply`).

JSON form (checkpoint ``"normalization"``, manifest ``"normalization"``)::

    {"eeg_mean": [[...], ...], "eeg_std": [[...], ...],   # (bands, channels), nested
     "ecg_mean": float, "ecg_std": float}

:meth:`Normalization.from_dict` is the one place the JSON form is read and checked, so
that no statistic read from a file can turn a feature into inf or 0 (see
:data:`NORM_STD_RANGE` and :data:`NORM_MEAN_LIMIT`).

This module needs numpy only: the device imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

# A feature that does not vary over the training set is divided by this instead of 0.
MIN_STD = 1e-6
# What from_dict accepts. fit floors standard deviations at MIN_STD; with these bounds a
# feature anywhere in its physical range (DE within a few tens of nats, RR intervals in
# seconds) normalises to at most about 1e12, finite in float32.
NORM_STD_RANGE = (MIN_STD, 1e6)
NORM_MEAN_LIMIT = 1e6


@dataclass(frozen=True)
class Normalization:
    """Per-feature statistics applied before the model: ``x_norm = (x - mean) / std``.

    ``eeg_mean``/``eeg_std`` have shape (bands, channels) and broadcast over sub-windows;
    ``ecg_mean``/``ecg_std`` are scalars (the HRV series is in seconds).
    """

    eeg_mean: np.ndarray
    eeg_std: np.ndarray
    ecg_mean: float
    ecg_std: float

    @classmethod
    def fit(cls, eeg: np.ndarray, ecg: np.ndarray) -> Normalization:
        """Statistics of training features: EEG (N, bands, channels, subwindows) per
        (band, channel) over windows and sub-windows, ECG (N, 1, L) one scalar; standard
        deviations below :data:`MIN_STD` become :data:`MIN_STD`."""
        eeg64 = np.asarray(eeg, dtype=np.float64)
        ecg64 = np.asarray(ecg, dtype=np.float64)
        if eeg64.ndim != 4 or ecg64.ndim != 3 or len(eeg64) == 0 or len(eeg64) != len(ecg64):
            raise ValueError(
                "normalization: eeg must be (N, bands, channels, subwindows) and ecg (N, 1, L) "
                f"with the same N >= 1, got {eeg64.shape} and {ecg64.shape}"
            )
        if not (np.isfinite(eeg64).all() and np.isfinite(ecg64).all()):
            raise ValueError("normalization: training features contain NaN or infinite values")
        return cls(
            eeg_mean=eeg64.mean(axis=(0, 3)),
            eeg_std=np.maximum(eeg64.std(axis=(0, 3)), MIN_STD),
            ecg_mean=float(ecg64.mean()),
            ecg_std=float(max(ecg64.std(), MIN_STD)),
        )

    def apply(self, eeg: np.ndarray, ecg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalise model inputs eeg (B, bands, channels, sub) and ecg (B, 1, L) -> float32
        (computed in float64: training and every engine get the same rounding)."""
        eeg_n = (eeg - self.eeg_mean[None, :, :, None]) / self.eeg_std[None, :, :, None]
        ecg_n = (ecg - self.ecg_mean) / self.ecg_std
        return eeg_n.astype(np.float32, copy=False), ecg_n.astype(np.float32, copy=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (see the module docstring)."""
        return {
            "eeg_mean": self.eeg_mean.tolist(),
            "eeg_std": self.eeg_std.tolist(),
            "ecg_mean": float(self.ecg_mean),
            "ecg_std": float(self.ecg_std),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], n_bands: int, n_channels: int) -> Normalization:
        """Build from the checkpoint/manifest form; eeg stats flat or nested, bands x channels.

        Raises ``ValueError`` naming the field for a wrong size, non-finite values or a
        non-positive standard deviation.
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"normalization must be an object, got {type(d).__name__}")
        missing = [k for k in ("eeg_mean", "eeg_std", "ecg_mean", "ecg_std") if k not in d]
        if missing:
            raise ValueError(f"normalization is missing {', '.join(missing)}")
        arrays = {}
        for key in ("eeg_mean", "eeg_std"):
            try:
                arr = np.asarray(d[key], dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"normalization.{key} must be a list of numbers") from None
            if arr.size != n_bands * n_channels:
                raise ValueError(
                    f"normalization.{key} has {arr.size} values with shape {arr.shape}; "
                    f"expected bands x channels = {n_bands} x {n_channels} = "
                    f"{n_bands * n_channels}"
                )
            arrays[key] = arr.reshape(n_bands, n_channels)
        scalars = {}
        for key in ("ecg_mean", "ecg_std"):
            value = d[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"normalization.{key} must be a number, got {value!r}")
            scalars[key] = float(value)
        for key, value in {**arrays, **scalars}.items():
            if not np.all(np.isfinite(value)):
                raise ValueError(f"normalization.{key} contains NaN or infinite values")
        if np.any(arrays["eeg_std"] <= 0) or scalars["ecg_std"] <= 0:
            raise ValueError("normalization standard deviations must be > 0")
        values = {**arrays, **scalars}
        lo, hi = NORM_STD_RANGE
        for key in ("eeg_std", "ecg_std"):
            value = np.asarray(values[key])
            if np.any(value < lo) or np.any(value > hi):
                raise ValueError(
                    f"normalization.{key} must lie in [{lo:g}, {hi:g}], got values in "
                    f"[{value.min():g}, {value.max():g}] (features would be scaled to inf or 0)"
                )
        for key in ("eeg_mean", "ecg_mean"):
            value = np.asarray(values[key])
            if np.any(np.abs(value) > NORM_MEAN_LIMIT):
                raise ValueError(
                    f"normalization.{key} must lie within +-{NORM_MEAN_LIMIT:g}, got "
                    f"{value.flat[np.argmax(np.abs(value))]:g}"
                )
        return cls(
            eeg_mean=arrays["eeg_mean"],
            eeg_std=arrays["eeg_std"],
            ecg_mean=scalars["ecg_mean"],
            ecg_std=scalars["ecg_std"],
        )
