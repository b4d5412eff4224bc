"""Output folders that never lose a user's files: bundles (export) and generated data (synth).

Two rules, one per kind of output:

* **Bundles** (:func:`stage_bundle`): a bundle is written into a fresh folder beside
  ``--out`` and moved into place only after it verifies. An existing ``--out`` must be
  absent, empty, or a bundle this project wrote — a manifest with our schema *and* files
  that match its table — and such a bundle is replaced only when asked (``--force``):
  the old folder is renamed aside, the new one renamed in, and the old bundle's own
  files are deleted only then (those of its fallback sub-bundles too); anything in it the
  manifests do not list (``notes.txt``, the device's ``trt_cache/``) is moved into the
  new bundle, never deleted. An export that fails removes its staging folder; one that
  is killed leaves it (``.NAME.xxxxxxxx/`` beside ``--out``), never a half-written
  ``--out``.
* **Generated data** (:class:`OwnedFolder`): a command that fills a folder with files
  (``training synth``, ``training eav synth``) records what it wrote, with sha256, in
  ``.edge_emotion_outputs.json``. It writes into a folder only if every file there is one
  it recorded and nobody changed since; anything else needs ``--force`` (and even then
  only files with the names it writes are overwritten). Its own earlier outputs, checked
  unchanged, are removed before it writes, so a regenerated dataset never mixes in an
  old one's subjects.

Both refuse with :class:`OutputRefused` (a ``ValueError``), whose message names the
folder, what is in the way and what to do. No torch, no onnx: plain files only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import weakref
from collections.abc import Callable
from pathlib import Path

from edge_emotion.bundle import MANIFEST_NAME, SCHEMA, BundleError, read_manifest, sha256_file
from edge_emotion.manifest_checks import FALLBACKS_KEY

log = logging.getLogger("edge_emotion.out_dir")

LEDGER_NAME = ".edge_emotion_outputs.json"
LEDGER_FORMAT = "edge_emotion.outputs/1"


class OutputRefused(ValueError):
    """Writing to an output path would lose or mix up files the command did not write."""


def _listing(paths: list[str], limit: int = 3) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


# ---------------------------------------------------------------------------- bundles


def bundle_files(folder: Path, _top: bool = True) -> list[str] | None:
    """The files a bundle in ``folder`` lists, as paths relative to it (manifest last; a
    fallback sub-bundle's files as ``fallback_eeg/model.onnx`` and so on), if ``folder``
    holds a bundle this project wrote, intact: our schema, and every listed file present
    with the sha256 of the table. None otherwise."""
    try:
        manifest = read_manifest(folder)
    except BundleError:
        return None
    table = manifest.get("files")
    if manifest.get("schema") != SCHEMA or not isinstance(table, dict) or not table:
        return None
    for name, entry in table.items():
        if not _plain_name(name) or name == MANIFEST_NAME or not isinstance(entry, dict):
            return None
        path = folder / name
        if path.is_symlink() or not path.is_file() or sha256_file(path) != entry.get("sha256"):
            return None
    nested: list[str] = []
    fallbacks = manifest.get(FALLBACKS_KEY, {})
    if not isinstance(fallbacks, dict) or (fallbacks and not _top):
        return None
    for sub in fallbacks.values():
        inner = (
            bundle_files(folder / sub, _top=False)
            if _plain_name(sub) and not (folder / sub).is_symlink()
            else None
        )
        if inner is None:
            return None
        nested += [f"{sub}/{rel}" for rel in inner]
    return [*table, *nested, MANIFEST_NAME]


def _plain_name(name: object) -> bool:
    return isinstance(name, str) and Path(name).name == name and name not in ("", ".", "..")


class StagedBundle:
    """A bundle being written beside its destination; see :func:`stage_bundle`.

    Write into :attr:`path` (its folder name is the destination's, so the bundle's name
    comes out right), verify, then :meth:`commit`. A staged bundle that is never
    committed is removed when the object is collected or the process exits.
    """

    def __init__(self, out_dir: Path, force: bool) -> None:
        self.destination = out_dir
        self.force = force
        self._replaces = _check_bundle_destination(out_dir, force)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        self._staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
        self.path = self._staging / out_dir.name
        self.path.mkdir()
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._staging, True)

    def commit(self, say: Callable[[str], None] | None = None) -> Path:
        """Move the staged bundle to the destination and return its path there.

        An existing bundle is re-checked first (it may have changed while this one was
        written); if it no longer verifies, nothing is touched and the staged bundle is
        left where it is, named in the :class:`OutputRefused` raised.
        """
        say = say or log.info
        out = self.destination
        try:
            listed = _check_bundle_destination(out, self.force)
        except OutputRefused as exc:
            self._cleanup.detach()
            raise OutputRefused(f"{exc}\nThe new bundle was left at {self.path}") from None
        if listed is None:
            if out.is_dir():
                out.rmdir()  # checked empty; fails (and touches nothing) if it filled since
            self.path.rename(out)
        else:
            self._swap(out, listed, say)
        self._cleanup()
        return out

    def _swap(self, out: Path, listed: list[str], say: Callable[[str], None]) -> None:
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.replaced-", dir=out.parent))
        old.rmdir()
        out.rename(old)  # from here until the end, the old bundle is whole under this name
        self.path.rename(out)
        kept, stranded = _carry_unlisted(old, out, set(listed))
        for name in listed:
            (old / name).unlink(missing_ok=True)
        for folder in sorted({Path(n).parent for n in listed} - {Path(".")}, reverse=True):
            with contextlib.suppress(OSError):  # a fallback's folder, unless something is left
                (old / folder).rmdir()
        if stranded:
            say(
                f"replaced the bundle at {out}; kept {_listing(stranded)} (not part of the "
                f"old bundle, and the new one has files of those names) in {old}"
            )
        else:
            old.rmdir()
            say(
                f"replaced the bundle at {out}"
                + (f"; kept {_listing(kept)} (not part of the bundle)" if kept else "")
            )


def _carry_unlisted(
    old: Path, out: Path, listed: set[str], rel: str = ""
) -> tuple[list[str], list[str]]:
    """Move what the old bundle in ``old`` does not list (a user's notes, a device's
    ``trt_cache/``, also inside its fallbacks' folders) to the same place in the new one
    at ``out``; returns (moved, left in ``old`` because the new bundle has that name)."""
    kept, stranded = [], []
    for entry in sorted(old.iterdir()):
        name = rel + entry.name
        if name in listed:
            continue
        if (
            not entry.is_symlink()
            and entry.is_dir()
            and any(n.startswith(name + "/") for n in listed)
        ):
            moved, left = _carry_unlisted(entry, out / entry.name, listed, name + "/")
            kept += moved
            stranded += left
        elif (
            out.is_dir() and not (out / entry.name).exists() and not (out / entry.name).is_symlink()
        ):
            entry.rename(out / entry.name)
            kept.append(name)
        else:
            stranded.append(name)  # the new bundle writes a file of that name
    return kept, stranded


def _check_bundle_destination(out: Path, force: bool) -> list[str] | None:
    """None when ``out`` is absent or empty; the old bundle's file names when it is a
    bundle that may be replaced; :class:`OutputRefused` otherwise."""
    if out.is_symlink():
        raise OutputRefused(f"--out {out} is a symbolic link; give the folder itself")
    if not out.exists():
        return None
    if not out.is_dir():
        raise OutputRefused(f"--out {out} exists and is not a folder; refusing to replace it")
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return None
    listed = bundle_files(out)
    if listed is None:
        why = (
            f"its {MANIFEST_NAME} is not that of an intact edge_emotion bundle"
            if MANIFEST_NAME in entries
            else f"it holds {_listing(entries)}"
        )
        raise OutputRefused(
            f"--out {out} is not empty and is not a bundle this project wrote ({why}); "
            "refusing to write into it. Choose an empty or new folder."
        )
    if not force:
        extra = [e for e in entries if e not in {n.split("/")[0] for n in listed}]
        raise OutputRefused(
            f"--out {out} already holds a bundle; pass --force to replace it"
            + (f" (files it does not list are kept: {_listing(extra)})" if extra else "")
        )
    return listed


def stage_bundle(out_dir: Path | str, force: bool = False) -> StagedBundle:
    """Check ``out_dir`` and start a bundle for it (see the module docstring).

    Raises :class:`OutputRefused` when ``out_dir`` is a file, a non-empty folder that is
    not an intact bundle of ours, or (without ``force``) a bundle.
    """
    return StagedBundle(Path(out_dir), force)


# ---------------------------------------------------------------------------- generated data


def _files_under(root: Path) -> dict[str, os.stat_result]:
    """Relative POSIX path -> lstat of every file (and link) under ``root``, ledger excluded."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if rel != LEDGER_NAME:
                found[rel] = path.lstat()
    return found


def _changed(before: os.stat_result, after: os.stat_result) -> bool:
    return (before.st_mtime_ns, before.st_size, before.st_ino) != (
        after.st_mtime_ns,
        after.st_size,
        after.st_ino,
    )


class OwnedFolder:
    """A folder ``command`` fills with generated files (see the module docstring).

    Creating it checks the folder (:class:`OutputRefused` when it holds files that are not
    unchanged outputs of ``command``, unless ``force``), removes those earlier outputs —
    this run writes the folder's contents anew — and creates ``root`` if absent. Call
    :meth:`record` after writing. ``label`` names the argument in messages.
    """

    def __init__(
        self, root: Path | str, command: str, force: bool = False, label: str = "--out"
    ) -> None:
        self.root = Path(root)
        self.command = command
        if self.root.is_symlink() or (self.root.exists() and not self.root.is_dir()):
            raise OutputRefused(
                f"{label} {self.root} exists and is not a folder; {command} writes a folder "
                "of files"
            )
        previous = self._read_ledger()
        before = _files_under(self.root) if self.root.is_dir() else {}
        ours = [rel for rel in sorted(before) if _unchanged(self.root / rel, previous.get(rel))]
        self._foreign = {rel: st for rel, st in before.items() if rel not in ours}
        if self._foreign and not force:
            raise OutputRefused(
                f"{label} {self.root} holds files {command} did not write, or that changed since "
                f"({_listing(sorted(self._foreign))}); refusing to write into it. Choose an "
                "empty or new folder, or pass --force to write anyway (files with the names "
                "it writes are overwritten; others are left alone)"
            )
        for rel in ours:
            self._remove(rel)
        self.root.mkdir(parents=True, exist_ok=True)

    def _read_ledger(self) -> dict[str, dict]:
        try:
            ledger = json.loads((self.root / LEDGER_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return {}
        if not isinstance(ledger, dict) or ledger.get("format") != LEDGER_FORMAT:
            return {}
        files = ledger.get("files")
        return files if isinstance(files, dict) else {}

    def _remove(self, rel: str) -> None:
        """Delete an earlier output of ours, and the folders only it kept."""
        path = self.root / rel
        path.unlink()
        for folder in path.parents:
            if folder == self.root or self.root not in folder.parents:
                break
            try:
                folder.rmdir()
            except OSError:  # not empty: something else lives there
                break

    def record(self) -> list[Path]:
        """Write the ledger of the files this run wrote (every file under ``root`` except
        the foreign ones it found and did not overwrite) and return their paths."""
        table = {}
        for rel, st in sorted(_files_under(self.root).items()):
            if rel in self._foreign and not _changed(self._foreign[rel], st):
                continue
            table[rel] = {"sha256": sha256_file(self.root / rel), "bytes": st.st_size}
        ledger = {"format": LEDGER_FORMAT, "command": self.command, "files": table}
        tmp = self.root / (LEDGER_NAME + ".tmp")
        tmp.write_text(json.dumps(ledger, indent=1) + "\n", encoding="utf-8")
        tmp.replace(self.root / LEDGER_NAME)
        return [self.root / rel for rel in table]


def _unchanged(path: Path, entry: object) -> bool:
    """True when ``path`` is a plain file with the size and sha256 a ledger entry records."""
    return (
        isinstance(entry, dict)
        and not path.is_symlink()
        and path.is_file()
        and entry.get("bytes") == path.stat().st_size
        and entry.get("sha256") == sha256_file(path)
    )
