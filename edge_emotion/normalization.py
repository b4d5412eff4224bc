"""Feature normalisation: the statistics fitted in training and applied on the device.

One contract, three users: training fits the statistics on each training fold
(:meth:`Normalization.fit`) and normalises with them, the checkpoint and the bundle
manifest carry them as JSON (:meth:`Normalization.to_dict` / :meth:`Normalization.from_dict`),
and the runtime's engines apply them to every window (:meth:`Normalization.apply`).

JSON form (checkpoint ``"normalization"``, manifest ``"normalization"``)::

    {"eeg_mean": [[...], ...], "eeg_std": [[...], ...],   # (bands, channels), nested
     "ecg_mean": float, "ecg_std": float,
     "mode": "session_baseline", "baseline_s": 60.0}      # only for that mode

A model of one modality carries the statistics of that modality only. :meth:`from_dict`
is the one place the JSON form is read and checked, so that no statistic read from a file
can turn a feature into inf or 0 (see :data:`NORM_STD_RANGE` and :data:`NORM_MEAN_LIMIT`).

Modes (``mode``; absent means ``"global"``):

- ``"global"``: ``(x - mean) / std`` with the training set's statistics.
- ``"session_baseline"``: each session's features are first expressed against the
  session's own first ``baseline_s`` seconds (:class:`SessionBaseline`,
  :func:`baseline_correct`), then normalised as above with statistics fitted on corrected
  training features. Label-free: it needs only the first minutes of a session, during
  which the device abstains (collecting the baseline) instead of classifying. The
  correction: EEG differential entropy minus the baseline's mean per (band, channel) — a
  log power ratio to the baseline; RR intervals divided by the baseline's mean RR interval
  (zero slots, which hold no beat, stay zero).

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

MODE_GLOBAL = "global"
MODE_SESSION_BASELINE = "session_baseline"
MODES = (MODE_GLOBAL, MODE_SESSION_BASELINE)
# A session baseline shorter than a few windows is noise; longer than an hour is no
# "first minutes" (and bounds what a manifest can make the device wait for).
BASELINE_RANGE_S = (1.0, 3600.0)
_KEYS = {"eeg": ("eeg_mean", "eeg_std"), "ecg": ("ecg_mean", "ecg_std")}


@dataclass(frozen=True)
class Normalization:
    """Per-feature statistics applied before the model: ``x_norm = (x - mean) / std``.

    ``eeg_mean``/``eeg_std`` have shape (bands, channels) and broadcast over sub-windows;
    ``ecg_mean``/``ecg_std`` are scalars (the HRV series is in seconds). A modality the
    model does not take has ``None`` statistics. ``mode`` and ``baseline_s``: see the
    module docstring.
    """

    eeg_mean: np.ndarray | None
    eeg_std: np.ndarray | None
    ecg_mean: float | None
    ecg_std: float | None
    mode: str = MODE_GLOBAL
    baseline_s: float | None = None

    def __post_init__(self) -> None:
        check_mode(self.mode, self.baseline_s)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(m for m, (k, _) in _KEYS.items() if getattr(self, k) is not None)

    @classmethod
    def fit(
        cls,
        eeg: np.ndarray | None,
        ecg: np.ndarray | None,
        mode: str = MODE_GLOBAL,
        baseline_s: float | None = None,
    ) -> Normalization:
        """Statistics of training features: EEG (N, bands, channels, subwindows) per
        (band, channel) over windows and sub-windows, ECG (N, 1, L) one scalar; standard
        deviations below :data:`MIN_STD` become :data:`MIN_STD`. ``None`` for a modality
        the model does not take. In session-baseline mode pass corrected features."""
        given = {m: x for m, x in (("eeg", eeg), ("ecg", ecg)) if x is not None}
        arrays = {m: np.asarray(x, dtype=np.float64) for m, x in given.items()}
        ndim = {"eeg": 4, "ecg": 3}
        sizes = {len(x) for x in arrays.values()}
        if (
            not arrays
            or any(x.ndim != ndim[m] for m, x in arrays.items())
            or len(sizes) != 1
            or 0 in sizes
        ):
            raise ValueError(
                "normalization: eeg must be (N, bands, channels, subwindows) and ecg (N, 1, L) "
                "with the same N >= 1 (None for a modality the model does not take), got "
                + ", ".join(f"{m} {x.shape}" for m, x in arrays.items())
            )
        if not all(np.isfinite(x).all() for x in arrays.values()):
            raise ValueError("normalization: training features contain NaN or infinite values")
        e, c = arrays.get("eeg"), arrays.get("ecg")
        return cls(
            eeg_mean=None if e is None else e.mean(axis=(0, 3)),
            eeg_std=None if e is None else np.maximum(e.std(axis=(0, 3)), MIN_STD),
            ecg_mean=None if c is None else float(c.mean()),
            ecg_std=None if c is None else float(max(c.std(), MIN_STD)),
            mode=mode,
            baseline_s=baseline_s,
        )

    def apply(
        self, eeg: np.ndarray | None, ecg: np.ndarray | None
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Normalise model inputs eeg (B, bands, channels, sub) and ecg (B, 1, L) -> float32
        (computed in float64: training and every engine get the same rounding); a modality
        without statistics gives ``None``. Session-baseline features must be corrected
        first (:func:`baseline_correct`)."""
        eeg_n = ecg_n = None
        if self.eeg_mean is not None and eeg is not None:
            eeg_n = (eeg - self.eeg_mean[None, :, :, None]) / self.eeg_std[None, :, :, None]
            eeg_n = eeg_n.astype(np.float32, copy=False)
        if self.ecg_mean is not None and ecg is not None:
            ecg_n = ((ecg - self.ecg_mean) / self.ecg_std).astype(np.float32, copy=False)
        return eeg_n, ecg_n

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (see the module docstring)."""
        d: dict[str, Any] = {}
        if self.eeg_mean is not None:
            d["eeg_mean"] = self.eeg_mean.tolist()
            d["eeg_std"] = self.eeg_std.tolist()
        if self.ecg_mean is not None:
            d["ecg_mean"] = float(self.ecg_mean)
            d["ecg_std"] = float(self.ecg_std)
        if self.mode != MODE_GLOBAL:
            d["mode"] = self.mode
            d["baseline_s"] = float(self.baseline_s)
        return d

    @classmethod
    def from_dict(
        cls,
        d: Mapping[str, Any],
        n_bands: int,
        n_channels: int,
        modalities: tuple[str, ...] = ("eeg", "ecg"),
    ) -> Normalization:
        """Build from the checkpoint/manifest form; eeg stats flat or nested, bands x channels;
        the statistics of ``modalities`` are required, others ignored.

        Raises ``ValueError`` naming the field for a wrong size, non-finite values, a
        standard deviation outside :data:`NORM_STD_RANGE`, a mean beyond
        :data:`NORM_MEAN_LIMIT` or an unknown mode.
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"normalization must be an object, got {type(d).__name__}")
        needed = [k for m in modalities for k in _KEYS[m]]
        missing = [k for k in needed if k not in d]
        if missing:
            raise ValueError(f"normalization is missing {', '.join(missing)}")
        values: dict[str, Any] = {}
        for key in needed:
            if key.startswith("eeg"):
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
                values[key] = arr.reshape(n_bands, n_channels)
            else:
                value = d[key]
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"normalization.{key} must be a number, got {value!r}")
                values[key] = float(value)
        for key, value in values.items():
            if not np.all(np.isfinite(value)):
                raise ValueError(f"normalization.{key} contains NaN or infinite values")
        if any(np.any(np.asarray(values[k]) <= 0) for k in needed if k.endswith("_std")):
            raise ValueError("normalization standard deviations must be > 0")
        lo, hi = NORM_STD_RANGE
        for key in (k for k in needed if k.endswith("_std")):
            value = np.asarray(values[key])
            if value.size and (np.any(value < lo) or np.any(value > hi)):
                raise ValueError(
                    f"normalization.{key} must lie in [{lo:g}, {hi:g}], got values in "
                    f"[{value.min():g}, {value.max():g}] (features would be scaled to inf or 0)"
                )
        for key in (k for k in needed if k.endswith("_mean")):
            value = np.asarray(values[key])
            if value.size and np.any(np.abs(value) > NORM_MEAN_LIMIT):
                raise ValueError(
                    f"normalization.{key} must lie within +-{NORM_MEAN_LIMIT:g}, got "
                    f"{value.flat[np.argmax(np.abs(value))]:g}"
                )
        mode = d.get("mode", MODE_GLOBAL)
        baseline_s = d.get("baseline_s")
        check_mode(mode, baseline_s)
        return cls(
            eeg_mean=values.get("eeg_mean"),
            eeg_std=values.get("eeg_std"),
            ecg_mean=values.get("ecg_mean"),
            ecg_std=values.get("ecg_std"),
            mode=mode,
            baseline_s=None if baseline_s is None else float(baseline_s),
        )


