"""What the live demo costs the device: start-up time, steady-state CPU, peak RSS, latency.

Runs ``python -m edge_emotion.run --duration D --out FILE`` (the built-in demo, real
time through BrainFlow's playback board) ``--repeats`` times as a child process and, for
each run, reads:

- start-up: from the spawn to the first decision line on stdout (imports, bundle, engine,
  warm-up, the source's start and the first hop of data, 0.25 s);
- steady CPU: user + system CPU time of the process (``/proc/PID/stat``, every thread)
  between ``--settle`` seconds after the first decision and the last decision, over the
  wall time between them, in % of one core — start-up excluded;
- peak RSS: ``ru_maxrss`` of the child from ``wait4`` (the high-water mark, start-up
  included, where it is reached), and at the last decision its two parts: ``anon``
  (the process's own memory) and ``file`` (mapped files' pages: shared libraries' code,
  which the kernel can drop and share);
- the run's own summary line: latency median and p99 (features / inference / total).

It prints one line per run, then the median and the spread (min–max) of each figure, and
the machine's load average before and after (the cores are shared: say what else ran).

    python scripts/live_footprint.py --repeats 3 --duration 40
    python scripts/live_footprint.py --repeats 3 -- --backend onnxruntime-fp32
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TICKS = os.sysconf("SC_CLK_TCK")
SUMMARY = re.compile(
    r"latency ms \(features / inference / total\): median ([\d.]+) / ([\d.]+) / ([\d.]+), "
    r"p99 ([\d.]+) / ([\d.]+) / ([\d.]+)"
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (all its threads) so far, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


def rss_parts(pid: int) -> dict[str, float]:
    """RssAnon (the process's own memory) and RssFile (pages of mapped files, mostly the
    shared libraries' code: numba's LLVM, onnxruntime, numpy's BLAS), MB, now."""
    parts = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile"):
                parts[key] = int(value.split()[0]) / 1024.0
    return parts


def one_run(duration: float, settle: float, extra: list[str], workdir: Path) -> dict:
    out = workdir / "live.jsonl"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "edge_emotion.run", "--duration", f"{duration:g}"]
    cmd += ["--out", str(out), *extra]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, bufsize=1)
    first = mark = None
    cpu_mark = cpu_end = t_end = None
    rss = {}
    header = ""
    lines = []
    for line in proc.stdout:
        now = time.monotonic()
        lines.append(line.rstrip("\n"))
        if line.startswith("engine :"):
            header = line.strip()
        is_decision = line.startswith("[")  # "[   12.25 s] arousal ..."
        if first is None and is_decision:
            first = now
        if first is not None and mark is None and now - first >= settle:
            mark, cpu_mark = now, cpu_seconds(proc.pid)
        if mark is not None and is_decision:
            cpu_end, t_end = cpu_seconds(proc.pid), now
            rss = rss_parts(proc.pid)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit("the run failed:\n" + "\n".join(lines[-20:]))
    summary = next((m for m in map(SUMMARY.search, lines) if m), None)
    return {
        "startup_s": (first - t0) if first else float("nan"),
        "cpu_pct": 100.0 * (cpu_end - cpu_mark) / (t_end - mark) if t_end and mark else np.nan,
        "rss_mb": usage.ru_maxrss / 1024.0,
        "anon_mb": rss.get("RssAnon", np.nan),
        "file_mb": rss.get("RssFile", np.nan),
        "total_cpu_s": usage.ru_utime + usage.ru_stime,
        "p50_ms": float(summary.group(3)) if summary else float("nan"),
        "p99_ms": float(summary.group(6)) if summary else float("nan"),
        "inf_p50_ms": float(summary.group(2)) if summary else float("nan"),
        "inf_p99_ms": float(summary.group(5)) if summary else float("nan"),
        "header": header,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--duration", type=float, default=40.0)
    p.add_argument("--settle", type=float, default=5.0, help="s after the first decision")
    p.add_argument("extra", nargs="*", help="more arguments for edge_emotion.run (after --)")
    args = p.parse_args(argv)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    keys = ("startup_s", "cpu_pct", "rss_mb", "anon_mb", "file_mb", "total_cpu_s")
    keys += ("p50_ms", "p99_ms")
    keys += ("inf_p50_ms", "inf_p99_ms")
    runs = []
    with tempfile.TemporaryDirectory(prefix="live_footprint_") as tmp:
        for i in range(args.repeats):
            r = one_run(args.duration, args.settle, args.extra, Path(tmp))
            runs.append(r)
            if i == 0:
                print(r["header"])
            print(f"run {i + 1}: " + ", ".join(f"{k} {r[k]:.2f}" for k in keys), flush=True)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'':<12} {'median':>8} {'min':>8} {'max':>8}")
    for k in keys:
        v = np.array([r[k] for r in runs])
        print(f"{k:<12} {np.median(v):8.2f} {v.min():8.2f} {v.max():8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
