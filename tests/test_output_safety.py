"""No command deletes or overwrites a file it did not write (issue 15, items 1 and 2).

``export --out`` writes a bundle beside its destination and swaps it in only after it
verifies; ``training synth`` and ``training eav synth`` write only into folders that hold
nothing but their own, unchanged, earlier outputs unless told ``--force``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from export_helpers import exported_bundle, write_checkpoint

from edge_emotion.bundle import load_bundle
from edge_emotion.export.__main__ import main as export_main
from edge_emotion.out_dir import LEDGER_NAME, OutputRefused, OwnedFolder, stage_bundle
from edge_emotion.training.cli import main as training_main

FAST_EXPORT = ["--n-calibration", "8", "--n-heldout", "8", "--no-torch-state"]


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _stage_copy_of(bundle: Path, out: Path, force: bool = False):
    """A staged bundle holding a copy of ``bundle`` (what export writes), for ``out``."""
    staged = stage_bundle(out, force=force)
    for f in bundle.iterdir():
        shutil.copy2(f, staged.path / f.name)
    return staged


def _user_app(root: Path) -> Path:
    """The issue's reproduction: a user's project that happens to have a manifest.json."""
    (root / "W" / "src").mkdir(parents=True)
    (root / "W" / "manifest.json").write_text('{"name":"app"}\n')
    (root / "W" / "src" / "app.js").write_text("console.log('mine')\n")
    return root / "W"


# ---------------------------------------------------------------------------- export


def test_export_refuses_a_folder_that_is_not_our_bundle_and_touches_nothing(tmp_path, capsys):
    ckpt = write_checkpoint(tmp_path / "model.pt")
    app = _user_app(tmp_path)
    before = _snapshot(app)
    for extra in ([], ["--force"]):
        assert export_main([str(ckpt), "--out", str(app), *FAST_EXPORT, *extra]) == 1
        err = capsys.readouterr().err
        assert "is not a bundle this project wrote" in err and "manifest.json" in err
        assert _snapshot(app) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["W", "model.pt"]  # no staging left


def test_a_manifest_whose_files_do_not_match_is_not_our_bundle(tmp_path):
    out = Path(shutil.copytree(exported_bundle(), tmp_path / "b"))
    (out / "parity.md").write_text("edited by hand\n")
    with pytest.raises(OutputRefused, match="not that of an intact edge_emotion bundle"):
        stage_bundle(out, force=True)
    (out / "parity.md").unlink()
    with pytest.raises(OutputRefused, match="not that of an intact"):
        stage_bundle(out, force=True)


def test_an_existing_bundle_is_replaced_only_with_force(tmp_path, capsys):
    ckpt = write_checkpoint(tmp_path / "model.pt")
    out = Path(shutil.copytree(exported_bundle(), tmp_path / "b"))
    (out / "notes.txt").write_text("my notes\n")
    before = _snapshot(out)
    assert export_main([str(ckpt), "--out", str(out), *FAST_EXPORT]) == 1
    err = capsys.readouterr().err
    assert "already holds a bundle; pass --force" in err and "notes.txt" in err
    assert _snapshot(out) == before


def test_export_force_replaces_the_bundle_and_keeps_what_it_did_not_list(tmp_path, capsys):
    """End to end: the new bundle is in place, notes.txt and the device's plan cache are
    kept, the old bundle's own files (model.pt, model.fp16.onnx) are gone, and nothing is
    left beside the folder."""
    ckpt = write_checkpoint(tmp_path / "model.pt", seed=3)
    out = Path(shutil.copytree(exported_bundle(), tmp_path / "b"))
    (out / "notes.txt").write_text("my notes\n")
    (out / "trt_cache").mkdir()
    (out / "trt_cache" / "x.plan").write_bytes(b"plan")
    old_onnx = (out / "model.onnx").read_bytes()
    rc = export_main([str(ckpt), "--out", str(out), *FAST_EXPORT, "--force", "--name", "b2"])
    printed = capsys.readouterr().out
    assert rc == 0
    assert "replaced the bundle at" in printed and "notes.txt" in printed
    bundle = load_bundle(out)
    assert bundle.manifest["name"] == "b2" and (out / "model.onnx").read_bytes() != old_onnx
    assert (out / "notes.txt").read_text() == "my notes\n"
    assert (out / "trt_cache" / "x.plan").read_bytes() == b"plan"
    assert not (out / "model.pt").exists() and not (out / "model.fp16.onnx").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "model.pt"]
    assert f"wrote {out / 'manifest.json'}" in printed


def test_the_old_bundle_stays_whole_until_the_new_one_is_committed(tmp_path):
    out = Path(shutil.copytree(exported_bundle(), tmp_path / "b"))
    before = _snapshot(out)
    staged = _stage_copy_of(exported_bundle(), out, force=True)
    staging = staged.path.parent
    assert staging.parent == tmp_path and staging.name.startswith(".b.")
    assert staged.path.name == "b"  # the bundle's name comes out right
    assert _snapshot(out) == before  # writing the new bundle touches the old one not at all
    del staged  # an export that failed before commit: the staging folder goes, nothing else
    assert not staging.exists() and _snapshot(out) == before


def test_a_user_file_named_like_a_new_bundle_file_is_kept_aside(tmp_path):
    """The old bundle did not list model.fp16.onnx (the user put it there); the new one
    writes a file of that name: the user's file is left in the renamed old folder."""
    out = Path(shutil.copytree(exported_bundle(), tmp_path / "b"))
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["files"]["model.fp16.onnx"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "model.fp16.onnx").write_bytes(b"the user's own file")
    said = []
    staged = _stage_copy_of(exported_bundle(), out, force=True)
    assert staged.commit(said.append) == out
    load_bundle(out)
    (aside,) = [p for p in tmp_path.iterdir() if p.name.startswith(".b.replaced-")]
    assert (aside / "model.fp16.onnx").read_bytes() == b"the user's own file"
    assert [p.name for p in aside.iterdir()] == ["model.fp16.onnx"]
    assert str(aside) in said[0]


