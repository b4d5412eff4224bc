"""The feature configuration: the contract between training, model bundles and the device.

A :class:`FeatureConfig` says how a window of EEG and ECG becomes the model's two
inputs (see :mod:`edge_emotion.kernels.features`, which computes them). It travels
inside every checkpoint and model bundle (``to_dict``/``from_dict``, JSON-able) and its
``digest`` keys the training feature cache, so a device can refuse a bundle whose
features it would compute differently: the JSON form and the digest are part of the
bundle format and must not change.

Montages (electrode lists in model order) live here too: ``EMOTIV_EPOC_CHANNELS``, the
14 Emotiv EPOC positions of AMIGOS and the default model; ``OPENBCI_CYTON_CHANNELS`` and
``OPENBCI_CYTON_DAISY_CHANNELS``, the positions OpenBCI's documentation wires to a Cyton's
inputs N1P..N8P (and a Daisy's) on its Ultracortex Mark IV headset, in input order; and
``MONTAGES``, all of them by name (the training CLI's ``--eeg-channels cyton``).

Modalities. A config names the modalities its model takes (``modalities``): EEG and ECG
(the default), EEG only or ECG only. The fields of a modality the model does not take keep
their defaults and are ignored; an ECG-only config has no EEG channels. The JSON form of
a config with both modalities has no ``modalities`` key, so the digests of configs written
before the key existed (and of every bundle shipped with one) are unchanged.

Choice of ``hrv_length = 32``: a 10-s window at 190 bpm (the upper end of exercise heart
rates in the AMIGOS/DEAP age groups) holds 10 * 190 / 60 = 31.7 beats, so at most 31
intervals; 32 slots leave one spare, and slower hearts leave trailing zeros (the
zero-embedding of the MAAN paper).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from edge_emotion.kernels._validate import FS_RANGE_HZ
from edge_emotion.kernels.de import DEFAULT_BANDS
from edge_emotion.kernels.hrv import RR_METHODS
from edge_emotion.kernels.rpeaks import FS_MAX_HZ, FS_MIN_HZ

EMOTIV_EPOC_CHANNELS: tuple[str, ...] = (
    "AF3",
    "F7",
    "F3",
    "FC5",
    "T7",
    "P7",
    "O1",
    "O2",
    "P8",
    "T8",
    "FC6",
    "F4",
    "F8",
    "AF4",
)

# OpenBCI's Ultracortex Mark IV wiring (docs.openbci.com, "Ultracortex Mark IV": "Channel
# 1(N1P) - Fp1 ... Channel 8(N8P) - O2"; the Daisy's N1P..N8P: F7, F8, F3, F4, T7, T8, P3,
# P4), which the OpenBCI GUI's head plot also assumes.
OPENBCI_CYTON_CHANNELS: tuple[str, ...] = ("Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2")
OPENBCI_CYTON_DAISY_CHANNELS: tuple[str, ...] = (
    *OPENBCI_CYTON_CHANNELS,
    "F7",
    "F8",
    "F3",
    "F4",
    "T7",
    "T8",
    "P3",
    "P4",
)
MONTAGES: dict[str, tuple[str, ...]] = {
    "emotiv-epoc": EMOTIV_EPOC_CHANNELS,
    "cyton": OPENBCI_CYTON_CHANNELS,
    "cyton-daisy": OPENBCI_CYTON_DAISY_CHANNELS,
}

MODALITIES: tuple[str, ...] = ("eeg", "ecg")  # every modality, in model-input order

CONFIG_FORMAT = "edge_emotion.feature_config/1"

# Limits on what a configuration may ask for: configs arrive in bundle manifests, and the
# device allocates window buffers, filter state and model inputs from them before the
# first sample. The largest such allocation is the streaming DE's sub-window state,
# ~32 bytes per (window sample x band x channel, channels padded to whole vectors of
# 16), so MAX_DE_STATE bounds it at 256 MiB; the default config uses 1280 x 4 x 16.
MAX_WINDOW_SAMPLES = 1 << 20  # per modality: e.g. 10 s at 10 kHz, 17 min at 1 kHz
MAX_EEG_CHANNELS = 256
MAX_BANDS = 16
MAX_HRV_LENGTH = 4096
MAX_DE_STATE = 1 << 23


def _is_whole(x: float, tol: float = 1e-9) -> bool:
    return abs(x - round(x)) <= tol * max(1.0, abs(x))


@dataclass(frozen=True)
class FeatureConfig:
    """How windows of EEG and ECG become model inputs; validated on construction.

    A window ending at ``t`` uses the EEG of ``[t - window_s, t)`` and the R-peaks of
    ``[t - window_s - d, t - d)``, ``d`` being the streaming R-peak detector's look-ahead
    (``StreamingRPeakDetector(ecg_fs).delay_samples / ecg_fs``, about 2.5 s), so that the
    device and training see the same beats (see :func:`trial_features`).

    Attributes:
        eeg_fs: EEG sampling rate in Hz.
        ecg_fs: ECG sampling rate in Hz (the R-peak detector's range,
            ``FS_MIN_HZ``–``FS_MAX_HZ`` of :mod:`edge_emotion.kernels.rpeaks`: 100–1000 Hz).
        window_s: window length in seconds (10 s in the MAAN paper).
        hop_s: time between consecutive windows in seconds.
        bands: ``(name, low_hz, high_hz)`` EEG bands, ``0 < low < high < eeg_fs / 2``.
        subwindow_s: DE sub-window length in seconds; ``window_s`` must be a whole
            multiple of it.
        hrv_length: slots of the zero-embedded RR series (see the module docstring).
        eeg_channels: EEG electrode names, in model order (empty for an ECG-only config).
        ecg_channel: name of the ECG channel.
        rr_correction: RR artefact handling, ``"local_median"`` (default, see
            :func:`edge_emotion.kernels.hrv.clean_rr`) or ``"none"``.
        modalities: what the model takes, a non-empty subset of ``("eeg", "ecg")`` in that
            order (see the module docstring).
    """

    eeg_fs: float = 128.0
    ecg_fs: float = 128.0
    window_s: float = 10.0
    hop_s: float = 0.25
    bands: tuple[tuple[str, float, float], ...] = DEFAULT_BANDS
    subwindow_s: float = 1.0
    hrv_length: int = 32
    eeg_channels: tuple[str, ...] = EMOTIV_EPOC_CHANNELS
    ecg_channel: str = "ECG"
    rr_correction: str = "local_median"
    modalities: tuple[str, ...] = MODALITIES

    def __post_init__(self) -> None:
        object.__setattr__(self, "modalities", self._check_modalities(self.modalities))
        # Normalise types first (lists from JSON, ints for rates) so equality and the
        # digest do not depend on how the config was spelled.
        for name in ("eeg_fs", "ecg_fs", "window_s", "hop_s", "subwindow_s"):
            value = getattr(self, name)
            if isinstance(value, bool):
                raise ValueError(f"FeatureConfig.{name} must be a number, got {value!r}")
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"FeatureConfig.{name} must be a number, got {value!r}") from None
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"FeatureConfig.{name} must be a positive number, got {value!r}")
            object.__setattr__(self, name, value)
        lo, hi = FS_RANGE_HZ
        if not lo <= self.eeg_fs <= hi:
            raise ValueError(
                f"FeatureConfig.eeg_fs must be between {lo:g} and {hi:g} Hz, got {self.eeg_fs:g}"
            )
        if not FS_MIN_HZ <= self.ecg_fs <= FS_MAX_HZ:
            raise ValueError(
                f"FeatureConfig.ecg_fs must be between {FS_MIN_HZ:g} and {FS_MAX_HZ:g} Hz "
                f"(the R-peak detector's range), got {self.ecg_fs:g}"
            )
        if not _is_whole(self.window_s / self.subwindow_s):
            raise ValueError(
                f"FeatureConfig.window_s ({self.window_s:g} s) must be a whole multiple of "
                f"subwindow_s ({self.subwindow_s:g} s)"
            )
        for name in ("window_s", "subwindow_s", "hop_s"):
            n = getattr(self, name) * self.eeg_fs
            if not _is_whole(n) or round(n) < 1:
                raise ValueError(
                    f"FeatureConfig.{name} * eeg_fs must be a whole number of samples, "
                    f"got {getattr(self, name):g} s * {self.eeg_fs:g} Hz = {n:g}"
                )
        if not _is_whole(self.window_s * self.ecg_fs):
            raise ValueError(
                "FeatureConfig.window_s * ecg_fs must be a whole number of samples, "
                f"got {self.window_s:g} s * {self.ecg_fs:g} Hz"
            )
        for name, fs in (("eeg_fs", self.eeg_fs), ("ecg_fs", self.ecg_fs)):
            if self.window_s * fs > MAX_WINDOW_SAMPLES:
                raise ValueError(
                    f"FeatureConfig.window_s ({self.window_s:g} s) at {name} {fs:g} Hz is "
                    f"{self.window_s * fs:.4g} samples; at most {MAX_WINDOW_SAMPLES} are allowed"
                )
        if self.hop_s > self.window_s:
            raise ValueError(
                f"FeatureConfig.hop_s ({self.hop_s:g} s) must not exceed window_s "
                f"({self.window_s:g} s)"
            )
        object.__setattr__(self, "bands", self._check_bands(self.bands, self.eeg_fs))
        if isinstance(self.hrv_length, bool) or not isinstance(self.hrv_length, int):
            if isinstance(self.hrv_length, float) and self.hrv_length.is_integer():
                object.__setattr__(self, "hrv_length", int(self.hrv_length))
            else:
                raise ValueError(
                    f"FeatureConfig.hrv_length must be a positive integer, got {self.hrv_length!r}"
                )
        if not 2 <= self.hrv_length <= MAX_HRV_LENGTH:
            raise ValueError(
                f"FeatureConfig.hrv_length must be between 2 and {MAX_HRV_LENGTH}, "
                f"got {self.hrv_length}"
            )
        object.__setattr__(
            self, "eeg_channels", self._check_channels(self.eeg_channels, "eeg" in self.modalities)
        )
        padded_channels = -(-len(self.eeg_channels) // 16) * 16
        de_state = self.eeg_window_samples * len(self.bands) * padded_channels
        if de_state > MAX_DE_STATE:
            raise ValueError(
                f"FeatureConfig: {self.eeg_window_samples} window samples x {len(self.bands)} "
                f"bands x {len(self.eeg_channels)} channels is too large for the device "
                f"(at most {MAX_DE_STATE} sample-band-channel values, channels counted in "
                "groups of 16); use fewer channels or bands, a shorter window or a lower eeg_fs"
            )
        if not isinstance(self.ecg_channel, str) or not self.ecg_channel.strip():
            raise ValueError(
                f"FeatureConfig.ecg_channel must be a non-empty string, got {self.ecg_channel!r}"
            )
        if self.has_ecg and self.ecg_channel in self.eeg_channels:
            raise ValueError(
                f"FeatureConfig.ecg_channel {self.ecg_channel!r} is also listed in eeg_channels"
            )
        if self.rr_correction not in RR_METHODS:
            raise ValueError(
                f"FeatureConfig.rr_correction must be one of {RR_METHODS}, "
                f"got {self.rr_correction!r}"
            )

    @staticmethod
    def _check_bands(bands: Any, eeg_fs: float) -> tuple[tuple[str, float, float], ...]:
        if isinstance(bands, (str, bytes)) or not hasattr(bands, "__iter__"):
            raise ValueError(
                f"FeatureConfig.bands must be a sequence of (name, low_hz, high_hz), got {bands!r}"
            )
        out = []
        for band in bands:
            if isinstance(band, (str, bytes)) or not hasattr(band, "__len__") or len(band) != 3:
                raise ValueError(
                    f"FeatureConfig.bands entries must be (name, low_hz, high_hz), got {band!r}"
                )
            name, low, high = band
            if not isinstance(name, str) or not name:
                raise ValueError(f"FeatureConfig.bands: band name must be a string, got {name!r}")
            try:
                low, high = float(low), float(high)
            except (TypeError, ValueError):
                raise ValueError(
                    f"FeatureConfig.bands: edges of band {name!r} must be numbers in Hz"
                ) from None
            if not (0.0 < low < high < eeg_fs / 2):
                raise ValueError(
                    f"FeatureConfig.bands: band {name!r} needs 0 < low < high < eeg_fs/2 = "
                    f"{eeg_fs / 2:g} Hz, got {low:g}-{high:g} Hz"
                )
            out.append((name, low, high))
            if len(out) > MAX_BANDS:
                raise ValueError(f"FeatureConfig.bands: at most {MAX_BANDS} bands are allowed")
        if not out:
            raise ValueError("FeatureConfig.bands must name at least one band")
        names = [b[0] for b in out]
        if len(set(names)) != len(names):
            raise ValueError(f"FeatureConfig.bands: band names must be unique, got {names}")
        return tuple(out)

    @staticmethod
    def _check_modalities(modalities: Any) -> tuple[str, ...]:
        if isinstance(modalities, str):
            modalities = (modalities,)
        if not hasattr(modalities, "__iter__"):
            raise ValueError(
                f"FeatureConfig.modalities must be a sequence of {MODALITIES}, got {modalities!r}"
            )
        given = tuple(modalities)
        unknown = [m for m in given if m not in MODALITIES]
        if unknown or not given or len(set(given)) != len(given):
            raise ValueError(
                f"FeatureConfig.modalities must be distinct names from {MODALITIES}, "
                f"got {list(given)}"
            )
        return tuple(m for m in MODALITIES if m in given)

    @staticmethod
    def _check_channels(channels: Any, needed: bool = True) -> tuple[str, ...]:
        if isinstance(channels, (str, bytes)) or not hasattr(channels, "__iter__"):
            raise ValueError(
                f"FeatureConfig.eeg_channels must be a sequence of names, got {channels!r}"
            )
        out = tuple(channels)
        if not out and needed:
            raise ValueError("FeatureConfig.eeg_channels must name at least one channel")
        if len(out) > MAX_EEG_CHANNELS:
            raise ValueError(
                f"FeatureConfig.eeg_channels names {len(out)} channels; at most "
                f"{MAX_EEG_CHANNELS} are allowed"
            )
        for ch in out:
            if not isinstance(ch, str) or not ch.strip():
                raise ValueError(
                    f"FeatureConfig.eeg_channels entries must be non-empty strings, got {ch!r}"
                )
        if len(set(out)) != len(out):
            dup = sorted({c for c in out if out.count(c) > 1})
            raise ValueError(f"FeatureConfig.eeg_channels has duplicate names: {dup}")
        return out

    # -- derived sizes ---------------------------------------------------------------

    @property
    def has_eeg(self) -> bool:
        return "eeg" in self.modalities

    @property
    def has_ecg(self) -> bool:
        return "ecg" in self.modalities

    @property
    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """Model inputs of one window by modality, in input order: ``eeg`` (bands,
        channels, subwindows), ``ecg`` (1, hrv_length)."""
        shapes = {"eeg": self.eeg_shape, "ecg": (1, *self.hrv_shape)}
        return {m: shapes[m] for m in self.modalities}

    @property
    def n_subwindows(self) -> int:
        return round(self.window_s / self.subwindow_s)

    @property
    def eeg_shape(self) -> tuple[int, int, int]:
        """Shape of one EEG input: ``(bands, channels, subwindows)``."""
        return (len(self.bands), len(self.eeg_channels), self.n_subwindows)

    @property
    def hrv_shape(self) -> tuple[int]:
        """Shape of one ECG input before the channel axis: ``(hrv_length,)``."""
        return (self.hrv_length,)

    @property
    def eeg_window_samples(self) -> int:
        return round(self.window_s * self.eeg_fs)

    @property
    def eeg_subwindow_samples(self) -> int:
        return round(self.subwindow_s * self.eeg_fs)

    @property
    def eeg_hop_samples(self) -> int:
        return round(self.hop_s * self.eeg_fs)

    @property
    def ecg_window_samples(self) -> int:
        return round(self.window_s * self.ecg_fs)

    # -- serialisation ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (lists for tuples) that :meth:`from_dict` turns back into this config."""
        d: dict[str, Any] = {"format": CONFIG_FORMAT}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "bands":
                value = [[name, low, high] for name, low, high in value]
            elif f.name == "eeg_channels":
                value = list(value)
            elif f.name == "modalities":
                if value == MODALITIES:
                    continue  # absent means both: older configs keep their digest
                value = list(value)
            d[f.name] = value
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureConfig:
        """Build a config from :meth:`to_dict` output (e.g. parsed JSON); validates it.

        Missing keys take their defaults; unknown keys or another format raise ``ValueError``.
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"FeatureConfig.from_dict needs a mapping, got {type(d).__name__}")
        d = dict(d)
        fmt = d.pop("format", CONFIG_FORMAT)
        if fmt != CONFIG_FORMAT:
            raise ValueError(
                f"FeatureConfig.from_dict: format must be {CONFIG_FORMAT!r}, got {fmt!r}"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(
                f"FeatureConfig.from_dict: unknown keys {unknown}; expected some of {sorted(known)}"
            )
        if "bands" in d and not isinstance(d["bands"], (str, bytes)):
            d["bands"] = tuple(tuple(b) if isinstance(b, (list, tuple)) else b for b in d["bands"])
        if "eeg_channels" in d and isinstance(d["eeg_channels"], list):
            d["eeg_channels"] = tuple(d["eeg_channels"])
        if "modalities" in d and isinstance(d["modalities"], list):
            d["modalities"] = tuple(d["modalities"])
        return cls(**d)

    def to_json(self) -> str:
        """Canonical JSON text (sorted keys, no spaces): the form :meth:`digest` hashes."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> FeatureConfig:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"FeatureConfig.from_json: not valid JSON ({exc})") from None
        return cls.from_dict(d)

    def digest(self) -> str:
        """Stable sha256 hex digest of the canonical JSON form (feature-cache key)."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()
