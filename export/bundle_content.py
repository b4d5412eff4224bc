"""What a model family contributes to a bundle, and the options every export takes.

:func:`edge_emotion.export.bundle_writer.export_bundle` runs the steps every bundle goes
through; a :class:`BundleContent` supplies the rest for one checkpoint of its family:
which inputs calibrate and check it, how its decisions are compared, its INT8 policy, its
manifest entries and its report text. Implementations:
:class:`~edge_emotion.export.eeg_ecg_bundle.EegEcgBundle`,
:class:`~edge_emotion.export.eav_bundle.EavBundle`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edge_emotion.export.data import InputSet
from edge_emotion.training.families import ModelFamily

PARITY_BATCH = 64  # rows per torch / onnxruntime call on the held-out set


@dataclass(frozen=True)
class ExportOptions:
    """What to write besides model.onnx and model.int8.onnx."""

    fp16: bool = False
    include_torch_state: bool = True
    demo: bool | None = None  # None: from the checkpoint's dataset info
    name: str | None = None  # bundle name in the manifest; default: the folder name
    calibration_batch: int = 32
    calibration_method: str = "percentile"  # see edge_emotion.export.quantize.quantize_int8
    force: bool = False  # replace an existing bundle (see edge_emotion.out_dir.stage_bundle)


@dataclass(frozen=True)
class Int8Step:
    """What the INT8 step gives the bundle: whether model.int8.onnx ships, the parity
    report's entries, and the manifest's ``quantization`` and ``parity`` entries."""

    shipped: bool
    report: dict[str, Any]
    quantization: dict[str, Any]
    parity: dict[str, Any]


class BundleContent(Protocol):
    """One checkpoint's family-specific part of a bundle (see the module docstring)."""

    family: ModelFamily
    checkpoint: dict[str, Any]
    model: Any  # the checkpoint's torch module, in eval mode
    unit: str  # what one input row is called in messages ("windows", "inputs")
    heading: str | None  # the command line's first line for this family, if any
    outputs: tuple[int, str]  # logits per row and what to apply to them
    input_notes: dict[str, dict[str, Any]]  # manifest fields of each input besides its shape

    def choose_inputs(
        self,
        features: Path | None,
        synthetic: bool,
        n_calibration: int | None,
        n_heldout: int | None,
        seed: int,
        say: Callable[[str], None],
    ) -> tuple[InputSet, InputSet]: ...

    def feeds(self, inputs: InputSet, what: str) -> dict[str, np.ndarray]: ...

    def compare(
        self, reference: np.ndarray, logits: np.ndarray, labels: np.ndarray | None
    ) -> dict[str, Any]: ...

    def add_to_report(
        self,
        report: dict[str, Any],
        calibration: InputSet,
        heldout: InputSet,
        heldout_feeds: dict[str, np.ndarray],
        torch_logits: np.ndarray,
        fp32_logits: np.ndarray,
    ) -> None: ...

    def int8(
        self,
        fp32: Path,
        dst: Path,
        calibration: InputSet,
        calibration_feeds: dict[str, np.ndarray],
        heldout: InputSet,
        heldout_feeds: dict[str, np.ndarray],
        fp32_logits: np.ndarray,
        options: ExportOptions,
    ) -> Int8Step: ...

    def manifest_entries(self) -> dict[str, Any]: ...

    def parity_markdown(self, report: dict[str, Any]) -> str: ...

    def summary(self, report: dict[str, Any]) -> list[str]: ...

    def validate(self, out: Path) -> dict[str, Any]: ...
