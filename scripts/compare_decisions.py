"""Compare two decision JSON-lines files (``python -m edge_emotion.run --out FILE``).

Records are matched by ``hop``; every field is compared except those that differ
between any two runs by nature: the host clock (``time_unix``), measured latencies
(``latency_ms``) and the source's own timestamps (``window_end_ts``: a BrainFlow
playback board stamps samples with the host clock as it reads them). ``--ignore``
replaces that list. A top-level field that only one file's records carry (one added by
a newer version, e.g. ``reason_code``) is listed and not compared. Exit status 0 when
every common hop is identical, 1 otherwise.

    python scripts/compare_decisions.py before.jsonl after.jsonl
    python scripts/compare_decisions.py a.jsonl b.jsonl --ignore time_unix,latency_ms,reason_code
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_IGNORE = ("time_unix", "latency_ms", "window_end_ts")


def read_decisions(path: Path) -> dict[int, dict[str, Any]]:
    """The records of a JSONL file by hop; ValueError naming the file and line if unreadable."""
    records: dict[int, dict[str, Any]] = {}
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                hop = int(record["hop"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{number}: not a decision record ({exc})") from None
            if hop in records:
                raise ValueError(f"{path}:{number}: hop {hop} appears twice")
            records[hop] = record
    return records


def differences(a: Any, b: Any, where: str = "") -> list[str]:
    """Paths at which two JSON values differ (exact comparison, floats included)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            path = f"{where}.{key}" if where else key
            if key not in a or key not in b:
                out.append(f"{path}: only in {'first' if key in a else 'second'}")
            else:
                out += differences(a[key], b[key], path)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out += differences(x, y, f"{where}[{i}]")
        return out
    return [] if a == b and type(a) is type(b) else [f"{where}: {a!r} != {b!r}"]


def compare(
    first: dict[int, dict[str, Any]], second: dict[int, dict[str, Any]], ignore: tuple[str, ...]
) -> tuple[list[int], dict[int, list[str]]]:
    """Common hops (sorted) and, per differing hop, where it differs."""
    common = sorted(set(first) & set(second))
    diffs = {}
    for hop in common:
        shared = set(first[hop]) & set(second[hop])
        a = {k: v for k, v in first[hop].items() if k in shared and k not in ignore}
        b = {k: v for k, v in second[hop].items() if k in shared and k not in ignore}
        found = differences(a, b)
        if found:
            diffs[hop] = found
    return common, diffs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("first", type=Path)
    p.add_argument("second", type=Path)
    p.add_argument(
        "--ignore",
        default=",".join(DEFAULT_IGNORE),
        help="comma-separated top-level fields not compared (default: %(default)s)",
    )
    p.add_argument("--show", type=int, default=10, help="differing hops to print")
    args = p.parse_args(argv)
    ignore = tuple(f.strip() for f in args.ignore.split(",") if f.strip())
    try:
        first, second = read_decisions(args.first), read_decisions(args.second)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    common, diffs = compare(first, second, ignore)
    print(
        f"{args.first}: {len(first)} decisions; {args.second}: {len(second)} decisions; "
        f"{len(common)} hops in both (fields not compared: {', '.join(ignore) or 'none'})"
    )
    for name, mine, other in (("first", first, second), ("second", second, first)):
        extra = sorted(
            {k for hop in common for k in mine[hop]} - {k for hop in common for k in other[hop]}
        )
        if extra:
            print(f"fields only in the {name} file, not compared: {', '.join(extra)}")
    for hop in list(diffs)[: args.show]:
        print(f"  hop {hop}: " + "; ".join(diffs[hop][:5]))
    if not common:
        print("no common hops: nothing to compare")
        return 1
    if diffs:
        print(f"DIFFERENT: {len(diffs)} of {len(common)} common hops differ")
        return 1
    print(f"IDENTICAL: all {len(common)} common hops")
    return 0


if __name__ == "__main__":
    sys.exit(main())
