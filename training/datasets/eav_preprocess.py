"""EAV recordings -> model inputs: the loader configuration and the decoding of each modality.

Each 20-s trial is cut into non-overlapping 5-s windows (the paper's segmentation); every window
is one sample carrying EEG ``(channels, window_s * eeg_target_fs)``, a log-mel spectrogram
``(n_mels, frames)`` (librosa) and ``frames_per_window`` RGB frames ``(F, 3, H, W)`` uint8.
A modality with no file for a trial (audio for listening trials) is zero-filled and flagged
absent in ``mask``; the model's fusion honours that mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge_emotion.training.datasets.eav_layout import (
    EMOTIONS,
    MODALITIES,
    N_EEG_CHANNELS,
    TASKS,
    default_label_rows,
)


@dataclass(frozen=True)
class EAVConfig:
    """How EAV recordings become model inputs.

    eeg_fs: sampling rate of the stored EEG (Hz); eeg_target_fs: rate after polyphase
    resampling (Hz, the paper's 100 Hz); eeg_band: zero-phase Butterworth band-pass (Hz);
    trial_s / window_s: trial and window length (s); audio_sr: audio rate after resampling
    (Hz); n_mels, mel_win_ms, mel_hop_ms: log-mel parameters; frames_per_window, image_size:
    video frames sampled evenly per window and their square size (px); video_crop: the square
    cut from each frame before resizing, ``(centre_x, centre_y, side)`` with the centre as
    fractions of width and height and the side as a fraction of the shorter side (default:
    the centred full-height square). The release has no face boxes, and the reference's
    face detector (MTCNN) needs downloaded weights, so the default is the centred square: it
    keeps the face's proportions; set a smaller box once you have checked where faces sit.
    """

    task: str = "speaking"
    modalities: tuple[str, ...] = MODALITIES
    eeg_fs: float = 500.0
    eeg_target_fs: float = 100.0
    eeg_band: tuple[float, float] = (0.5, 45.0)
    trial_s: float = 20.0
    window_s: float = 5.0
    audio_sr: int = 16000
    n_mels: int = 64
    mel_win_ms: float = 25.0
    mel_hop_ms: float = 20.0
    frames_per_window: int = 5
    image_size: int = 64
    video_crop: tuple[float, float, float] = (0.5, 0.5, 1.0)
    label_rows: tuple[int, ...] | None = None
    check_file_labels: bool = True

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        bad = [m for m in self.modalities if m not in MODALITIES]
        if bad or not self.modalities:
            raise ValueError(f"modalities must be a non-empty subset of {MODALITIES}, got {bad}")
        if self.eeg_fs <= 0 or self.eeg_target_fs <= 0 or self.eeg_target_fs > self.eeg_fs:
            raise ValueError("eeg_fs and eeg_target_fs must be > 0 with eeg_target_fs <= eeg_fs")
        lo, hi = self.eeg_band
        if not 0 < lo < hi < self.eeg_target_fs / 2:
            raise ValueError(
                f"eeg_band must satisfy 0 < low < high < eeg_target_fs/2, got {lo, hi}"
            )
        if self.window_s <= 0 or self.trial_s < self.window_s:
            raise ValueError("window_s must be > 0 and <= trial_s")
        if self.n_windows * self.window_s > self.trial_s + 1e-9:
            raise ValueError("trial_s / window_s windows do not fit")
        for name in ("audio_sr", "n_mels", "frames_per_window", "image_size"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be > 0")
        if len(self.video_crop) != 3:
            raise ValueError(
                f"video_crop must be (centre_x, centre_y, side), got {self.video_crop}"
            )
        cx, cy, side = self.video_crop
        if not (0 <= cx <= 1 and 0 <= cy <= 1 and 0 < side <= 1):
            raise ValueError(
                "video_crop must be (centre_x, centre_y, side) with centre in [0, 1] and side "
                f"in (0, 1], got {self.video_crop}"
            )
        if self.label_rows is not None and (
            len(self.label_rows) != len(EMOTIONS) or len(set(self.label_rows)) != len(EMOTIONS)
        ):
            raise ValueError(f"label_rows must list {len(EMOTIONS)} distinct rows")

    @property
    def n_windows(self) -> int:
        return int(self.trial_s / self.window_s + 1e-9)

    @property
    def rows(self) -> tuple[int, ...]:
        return self.label_rows if self.label_rows is not None else default_label_rows(self.task)

    @property
    def eeg_samples(self) -> int:
        return round(self.window_s * self.eeg_target_fs)

    @property
    def mel_hop(self) -> int:
        return round(self.audio_sr * self.mel_hop_ms / 1000.0)

    @property
    def mel_frames(self) -> int:
        return round(self.window_s * self.audio_sr) // self.mel_hop + 1

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-sample input shapes (no batch axis)."""
        return {
            "eeg": (N_EEG_CHANNELS, self.eeg_samples),
            "audio": (self.n_mels, self.mel_frames),
            "video": (self.frames_per_window, 3, self.image_size, self.image_size),
        }

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> EAVConfig:
        d = dict(d)
        for k in ("modalities", "eeg_band", "label_rows", "video_crop"):
            if d.get(k) is not None:
                d[k] = tuple(d[k])
        return cls(**d)


def paper_data_config(**overrides) -> EAVConfig:
    """Input sizes of the paper's encoders: 128-mel spectrograms with a 10-ms hop (AST),
    25 frames of 224 px per 5-s window (every 6th frame at 30 fps, ViT-B/16)."""
    base = {
        "n_mels": 128,
        "mel_win_ms": 25.0,
        "mel_hop_ms": 10.0,
        "frames_per_window": 25,
        "image_size": 224,
    }
    return EAVConfig(**{**base, **overrides})


def preprocess_eeg(seg: np.ndarray, config: EAVConfig) -> np.ndarray:
    """(samples, channels, trials) raw EEG -> (trials, n_windows, channels, T) float32.

    Polyphase resampling to ``eeg_target_fs`` (scipy.signal.resample_poly, its anti-alias
    FIR), zero-phase 4th-order Butterworth band-pass, 5-s windows, per-window per-channel
    z-score (no statistics cross windows, so no leakage across splits).
    """
    from fractions import Fraction

    from scipy import signal

    x = np.asarray(seg, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] != N_EEG_CHANNELS:
        raise ValueError(
            f"EEG seg must have shape (samples, {N_EEG_CHANNELS}, trials), got {x.shape}"
        )
    need = round(config.trial_s * config.eeg_fs)
    if x.shape[0] < need:
        raise ValueError(
            f"EEG seg has {x.shape[0]} samples per trial, expected >= {need} "
            f"(trial_s={config.trial_s} s at eeg_fs={config.eeg_fs} Hz)"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError("EEG seg contains NaN or inf")
    x = np.transpose(x[:need], (2, 1, 0))  # trials, channels, samples
    frac = Fraction(config.eeg_target_fs / config.eeg_fs).limit_denominator(1000)
    if frac != 1:
        x = signal.resample_poly(x, frac.numerator, frac.denominator, axis=-1)
    sos = signal.butter(4, config.eeg_band, btype="bandpass", fs=config.eeg_target_fs, output="sos")
    x = signal.sosfiltfilt(sos, x, axis=-1)
    t = config.eeg_samples
    w = config.n_windows
    x = x[..., : w * t].reshape(x.shape[0], x.shape[1], w, t).transpose(0, 2, 1, 3)
    x = (x - x.mean(axis=-1, keepdims=True)) / (x.std(axis=-1, keepdims=True) + 1e-6)
    return x.astype(np.float32)


def read_wav(path: str | Path, target_sr: int) -> np.ndarray:
    """Mono float32 waveform in [-1, 1] resampled to ``target_sr`` Hz."""
    import scipy.io.wavfile
    from scipy import signal

    path = Path(path)
    try:
        sr, data = scipy.io.wavfile.read(str(path))
    except Exception as exc:
        raise ValueError(f"cannot read WAV file {path}: {exc}") from exc
    data = np.asarray(data)
    if np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max)
    data = data.astype(np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1)
    if data.size == 0:
        raise ValueError(f"WAV file {path} holds no samples")
    if sr != target_sr:
        from math import gcd

        g = gcd(int(sr), int(target_sr))
        data = signal.resample_poly(data, target_sr // g, sr // g).astype(np.float32)
    return data


def log_mel_windows(wave: np.ndarray, config: EAVConfig) -> np.ndarray:
    """(n_windows, n_mels, frames) float32 log-mel (dB, librosa) per 5-s window, each
    standardised to zero mean and unit variance. Short audio is zero-padded."""
    import librosa

    n = round(config.window_s * config.audio_sr)
    total = n * config.n_windows
    if wave.shape[0] < total:
        wave = np.pad(wave, (0, total - wave.shape[0]))
    out = np.empty((config.n_windows, config.n_mels, config.mel_frames), dtype=np.float32)
    n_fft = round(config.audio_sr * config.mel_win_ms / 1000.0)
    for w in range(config.n_windows):
        seg = wave[w * n : (w + 1) * n]
        mel = librosa.feature.melspectrogram(
            y=seg,
            sr=config.audio_sr,
            n_fft=n_fft,
            hop_length=config.mel_hop,
            n_mels=config.n_mels,
            power=2.0,
        )
        db = librosa.power_to_db(mel, ref=1.0, top_db=80.0)
        out[w] = (db - db.mean()) / (db.std() + 1e-6)
    return out


def crop_box(width: int, height: int, crop: Sequence[float]) -> tuple[int, int, int, int]:
    """Pixel box ``(x0, y0, x1, y1)`` of the square ``crop = (centre_x, centre_y, side)``:
    centre as fractions of the frame's width and height, side as a fraction of its shorter
    side; moved inside the frame where it would stick out."""
    cx, cy, side = (float(v) for v in crop)
    n = max(1, round(side * min(width, height)))
    x0 = min(max(round(cx * width - n / 2), 0), width - n)
    y0 = min(max(round(cy * height - n / 2), 0), height - n)
    return x0, y0, x0 + n, y0 + n


def read_video_windows(path: str | Path, config: EAVConfig) -> np.ndarray:
    """(n_windows, F, 3, S, S) uint8 RGB frames, F evenly spaced frames per window (PyAV).

    Each frame is cropped to the square ``config.video_crop`` (default: the centred
    full-height square, 480 x 480 of the release's 640 x 480) and then resized with area
    averaging, so faces keep their proportions instead of being squashed 4:3.
    """
    import av

    path = Path(path)
    size = config.image_size
    f = config.frames_per_window
    out = np.zeros((config.n_windows, f, 3, size, size), dtype=np.uint8)
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 30)
            times = (
                np.arange(config.n_windows)[:, None] * config.window_s
                + (np.arange(f)[None, :] + 0.5) * config.window_s / f
            )
            wanted = {int(i): k for k, i in enumerate(np.floor(times.ravel() * fps).astype(int))}
            last = max(wanted)
            got = 0
            for i, frame in enumerate(container.decode(stream)):
                if i in wanted:
                    k = wanted[i]
                    x0, y0, x1, y1 = crop_box(frame.width, frame.height, config.video_crop)
                    img = frame.to_ndarray(format="rgb24")[y0:y1, x0:x1]
                    small = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                    small = small.reformat(width=size, height=size, interpolation="AREA")
                    out[k // f, k % f] = small.to_ndarray().transpose(2, 0, 1)
                    got += 1
                if i >= last:
                    break
    except av.error.FFmpegError as exc:
        raise ValueError(f"cannot decode video file {path}: {exc}") from exc
    if got < len(wanted):
        raise ValueError(
            f"video file {path} is too short: {got} of {len(wanted)} sampled frames found "
            f"(need {config.trial_s} s at {fps:g} fps)"
        )
    return out
