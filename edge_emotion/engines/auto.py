"""``--backend auto`` on a CPU: onnxruntime INT8 or fp32, whichever is faster on this device
among those the bundle's parity report certifies.

INT8 is not faster everywhere: on an x86-64 CPU without VNNI (AVX2) onnxruntime's INT8
kernels take about twice as long as fp32 for this small model, on ARM they may win. So
at start-up both sessions are built and timed on a few interleaved calls (median of
``TIMED_CALLS`` each, after ``WARM_CALLS`` untimed ones: some milliseconds), and the
faster one is kept. fp32 is the reference and always qualifies; INT8 qualifies only if
``parity.json`` (checksummed by the manifest, read at the point of use) says its
decisions agree with fp32's on held-out data to the export's goal. :func:`choose` is the
rule, apart from the clock, so tests give it fake timings and reports.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edge_emotion.bundle import Bundle
from edge_emotion.engines.base import Engine, EngineUnavailable
from edge_emotion.engines.onnxruntime_engine import OnnxRuntimeEngine

PARITY_FILE = "parity.json"
INT8, FP32 = "onnxruntime", "onnxruntime-fp32"
WARM_CALLS = 5
TIMED_CALLS = 15


@dataclass(frozen=True)
class Choice:
    """The backend picked and why, in words for the run's header line."""

    backend: str
    reason: str


def int8_refusal(bundle: Bundle) -> str | None:
    """Why the bundle's parity report does not certify its INT8 model (None: it does)."""
    if PARITY_FILE not in bundle.files:
        return f"the bundle has no {PARITY_FILE}"
    verified = bundle.read_verified_file(PARITY_FILE)
    try:
        section = json.loads(verified.decode("utf-8"))["int8_vs_fp32"]
        agreement = float(section["decision_agreement_all_targets"])
        goal = float(section["goal"])
        meets = section["meets_goal"] is True
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        return f"{PARITY_FILE} has no readable int8_vs_fp32 agreement ({type(exc).__name__})"
    if not (meets and agreement >= goal):
        return f"{PARITY_FILE}: INT8 agrees with fp32 on {agreement:.3f} of decisions < {goal:g}"
    return None


def choose(median_ms: dict[str, float], refusals: dict[str, str | None]) -> Choice:
    """The faster of the certified backends (``refusals[name] is None``) by median call
    time; fp32 when none is certified or timed. Pure: the rule ``auto`` applies."""
    timed = {n: t for n, t in median_ms.items() if np.isfinite(t)}
    times = ", ".join(f"{_label(n)} {t:.3f} ms" for n, t in sorted(timed.items()))
    ok = [n for n in timed if refusals.get(n) is None]
    if not ok:
        return Choice(FP32, "fp32: no certified backend was timed")
    best = min(ok, key=lambda n: timed[n])
    why = f"{_label(best)} is the faster ({times} per call here)"
    refused = [f"{_label(n)} not certified: {refusals[n]}" for n in timed if refusals.get(n)]
    if refused:
        why = f"{_label(best)} ({'; '.join(refused)}; {times} per call here)"
    elif len(ok) > 1:
        why += f"; INT8 certified by {PARITY_FILE}"
    return Choice(best, why)


def _label(name: str) -> str:
    return "INT8" if name == INT8 else "fp32"


def median_call_ms(
    engines: dict[str, Engine],
    calls: int = TIMED_CALLS,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Median milliseconds of ``engine.predict`` on one window of zeros, per engine; the
    engines take turns, so a busy moment of the machine falls on all of them alike."""
    fc = next(iter(engines.values())).bundle.feature_config
    eeg = np.zeros((1, *fc.eeg_shape), np.float32) if fc.has_eeg else None
    ecg = np.zeros((1, 1, *fc.hrv_shape), np.float32) if fc.has_ecg else None
    for engine in engines.values():
        for _ in range(WARM_CALLS):
            engine.predict(eeg, ecg)
    times: dict[str, list[float]] = {n: [] for n in engines}
    for _ in range(calls):
        for name, engine in engines.items():
            t = clock()
            engine.predict(eeg, ecg)
            times[name].append(1e3 * (clock() - t))
    return {n: float(np.median(v)) for n, v in times.items()}


def measured_onnxruntime(
    bundle: Bundle, threads: int = 1, timer: Callable | None = None
) -> tuple[Engine, list[str]]:
    """Build onnxruntime INT8 and fp32, keep the faster certified one (see the module
    docstring). Returns the engine (its ``selection`` says why) and why a backend could
    not be built (``"onnxruntime: ..."``, as ``auto``'s fallback list words it)."""
    engines: dict[str, Engine] = {}
    skipped = []
    for name, precision in ((INT8, "int8"), (FP32, "fp32")):
        try:
            engines[name] = OnnxRuntimeEngine(bundle, precision, intra_op_threads=threads)
        except EngineUnavailable as exc:
            skipped.append(f"{name}: {exc}")
    if not engines:
        raise EngineUnavailable("; ".join(skipped))
    if len(engines) == 1:
        engine = next(iter(engines.values()))
        engine.selection = "auto: the only onnxruntime model that loads here"
        return engine, skipped
    choice = choose((timer or median_call_ms)(engines), {INT8: int8_refusal(bundle), FP32: None})
    engine = engines[choice.backend]
    engine.selection = f"auto: {choice.reason}"
    return engine, skipped
