"""Numba kernels: R-peaks, RR/HRV, band-pass filters, band differential entropy, streaming
resampling and the block statistics of the quality windows.

Each public function validates its input in Python and calls an ``@njit(cache=True)``
kernel. Batch forms work on whole recordings; streaming forms carry state across chunks.
"""

# Each module's public names are re-exported here, one block per module.

# blockstats
from edge_emotion.kernels.blockstats import BlockStatistics as BlockStatistics
from edge_emotion.kernels.blockstats import WindowStatistics as WindowStatistics

# config
from edge_emotion.kernels.config import EMOTIV_EPOC_CHANNELS as EMOTIV_EPOC_CHANNELS
from edge_emotion.kernels.config import FeatureConfig as FeatureConfig

# de
from edge_emotion.kernels.de import DE_FLOOR as DE_FLOOR
from edge_emotion.kernels.de import DEFAULT_BANDS as DEFAULT_BANDS
from edge_emotion.kernels.de import EEG_MAX_ABS as EEG_MAX_ABS
from edge_emotion.kernels.de import VAR_FLOOR as VAR_FLOOR
from edge_emotion.kernels.de import band_de as band_de
from edge_emotion.kernels.de import band_de_map as band_de_map
from edge_emotion.kernels.de import band_de_windows as band_de_windows

# de_stream
from edge_emotion.kernels.de_stream import StreamingBandDE as StreamingBandDE

# features
from edge_emotion.kernels.features import StreamingFeatureExtractor as StreamingFeatureExtractor
from edge_emotion.kernels.features import trial_features as trial_features

# filters
from edge_emotion.kernels.filters import StreamingFilterBank as StreamingFilterBank
from edge_emotion.kernels.filters import bandpass_bank_sos as bandpass_bank_sos
from edge_emotion.kernels.filters import design_bandpass_sos as design_bandpass_sos
from edge_emotion.kernels.filters import sosfilt_bank as sosfilt_bank
from edge_emotion.kernels.filters import sosfiltfilt_bank as sosfiltfilt_bank

# hrv
from edge_emotion.kernels.hrv import CleanedRR as CleanedRR
from edge_emotion.kernels.hrv import clean_rr as clean_rr
from edge_emotion.kernels.hrv import hrv_series as hrv_series
from edge_emotion.kernels.hrv import hrv_time as hrv_time
from edge_emotion.kernels.hrv import hrv_window as hrv_window
from edge_emotion.kernels.hrv import rr_intervals as rr_intervals

# peak_scoring (R-peaks against reference annotations)
from edge_emotion.kernels.peak_scoring import PeakScore as PeakScore
from edge_emotion.kernels.peak_scoring import match_peaks as match_peaks
from edge_emotion.kernels.peak_scoring import score_peaks as score_peaks

# resample
from edge_emotion.kernels.resample import StreamingResampler as StreamingResampler
from edge_emotion.kernels.resample import design_resample_filter as design_resample_filter
from edge_emotion.kernels.resample import rational_ratio as rational_ratio

# ringbuffer
from edge_emotion.kernels.ringbuffer import RingBuffer as RingBuffer

# rpeaks
from edge_emotion.kernels.rpeaks import StreamingRPeakDetector as StreamingRPeakDetector
from edge_emotion.kernels.rpeaks import detect_rpeaks as detect_rpeaks
