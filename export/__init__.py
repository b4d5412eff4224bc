"""Export: a trained checkpoint -> a model bundle a device loads (ARCHITECTURE.md).

- ``__main__``: ``python -m edge_emotion.export CHECKPOINT --out BUNDLE``;
- ``bundle_writer``: the one export path of every model family (ONNX, ONNX vs torch,
  INT8, FP16, torch state, parity report, manifest, validation);
- ``bundle_content``: what a family adds (the interface), with ``eeg_ecg_bundle`` (the
  runtime's EEG+ECG bundles) and ``eav_bundle`` (EEG + audio + video; its loader);
- ``data``: calibration and held-out inputs of each family;
- ``onnx_export``, ``quantize`` (INT8 Q/DQ for TensorRT, FP16), ``parity``: the steps.

Needs the ``export`` extra (onnx, onnxruntime, onnxscript) and the ``train`` extra.
"""
