"""edge_emotion: continuous arousal/valence recognition from EEG and ECG on edge devices.

Folders map to sub-packages (see ARCHITECTURE.md): ``edge_emotion.kernels`` (Numba feature
kernels), ``edge_emotion.training``, ``edge_emotion.export``,
``edge_emotion.firmware_bridge``; this package holds the on-device runtime.
The runtime imports without torch, and never imports training or export.
"""

__version__ = "0.1.0"