def test_a_bundle_that_changed_during_the_export_is_not_replaced(tmp_path):
    out = Path(shutil.copytree(exported_bundle(), tmp_path / "b"))
    staged = _stage_copy_of(exported_bundle(), out, force=True)
    (out / "parity.md").write_text("edited while exporting\n")
    with pytest.raises(OutputRefused, match="new bundle was left at"):
        staged.commit()
    assert (out / "parity.md").read_text() == "edited while exporting\n"
    load_bundle(staged.path)  # the new bundle is kept for the user


@pytest.mark.parametrize("kind", ["file", "symlink"])
def test_export_out_that_is_a_file_or_a_link_is_refused(tmp_path, kind):
    target = tmp_path / "t"
    if kind == "file":
        target.write_text("x")
    else:
        (tmp_path / "real").mkdir()
        target.symlink_to(tmp_path / "real")
    with pytest.raises(OutputRefused, match=r"is not a folder|symbolic link"):
        stage_bundle(target, force=True)


# ---------------------------------------------------------------------------- synth

AMIGOS_TINY = ["--trials", "2", "--min-s", "4", "--max-s", "5", "--missing", "0", "--workers", "1"]


def test_training_synth_refuses_to_overwrite_a_users_file(tmp_path, capsys):
    data = tmp_path / "A"
    data.mkdir()
    (data / "Data_Preprocessed_P01.mat").write_bytes(b"my real recording")
    assert training_main(["synth", "--out", str(data), "--subjects", "1", *AMIGOS_TINY]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Data_Preprocessed_P01.mat" in err and "--force" in err
    assert _snapshot(data) == {"Data_Preprocessed_P01.mat": b"my real recording"}

    (data / "notes.txt").write_text("keep")
    assert (
        training_main(["synth", "--out", str(data), "--subjects", "1", *AMIGOS_TINY, "--force"])
        == 0
    )
    assert (data / "Data_Preprocessed_P01.mat").read_bytes() != b"my real recording"
    assert (data / "notes.txt").read_text() == "keep"  # --force overwrites names it writes only
    ledger = json.loads((data / LEDGER_NAME).read_text())
    assert "notes.txt" not in ledger["files"] and "Data_Preprocessed_P01.mat" in ledger["files"]


def test_training_synth_rewrites_its_own_output_and_refuses_once_it_was_edited(tmp_path, capsys):
    data = tmp_path / "A"
    assert training_main(["synth", "--out", str(data), "--subjects", "2", *AMIGOS_TINY]) == 0
    assert "wrote" in capsys.readouterr().out
    # its own unchanged output: rewritten without --force; fewer subjects leave no stale ones
    assert (
        training_main(["synth", "--out", str(data), "--subjects", "1", *AMIGOS_TINY, "--seed", "2"])
        == 0
    )
    assert sorted(p.name for p in data.iterdir()) == [
        LEDGER_NAME,
        "Data_Preprocessed_P01.mat",
        "SYNTHETIC.json",
    ]
    edited = (data / "Data_Preprocessed_P01.mat").read_bytes() + b"\0"
    (data / "Data_Preprocessed_P01.mat").write_bytes(edited)
    assert training_main(["synth", "--out", str(data), "--subjects", "1", *AMIGOS_TINY]) == 2
    assert "did not write, or that changed since" in capsys.readouterr().err
    assert (data / "Data_Preprocessed_P01.mat").read_bytes() == edited


def test_eav_synth_refuses_to_overwrite_a_users_recording(tmp_path, capsys):
    def eav_main(argv: list[str]) -> int:
        return training_main(["eav", *argv])

    root = tmp_path / "E"
    mine = root / "subject1" / "EEG" / "subject1_eeg.mat"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"my EEG")
    args = ["synth", "--out", str(root), "--subjects", "1", "--trials", "10", "--trial-s", "2"]
    assert eav_main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out") and "subject1/EEG/subject1_eeg.mat" in err
    assert mine.read_bytes() == b"my EEG"
    assert eav_main([*args, "--force"]) == 0
    assert mine.read_bytes() != b"my EEG"
    assert eav_main(args) == 0  # now all its own


def test_owned_folder_refuses_a_plain_file_and_never_follows_a_link(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputRefused, match="exists and is not a folder"):
        OwnedFolder(tmp_path / "f", "synth", force=True)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "link").symlink_to(tmp_path / "f")
    with pytest.raises(OutputRefused, match="did not write"):
        OwnedFolder(tmp_path / "d", "synth")
