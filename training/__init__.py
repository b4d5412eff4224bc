"""Training side: datasets, models, training loop, cross-validation, reports and plots.

Modules, in data-flow order:

- ``datasets.amigos`` (official preprocessed AMIGOS files), ``datasets.synthetic``
  (physiologically grounded synthetic recordings written in the AMIGOS layout);
- ``data``: segmentation into windows, features through
  ``edge_emotion.kernels.features.trial_features`` only, the on-disk feature cache,
  label binarisation, and ``load_feature_arrays`` for the export stage;
- ``models``: ``build_model(model_config)`` (MAAN of Woo et al. 2023 and its base model);
- ``loop`` (model-agnostic training: resume, AMP on CUDA, DDP under torchrun),
  ``metrics``, ``cv`` (segment-wise and subject-independent protocols), ``reports``
  (Table 1 in Markdown/JSON), ``plots`` (t-SNE, curves, confusion matrices);
- ``checkpoint``: the ``edge_emotion.checkpoint/1`` contract with the export stage;
- ``cli``: ``python -m edge_emotion.training``; ``maan_cli`` and ``eav_cli``, each family's commands.

Needs the ``train`` extra (torch, matplotlib, scikit-learn, tqdm, neurokit2).
"""
