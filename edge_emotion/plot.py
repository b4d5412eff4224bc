"""``python -m edge_emotion.plot session.jsonl``: draw a recorded run.

Reads the decision records ``python -m edge_emotion.run --out session.jsonl`` writes (one
JSON object per line, :meth:`edge_emotion.decision.Decision.to_dict`) and draws, on one
time axis (the window's end, s of data time):

1. each target's decision per hop (high / low / abstained) and its P(high);
2. the heart rate of the ECG window;
3. per modality, the share of missing samples (a cross where a quality check failed);
4. the latency per hop: features, inference and total, ms.

Abstentions are shaded across all panels, one colour per reason. A file that several runs
appended to (each starts again at hop 0) holds several sessions; the last is drawn unless
``--run`` picks another. Bad input (not JSON, not decision records, empty) is refused with
the file and line named; a last line cut short (a run killed while writing) is skipped,
with a note.

Not part of the device's run path: nothing the runtime runs imports this module, and
matplotlib (:mod:`edge_emotion.figures`) is imported only when drawing.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_emotion.cli_help import HelpFormatter, command_name
from edge_emotion.decision import AbstainReason
from edge_emotion.figures import (
    FigureError,
    FigureOptions,
    add_figure_args,
    figure_options_from_args,
    pyplot,
    save_figure,
)

# fields every decision record carries (Decision.to_dict)
REQUIRED = ("hop", "window_end_s", "reason_code", "probabilities", "quality", "latency_ms")
LABEL_COLOURS = {"high": "tab:red", "low": "tab:blue"}
LATENCY_KEYS = ("features", "inference", "total")


class SessionFileError(ValueError):
    """The file is not the JSONL of a run; the message names the file and line."""


@dataclass
class Session:
    """One run's records, as columns over hops."""

    path: Path
    records: list[dict[str, Any]]
    run: int = 1
    runs: int = 1
    notes: list[str] = field(default_factory=list)

    @property
    def t(self) -> np.ndarray:
        return np.array([r["window_end_s"] for r in self.records], dtype=np.float64)

    @property
    def reasons(self) -> list[str]:
        return [r["reason_code"]["name"] for r in self.records]

    @property
    def targets(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.records:
            seen.update(dict.fromkeys(r["probabilities"] or {}))
        return list(seen)

    @property
    def modalities(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.records:
            seen.update(dict.fromkeys(r["quality"] or {}))
        return list(seen)

    def column(self, get) -> np.ndarray:
        """``get(record)`` per hop as float, NaN where it gives ``None``."""
        out = [get(r) for r in self.records]
        return np.array([np.nan if v is None else float(v) for v in out], dtype=np.float64)


def _check_record(path: Path, lineno: int, record: Any) -> None:
    where = f"{path}:{lineno}"
    if not isinstance(record, dict):
        raise SessionFileError(
            f"{where}: a JSON {type(record).__name__}, not a decision record; expected the "
            "JSONL written by `python -m edge_emotion.run --out FILE`"
        )
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        raise SessionFileError(
            f"{where}: not a decision record (no {', '.join(repr(k) for k in missing)}); "
            "expected the JSONL written by `python -m edge_emotion.run --out FILE`"
        )
    t = record["window_end_s"]
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not np.isfinite(t):
        raise SessionFileError(f"{where}: window_end_s must be a finite number, got {t!r}")
    code = record["reason_code"]
    if not isinstance(code, dict) or not isinstance(code.get("name"), str):
        raise SessionFileError(f"{where}: reason_code must be {{'name', 'number'}}, got {code!r}")
    for key in ("probabilities", "quality", "latency_ms"):
        if record[key] is not None and not isinstance(record[key], dict):
            raise SessionFileError(f"{where}: {key} must be an object or null")


def read_session(path: str | Path, run: int | None = None) -> Session:
    """The records of one run in ``path`` (the last when ``run`` is None; 1-based)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SessionFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    lines = raw.split(b"\n")
    cut_last = bool(lines[-1].strip())  # no newline after the last line
    runs: list[list[dict]] = []
    notes = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if cut_last and lineno == len(lines) and runs:
                notes.append(f"{path}:{lineno}: last line cut short (a run killed?), skipped")
                continue
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
            raise SessionFileError(
                f"{path}:{lineno}: not JSON ({reason}); expected one decision record per "
                "line, as `python -m edge_emotion.run --out FILE` writes"
            ) from None
        _check_record(path, lineno, record)
        if not runs or record["hop"] <= runs[-1][-1]["hop"]:
            runs.append([])  # hops start again: another run appended to the file
        runs[-1].append(record)
    if not runs:
        raise SessionFileError(
            f"{path}: no decision records ({'empty file' if not raw.strip() else 'blank lines'})"
        )
    index = len(runs) if run is None else run
    if not 1 <= index <= len(runs):
        raise SessionFileError(f"{path}: --run {run} out of range; the file holds {len(runs)} runs")
    return Session(path, runs[index - 1], index, len(runs), notes)


def reason_label(name: str) -> str:
    """The run's own words for a reason code (``NOT_ENOUGH_DATA`` -> ``warming up``)."""
    member = AbstainReason.__members__.get(name)
    return member.label if member is not None else name.lower().replace("_", " ")


def _runs(values: list) -> list[tuple[int, int, Any]]:
    """``(start, stop, value)`` of each stretch of equal consecutive values."""
    out, start = [], 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            out.append((start, i, values[start]))
            start = i
    return out


def _hop_s(t: np.ndarray) -> float:
    steps = np.diff(t)
    steps = steps[steps > 0]
    return float(np.median(steps)) if steps.size else 0.25


def _reason_colours(names: list[str]) -> dict[str, Any]:
    plt = pyplot()
    palette = plt.get_cmap("Set2").colors
    found = sorted(set(names) - {"NONE"})
    return {name: palette[i % len(palette)] for i, name in enumerate(found)}


def draw_session(
    session: Session, path: str | Path, figure: FigureOptions | None = None
) -> list[Path]:
    """Draw ``session`` into ``path`` (one file per format); return the paths."""
    plt = pyplot()
    from matplotlib.patches import Patch

    t, reasons = session.t, session.reasons
    hop = _hop_s(t)
    targets, modalities = session.targets, session.modalities
    heights = [0.5 + 0.35 * max(1, len(targets)), 1.8, 1.4, 1.4, 1.4]
    fig, axes = plt.subplots(
        5, 1, figsize=(7.0, sum(heights) + 0.8), sharex=True, height_ratios=heights
    )
    ax_dec, ax_hr, ax_q, ax_lat = axes[0], axes[2], axes[3], axes[4]
    ax_p = axes[1]
    colours = _reason_colours(reasons)
    for start, stop, name in _runs(reasons):
        if name == "NONE":
            continue
        for ax in axes:
            ax.axvspan(t[start] - hop, t[stop - 1], color=colours[name], alpha=0.45, lw=0)

    # 1. decisions per target (a strip each) and P(high)
    for row, target in enumerate(targets):
        labels = [(r["labels"] or {}).get(target) for r in session.records]
        for start, stop, label in _runs(labels):
            if label in LABEL_COLOURS:
                ax_dec.broken_barh(
                    [(t[start] - hop, t[stop - 1] - t[start] + hop)],
                    (row - 0.35, 0.7),
                    color=LABEL_COLOURS[label],
                )
        ax_p.plot(
            t,
            session.column(lambda r, k=target: (r["probabilities"] or {}).get(k)),
            lw=1.3,
            ls=("-", "--", "-.", ":")[row % 4],
            label=f"P({target} high)",
        )
    ax_dec.set_yticks(range(len(targets)), targets)
    ax_dec.set_ylim(-0.6, len(targets) - 0.4)
    ax_dec.invert_yaxis()
    ax_dec.set_title("decision per hop (shaded: abstained, by reason)", fontsize=10)
    handles = [Patch(color=c, label=lab) for lab, c in LABEL_COLOURS.items()]
    handles += [Patch(color=c, alpha=0.45, label=reason_label(n)) for n, c in colours.items()]
    ax_dec.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax_p.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax_p.set_ylim(-0.02, 1.02)
    ax_p.set_ylabel("P(high)")
    if targets:
        ax_p.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))

    # 2. heart rate
    hr = session.column(lambda r: ((r["quality"] or {}).get("ecg") or {}).get("heart_rate_bpm"))
    ax_hr.plot(t, hr, color="tab:red", lw=1.3)
    ax_hr.set_ylabel("heart rate\n(bpm)")
    if np.all(np.isnan(hr)):
        ax_hr.text(0.5, 0.5, "no ECG in this run", transform=ax_hr.transAxes, ha="center")

    # 3. quality per modality
    worst = 0.0
    for i, m in enumerate(modalities):
        miss = session.column(
            lambda r, m=m: ((r["quality"] or {}).get(m) or {}).get("missing_fraction")
        )
        bad = np.array(
            [not ((r["quality"] or {}).get(m) or {}).get("ok", True) for r in session.records]
        )
        worst = max(worst, 100 * float(np.nan_to_num(miss).max(initial=0.0)))
        line = ax_q.plot(t, 100 * miss, lw=1.3, ls=("-", "--")[i % 2], label=f"{m} missing")[0]
        if bad.any():
            ax_q.plot(
                t[bad],
                100 * np.nan_to_num(miss[bad]),
                "x",
                ms=4,
                color=line.get_color(),
                label=f"{m} check failed",
            )
    top = max(5.0, 1.1 * worst)
    ax_q.set_ylim(-0.04 * top, top)  # a line at 0 % stays visible above the axis
    ax_q.set_ylabel("missing\nsamples (%)")
    if modalities:
        ax_q.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))

    # 4. latency
    for key, ls in zip(LATENCY_KEYS, ("-", "--", ":"), strict=True):
        values = session.column(lambda r, k=key: (r["latency_ms"] or {}).get(k))
        if not np.all(np.isnan(values)):
            ax_lat.plot(t, values, lw=1.1, ls=ls, label=key)
    ax_lat.set_ylabel("latency\n(ms)")
    ax_lat.set_xlabel("window end (s of data)")
    if ax_lat.lines:
        ax_lat.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.align_ylabels(axes)
    run = f", run {session.run} of {session.runs}" if session.runs > 1 else ""
    backend = session.records[-1].get("backend") or "?"
    fig.suptitle(f"{session.path.name}{run}: {summary(session)} ({backend})", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, figure)


