"""Models, one module each; none of them knows about files or datasets.

- ``maan``: the modality-aware attention network of Woo et al. (2023) and its base model,
  on EEG differential-entropy maps and HRV series; ``build_model(config)``.
- ``transformer``: the EEG, spectrogram (AST-style) and vision (ViT) transformer encoders;
- ``eav_fusion``: the EEG + audio + video fusion model built from them (arXiv 2411.00822);
- ``pretrained``: public AST / ViT weights read from local files into those encoders.

How training, export and the runtime's torch backend reach each family's builder:
:mod:`edge_emotion.training.families`.
"""
