"""On-disk cache of decoded EAV windows, read back memory-mapped: paper-size inputs with bounded
host memory.

The paper's inputs (25 RGB frames of 224 x 224 and a 128 x 501 log-mel per 5-s window) take
3.9 MB per window, 1.5 GB per participant and about 63 GB for the 42 participants' speaking
trials: more than a workstation holds. :func:`build_eav_cache` decodes every participant once,
trial by trial (:func:`~.eav_loader.iter_subject_trials`, the loader's one decoding path), and
writes the windows sequentially to ``.npy`` files, so writing holds one trial at a time.
:class:`EAVWindows` maps those files and copies out only the rows a batch asks for
(:meth:`EAVWindows.take`); after each batch the mapped pages are released from the process
(they stay in the kernel's page cache), so resident memory is one batch plus the index
arrays, whatever the size of the set.

Layout: ``<cache_dir>/subject<N>-<key>/{eeg,audio,video,mask,label,trial,window}.npy`` and
``meta.json``. ``key`` is a digest of the loader configuration and of the participant's source
files (names, sizes, modification times), so a changed file or setting makes a new entry
instead of serving stale windows; a folder without ``meta.json`` (an interrupted build) is
never read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from edge_emotion.training.datasets.eav_layout import list_subjects
from edge_emotion.training.datasets.eav_loader import (
    SubjectPlan,
    iter_subject_trials,
    plan_subject,
    subject_summary,
)
from edge_emotion.training.datasets.eav_preprocess import EAVConfig

EAV_CACHE_FORMAT = "edge_emotion.eav_cache/1"
SIGNAL_FIELDS = ("eeg", "audio", "video", "mask")
INDEX_FIELDS = ("label", "trial", "window")


def cache_key(plan: SubjectPlan, config: EAVConfig) -> str:
    """Digest of what the cached windows depend on: the configuration and the source files."""
    files = [plan.eeg_path, plan.label_path]
    for per_trial in plan.files.values():
        files += [per_trial[t] for t in sorted(per_trial)]
    stats = []
    for p in files:
        st = p.stat()
        stats.append([p.name, st.st_size, st.st_mtime_ns])
    blob = json.dumps(
        {"format": EAV_CACHE_FORMAT, "config": config.to_dict(), "files": stats}, sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class _NpyWriter:
    """Appends rows to an open ``.npy`` file of known shape, sequentially (no mapping, so the
    written pages never count against the writer's resident memory)."""

    def __init__(self, fh: BinaryIO, shape: tuple[int, ...], dtype: type) -> None:
        self.fh, self.shape, self.dtype = fh, shape, np.dtype(dtype)
        self.rows = 0
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": shape,
        }
        np.lib.format.write_array_header_2_0(fh, header)

    def write(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        if rows.shape[1:] != self.shape[1:] or self.rows + rows.shape[0] > self.shape[0]:
            raise ValueError(f"{self.fh.name}: rows of shape {rows.shape} do not fit {self.shape}")
        self.fh.write(rows.tobytes())
        self.rows += rows.shape[0]


def _write_subject(plan: SubjectPlan, config: EAVConfig, folder: Path) -> None:
    nw = config.n_windows
    n = plan.trials.size * nw
    shapes = {**config.shapes, "mask": (3,)}
    dtypes = {"eeg": np.float32, "audio": np.float32, "video": np.uint8, "mask": np.bool_}
    with contextlib.ExitStack() as stack:
        writers = {
            k: _NpyWriter(stack.enter_context(open(folder / f"{k}.npy", "wb")), (n, *shapes[k]), t)
            for k, t in dtypes.items()
        }
        for tw in iter_subject_trials(plan, config):
            present = np.zeros((nw, 3), dtype=bool)
            for col, name in enumerate(("eeg", "audio", "video")):
                value = getattr(tw, name)
                if value is None:
                    value = np.zeros((nw, *shapes[name]), dtypes[name])
                else:
                    present[:, col] = True
                writers[name].write(value)
            writers["mask"].write(present)
    short = [k for k, w in writers.items() if w.rows != n]
    if short:
        raise ValueError(f"{folder}: {short} got fewer than {n} windows")
    np.save(folder / "label.npy", np.repeat(plan.labels[plan.trials], nw).astype(np.int64))
    np.save(folder / "trial.npy", np.repeat(plan.trials, nw).astype(np.int64))
    np.save(folder / "window.npy", np.tile(np.arange(nw), plan.trials.size).astype(np.int64))


def build_eav_cache(
    root: str | Path,
    cache_dir: str | Path,
    subjects: Sequence[int] | None = None,
    config: EAVConfig | None = None,
    progress: bool = False,
) -> EAVWindows:
    """Decode the participants under ``root`` (all when ``subjects`` is None) into
    ``cache_dir`` unless an up-to-date entry exists, and open them (:class:`EAVWindows`)."""
    config = config or EAVConfig()
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    subjects = list(subjects) if subjects is not None else list_subjects(root)
    folders = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(subjects), desc="EAV cache", unit="subject", leave=False)
    for s in subjects:
        plan = plan_subject(root, s, config)
        folder = cache_dir / f"subject{int(s)}-{cache_key(plan, config)}"
        if not (folder / "meta.json").is_file():
            if bar is not None:
                # the first participant also loads librosa and PyAV (10-30 s before any trial)
                first = " (the first also loads the audio/video decoders)" if not folders else ""
                bar.set_postfix_str(f"decoding subject{int(s)}{first}")
            tmp = folder.with_name(folder.name + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            _write_subject(plan, config, tmp)
            meta = {
                "format": EAV_CACHE_FORMAT,
                "subject": int(s),
                "config": config.to_dict(),
                "summary": subject_summary(plan, config),
                "source": str(Path(root).resolve()),
            }
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(tmp, folder)
        folders.append(folder)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return EAVWindows(folders)


class _MappedArray:
    """A ``.npy`` file mapped read-only; rows are copied out and the mapping's pages released."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            # both readers bound the header's length (numpy's max_header_size)
            shape, fortran, dtype = read_header(fh)
            offset = fh.tell()
            size = os.fstat(fh.fileno()).st_size
            if fortran or dtype.hasobject:
                raise ValueError(f"{path}: not a C-ordered plain array")
            need = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            # the header's shape must agree with the file's length before anything is mapped
            if need != size:
                raise ValueError(f"{path}: header says {shape} {dtype}, file has {size} bytes")
            self.mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self.path, self.shape, self.dtype = path, tuple(shape), dtype
        self.array = np.frombuffer(self.mm, dtype=dtype, count=int(np.prod(shape)), offset=offset)
        self.array = self.array.reshape(shape)

    def rows(self, idx: np.ndarray) -> np.ndarray:
        return self.array[idx]  # fancy indexing copies

    def release(self) -> None:
        # drop the pages this process touched; the kernel keeps them cached for the next read
        self.mm.madvise(mmap.MADV_DONTNEED)


class EAVWindows:
    """Cached windows of several participants, memory-mapped (see the module docstring).

    Like :class:`~.eav_loader.EAVData` it has ``label``, ``subject``, ``trial``, ``window`` and
    ``mask`` arrays (small, in memory) and :meth:`take`; the signals stay on disk.
    """

    def __init__(self, folders: Sequence[str | Path]) -> None:
        if not folders:
            raise ValueError("no cached participants given")
        self.folders = [Path(f) for f in folders]
        self.meta = []
        self._signals: list[dict[str, _MappedArray]] = []
        index: dict[str, list[np.ndarray]] = {k: [] for k in (*INDEX_FIELDS, "subject", "mask")}
        for folder in self.folders:
            meta_path = folder / "meta.json"
            if not meta_path.is_file():
                raise FileNotFoundError(
                    f"{folder} is not a complete EAV cache entry (no meta.json)"
                )
            meta = json.loads(meta_path.read_text())
            if meta.get("format") != EAV_CACHE_FORMAT:
                raise ValueError(
                    f"{meta_path}: format {meta.get('format')!r}, expected {EAV_CACHE_FORMAT!r}"
                )
            self.meta.append(meta)
            sig = {k: _MappedArray(folder / f"{k}.npy") for k in ("eeg", "audio", "video")}
            n = sig["eeg"].shape[0]
            for k in INDEX_FIELDS:
                arr = np.load(folder / f"{k}.npy", allow_pickle=False)
                if arr.shape != (n,):
                    raise ValueError(f"{folder / (k + '.npy')}: shape {arr.shape}, expected ({n},)")
                index[k].append(arr)
            mask = np.load(folder / "mask.npy", allow_pickle=False)
            if mask.shape != (n, 3) or any(s.shape[0] != n for s in sig.values()):
                raise ValueError(f"{folder}: arrays disagree on the number of windows")
            index["mask"].append(mask)
            index["subject"].append(np.full(n, int(meta["subject"]), dtype=np.int64))
            self._signals.append(sig)
        configs = {json.dumps(m["config"], sort_keys=True) for m in self.meta}
        if len(configs) > 1:
            raise ValueError("cache entries were built with different loader configurations")
        self.config = EAVConfig.from_dict(self.meta[0]["config"])
        self.label, self.trial, self.window = (np.concatenate(index[k]) for k in INDEX_FIELDS)
        self.subject = np.concatenate(index["subject"])
        self.mask = np.concatenate(index["mask"])
        sizes = [s["eeg"].shape[0] for s in self._signals]
        self._part = np.repeat(np.arange(len(sizes)), sizes)
        self._row = np.concatenate([np.arange(k) for k in sizes])
        self.summary = {
            "subjects": [m["subject"] for m in self.meta],
            "windows": int(self.label.size),
            **{
                k: int(sum(m["summary"].get(k, 0) for m in self.meta))
                for k in ("trials", "missing_audio", "missing_video")
            },
        }

    def __len__(self) -> int:
        return int(self.label.size)

    def take(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        """Rows ``idx`` (in that order) of eeg, audio, video and mask, copied into memory."""
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"window index out of range 0..{len(self) - 1}")
        shapes = self.config.shapes
        out = {
            "eeg": np.empty((idx.size, *shapes["eeg"]), np.float32),
            "audio": np.empty((idx.size, *shapes["audio"]), np.float32),
            "video": np.empty((idx.size, *shapes["video"]), np.uint8),
            "mask": self.mask[idx],
        }
        parts = self._part[idx]
        for p in np.unique(parts):
            sel = np.flatnonzero(parts == p)
            rows = self._row[idx[sel]]
            for k in ("eeg", "audio", "video"):
                out[k][sel] = self._signals[p][k].rows(rows)
                self._signals[p][k].release()
        return out
