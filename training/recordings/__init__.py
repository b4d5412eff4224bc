"""Recordings users hold, read into typed recordings and cut at the model's rates.

- :mod:`.readers` (:func:`read_recording`): EDF/EDF+/BDF/BDF+ (pyedflib), BrainFlow files
  with their JSON sidecar (BrainFlow's ``DataFilter``), XDF (pyxdf, :mod:`.xdf`);
- :mod:`.recording`: :class:`Recording`, :class:`Stream`, :class:`Channel`,
  :class:`Marker`, :class:`Signals`, :class:`RecordingError`;
- :mod:`.channels`: channel names normalised, kinds (EEG / ECG / other), units to µV;
- :mod:`.model_rate`: :func:`model_rate_signals`, a recording's EEG and ECG at the model's
  rates through the runtime's resampler, and the time convention;
- :mod:`.labels`: the labels table (CSV);
- :mod:`.segments`: :func:`load_labelled_segments`, the table joined with the recordings,
  with a :class:`RecordingsSummary` of what was read and skipped.
"""

from edge_emotion.training.recordings.channels import classify_channel, normalise_name
from edge_emotion.training.recordings.labels import LabelsError, LabelsTable, read_labels
from edge_emotion.training.recordings.model_rate import (
    ModelRateSignals,
    model_rate_signals,
    resample_aligned,
)
from edge_emotion.training.recordings.readers import read_brainflow, read_edf, read_recording
from edge_emotion.training.recordings.recording import (
    Channel,
    ChannelNotFound,
    Marker,
    Recording,
    RecordingError,
    Signals,
    Stream,
)
from edge_emotion.training.recordings.segments import (
    LabelledSegment,
    RecordingsSummary,
    SegmentRequest,
    load_labelled_segments,
)
from edge_emotion.training.recordings.xdf import read_xdf

__all__ = [
    "Channel",
    "ChannelNotFound",
    "LabelledSegment",
    "LabelsError",
    "LabelsTable",
    "Marker",
    "ModelRateSignals",
    "Recording",
    "RecordingError",
    "RecordingsSummary",
    "SegmentRequest",
    "Signals",
    "Stream",
    "classify_channel",
    "load_labelled_segments",
    "model_rate_signals",
    "normalise_name",
    "read_brainflow",
    "read_edf",
    "read_labels",
    "read_recording",
    "read_xdf",
    "resample_aligned",
]
