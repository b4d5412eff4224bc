"""``python -m edge_emotion.plot``: draws the JSONL of a real (demo) run in every format,
refuses what is not such a file with the file and line named, and stays out of the
device's import graph."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from demo_harness import demo_decisions
from import_graph import RUNTIME, graph, package_modules

from edge_emotion.plot import SessionFileError, main, read_session

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def session_file(tmp_path_factory) -> Path:
    """14 s of the demo, classified as `python -m edge_emotion.run --out` records it."""
    folder = tmp_path_factory.mktemp("session")
    records = demo_decisions(folder, duration_s=14.0)
    path = folder / "session.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_draws_a_demo_run_as_png_svg_and_pdf(session_file, tmp_path, capsys):
    from PIL import Image

    code = main([str(session_file), "--out", str(tmp_path), "--format", "png", "svg", "pdf"])
    assert code == 0
    out = capsys.readouterr().out
    written = [Path(line.removeprefix("wrote ")) for line in out.splitlines() if "wrote" in line]
    assert [p.name for p in written] == [f"session.{f}" for f in ("png", "svg", "pdf")]
    records = [json.loads(line) for line in session_file.read_text().splitlines()]
    classified = sum(not r["abstained"] for r in records)
    assert f"{len(records)} decisions, {classified} classified" in out
    assert 0 < classified < len(records)  # warm-up abstentions and decisions both drawn
    png = written[0].read_bytes()
    assert png[:8] == PNG
    with Image.open(written[0]) as im:
        assert im.width >= 1200  # 7 in at the default 200 dpi
    assert ET.parse(written[1]).getroot().tag.endswith("svg")
    assert written[2].read_bytes()[:5] == b"%PDF-"
    # a lower --dpi gives a smaller PNG; the figure is not replaced without --force
    assert main([str(session_file), "--out", str(tmp_path), "--dpi", "50"]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert main([str(session_file), "--out", str(tmp_path), "--dpi", "50", "--force"]) == 0
    with Image.open(written[0]) as im:
        assert im.width < 500


def test_a_file_several_runs_appended_to_draws_one_run(session_file, tmp_path, capsys):
    doubled = tmp_path / "two.jsonl"
    text = session_file.read_text()
    doubled.write_text(text + text)
    first, last = read_session(doubled, run=1), read_session(doubled)
    assert (first.run, last.run, last.runs) == (1, 2, 2)
    assert len(first.records) == len(last.records) == len(text.splitlines())
    assert main([str(doubled), "--run", "1"]) == 0
    assert "holds 2 runs; drew run 1" in capsys.readouterr().out
    assert main([str(doubled), "--run", "3", "--force"]) == 2
    assert "--run 3 out of range; the file holds 2 runs" in capsys.readouterr().err


def test_a_last_line_cut_short_is_skipped_with_a_note(session_file, tmp_path, capsys):
    cut = tmp_path / "cut.jsonl"
    text = session_file.read_text()
    cut.write_text(text + text.splitlines()[-1][:40])
    assert main([str(cut)]) == 0
    err = capsys.readouterr().err
    n = len(text.splitlines()) + 1
    assert f"cut.jsonl:{n}: last line cut short" in err


def _error(tmp_path, capsys, name: str, content: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert not list(tmp_path.glob("*.png"))
    return err


def test_bad_input_is_refused_naming_the_file_and_line(session_file, tmp_path, capsys):
    good = session_file.read_text().splitlines()[0]
    err = _error(tmp_path, capsys, "empty.jsonl", b"")
    assert "empty.jsonl: no decision records (empty file)" in err
    err = _error(tmp_path, capsys, "blank.jsonl", b"\n \n")
    assert "blank.jsonl: no decision records" in err
    err = _error(tmp_path, capsys, "notes.jsonl", f"{good}\nhello\n{good}\n".encode())
    assert "notes.jsonl:2: not JSON" in err and "one decision record per line" in err
    err = _error(tmp_path, capsys, "list.jsonl", f"{good}\n[1, 2]\n".encode())
    assert "list.jsonl:2: a JSON list, not a decision record" in err
    err = _error(tmp_path, capsys, "other.jsonl", b'{"event": "marker", "t": 1.0}\n')
    assert "other.jsonl:1: not a decision record (no 'hop', 'window_end_s'" in err
    bad_t = json.loads(good) | {"window_end_s": "soon"}
    err = _error(tmp_path, capsys, "t.jsonl", (json.dumps(bad_t) + "\n").encode())
    assert "t.jsonl:1: window_end_s must be a finite number, got 'soon'" in err
    err = _error(tmp_path, capsys, "binary.jsonl", b"\x89PNG\r\n\x1a\n\x00\xff\n")
    assert "binary.jsonl:1: not JSON" in err
    assert main([str(tmp_path / "absent.jsonl")]) == 2
    assert "absent.jsonl: cannot read" in capsys.readouterr().err
    with pytest.raises(SessionFileError, match=r"folder\.jsonl: cannot read"):
        (tmp_path / "folder.jsonl").mkdir()
        read_session(tmp_path / "folder.jsonl")


def test_the_plot_is_outside_the_devices_import_graph():
    """Nothing the run command imports, at module level or inside a function, reaches the
    plot or the figure helpers (and so matplotlib)."""
    edges = graph(package_modules(RUNTIME), module_level_only=False)
    seen, todo = set(), ["edge_emotion.run"]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += edges.get(name, ())
    assert "edge_emotion.loop" in seen and "edge_emotion.classifier" in seen
    assert not seen & {"edge_emotion.plot", "edge_emotion.figures"}