def check_mode(mode: Any, baseline_s: Any) -> None:
    """Raise ``ValueError`` unless ``mode`` is known and ``baseline_s`` fits it."""
    if mode not in MODES:
        raise ValueError(f"normalization.mode must be one of {MODES}, got {mode!r}")
    if mode == MODE_GLOBAL:
        if baseline_s is not None:
            raise ValueError("normalization.baseline_s applies to mode 'session_baseline' only")
        return
    lo, hi = BASELINE_RANGE_S
    if (
        isinstance(baseline_s, bool)
        or not isinstance(baseline_s, (int, float))
        or not lo <= float(baseline_s) <= hi
    ):
        raise ValueError(
            f"normalization.baseline_s must be a number of seconds in [{lo:g}, {hi:g}] for "
            f"mode {mode!r}, got {baseline_s!r}"
        )


@dataclass(frozen=True)
class Baseline:
    """A session's reference: mean EEG DE per (band, channel) and mean RR interval (s);
    ``None`` for a modality the model does not take."""

    eeg: np.ndarray | None
    rr_s: float | None

    @classmethod
    def of(cls, eeg: np.ndarray | None, ecg: np.ndarray | None) -> Baseline:
        """The baseline of windows eeg (N, bands, channels, sub) and ecg (N, 1, L) or
        (N, L); RR slots of 0 hold no beat and are left out."""
        e = None if eeg is None else np.asarray(eeg, np.float64).mean(axis=(0, 3))
        rr = None
        if ecg is not None:
            beats = np.asarray(ecg, np.float64)
            beats = beats[beats > 0]
            rr = float(beats.mean()) if beats.size else None
            if rr is None:
                raise ValueError("a session baseline needs beats in its ECG windows; it has none")
        return cls(e, rr)