def summary(session: Session) -> str:
    """``"99 decisions, 60 classified, 39 abstained (warming up: 39)"``."""
    reasons = session.reasons
    abstained = [r for r in reasons if r != "NONE"]
    counts = {name: abstained.count(name) for name in dict.fromkeys(abstained)}
    text = ", ".join(f"{reason_label(n)}: {c}" for n, c in counts.items())
    return (
        f"{len(reasons)} decisions, {len(reasons) - len(abstained)} classified, "
        f"{len(abstained)} abstained" + (f" ({text})" if text else "")
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=command_name("edge_emotion.plot"),
        description="Draw a recorded run: decisions and P(high) over time, abstentions shaded "
        "by reason, heart rate, per-modality quality and latency.",
        epilog="example:\n  python -m edge_emotion.run --duration 30 --out session.jsonl\n"
        "  %(prog)s session.jsonl --format png svg",
        formatter_class=HelpFormatter,
    )
    p.add_argument("session", type=Path, help="JSONL of `python -m edge_emotion.run --out`")
    p.add_argument(
        "--out",
        type=Path,
        help="folder for the figure (default: the session file's folder); the figure is "
        "named after the session file",
    )
    p.add_argument(
        "--run",
        type=int,
        help="which run of a file several runs appended to (1-based; default: the last)",
    )
    p.add_argument("--force", action="store_true", help="replace a figure of that name")
    add_figure_args(p)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    figure = figure_options_from_args(args)
    out = args.out if args.out is not None else args.session.parent
    target = out / f"{args.session.stem}.png"  # run.jsonl -> run.png (run.svg, ...)
    try:
        session = read_session(args.session, args.run)
        existing = [target.with_suffix(f".{f}") for f in figure.formats]
        existing = [p for p in existing if p.exists()]
        if existing and not args.force:
            raise SessionFileError(
                f"{', '.join(map(str, existing))} already exists; pass --force to replace it"
            )
        out.mkdir(parents=True, exist_ok=True)
        for note in session.notes:
            print(f"note: {note}", file=sys.stderr)
        written = draw_session(session, target, figure)
    except SessionFileError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except FigureError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    if session.runs > 1:
        print(f"{args.session} holds {session.runs} runs; drew run {session.run} (--run N)")
    print(summary(session))
    for p in written:
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
