"""torch -> ONNX export with a dynamic batch axis, checked against torch.

Exporter choice (torch 2.13): the TorchScript exporter (``dynamo=False``) fails on
MAAN — ``adaptive_avg_pool1d`` with a symbolic input size is not supported — so the
dynamo exporter (``torch.export`` + onnxscript, ``dynamo=True``) is used, with
``dynamic_shapes`` marking dimension 0 of every input as one shared ``batch`` symbol.
It emits opset 18 natively (asking for 17 triggers a down-conversion that fails on
``ReduceMean`` axes), folds batch norm into the convolutions and gives a graph of plain
Conv/Gemm/Relu/Sigmoid/Resize/Reduce ops that TensorRT 10's ONNX parser accepts.
Weights are stored inside the ``.onnx`` file (``external_data=False``): the bundle is
one file per model and its sha256 covers the weights.

The example batch is 2 (never 1), so no size-1 batch can be specialised into the graph;
:func:`check_dynamic_batch` verifies the saved graph's batch dimension is symbolic.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_emotion.bundle import BATCH_DIM, OUTPUT_LOGITS

OPSET = 18
EXPORTER = "torch.onnx.export(dynamo=True)"


@dataclass(frozen=True)
class OnnxCheck:
    """Max |onnxruntime - torch| over the logits at each checked batch size."""

    max_abs_diff: dict[int, float]
    n_nodes: int
    opset: int

    @property
    def worst(self) -> float:
        return max(self.max_abs_diff.values())


def export_graph(
    model,
    example_inputs: dict[str, Any],
    path: Path | str,
    output_name: str = OUTPUT_LOGITS,
    opset: int = OPSET,
) -> Path:
    """Export ``model`` (eval mode is set) to ``path``; dimension 0 of every input is batch.

    ``example_inputs`` maps the names of ``model.forward``'s positional parameters, in
    order, to example tensors whose batch size is >= 2 (one shared ``batch`` symbol). The
    saved graph is checked to have a symbolic batch dimension (:func:`check_dynamic_batch`).
    The single path both model families take to ONNX.
    """
    import torch
    from torch.export import Dim

    sizes = {name: int(t.shape[0]) for name, t in example_inputs.items()}
    if not sizes or min(sizes.values()) < 2 or len(set(sizes.values())) != 1:
        raise ValueError(
            f"example_inputs must share one batch size >= 2 so batch stays dynamic, got {sizes}"
        )
    path = Path(path)
    model.eval()
    names = list(example_inputs)
    batch = Dim(BATCH_DIM, min=1, max=4096)
    # The exporter prints progress and deprecation chatter from its dependencies; the
    # result is checked below, so keep the command line's output to what matters.
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        quiet_loggers("torch.onnx", "torch.export", "torch._dynamo", "onnxscript"),
    ):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            tuple(example_inputs.values()),
            str(path),
            input_names=names,
            output_names=[output_name],
            opset_version=opset,
            dynamo=True,
            external_data=False,
            dynamic_shapes={name: {0: batch} for name in names},
            verbose=False,
        )
    check_dynamic_batch(path)
    return path


@contextlib.contextmanager
def quiet_loggers(*names: str) -> Iterator[None]:
    """Raise the named loggers to ERROR and hold back what the tools print (onnxruntime's
    calibrator prints "Collecting tensor data and making histogram ...") for the block:
    progress and deprecation chatter that says nothing about the result (which is checked
    after each step). With ``python -m edge_emotion.export --verbose`` (the
    ``edge_emotion.export`` logger at DEBUG) all of it is shown."""
    if logging.getLogger("edge_emotion.export").isEnabledFor(logging.DEBUG):
        yield
        return
    saved = []
    for name in names:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


def graph_io(path: Path | str) -> dict[str, list[tuple[str, list]]]:
    """Inputs and outputs of an ONNX file: name and shape (str for symbolic dims)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)

    def dims(v):
        return [d.dim_param if d.dim_param else d.dim_value for d in v.type.tensor_type.shape.dim]

    return {
        "inputs": [(v.name, dims(v)) for v in model.graph.input],
        "outputs": [(v.name, dims(v)) for v in model.graph.output],
    }


def check_dynamic_batch(path: Path | str) -> None:
    """Raise ``ValueError`` unless every graph input/output has a symbolic first dimension."""
    io_ = graph_io(path)
    for kind in ("inputs", "outputs"):
        for name, shape in io_[kind]:
            if not shape or not isinstance(shape[0], str) or not shape[0]:
                raise ValueError(
                    f"{path}: {kind[:-1]} {name!r} has shape {shape}; the batch dimension "
                    "must be symbolic (re-export with a dynamic batch)"
                )


def compare_feeds_with_torch(
    model,
    onnx_path: Path | str,
    feeds: dict[str, np.ndarray],
    batch_sizes: tuple[int, ...] = (1, 2, 7),
    output_name: str = OUTPUT_LOGITS,
) -> OnnxCheck:
    """Max |onnxruntime - torch| of the output at each batch size in ``batch_sizes``.

    ``feeds`` maps input names, in ``model.forward``'s positional order, to float arrays
    with a leading batch axis; the first ``b`` rows are used for batch size ``b`` (rows
    repeat when fewer are given).
    """
    import onnx
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    diffs = {}
    model.eval()
    n = len(next(iter(feeds.values())))
    for b in batch_sizes:
        idx = np.arange(b) % n
        batch = {k: np.ascontiguousarray(v[idx], dtype=np.float32) for k, v in feeds.items()}
        with torch.inference_mode():
            ref = model(*(torch.from_numpy(v) for v in batch.values())).numpy()
        out = session.run([output_name], batch)[0]
        if out.shape != ref.shape:
            raise ValueError(f"ONNX output shape {out.shape} != torch {ref.shape} at batch {b}")
        diffs[int(b)] = float(np.max(np.abs(out - ref)))
    m = onnx.load(str(onnx_path), load_external_data=False)
    opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), -1)
    return OnnxCheck(max_abs_diff=diffs, n_nodes=len(m.graph.node), opset=int(opset))
