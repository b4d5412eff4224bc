"""Synthetic EEG + audio + video recordings written in the EAV layout.

For tests and demos only: the files have the exact layout :mod:`.eav_layout` describes
(``.mat`` v5 or v7.3, ``.wav``, ``.mp4``), small sizes, and class-dependent structure so a
model can learn:

- EEG: a sinusoid at ``6 + 4 * class`` Hz on a class-specific group of 6 channels, over
  1/f-shaped background noise with a per-participant gain;
- audio: a tone at ``300 + 150 * class`` Hz with a slow amplitude modulation, in noise;
- video: a bright square whose position and colour depend on the class, drifting a few pixels,
  over a noisy background.

Accuracies on these data say the pipeline works, nothing about emotion recognition.

Names follow the release (see :mod:`.eav_layout`): folders ``subject1``, ``subject2``, ...; files
``NNN_Trial_TT_<Task>_<Emotion>.mp4`` and ``NNN_Trial_TT_Speaking_<Emotion>_Aud.wav`` with
``NNN`` the trial and ``TT`` a number that repeats within a participant, as in the release
(here: how many trials of that task and emotion came before, plus one). Frames are 4:3
like the release's 640 x 480, with the class square inside the centred square.
Trials alternate listening (even 0-based index) and speaking (odd), as in EAV's paired
listen/speak design; emotions are balanced per participant and shuffled in pairs.
Each modality of each trial shows its class's signature with probability
``informative_fraction`` and another class's otherwise (independently per modality), so no
single modality is perfect and combining them helps.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edge_emotion.training.datasets.eav_layout import EMOTIONS, N_EEG_CHANNELS, TASKS
from edge_emotion.training.datasets.eav_preprocess import EAVConfig

_COLOURS = np.array(
    [[230, 230, 230], [40, 60, 230], [230, 40, 40], [240, 220, 40], [40, 200, 90]], dtype=np.float64
)


@dataclass(frozen=True)
class SyntheticEAVConfig:
    """Size of the synthetic set. ``n_trials`` must be a multiple of 10 (5 emotions x 2 tasks)."""

    n_subjects: int = 2
    n_trials: int = 10
    trial_s: float = 10.0
    eeg_fs: float = 200.0
    audio_sr: int = 8000
    video_fps: int = 10
    frame_size: int = 32  # frame height; the width is 4/3 of it
    mat_version: str = "v5"
    video_codec: str = "libx264"
    signal_amplitude: float = 1.0
    informative_fraction: float = 0.75
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_subjects < 1:
            raise ValueError("n_subjects must be >= 1")
        if self.n_trials < 10 or self.n_trials % 10:
            raise ValueError(f"n_trials must be a positive multiple of 10, got {self.n_trials}")
        if not 0.0 < self.informative_fraction <= 1.0:
            raise ValueError("informative_fraction must be in (0, 1]")
        if self.mat_version not in ("v5", "v7.3"):
            raise ValueError(f"mat_version must be 'v5' or 'v7.3', got {self.mat_version!r}")
        if self.frame_size < 16 or self.frame_size % 2:
            raise ValueError("frame_size must be an even number >= 16")
        if self.trial_s <= 0 or self.eeg_fs < 100 or self.audio_sr < 2000 or self.video_fps < 1:
            raise ValueError("trial_s > 0, eeg_fs >= 100 Hz, audio_sr >= 2000 Hz, video_fps >= 1")

    def loader_config(self, **overrides) -> EAVConfig:
        """An :class:`EAVConfig` matching these files (small windows/frames for CPU tests)."""
        base = EAVConfig(
            eeg_fs=self.eeg_fs,
            eeg_target_fs=100.0,
            trial_s=self.trial_s,
            window_s=5.0,
            audio_sr=self.audio_sr,
            n_mels=32,
            mel_hop_ms=50.0,
            mel_win_ms=50.0,
            frames_per_window=2,
            image_size=32,
        )
        return replace(base, **overrides)


def _pink_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    white = rng.standard_normal(shape)
    spec = np.fft.rfft(white, axis=-1)
    f = np.arange(spec.shape[-1], dtype=np.float64)
    f[0] = 1.0
    x = np.fft.irfft(spec / np.sqrt(f), n=shape[-1], axis=-1)
    return x / (x.std(axis=-1, keepdims=True) + 1e-12)


def synthetic_eeg_trial(
    rng: np.random.Generator, emotion: int, n: int, fs: float, amplitude: float, gain: float
) -> np.ndarray:
    """(n, 30) EEG in microvolts with the class signature described in the module docstring."""
    x = _pink_noise(rng, (N_EEG_CHANNELS, n)) * 10.0
    t = np.arange(n) / fs
    freq = 6.0 + 4.0 * emotion
    chans = slice(6 * emotion, 6 * emotion + 6)
    phase = rng.uniform(0, 2 * np.pi)
    x[chans] += amplitude * 8.0 * np.sin(2 * np.pi * freq * t + phase)
    return (gain * x).T


def synthetic_audio_trial(
    rng: np.random.Generator, emotion: int, n: int, sr: int, amplitude: float
) -> np.ndarray:
    t = np.arange(n) / sr
    tone = np.sin(2 * np.pi * (300.0 + 150.0 * emotion) * t + rng.uniform(0, 2 * np.pi))
    env = 0.6 + 0.4 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 2 * np.pi))
    y = 0.25 * amplitude * env * tone + 0.08 * rng.standard_normal(n)
    return np.clip(y, -1.0, 1.0)


def frame_width(height: int) -> int:
    """4:3 width for ``height``, even (yuv420p needs even sizes)."""
    return 2 * round(height * 2 / 3)


def synthetic_video_trial(
    rng: np.random.Generator, emotion: int, n_frames: int, size: int, amplitude: float
) -> Iterator[np.ndarray]:
    """``n_frames`` frames (size, 4/3 size, 3) uint8 RGB, one at a time (release-size trials
    do not fit in memory at once); the class square stays inside the centred square."""
    width = frame_width(size)
    margin = (width - size) // 2
    # a few noise fields per trial, one drawn and shifted at random per frame: a fresh-looking
    # background every frame at a cost that release-size trials (600 frames) can afford
    bank = np.clip(rng.normal(90.0, 20.0, size=(4, size, width, 3)), 0, 255).astype(np.uint8)
    colour = np.clip((1 - amplitude) * 90.0 + amplitude * _COLOURS[emotion], 0, 255)
    sq = size // 4
    # five corners/centre positions of the centred square, one per class
    anchors = [(0.1, 0.1), (0.1, 0.6), (0.6, 0.1), (0.6, 0.6), (0.35, 0.35)]
    ay, ax = anchors[emotion]
    for k in range(n_frames):
        frame = np.roll(bank[rng.integers(len(bank))], int(rng.integers(width)), axis=1)
        y0 = max(0, int(ay * size) + round(2 * np.sin(0.3 * k)))
        x0 = max(0, margin + int(ax * size) + round(2 * np.cos(0.3 * k)))
        frame[y0 : y0 + sq, x0 : x0 + sq] = colour.astype(np.uint8)
        yield frame


def write_mat(path: Path, name: str, array: np.ndarray, version: str) -> None:
    """Write one variable as MATLAB v5 (scipy) or v7.3 (HDF5 with MATLAB's 512-byte header)."""
    if version == "v5":
        import scipy.io

        scipy.io.savemat(str(path), {name: array}, do_compression=False)
        return
    import h5py

    with h5py.File(path, "w", userblock_size=512) as f:
        # MATLAB v7.3 stores column-major: the HDF5 dataset holds the transposed array.
        ds = f.create_dataset(name, data=np.ascontiguousarray(array.T))
        ds.attrs["MATLAB_class"] = np.bytes_("double" if array.dtype == np.float64 else "single")
    text = (
        "MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: "
        + time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(0))
        + " HDF5 schema 1.00 ."
    ).encode("ascii")
    header = text.ljust(116, b" ") + b"\x00" * 8 + struct.pack("<H", 0x0200) + b"IM"
    with open(path, "r+b") as fh:
        fh.write(header)


