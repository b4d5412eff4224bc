"""Synthetic, physiologically grounded AMIGOS-like recordings (no download needed).

NOT emotion data: accuracies on it only show that the pipeline learns what was planted.

Generative model, per subject: a resting heart rate (60–80 bpm) and heart-rate
variability, an EEG 1/f exponent, per-channel alpha power, a noise level and a personal
bias in how they use the 1–9 rating scale. Per trial: latent arousal ``a`` and valence
``v`` in [-1, 1]; self-ratings ``5 + 3.5·latent + bias + noise`` clipped to 1–9.

- ECG (µV): :func:`edge_emotion.synthetic.synthetic_ecg` (Gaussian P-QRS-T waves after
  McSharry et al. 2003) with heart rate ``HR0 + 10·a`` and beat-to-beat variation
  shrinking with arousal (vagal withdrawal), plus breathing baseline and noise; the left
  lead is a rescaled noisy copy.
- EEG (µV): spectra shaped in the frequency domain: a 1/f^β background, an alpha peak
  (≈10 Hz) that falls with arousal (alpha desynchronisation, e.g. Barry et al. 2007),
  beta power that rises with arousal, and frontal alpha asymmetry: positive valence
  lowers left-frontal alpha relative to right (Davidson 1992; Coan & Allen 2004). Power
  drifts slowly within a trial; white sensor noise is added.
- GSR rises with arousal (only written to the file; the model does not use it).

:func:`write_amigos_layout` writes ``Data_Preprocessed_P##.mat`` files in the AMIGOS
layout so the real loader reads them, plus ``SYNTHETIC.json`` recording the latent values.
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge_emotion.synthetic import synthetic_ecg
from edge_emotion.training.datasets.amigos import (
    AMIGOS_BASELINE_S,
    AMIGOS_EEG_CHANNELS,
    AMIGOS_FS,
    N_TRIALS,
)

SYNTHETIC_MARKER = "SYNTHETIC.json"
LEFT_FRONTAL = ("AF3", "F7", "F3", "FC5")
RIGHT_FRONTAL = ("AF4", "F8", "F4", "FC6")


@dataclass(frozen=True)
class SyntheticConfig:
    """Size and effect strengths of a synthetic dataset.

    Attributes:
        n_subjects: participants (AMIGOS has 40).
        n_trials: trials per participant (≤ 20; AMIGOS has 16 short videos).
        min_trial_s, max_trial_s: stimulus duration range in seconds (baseline excluded).
        missing_fraction: share of trials written empty, as AMIGOS stores missed trials.
        effect: scale of every arousal/valence effect (1.0 default; 0 gives pure noise).
        seed: generator seed; the same config writes identical files.
    """

    n_subjects: int = 8
    n_trials: int = 16
    min_trial_s: float = 50.0
    max_trial_s: float = 120.0
    missing_fraction: float = 0.0
    effect: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_subjects < 1:
            raise ValueError(f"n_subjects must be >= 1, got {self.n_subjects}")
        if not 1 <= self.n_trials <= N_TRIALS:
            raise ValueError(f"n_trials must be 1..{N_TRIALS}, got {self.n_trials}")
        if not 1.0 <= self.min_trial_s <= self.max_trial_s:
            raise ValueError(
                f"need 1 <= min_trial_s <= max_trial_s, got {self.min_trial_s}, {self.max_trial_s}"
            )
        if not 0.0 <= self.missing_fraction < 1.0:
            raise ValueError(f"missing_fraction must be in [0, 1), got {self.missing_fraction}")
        if self.effect < 0:
            raise ValueError(f"effect must be >= 0, got {self.effect}")


def _eeg(
    rng: np.random.Generator,
    n: int,
    fs: float,
    arousal: float,
    valence: float,
    subject: dict,
    effect: float,
) -> np.ndarray:
    """(14, n) EEG in µV from per-channel spectra (see the module docstring)."""
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    f = np.maximum(freqs, 0.5)
    background = 1.0 / f ** subject["beta_exp"]
    alpha_shape = np.exp(-0.5 * ((freqs - subject["alpha_hz"]) / 1.2) ** 2)
    beta_shape = np.exp(-0.5 * ((freqs - 20.0) / 4.0) ** 2)
    theta_shape = np.exp(-0.5 * ((freqs - 6.0) / 1.0) ** 2)
    out = np.empty((len(AMIGOS_EEG_CHANNELS), n))
    a, v = effect * arousal, effect * valence
    for c, name in enumerate(AMIGOS_EEG_CHANNELS):
        alpha_gain = subject["alpha_gain"][c] * np.exp(-0.6 * a)
        if name in LEFT_FRONTAL:
            alpha_gain *= np.exp(-0.5 * v)
        elif name in RIGHT_FRONTAL:
            alpha_gain *= np.exp(0.5 * v)
        beta_gain = 0.08 * np.exp(0.7 * a)
        theta_gain = 0.15 * np.exp(0.3 * a - 0.2 * v)
        psd = background + alpha_gain * alpha_shape + beta_gain * beta_shape
        psd = psd + theta_gain * theta_shape
        spectrum = (
            rng.standard_normal(freqs.size) + 1j * rng.standard_normal(freqs.size)
        ) * np.sqrt(psd)
        spectrum[0] = 0.0
        x = np.fft.irfft(spectrum, n)
        # Slow (~0.1 Hz) amplitude drift, as band power fluctuates within a trial.
        drift = 1.0 + 0.15 * np.sin(
            2 * np.pi * rng.uniform(0.03, 0.12) * np.arange(n) / fs + rng.uniform(0, 6.3)
        )
        x = x / (x.std() + 1e-12) * subject["eeg_uv"] * drift
        out[c] = x + subject["noise_uv"] * rng.standard_normal(n)
    return out


def _ecg(
    rng: np.random.Generator, n: int, fs: float, arousal: float, subject: dict, effect: float
) -> np.ndarray:
    a = effect * arousal
    hr = subject["hr"] + 10.0 * a
    hr_std = max(subject["hr_std"] * (1.0 - 0.45 * a), 0.3)
    # Beat-to-beat variation as a fraction of the interval: hr_std bpm around hr.
    ecg, _ = synthetic_ecg(
        n / fs,
        fs,
        rng,
        heart_rate_bpm=hr,
        jitter=hr_std / hr,
        breathing_uv=80.0,
        mains_uv=0.0,
        noise_uv=20.0,
    )
    return ecg[:n]


def _subject_params(rng: np.random.Generator) -> dict:
    return {
        "hr": float(rng.uniform(60, 80)),
        "hr_std": float(rng.uniform(2.0, 5.0)),
        "beta_exp": float(rng.uniform(1.0, 1.8)),
        "alpha_hz": float(rng.uniform(9.0, 11.0)),
        "alpha_gain": rng.uniform(0.3, 0.9, len(AMIGOS_EEG_CHANNELS)).tolist(),
        "eeg_uv": float(rng.uniform(10, 25)),
        "noise_uv": float(rng.uniform(1, 4)),
        "rating_bias": float(rng.normal(0, 0.7)),
        "gsr0": float(rng.uniform(1000, 4000)),
    }


def generate_subject(config: SyntheticConfig, subject_index: int) -> dict:
    """Arrays for one participant in AMIGOS cell layout plus its latent values."""
    rng = np.random.default_rng([config.seed, subject_index])
    fs = AMIGOS_FS
    params = _subject_params(rng)
    joined, labels, ext, videos, latent = [], [], [], [], []
    for k in range(N_TRIALS):
        missing = k >= config.n_trials or rng.random() < config.missing_fraction
        a, v = rng.uniform(-1, 1, 2)
        if missing:
            joined.append(np.zeros((0, 0)))
            labels.append(np.zeros((0, 0)))
            ext.append(np.zeros((0, 0)))
            videos.append(np.array([""]))
            latent.append(None)
            continue
        dur = rng.uniform(config.min_trial_s, config.max_trial_s) + AMIGOS_BASELINE_S
        n = round(dur * fs)
        eeg = _eeg(rng, n, fs, a, v, params, config.effect)
        ecg_r = _ecg(rng, n, fs, a, params, config.effect)
        ecg_l = -0.8 * ecg_r + 15.0 * rng.standard_normal(n)
        t = np.arange(n) / fs
        gsr = params["gsr0"] * (1 + 0.1 * config.effect * a) + 20 * np.sin(0.05 * t)
        joined.append(np.column_stack([eeg.T, ecg_r, ecg_l, gsr]))
        noise = rng.normal(0, 0.6, 2)
        ar = float(np.clip(5 + 3.5 * a + params["rating_bias"] + noise[0], 1, 9))
        va = float(np.clip(5 + 3.5 * v + params["rating_bias"] + noise[1], 1, 9))
        other = rng.uniform(1, 9, 3)
        flags = (rng.random(7) < 0.2).astype(float)
        labels.append(np.concatenate([[ar, va], other, flags])[None, :])
        ext.append(np.column_stack([np.arange(1, 6) * 20.0, rng.uniform(-1, 1, (5, 2))]))
        videos.append(np.array([f"S{k + 1:02d}"]))
        latent.append({"trial": k, "arousal": float(a), "valence": float(v), "duration_s": dur})
    return {
        "joined_data": joined,
        "labels_selfassessment": labels,
        "labels_ext_annotation": ext,
        "VideoIDs": videos,
        "params": params,
        "latent": latent,
    }


def _cell_row(items: list) -> np.ndarray:
    cell = np.empty((1, len(items)), dtype=object)
    for i, item in enumerate(items):
        cell[0, i] = item
    return cell


def _write_one(args: tuple[SyntheticConfig, int, str, str]) -> dict:
    from scipy.io import savemat

    config, index, root, layout = args
    subj = generate_subject(config, index)
    name = f"Data_Preprocessed_P{index + 1:02d}"
    folder = Path(root) / name if layout == "per_participant" else Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.mat"
    savemat(
        path,
        {
            k: _cell_row(subj[k])
            for k in ("joined_data", "labels_selfassessment", "labels_ext_annotation", "VideoIDs")
        },
        do_compression=False,
    )
    return {"file": str(path), "params": subj["params"], "trials": subj["latent"]}


def write_amigos_layout(
    config: SyntheticConfig,
    root: str | Path,
    layout: str = "flat",
    workers: int = 1,
    progress: bool = False,
) -> list[Path]:
    """Write a synthetic dataset as AMIGOS preprocessed ``.mat`` files; return their paths.

    ``layout`` is ``"flat"`` (all files in ``root``) or ``"per_participant"`` (one folder
    each). ``SYNTHETIC.json`` in ``root`` records the config and every latent value.
    """
    if layout not in ("flat", "per_participant"):
        raise ValueError(f"layout must be 'flat' or 'per_participant', got {layout!r}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    jobs = [(config, i, str(root), layout) for i in range(config.n_subjects)]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            it = pool.map(_write_one, jobs)
            results = list(_progress(it, len(jobs), progress))
    else:
        results = [_write_one(j) for j in _progress(jobs, len(jobs), progress)]
    marker = {
        "synthetic": True,
        "note": "Synthetic physiology, NOT emotion data: accuracies are pipeline checks only.",
        "config": asdict(config),
        "layout": layout,
        "subjects": results,
    }
    (root / SYNTHETIC_MARKER).write_text(json.dumps(marker, indent=1))
    return [Path(r["file"]) for r in results]


def _progress(it, total: int, enabled: bool):
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc="synthetic subjects", unit="subject")


def is_synthetic(root: str | Path) -> bool:
    """True when ``root`` was written by :func:`write_amigos_layout`."""
    return (Path(root) / SYNTHETIC_MARKER).is_file()