def baseline_correct(
    eeg: np.ndarray | None, ecg: np.ndarray | None, baseline: Baseline
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Features of a session against its baseline (see the module docstring): EEG
    (N, bands, channels, sub) minus the baseline DE, ECG (N, 1, L) divided by the baseline
    RR interval where it holds a beat. Returns float64 arrays (``None`` stays ``None``)."""
    e = c = None
    if eeg is not None and baseline.eeg is not None:
        e = np.asarray(eeg, np.float64) - baseline.eeg[..., None]
    if ecg is not None and baseline.rr_s is not None:
        c = np.asarray(ecg, np.float64) / baseline.rr_s
    return e, c


class SessionBaseline:
    """The device's running baseline: the features of the first windows of a session.

    ``add(de_map, hrv)`` takes each good window's raw features until ``n_windows`` have
    been seen (``baseline_s / hop_s``: the first ``baseline_s`` seconds of classifiable
    data); then :attr:`baseline` is fixed for the rest of the session. Memory is bounded
    by running sums (no window is stored).
    """

    def __init__(self, n_windows: int) -> None:
        if n_windows < 1:
            raise ValueError(f"a session baseline needs at least one window, got {n_windows}")
        self.n_windows = int(n_windows)
        self.count = 0
        self._eeg_sum: np.ndarray | None = None
        self._rr_sum = 0.0
        self._rr_count = 0
        self.baseline: Baseline | None = None

    @property
    def ready(self) -> bool:
        return self.baseline is not None

    def add(self, de_map: np.ndarray | None, hrv: np.ndarray | None) -> None:
        """One window's features: de_map (bands, channels, sub), hrv (L,) (``None`` for a
        modality the model does not take)."""
        if self.ready:
            return
        if de_map is not None:
            m = np.asarray(de_map, np.float64).mean(axis=-1)
            self._eeg_sum = m if self._eeg_sum is None else self._eeg_sum + m
        if hrv is not None:
            beats = np.asarray(hrv, np.float64)
            beats = beats[beats > 0]
            self._rr_sum += float(beats.sum())
            self._rr_count += int(beats.size)
        self.count += 1
        if self.count >= self.n_windows:
            eeg = None if self._eeg_sum is None else self._eeg_sum / self.count
            if hrv is not None and self._rr_count == 0:
                self.count = 0  # no beat at all: start again rather than divide by zero
                self._eeg_sum, self._rr_sum = None, 0.0
                return
            rr = None if hrv is None else self._rr_sum / self._rr_count
            self.baseline = Baseline(eeg, rr)