def write_mp4(path: Path, frames: Iterable[np.ndarray], fps: int, codec: str = "libx264") -> None:
    """Encode (H, W, 3) uint8 RGB frames (an array of them or an iterator) with PyAV."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = None
        for img in frames:
            if stream is None:
                stream = container.add_stream(codec, rate=fps)
                stream.width = img.shape[1]
                stream.height = img.shape[0]
                stream.pix_fmt = "yuv420p"
                if codec == "libx264":
                    # noise does not compress; the fastest preset keeps release-size sets quick
                    stream.options = {"preset": "ultrafast"}
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        if stream is None:
            raise ValueError(f"no frames to write to {path}")
        for packet in stream.encode():
            container.mux(packet)


def write_synthetic_eav(root: str | Path, config: SyntheticEAVConfig | None = None) -> Path:
    """Write ``config.n_subjects`` participants under ``root`` in the EAV layout; returns root.

    Per participant ``subject<N>/``: ``EEG/subject<N>_eeg.mat`` (``seg1``, (samples, 30,
    trials) float32), ``EEG/subject<N>_eeg_label.mat`` (``label``, (10, trials), row
    ``2 * emotion + task``), ``Video/NNN_Trial_TT_<Task>_<Emotion>.mp4`` for every trial and
    ``Audio/NNN_Trial_TT_Speaking_<Emotion>_Aud.wav`` for speaking trials (``NNN``: trial;
    ``TT``: repeating, see the module docstring).
    """
    import scipy.io.wavfile

    config = config or SyntheticEAVConfig()
    root = Path(root)
    rng = np.random.default_rng(config.seed)
    n_eeg = round(config.trial_s * config.eeg_fs)
    n_audio = round(config.trial_s * config.audio_sr)
    n_frames = round(config.trial_s * config.video_fps)
    n_pairs = config.n_trials // 2
    for s in range(1, config.n_subjects + 1):
        sdir = root / f"subject{s}"
        for sub in ("EEG", "Audio", "Video"):
            (sdir / sub).mkdir(parents=True, exist_ok=True)
        emotions = rng.permutation(np.tile(np.arange(len(EMOTIONS)), n_pairs // len(EMOTIONS)))
        emotions = np.repeat(emotions, 2)  # listen/speak pairs share the emotion
        gain = rng.uniform(0.7, 1.4)
        seg = np.empty((n_eeg, N_EEG_CHANNELS, config.n_trials), dtype=np.float32)
        label = np.zeros((2 * len(EMOTIONS), config.n_trials), dtype=np.float64)
        occurrences = np.zeros((len(EMOTIONS), len(TASKS)), dtype=int)
        for t in range(config.n_trials):
            emo = int(emotions[t])
            task = t % 2
            label[2 * emo + task, t] = 1.0
            occurrences[emo, task] += 1
            shown = [
                emo
                if rng.random() < config.informative_fraction
                else int((emo + rng.integers(1, len(EMOTIONS))) % len(EMOTIONS))
                for _ in range(3)
            ]
            seg[:, :, t] = synthetic_eeg_trial(
                rng, shown[0], n_eeg, config.eeg_fs, config.signal_amplitude, gain
            )
            stem = (
                f"{t + 1:03d}_Trial_{occurrences[emo, task]:02d}_"
                f"{TASKS[task].capitalize()}_{EMOTIONS[emo].capitalize()}"
            )
            frames = synthetic_video_trial(
                rng, shown[2], n_frames, config.frame_size, config.signal_amplitude
            )
            write_mp4(sdir / "Video" / f"{stem}.mp4", frames, config.video_fps, config.video_codec)
            if TASKS[task] == "speaking":
                wave = synthetic_audio_trial(
                    rng, shown[1], n_audio, config.audio_sr, config.signal_amplitude
                )
                scipy.io.wavfile.write(
                    str(sdir / "Audio" / f"{stem}_Aud.wav"),
                    config.audio_sr,
                    (wave * 32767).astype(np.int16),
                )
        write_mat(sdir / "EEG" / f"subject{s}_eeg.mat", "seg1", seg, config.mat_version)
        write_mat(sdir / "EEG" / f"subject{s}_eeg_label.mat", "label", label, config.mat_version)
    return root
