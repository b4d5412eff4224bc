"""Datasets in their official layouts, and synthetic data written in those layouts
(``amigos``, ``synthetic``; the EAV release: ``eav_layout``, ``eav_preprocess``,
``eav_loader``, ``eav_cache``, ``eav_synthetic``). See ARCHITECTURE.md."""
