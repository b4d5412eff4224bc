"""Training side: datasets, models, training loop, cross-validation, reports and plots.

Two model families (``families``: the one interface, see ARCHITECTURE.md) share the loop,
the metrics, the plots and the checkpoint contract. Modules, in data-flow order:

- ``datasets/``: ``amigos`` (official preprocessed AMIGOS files), ``synthetic``
  (physiologically grounded recordings in the AMIGOS layout); the EAV release:
  ``eav_layout`` (folders, names, labels), ``eav_preprocess`` (decoding per modality),
  ``eav_loader`` (windows in memory), ``eav_cache`` (on disk), ``eav_synthetic``;
- ``data``: AMIGOS trials -> windows -> features through
  ``edge_emotion.kernels.features.trial_features`` only, the feature cache, labels;
- ``models/``: ``maan`` (MAAN and its base model), ``transformer`` + ``eav_fusion``
  (EEG + audio + video), ``pretrained`` (public AST / ViT weights);
- ``families``: ``EEG_ECG`` and ``EAV_FUSION`` (build, example inputs, FLOPs, checkpoint
  format, protocols); ``checkpoint``: the checkpoint formats, read and written;
- ``loop`` (model-agnostic training: resume, AMP on CUDA, DDP under torchrun),
  ``metrics``, ``cv`` (EEG+ECG protocols, Table 1 runs), ``eav_experiment`` (EAV
  variants and protocols), ``reports``/``eav_report`` and ``plots``;
- ``cli`` (``python -m edge_emotion.training``) with ``maan_cli``, ``eav_cli`` and the
  shared ``cli_options``.

Needs the ``train`` extra (torch, matplotlib, scikit-learn, tqdm, neurokit2); EAV also
the ``eav`` extra.
"""
