"""Write the labels table of PhysioNet eegmat (EEG During Mental Arithmetic Tasks).

Each subject has two recordings: ``SubjectNN_1.edf``, about 180 s at rest before the task,
and ``SubjectNN_2.edf``, about 60 s of serial subtraction. The table labels each whole
recording (blank ``start_s``/``end_s``) with one target, ``arousal``: 0 at rest, 1 during
arithmetic (higher load and arousal; heart rate rises in 22 of 24 subjects, see
``scripts/eegmat_first_look.py``).

Run: ``.venv/bin/python scripts/eegmat_labels.py [--data ../shared/data/eegmat]
[--out scripts/eegmat_labels.csv] [--subjects 0-15]``. The shipped
``scripts/eegmat_labels.csv`` is its output for subjects 00-23; ``--subjects`` writes the
table of some subjects only (e.g. to train on some and ``evaluate`` on the others).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "eegmat"
DEFAULT_OUT = Path(__file__).resolve().parent / "eegmat_labels.csv"
NAME = re.compile(r"^(Subject\d+)_([12])\.edf$")
AROUSAL = {"1": 0, "2": 1}  # _1: rest, _2: mental arithmetic


def rows(data: Path, subjects: set[int] | None = None) -> list[list]:
    """Table rows, subject then recording order, for every SubjectNN_[12].edf in ``data``
    (of ``subjects`` only, when given)."""
    found = sorted(
        (m.group(1), m.group(2), p.name)
        for p in data.iterdir()
        if (m := NAME.match(p.name)) is not None
        and (subjects is None or int(m.group(1)[len("Subject") :]) in subjects)
    )
    return [[name, subject, "", "", AROUSAL[part]] for subject, part, name in found]


def parse_subjects(text: str) -> set[int]:
    """``"0-15"``, ``"3,5,7"`` or ``"0-3,8"`` -> subject numbers."""
    out: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the eegmat folder")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="CSV file to write")
    ap.add_argument("--subjects", help="subject numbers to include, e.g. 0-15 or 16,17,20")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"error: {args.data} is not a folder", file=sys.stderr)
        return 2
    table = rows(args.data, parse_subjects(args.subjects) if args.subjects else None)
    if not table:
        print(f"error: no SubjectNN_1.edf / SubjectNN_2.edf under {args.data}", file=sys.stderr)
        return 2
    with open(args.out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["recording", "subject", "start_s", "end_s", "arousal"])
        writer.writerows(table)
    subjects = len({r[1] for r in table})
    print(f"wrote {args.out} ({len(table)} recordings, {subjects} subjects)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
