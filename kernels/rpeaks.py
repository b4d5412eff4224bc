"""R-peak detection: one causal state machine for whole recordings and for streams.

Method (Pan & Tompkins 1985, with the decision rules of Hamilton & Tompkins 1986):

1. the ECG minus its first sample is band-passed 5–15 Hz (Butterworth, order 3,
   causal second-order sections), which removes baseline wander and attenuates mains
   interference (50/60 Hz) and muscle noise;
2. five-point derivative, squared, moving-window integration over 150 ms (MWI);
3. candidate peaks are samples of the MWI that are the largest within +-``H`` (the
   refractory period, 250 ms) — found with a sliding-maximum deque, so the decision on
   a candidate needs exactly ``H`` samples of look-ahead;
4. each candidate is classified against the adaptive threshold
   ``THR = NPK + 0.25 (SPK - NPK)`` where SPK/NPK are running estimates of the signal
   and noise peak levels (0.125 update weight); a candidate within 360 ms of the
   previous beat whose steepest slope is below half that beat's is taken as a T wave;
   when no beat was found for 1.66 x the mean of the last 8 RR intervals, the largest
   noise candidate above ``THR / 2`` is accepted (search-back);
5. every accepted beat is refined to the QRS's major local extremum in the ECG itself
   (after a centred 20-ms moving average, which has no phase delay and attenuates mains
   hum): the sample of largest deviation from the local baseline inside a window that
   covers the QRS, so the reported time does not carry the filters' delay.

References: J. Pan, W. J. Tompkins, "A real-time QRS detection algorithm", IEEE Trans.
Biomed. Eng. 32(3):230–236, 1985, doi:10.1109/TBME.1985.325532; P. S. Hamilton,
W. J. Tompkins, "Quantitative investigation of QRS detection rules using the
MIT/BIH arrhythmia database", IEEE Trans. Biomed. Eng. 33(12):1157–1165, 1986,
doi:10.1109/TBME.1986.325695.

Everything is causal except a fixed look-ahead, and all state (filter memories, ring
buffers, thresholds) lives in preallocated arrays, so :func:`detect_rpeaks` is literally
:class:`StreamingRPeakDetector` fed the whole recording in one chunk and then flushed:
a stream cut into any chunks reports the same peaks, each at most
``delay_samples`` samples after it occurred.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy.signal import butter

from edge_emotion.kernels._validate import as_signal, check_fs

__all__ = ["FS_MAX_HZ", "FS_MIN_HZ", "StreamingRPeakDetector", "detect_rpeaks"]

FS_MIN_HZ = 100.0
FS_MAX_HZ = 1000.0

# Method constants (seconds unless stated); the same for every recording and rate.
_BAND_HZ = (5.0, 15.0)
_BAND_ORDER = 3
_MWI_S = 0.150
_REFRACTORY_S = 0.250  # H: a candidate is the MWI maximum within +-H
_LEARN_S = 2.0  # thresholds are initialised from the first 2 s
_TWAVE_S = 0.360
_SEARCHBACK_MAX_S = 2.0  # cap on the search-back gap, so the reporting delay is bounded
_RR_INIT_S = 0.8
_SMOOTH_S = 0.020  # centred moving average used for refinement
_REFINE_PRE_S = 0.250  # refinement window, relative to the MWI peak: [k - pre, k - post]
_REFINE_POST_S = 0.020
_BASELINE_S = 0.100  # baseline = mean of the smoothed ECG just before the refinement window

# Integer parameters (pi) and state (si) slots.
P_MWI, P_H, P_LEARN, P_TWAVE, P_SBMAX, P_SMOOTH, P_PRE, P_POST, P_BASE, P_MASK = range(10)
(
    S_N,
    S_DQ_HEAD,
    S_DQ_TAIL,
    S_LAST_QRS,
    S_NCAND,
    S_INIT,
    S_NLEARN,
    S_NRR,
    S_LAST_OUT,
    S_HAVE_X0,
) = range(10)
N_SI = 10
# Float parameters (pf) and state (sf) slots.
PF_DERIV_SCALE, PF_RR_INIT = range(2)
(
    F_SPK,
    F_NPK,
    F_MWI_SUM,
    F_MA_SUM,
    F_NCAND_VAL,
    F_LAST_SLOPE,
    F_X0,
    F_LEARN_MAX,
    F_LEARN_SUM,
) = range(9)
N_SF = 9
# Rows of the float ring buffer.
R_RAW, R_BP, R_DABS, R_SQ, R_MWI, R_SMOOTH = range(6)
N_RINGS = 6
N_RR = 8
N_LEARN = 64


@njit(cache=True)
def _sos_step(sos, z, v):
    for s in range(sos.shape[0]):
        y = sos[s, 0] * v + z[s, 0]
        z[s, 0] = sos[s, 1] * v - sos[s, 4] * y + z[s, 1]
        z[s, 1] = sos[s, 2] * v - sos[s, 5] * y
        v = y
    return v


@njit(cache=True)
def _max_slope(rings, k, pi):
    m = 0.0
    lo = k - pi[P_MWI] + 1
    if lo < 0:
        lo = 0
    for j in range(lo, k + 1):
        v = rings[R_DABS, j & pi[P_MASK]]
        if v > m:
            m = v
    return m


@njit(cache=True)
def _refine(rings, k, n_avail, pi):
    """Index of the largest |smoothed ECG - baseline| in [k - pre, k - post]."""
    mask = pi[P_MASK]
    lo = k - pi[P_PRE]
    hi = k - pi[P_POST]
    if lo < 0:
        lo = 0
    if hi > n_avail - 1:
        hi = n_avail - 1
    if hi < lo:
        return k
    b0 = lo - pi[P_BASE]
    if b0 < 0:
        b0 = 0
    base = 0.0
    for j in range(b0, lo + 1):
        base += rings[R_SMOOTH, j & mask]
    base /= lo + 1 - b0
    best = lo
    best_v = -1.0
    for j in range(lo, hi + 1):
        v = abs(rings[R_SMOOTH, j & mask] - base)
        if v > best_v:
            best_v = v
            best = j
    return best


@njit(cache=True)
def _emit(r, si, out, n_out):
    if r > si[S_LAST_OUT]:
        out[n_out] = r
        si[S_LAST_OUT] = r
        return n_out + 1
    return n_out


@njit(cache=True)
def _accept(k, v, slope, searchback, pf, pi, sf, si, rr, rings, n_avail, out, n_out):
    if searchback:
        sf[F_SPK] = 0.25 * v + 0.75 * sf[F_SPK]
    else:
        sf[F_SPK] = 0.125 * v + 0.875 * sf[F_SPK]
    last = si[S_LAST_QRS]
    if last >= 0:
        rr[si[S_NRR] % N_RR] = k - last
        si[S_NRR] += 1
    si[S_LAST_QRS] = k
    sf[F_LAST_SLOPE] = slope
    si[S_NCAND] = -1
    sf[F_NCAND_VAL] = 0.0
    return _emit(_refine(rings, k, n_avail, pi), si, out, n_out)


@njit(cache=True)
def _classify(k, v, pf, pi, sf, si, rr, rings, n_avail, out, n_out):
    """Decide whether the MWI candidate (k, v) is a beat; returns the new n_out."""
    thr = sf[F_NPK] + 0.25 * (sf[F_SPK] - sf[F_NPK])
    slope = _max_slope(rings, k, pi)
    last = si[S_LAST_QRS]
    is_qrs = v > thr and v > 0.0
    if is_qrs and last >= 0 and k - last < pi[P_TWAVE] and slope < 0.5 * sf[F_LAST_SLOPE]:
        is_qrs = False
    if is_qrs:
        return _accept(k, v, slope, False, pf, pi, sf, si, rr, rings, n_avail, out, n_out)
    sf[F_NPK] = 0.125 * v + 0.875 * sf[F_NPK]
    if v > sf[F_NCAND_VAL] and (last < 0 or k - last >= pi[P_H]):
        sf[F_NCAND_VAL] = v
        si[S_NCAND] = k
    return n_out


@njit(cache=True)
def _rr_gap(pf, pi, si, rr):
    n = si[S_NRR]
    if n == 0:
        avg = pf[PF_RR_INIT]
    else:
        m = n if n < N_RR else N_RR
        avg = 0.0
        for j in range(m):
            avg += rr[j]
        avg /= m
    gap = 1.66 * avg
    if gap > pi[P_SBMAX]:
        gap = pi[P_SBMAX]
    return gap


@njit(cache=True)
def _init_thresholds(pf, pi, sf, si, rr, learn, rings, n_avail, out, n_out):
    """End of the learning period: set SPK/NPK from it, then classify its candidates."""
    nl = si[S_NLEARN]
    peak_max = 0.0
    for j in range(nl):
        if learn[j, 1] > peak_max:
            peak_max = learn[j, 1]
    n_learn = si[S_N] if si[S_N] < pi[P_LEARN] else pi[P_LEARN]
    mean_mwi = sf[F_LEARN_SUM] / max(n_learn, 1)
    sf[F_SPK] = 0.5 * peak_max
    sf[F_NPK] = 0.5 * mean_mwi
    si[S_INIT] = 1
    for j in range(nl):
        n_out = _classify(
            np.int64(learn[j, 0]), learn[j, 1], pf, pi, sf, si, rr, rings, n_avail, out, n_out
        )
    si[S_NLEARN] = 0
    return n_out


@njit(cache=True)
def _run(x, n_real, pf, pi, sos, z, sf, si, rings, dq, rr, learn, out):
    """Feed ``x`` through the detector; samples at positions >= n_real are padding.

    Peaks found at index >= the first padding sample are not reported. Returns the
    number of peaks written to ``out``.
    """
    mask = pi[P_MASK]
    L = pi[P_MWI]
    H = pi[P_H]
    ls = pi[P_SMOOTH]
    hs = ls // 2
    n_out = 0
    real_end = si[S_N] + n_real  # absolute index of the first padding sample
    if si[S_HAVE_X0] == 0 and x.shape[0] > 0:
        sf[F_X0] = x[0]
        si[S_HAVE_X0] = 1
    for t in range(x.shape[0]):
        n = si[S_N]
        xv = x[t] - sf[F_X0]
        rings[R_RAW, n & mask] = xv
        bp = _sos_step(sos, z, xv)
        rings[R_BP, n & mask] = bp
        b1 = rings[R_BP, (n - 1) & mask] if n >= 1 else 0.0
        b3 = rings[R_BP, (n - 3) & mask] if n >= 3 else 0.0
        b4 = rings[R_BP, (n - 4) & mask] if n >= 4 else 0.0
        d = (2.0 * bp + b1 - b3 - 2.0 * b4) * pf[PF_DERIV_SCALE]
        rings[R_DABS, n & mask] = abs(d)
        sq = d * d
        rings[R_SQ, n & mask] = sq
        if n % 4096 == 0:
            # Recompute the running sums exactly now and then, so rounding cannot drift.
            s = 0.0
            lo = n - L + 1 if n - L + 1 > 0 else 0
            for j in range(lo, n + 1):
                s += rings[R_SQ, j & mask]
            sf[F_MWI_SUM] = s
            s = 0.0
            lo = n - ls + 1 if n - ls + 1 > 0 else 0
            for j in range(lo, n + 1):
                s += rings[R_RAW, j & mask]
            sf[F_MA_SUM] = s
        else:
            sf[F_MWI_SUM] += sq
            if n >= L:
                sf[F_MWI_SUM] -= rings[R_SQ, (n - L) & mask]
            sf[F_MA_SUM] += xv
            if n >= ls:
                sf[F_MA_SUM] -= rings[R_RAW, (n - ls) & mask]
        mwi = sf[F_MWI_SUM] / L
        if mwi < 0.0:
            mwi = 0.0
        rings[R_MWI, n & mask] = mwi
        # Centred moving average of the ECG, known hs samples late.
        c = n - hs
        if c >= hs:
            rings[R_SMOOTH, c & mask] = sf[F_MA_SUM] / ls
        elif c >= 0:
            rings[R_SMOOTH, c & mask] = rings[R_RAW, c & mask]
        if n < pi[P_LEARN]:
            sf[F_LEARN_SUM] += mwi
        # Sliding maximum of the MWI over [n - 2H, n] (deque of indices, values decreasing).
        tail = si[S_DQ_TAIL]
        head = si[S_DQ_HEAD]
        dmask = dq.shape[0] - 1
        while tail > head and rings[R_MWI, dq[(tail - 1) & dmask] & mask] <= mwi:
            tail -= 1
        dq[tail & dmask] = n
        tail += 1
        while dq[head & dmask] < n - 2 * H:
            head += 1
        si[S_DQ_TAIL] = tail
        si[S_DQ_HEAD] = head
        si[S_N] = n + 1
        k = n - H
        n_avail = c + 1 if c + 1 < real_end else real_end  # smoothed ECG known below this
        if k >= 0 and dq[head & dmask] == k and k < real_end:
            v = rings[R_MWI, k & mask]
            if si[S_INIT] == 0:
                if si[S_NLEARN] < N_LEARN:
                    learn[si[S_NLEARN], 0] = k
                    learn[si[S_NLEARN], 1] = v
                    si[S_NLEARN] += 1
            else:
                n_out = _classify(k, v, pf, pi, sf, si, rr, rings, n_avail, out, n_out)
        if si[S_INIT] == 0 and (k >= pi[P_LEARN] - 1 or (t == x.shape[0] - 1 and n_real == 0)):
            n_out = _init_thresholds(pf, pi, sf, si, rr, learn, rings, n_avail, out, n_out)
        # Search-back over the decided part of the signal.
        if (
            si[S_INIT] == 1
            and si[S_NCAND] >= 0
            and si[S_LAST_QRS] >= 0
            and k - si[S_LAST_QRS] > _rr_gap(pf, pi, si, rr)
            and sf[F_NCAND_VAL] > 0.5 * (sf[F_NPK] + 0.25 * (sf[F_SPK] - sf[F_NPK]))
        ):
            kc = si[S_NCAND]
            vc = sf[F_NCAND_VAL]
            slope = _max_slope(rings, kc, pi)
            n_out = _accept(kc, vc, slope, True, pf, pi, sf, si, rr, rings, n_avail, out, n_out)
    # Drop anything refined into the padding (flush only).
    keep = 0
    for j in range(n_out):
        if out[j] < real_end:
            out[keep] = out[j]
            keep += 1
    return keep


def _delay_samples(fs: float) -> int:
    h = round(_REFRACTORY_S * fs)
    pre = round(_REFINE_PRE_S * fs)
    learn = round(_LEARN_S * fs)
    sbmax = round(_SEARCHBACK_MAX_S * fs)
    return int(max(learn + h, sbmax + h + 1 + pre) + 1)


class StreamingRPeakDetector:
    """Chunk-by-chunk R-peak detector; the same peaks as :func:`detect_rpeaks`.

    ``update(chunk)`` returns the int64 absolute sample indices (counted from the first
    sample ever fed) of the peaks confirmed by this call. A peak at index ``p`` is
    reported at the latest by the call that brings the stream to
    ``p + delay_samples + 1`` samples (the look-ahead of the refractory window and of
    the search-back for missed beats, capped at 2 s; most beats come 250 ms late).
    Chunks may have any length, including 0 and 1.

    ``fs`` is the sampling rate in Hz, 100–1000.
    """

    def __init__(self, fs: float) -> None:
        fs = check_fs(fs, "fs", FS_MIN_HZ, FS_MAX_HZ)
        self.fs = fs
        self._sos = np.ascontiguousarray(
            butter(_BAND_ORDER, _BAND_HZ, btype="bandpass", fs=fs, output="sos"), np.float64
        )
        smooth = max(1, round(_SMOOTH_S * fs))
        if smooth % 2 == 0:
            smooth += 1  # odd, so the moving average is centred on a sample
        self._h = round(_REFRACTORY_S * fs)
        need = max(
            round(_LEARN_S * fs),
            round(_SEARCHBACK_MAX_S * fs) + 4 * self._h + round(_REFINE_PRE_S * fs),
        )
        size = 1 << int(np.ceil(np.log2(need + 64)))
        self._pi = np.array(
            [
                round(_MWI_S * fs),
                self._h,
                round(_LEARN_S * fs),
                round(_TWAVE_S * fs),
                round(_SEARCHBACK_MAX_S * fs),
                smooth,
                round(_REFINE_PRE_S * fs),
                round(_REFINE_POST_S * fs),
                round(_BASELINE_S * fs),
                size - 1,
            ],
            np.int64,
        )
        self._pf = np.array([fs / 8.0, _RR_INIT_S * fs], np.float64)
        self._size = size
        self._dq_size = 1 << int(np.ceil(np.log2(2 * self._h + 4)))
        self.delay_samples: int = _delay_samples(fs)
        self.reset()

    def reset(self) -> None:
        """Forget everything fed so far; the next sample is index 0 again."""
        self._z = np.zeros((self._sos.shape[0], 2), np.float64)
        self._sf = np.zeros(N_SF, np.float64)
        self._si = np.zeros(N_SI, np.int64)
        self._si[S_LAST_QRS] = -1
        self._si[S_NCAND] = -1
        self._si[S_LAST_OUT] = -1
        self._rings = np.zeros((N_RINGS, self._size), np.float64)
        self._dq = np.zeros(self._dq_size, np.int64)
        self._rr = np.zeros(N_RR, np.float64)
        self._learn = np.zeros((N_LEARN, 2), np.float64)

    @property
    def samples_seen(self) -> int:
        """Number of samples fed since construction or the last :meth:`reset`."""
        return int(self._si[S_N])

    def _call(self, x: np.ndarray, n_real: int) -> np.ndarray:
        out = np.empty(x.shape[0] // max(self._h, 1) + N_LEARN + 4, np.int64)
        n = _run(
            x,
            n_real,
            self._pf,
            self._pi,
            self._sos,
            self._z,
            self._sf,
            self._si,
            self._rings,
            self._dq,
            self._rr,
            self._learn,
            out,
        )
        return out[:n].copy() if n else np.zeros(0, np.int64)

    def update(self, chunk) -> np.ndarray:
        """Feed the next samples (1-D, finite); return the peaks confirmed by them."""
        x = as_signal(chunk, "chunk", ndim=1, min_samples=0)
        return self._call(x, x.shape[0])

    def flush(self) -> np.ndarray:
        """Peaks still pending if the stream ended now (the detector itself is unchanged).

        The stream is continued with its last value for the look-ahead, as
        :func:`detect_rpeaks` does at the end of a recording.
        """
        saved = (
            self._z.copy(),
            self._sf.copy(),
            self._si.copy(),
            self._rings.copy(),
            self._dq.copy(),
            self._rr.copy(),
            self._learn.copy(),
        )
        try:
            n = self.samples_seen
            if n == 0:
                return np.zeros(0, np.int64)
            last = self._rings[R_RAW, (n - 1) & (self._size - 1)] + self._sf[F_X0]
            pad = np.full(self.delay_samples + 1, last, np.float64)
            return self._call(pad, 0)
        finally:
            (
                self._z,
                self._sf,
                self._si,
                self._rings,
                self._dq,
                self._rr,
                self._learn,
            ) = saved


def detect_rpeaks(ecg, fs: float) -> np.ndarray:
    """R-peak sample indices (int64, ascending) of a whole single-lead ECG recording.

    ``ecg``: 1-D array in any unit and either polarity, at least 1 s long, finite.
    ``fs``: sampling rate in Hz, 100–1000. A flat line gives an empty array.
    Method: see the module docstring (Pan–Tompkins detection with Hamilton–Tompkins
    decision rules, refined to the QRS's major extremum). The result equals the peaks
    of :class:`StreamingRPeakDetector` fed the same samples, plus its :meth:`flush`.
    """
    fs = check_fs(fs, "fs", FS_MIN_HZ, FS_MAX_HZ)
    x = as_signal(ecg, "ecg", ndim=1, min_samples=max(1, int(np.ceil(fs))))
    det = StreamingRPeakDetector(fs)
    head = det.update(x)
    tail = det.flush()
    return np.concatenate([head, tail]).astype(np.int64, copy=False)
