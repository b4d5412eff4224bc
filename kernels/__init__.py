"""Numba feature kernels: R-peaks, RR/HRV, band-pass filters, band differential entropy.

Each public function validates its input in Python and calls an ``@njit(cache=True)``
kernel. Batch forms work on whole recordings; streaming forms carry state across chunks.
"""

# Each module's public names are re-exported here, one block per module.

# features
from edge_emotion.kernels.features import FeatureConfig as FeatureConfig
