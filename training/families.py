"""Model families: the one interface training, export and the torch backend work through.

A family is a kind of model with its own inputs, checkpoint format, bundle kind and
evaluation protocols. Each implements the same fields (:class:`ModelFamily`):

==============  =====================  ========================  ============================
family          models                 inputs (``forward``)      checkpoint format
==============  =====================  ========================  ============================
``eeg-ecg``     ``maan``, ``base``     ``eeg``, ``ecg`` (or one) ``edge_emotion.checkpoint/1``
``eav-fusion``  EAV variants           ``eeg audio video mask``  ``edge_emotion.eav_checkpoint/1``
==============  =====================  ========================  ============================

- ``build(config)``: the model a config describes (its checkpoint/manifest JSON form or the
  family's typed config), freshly initialised, reading no external weights;
- ``example_inputs(config, batch)``: named input tensors, for FLOP counting and for
  tracing the ONNX export; their names (:meth:`ModelFamily.inputs_of`) are the exported
  graph's inputs: an EEG-only or ECG-only model of the ``eeg-ecg`` family takes one;
- :meth:`ModelFamily.make_checkpoint` / :meth:`ModelFamily.load_model`: the family's
  checkpoint (fields: :mod:`edge_emotion.training.checkpoint`) and back;
- ``protocols``: how its experiments split data (``cv`` for EEG+ECG, ``eav run`` for EAV).

The runtime's torch backend finds a builder by the model name in the manifest's model
config, in the ``edge_emotion.model_builders`` entry-point group; ``pyproject.toml``
registers each family's ``build`` under each of its ``model_names``
(``tests/test_architecture.py`` checks that they agree).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from edge_emotion.bundle import INPUT_ECG, INPUT_EEG, KIND_EAV, KIND_EEG_ECG
from edge_emotion.training.checkpoint import (
    EAV_CHECKPOINT,
    EEG_ECG_CHECKPOINT,
    check_checkpoint,
    to_plain,
    versions,
)
from edge_emotion.training.datasets.eav_layout import MODALITIES
from edge_emotion.training.models import eav_fusion, maan


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def count_flops(model: nn.Module, inputs: Mapping[str, torch.Tensor]) -> int:
    """Floating-point operations of one forward pass on ``inputs`` (keyword arguments).

    Counted by ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add is 2 FLOPs;
    convolutions and matrix products only, element-wise operations are not counted).
    """
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(**inputs)
    model.train(was_training)
    return int(counter.get_total_flops())


@dataclass(frozen=True)
class ModelFamily:
    """One model family (see the module docstring)."""

    name: str  # the kind of bundle its exports are (edge_emotion.bundle.KIND_*)
    checkpoint_format: str
    protocols: tuple[str, ...]  # evaluation protocols of its experiments
    model_names: tuple[str, ...]  # names its builder is registered under (entry points)
    input_names: tuple[str, ...]  # every input forward() may take, in order (see inputs_of)
    config_dict: Callable[[Any], dict[str, Any]]  # config -> checked JSON form
    build: Callable[[Any], nn.Module]
    example_inputs: Callable[[Any, int], dict[str, torch.Tensor]]

    def inputs_of(self, config: Any) -> tuple[str, ...]:
        """The inputs of the model ``config`` describes, in ``forward``'s order (a subset of
        ``input_names``): the exported graph's inputs."""
        return tuple(self.example_inputs(config, 1))

    def input_shapes(self, config: Any) -> dict[str, tuple[int, ...]]:
        """Shapes of one window's inputs (no batch axis), by name in ``forward``'s order."""
        return {k: tuple(v.shape[1:]) for k, v in self.example_inputs(config, 1).items()}

    def size(self, model: nn.Module, config: Any) -> tuple[int, int]:
        """(trainable parameters, FLOPs of one input window) of ``model`` built from ``config``."""
        return count_parameters(model), count_flops(model, self.example_inputs(config, 1))

    def make_checkpoint(
        self,
        model: nn.Module,
        config: Any,
        *,
        metrics: Mapping[str, Any],
        dataset: Mapping[str, Any],
        **fields: Any,
    ) -> dict[str, Any]:
        """A checkpoint dict of this family's format (tensors on the CPU, plain containers);
        ``fields`` are the format's own (``edge_emotion.training.checkpoint``)."""
        if isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        checkpoint = {
            "format": self.checkpoint_format,
            "model_config": to_plain(self.config_dict(config)),
            "model_state": state,
            **{k: to_plain(v) for k, v in fields.items()},
            "metrics": to_plain(metrics),
            "dataset": to_plain(dataset),
            "versions": versions(),
        }
        return dict(check_checkpoint(checkpoint))

    def load_model(self, checkpoint: Mapping[str, Any]) -> nn.Module:
        """The checkpoint's model with its weights, in eval mode."""
        if checkpoint.get("format") != self.checkpoint_format:
            raise ValueError(
                f"a {checkpoint.get('format')!r} checkpoint is not of the {self.name} family"
            )
        model = self.build(checkpoint["model_config"])
        model.load_state_dict(checkpoint["model_state"])
        return model.eval()


EEG_ECG = ModelFamily(
    name=KIND_EEG_ECG,
    checkpoint_format=EEG_ECG_CHECKPOINT,
    protocols=("segment", "subject"),
    model_names=maan.MODEL_NAMES,
    input_names=(INPUT_EEG, INPUT_ECG),
    config_dict=maan.validate_model_config,
    build=maan.build_model,
    example_inputs=maan.example_inputs,
)

EAV_FUSION = ModelFamily(
    name=KIND_EAV,
    checkpoint_format=EAV_CHECKPOINT,
    protocols=("per-subject", "subject"),
    model_names=(KIND_EAV,),
    input_names=(*MODALITIES, "mask"),
    config_dict=eav_fusion.config_dict,
    build=eav_fusion.build_for_weights,
    example_inputs=eav_fusion.example_inputs,
)

FAMILIES: tuple[ModelFamily, ...] = (EEG_ECG, EAV_FUSION)


def family_of(checkpoint: Mapping[str, Any]) -> ModelFamily:
    """The family whose format ``checkpoint`` (a checked dict) has."""
    check_checkpoint(checkpoint)
    return next(f for f in FAMILIES if f.checkpoint_format == checkpoint["format"])


def load_model(checkpoint: Mapping[str, Any]) -> nn.Module:
    """The model of any family's checkpoint, with its weights, in eval mode."""
    return family_of(checkpoint).load_model(checkpoint)
