"""The labels table (training/recordings/labels.py): strict parsing, errors naming line and
column, targets from the header, 0/1 as they are, ratings by threshold."""

from __future__ import annotations

import numpy as np
import pytest

from edge_emotion.training.recordings import LabelsError, read_labels

HEADER = "recording,subject,start_s,end_s"


def _table(tmp_path, text: str):
    path = tmp_path / "labels.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_parse_rows_blanks_and_targets(tmp_path):
    path = _table(
        tmp_path,
        f"{HEADER},arousal,valence\n"
        "s01/rest.edf,s01,,,2,7.5\n"
        "\n"
        's01/task.edf,s01,10,70.5,"8",3\n'
        "s02\\task.bdf, s02 ,0,60,5,5\n",
    )
    table = read_labels(path)
    assert table.targets == ("arousal", "valence")
    first, second, third = table.rows
    assert (first.line, first.recording, first.subject) == (2, "s01/rest.edf", "s01")
    assert first.start_s is None and first.end_s is None
    assert (second.line, second.start_s, second.end_s, second.values) == (4, 10.0, 70.5, (8.0, 3.0))
    assert third.recording == "s02/task.bdf" and third.subject == "s02"
    # Ratings are binarised with the threshold (high when >= it, as for AMIGOS).
    np.testing.assert_array_equal(table.binary(threshold=5.0), [[0, 1], [1, 0], [1, 1]])
    with pytest.raises(LabelsError, match=r"column 'arousal' holds ratings \(e\.g\. 2 on line 2\)"):
        table.binary()


def test_one_binary_target_needs_no_threshold(tmp_path):
    table = read_labels(_table(tmp_path, f"{HEADER},arousal\na.edf,s1,,,0\nb.edf,s1,,,1\n"))
    assert table.targets == ("arousal",) and table.is_binary("arousal")
    np.testing.assert_array_equal(table.binary(), [[0], [1]])
    # A mixed table: the 0/1 column stays as it is, the ratings column is thresholded.
    mixed = read_labels(_table(tmp_path, f"{HEADER},task,rating\na.edf,s,,,1,3\nb.edf,s,,,0,6\n"))
    np.testing.assert_array_equal(mixed.binary(threshold=5.0), [[1, 0], [0, 1]])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"empty"),
        ("file,subject,start_s,end_s,arousal\n", r"line 1: the columns must start with"),
        (f"{HEADER}\na.edf,s,,\n", r"line 1: no target column"),
        (f"{HEADER},arousal,arousal\n", r"line 1: duplicate columns \['arousal'\]"),
        (f"{HEADER},arousal\n", r"no rows after the header"),
        (
            f"{HEADER},arousal\na.edf,s,,,high\n",
            r"line 2, column 'arousal': 'high' is not a number",
        ),
        (f"{HEADER},arousal\na.edf,s,,,\n", r"line 2, column 'arousal': empty"),
        (f"{HEADER},arousal\na.edf,s,,,nan\n", r"line 2, column 'arousal': 'nan' is not a finite"),
        (
            f"{HEADER},arousal\na.edf,s,1 min,,3\n",
            r"line 2, column 'start_s': '1 min' is not a number",
        ),
        (f"{HEADER},arousal\na.edf,s,-1,,3\n", r"line 2, column 'start_s': -1 s is before"),
        (f"{HEADER},arousal\na.edf,s,30,20,3\n", r"line 2, column 'end_s': 20 s is not after"),
        (f"{HEADER},arousal\na.edf,,0,20,3\n", r"line 2, column 'subject': empty"),
        (f"{HEADER},arousal\n,s,0,20,3\n", r"line 2, column 'recording': empty"),
        (
            f"{HEADER},arousal\n/data/a.edf,s,,,3\n",
            r"line 2, column 'recording': '/data/a\.edf' is absolute",
        ),
        (f"{HEADER},arousal\nC:\\a.edf,s,,,3\n", r"is absolute"),
        (
            f"{HEADER},arousal\n../a.edf,s,,,3\n",
            r"line 2, column 'recording': '\.\./a\.edf' leaves",
        ),
        (f"{HEADER},arousal\na.edf,s,,,3\nb.edf,s,,\n", r"line 3: 4 cells, the header has 5"),
    ],
)
def test_malformed_tables_name_line_and_column(tmp_path, text, message):
    with pytest.raises(LabelsError, match=message):
        read_labels(_table(tmp_path, text))


def test_missing_and_undecodable_files(tmp_path):
    with pytest.raises(LabelsError, match=r"nope\.csv: labels table not found"):
        read_labels(tmp_path / "nope.csv")
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(f"{HEADER},arousal\nré.edf,s,,,1\n".encode("latin-1"))
    with pytest.raises(LabelsError, match=r"latin1\.csv: not UTF-8"):
        read_labels(bad)
