"""The EEG+ECG family's part of a bundle (kind ``eeg-ecg``): the bundle the Jetson runtime
serves (:func:`edge_emotion.bundle.load_bundle` reads it).

Inputs are the feature kernels' raw outputs (:class:`~edge_emotion.export.data.FeatureSet`),
normalised with the checkpoint's statistics before the model, as the runtime's engines do;
the manifest carries the feature configuration, the channels, those statistics, the targets
and their thresholds. A decision is P(high) >= the target's threshold; INT8 always ships (it
is the runtime's default engine) and the parity report says whether it meets the 99 %
agreement goal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edge_emotion.bundle import INPUT_ECG, INPUT_EEG, load_bundle
from edge_emotion.export.bundle_content import PARITY_BATCH, ExportOptions, Int8Step
from edge_emotion.export.data import (
    FeatureSet,
    features_from_training_cache,
    gaussian_features,
    is_training_cache,
    load_npz_features,
)
from edge_emotion.export.parity import compare_decisions, parity_markdown, run_onnx_feeds
from edge_emotion.export.quantize import QUANTIZED_OP_TYPES, FeedsCalibrationReader, quantize_int8
from edge_emotion.kernels.config import FeatureConfig
from edge_emotion.normalization import Normalization
from edge_emotion.training.families import EEG_ECG

DEFAULT_CALIBRATION = 2048
DEFAULT_HELDOUT = 4096


class EegEcgBundle:
    """An ``edge_emotion.checkpoint/1`` checkpoint's bundle content (see the module docstring)."""

    family = EEG_ECG
    unit = "windows"
    heading = None

    def __init__(self, checkpoint: Mapping[str, Any]) -> None:
        self.checkpoint = dict(checkpoint)
        fc = FeatureConfig.from_dict(checkpoint["feature_config"])
        self.feature_config = fc
        self.targets = tuple(checkpoint["targets"])
        given = {t: float(v) for t, v in (checkpoint.get("thresholds") or {}).items()}
        self.thresholds = {t: given.get(t, 0.5) for t in self.targets}
        self.normalization = Normalization.from_dict(
            checkpoint["normalization"],
            n_bands=len(fc.bands),
            n_channels=len(fc.eeg_channels),
            modalities=fc.modalities,
        )
        config = EEG_ECG.config_dict(checkpoint["model_config"])
        shapes = EEG_ECG.input_shapes(config)
        expected = {INPUT_EEG: tuple(fc.eeg_shape), INPUT_ECG: (1, *fc.hrv_shape)}
        expected = {m: expected[m] for m in fc.modalities}
        if shapes != expected:
            raise ValueError(
                f"the model config's input shapes {shapes} differ from the feature "
                f"configuration's {expected}"
            )
        if config["n_targets"] != len(self.targets):
            raise ValueError(
                f"the model has {config['n_targets']} outputs; the checkpoint lists targets "
                f"{list(self.targets)}"
            )
        self.model = EEG_ECG.load_model(checkpoint)
        self.outputs = (len(self.targets), "sigmoid -> P(high) per target")
        notes = {
            INPUT_EEG: {"layout": "bands, channels, subwindows", "normalized_by_caller": True},
            INPUT_ECG: {
                "layout": "1, hrv_length (RR seconds, zero-embedded)",
                "normalized_by_caller": True,
            },
        }
        self.input_notes = {m: notes[m] for m in fc.modalities}  # a one-modality model: one

    def choose_inputs(
        self,
        features: Path | None,
        synthetic: bool,
        n_calibration: int | None,
        n_heldout: int | None,
        seed: int,
        say: Callable[[str], None],
    ) -> tuple[FeatureSet, FeatureSet]:
        """Calibration and held-out features, best source first: ``features`` (a training
        feature cache or an NPZ), the cache the checkpoint records, else draws from its
        normalisation statistics (unlabelled); at most ``n_calibration``/``n_heldout`` rows."""
        if synthetic:
            raise ValueError("--synthetic applies to EAV checkpoints")
        n_cal = n_calibration or DEFAULT_CALIBRATION
        n_held = n_heldout or DEFAULT_HELDOUT
        fc = self.feature_config
        cache = (self.checkpoint.get("dataset") or {}).get("feature_cache")
        if features is not None and is_training_cache(features):
            calibration, heldout = features_from_training_cache(features, self.checkpoint, seed)
        elif features is not None:
            calibration, heldout = load_npz_features(features)
        elif cache and is_training_cache(cache):
            calibration, heldout = features_from_training_cache(cache, self.checkpoint, seed)
        else:
            norm = self.normalization
            calibration = gaussian_features(norm, fc.n_subwindows, fc.hrv_length, n_cal, seed)
            heldout = gaussian_features(norm, fc.n_subwindows, fc.hrv_length, n_held, seed + 1)
        return calibration.at_most(n_cal), heldout.at_most(n_held)

    def feeds(self, inputs: FeatureSet, what: str) -> dict[str, np.ndarray]:
        """Normalised model inputs of ``inputs`` after checking their shapes and labels."""
        fc = self.feature_config
        if ("eeg" in fc.modalities and inputs.eeg.shape[1:] != tuple(fc.eeg_shape)) or (
            "ecg" in fc.modalities and inputs.ecg.shape[1:] != (1, *fc.hrv_shape)
        ):
            raise ValueError(
                f"{what} features have shapes {inputs.eeg.shape[1:]} / {inputs.ecg.shape[1:]}; "
                f"the feature config needs {tuple(fc.eeg_shape)} / {(1, *fc.hrv_shape)}"
            )
        if inputs.labels is not None and inputs.labels.shape[1] != len(self.targets):
            raise ValueError(
                f"{what} labels have {inputs.labels.shape[1]} columns, targets {self.targets}"
            )
        eeg, ecg = inputs.normalized(self.normalization)
        return {m: {INPUT_EEG: eeg, INPUT_ECG: ecg}[m] for m in fc.modalities}

    def compare(
        self, reference: np.ndarray, logits: np.ndarray, labels: np.ndarray | None
    ) -> dict[str, Any]:
        return compare_decisions(reference, logits, self.targets, self.thresholds, labels)

    def add_to_report(
        self,
        report: dict[str, Any],
        calibration: FeatureSet,
        heldout: FeatureSet,
        heldout_feeds: dict[str, np.ndarray],
        torch_logits: np.ndarray,
        fp32_logits: np.ndarray,
    ) -> None:
        """Nothing beyond the common entries."""

    def int8(
        self,
        fp32: Path,
        dst: Path,
        calibration: FeatureSet,
        calibration_feeds: dict[str, np.ndarray],
        heldout: FeatureSet,
        heldout_feeds: dict[str, np.ndarray],
        fp32_logits: np.ndarray,
        options: ExportOptions,
    ) -> Int8Step:
        """Quantise every Conv/Gemm/MatMul and compare with fp32; INT8 always ships."""
        qdq = quantize_int8(
            fp32,
            dst,
            FeedsCalibrationReader(calibration_feeds, options.calibration_batch),
            method=options.calibration_method,
        )
        int8_logits = run_onnx_feeds(dst, heldout_feeds, batch=PARITY_BATCH)
        vs = self.compare(fp32_logits, int8_logits, heldout.labels)
        quantization = {
            "format": "QDQ",
            "activations": "int8, symmetric (zero-point 0), per-tensor",
            "calibration_method": qdq.calibration,
            "weights": "int8, symmetric (zero-point 0), per-channel",
            "quantized_op_types": list(QUANTIZED_OP_TYPES),
            "calibration": {"n": len(calibration), "source": calibration.source},
        }
        return Int8Step(
            shipped=True,
            report={"int8_vs_fp32": vs, "qdq": qdq.to_dict()},
            quantization=quantization,
            parity={
                "int8_decision_agreement": vs["decision_agreement"],
                "int8_meets_goal": vs["meets_goal"],
            },
        )

    def manifest_entries(self) -> dict[str, Any]:
        fc = self.feature_config
        return {
            "feature_config": fc.to_dict(),
            "feature_config_digest": fc.digest(),
            "channels": [{"name": c, "role": "eeg", "fs": fc.eeg_fs} for c in fc.eeg_channels]
            + [{"name": fc.ecg_channel, "role": "ecg", "fs": fc.ecg_fs}],
            "normalization": self.normalization.to_dict(),
            "targets": list(self.targets),
            "thresholds": self.thresholds,
            "model": {
                "config": self.checkpoint["model_config"],
                "checkpoint_format": self.checkpoint["format"],
            },
        }

    def parity_markdown(self, report: dict[str, Any]) -> str:
        return parity_markdown(report)

    def summary(self, report: dict[str, Any]) -> list[str]:
        onnx_check, i8 = report["onnx_vs_torch"], report["int8_vs_fp32"]
        agree = ", ".join(f"{t} {v:.2%}" for t, v in i8["decision_agreement"].items())
        lines = [
            f"ONNX vs torch: max |Δlogit| {onnx_check['heldout_max_abs_diff']:.2e} "
            f"(opset {onnx_check['opset']})",
            f"INT8 vs fp32 on {i8['n']} held-out windows: decision agreement {agree} "
            f"({'meets' if i8['meets_goal'] else 'MISSES'} the 99% goal)",
        ]
        if "accuracy_change" in i8:
            change = ", ".join(f"{t} {v:+.2%}" for t, v in i8["accuracy_change"].items())
            lines.append(f"INT8 accuracy change: {change}")
        if "fp16_vs_fp32" in report:
            f16 = report["fp16_vs_fp32"]
            agree = ", ".join(f"{t} {v:.2%}" for t, v in f16["decision_agreement"].items())
            lines.append(f"FP16 vs fp32: decision agreement {agree}")
        return lines

    def validate(self, out: Path) -> dict[str, Any]:
        return load_bundle(out).manifest
