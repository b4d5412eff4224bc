"""Parity of the exported graphs: ONNX vs torch, INT8 (and FP16) vs fp32.

Decision agreement is the fraction of held-out windows on which a reduced-precision
graph makes the same binary decision (P(high) >= the target's threshold) as the fp32
graph, per target and for all targets at once; the goal is >= 99 %. With labels,
accuracy of each graph and the change versus fp32 are reported as well.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

AGREEMENT_GOAL = 0.99


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


def run_onnx_feeds(
    path: Path | str, feeds: dict[str, np.ndarray], batch: int = 256, output: str = "logits"
) -> np.ndarray:
    """Output ``output`` of an ONNX file over named inputs (leading batch axis), in batches
    of ``batch`` rows, with onnxruntime's CPU provider on one thread."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    n = len(next(iter(feeds.values())))
    outs = []
    for i in range(0, n, batch):
        rows = {
            k: np.ascontiguousarray(v[i : i + batch], dtype=np.float32) for k, v in feeds.items()
        }
        outs.append(sess.run([output], rows)[0])
    return np.concatenate(outs)


def compare_decisions(
    reference_logits: np.ndarray,
    logits: np.ndarray,
    targets: tuple[str, ...],
    thresholds: dict[str, float],
    labels: np.ndarray | None = None,
) -> dict[str, Any]:
    """Agreement, probability differences and (with labels) accuracy change vs reference."""
    thr = np.array([thresholds[t] for t in targets])
    p_ref, p = sigmoid(reference_logits), sigmoid(logits)
    d_ref, d = p_ref >= thr, p >= thr
    same = d_ref == d
    out: dict[str, Any] = {
        "n": len(p),
        "decision_agreement": {t: float(same[:, i].mean()) for i, t in enumerate(targets)},
        "decision_agreement_all_targets": float(same.all(axis=1).mean()),
        "max_abs_prob_diff": float(np.max(np.abs(p - p_ref))),
        "mean_abs_prob_diff": float(np.mean(np.abs(p - p_ref))),
        "max_abs_logit_diff": float(np.max(np.abs(logits - reference_logits))),
        "goal": AGREEMENT_GOAL,
    }
    out["meets_goal"] = bool(min(out["decision_agreement"].values()) >= AGREEMENT_GOAL)
    if labels is not None:
        acc_ref = (d_ref == labels.astype(bool)).mean(axis=0)
        acc = (d == labels.astype(bool)).mean(axis=0)
        out["accuracy_reference"] = {t: float(acc_ref[i]) for i, t in enumerate(targets)}
        out["accuracy"] = {t: float(acc[i]) for i, t in enumerate(targets)}
        out["accuracy_change"] = {t: float(acc[i] - acc_ref[i]) for i, t in enumerate(targets)}
    return out


def compare_classes(
    reference_logits: np.ndarray,
    logits: np.ndarray,
    classes: tuple[str, ...],
    labels: np.ndarray | None = None,
) -> dict[str, Any]:
    """Multi-class counterpart of :func:`compare_decisions`: the decision is the argmax.

    Agreement is the fraction of rows whose argmax class equals the reference's (overall
    and per reference class); probabilities are softmax outputs. With integer ``labels``
    the accuracy of both and its change are added.
    """
    ref = np.asarray(reference_logits, dtype=np.float64)
    out_l = np.asarray(logits, dtype=np.float64)
    if ref.shape != out_l.shape or ref.ndim != 2 or ref.shape[1] != len(classes):
        raise ValueError(
            f"logits must both have shape (N, {len(classes)}), got {ref.shape} and {out_l.shape}"
        )
    p_ref, p = _softmax(ref), _softmax(out_l)
    d_ref, d = ref.argmax(axis=1), out_l.argmax(axis=1)
    same = d_ref == d
    per_class = {
        c: float(same[d_ref == i].mean()) for i, c in enumerate(classes) if np.any(d_ref == i)
    }
    out: dict[str, Any] = {
        "n": len(d),
        "decision": "argmax over classes",
        "decision_agreement": float(same.mean()),
        "decision_agreement_by_reference_class": per_class,
        # A model that always picks one class agrees trivially: show how varied it is.
        "reference_class_counts": {c: int(np.sum(d_ref == i)) for i, c in enumerate(classes)},
        "max_abs_prob_diff": float(np.max(np.abs(p - p_ref))),
        "mean_abs_prob_diff": float(np.mean(np.abs(p - p_ref))),
        "max_abs_logit_diff": float(np.max(np.abs(out_l - ref))),
        "goal": AGREEMENT_GOAL,
    }
    out["meets_goal"] = bool(out["decision_agreement"] >= AGREEMENT_GOAL)
    if labels is not None:
        y = np.asarray(labels).astype(np.int64)
        out["accuracy_reference"] = float(np.mean(d_ref == y))
        out["accuracy"] = float(np.mean(d == y))
        out["accuracy_change"] = out["accuracy"] - out["accuracy_reference"]
    return out


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def onnx_markdown(onnx_check: dict[str, Any]) -> list[str]:
    """The "ONNX fp32 vs torch" section of a parity report (both model families)."""
    lines = ["## ONNX fp32 vs torch (logits)", "", "| batch | max abs diff |", "|---|---|"]
    for b, v in onnx_check["max_abs_diff_by_batch"].items():
        lines.append(f"| {b} | {v:.3g} |")
    lines += ["", f"Held-out set: max abs diff {onnx_check['heldout_max_abs_diff']:.3g}", ""]
    return lines


def parity_markdown(report: dict[str, Any]) -> str:
    """Human-readable form of the parity report (``parity.md``)."""
    lines = [f"# Parity report — {report['bundle_name']}", ""]
    if report.get("demo"):
        lines += ["**Demo bundle: trained on synthetic data; not an emotion model.**", ""]
    data = report["data"]
    lines += [
        "## Data",
        "",
        f"- calibration: {data['calibration']['n']} windows — {data['calibration']['source']}",
        f"- held-out: {data['heldout']['n']} windows — {data['heldout']['source']}"
        + ("" if data["heldout"]["labelled"] else " (unlabelled: no accuracy change)"),
        "",
    ]
    lines += onnx_markdown(report["onnx_vs_torch"])
    for key, title in (("int8_vs_fp32", "INT8 (Q/DQ) vs fp32"), ("fp16_vs_fp32", "FP16 vs fp32")):
        r = report.get(key)
        if r is None:
            continue
        lines += [
            f"## {title}",
            "",
            "| target | decision agreement | accuracy fp32 | accuracy | change |",
        ]
        lines.append("|---|---|---|---|---|")
        for t, agree in r["decision_agreement"].items():
            if "accuracy" in r:
                acc = (
                    f"{r['accuracy_reference'][t]:.4f} | {r['accuracy'][t]:.4f} | "
                    f"{r['accuracy_change'][t]:+.4f}"
                )
            else:
                acc = "n/a | n/a | n/a"
            lines.append(f"| {t} | {agree:.4f} | {acc} |")
        verdict = "meets" if r["meets_goal"] else "MISSES"
        lines += [
            "",
            f"All targets agree on {r['decision_agreement_all_targets']:.4f} of {r['n']} windows; "
            f"max |ΔP| {r['max_abs_prob_diff']:.3g}, mean |ΔP| {r['mean_abs_prob_diff']:.3g}; "
            f"{verdict} the {r['goal']:.0%} agreement goal.",
            "",
        ]
    return "\n".join(lines)
