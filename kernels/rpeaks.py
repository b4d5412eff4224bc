"""R-peak detection: one causal state machine for whole recordings and for streams.

Method (Pan & Tompkins 1985, with the decision rules of Hamilton & Tompkins 1986):

1. the ECG minus its first sample is band-passed 5–15 Hz (Butterworth, order 3,
   causal second-order sections), which removes baseline wander and attenuates mains
   interference (50/60 Hz) and muscle noise;
2. five-point derivative, squared, moving-window integration over 150 ms (MWI);
3. candidate peaks are samples of the MWI that are the largest within +-``H`` (the
   refractory period, 250 ms) — found with a monotone deque of the MWI's local maxima,
   so the decision on a candidate needs exactly ``H`` samples of look-ahead;
4. the thresholds are learnt from the first 2 s (SPK = half the largest candidate,
   NPK = half the mean MWI); each candidate is classified against the adaptive
   threshold ``THR = NPK + 0.125 (SPK - NPK)`` where SPK/NPK are running estimates of
   the signal and noise peak levels (0.125 update weight; Pan–Tompkins use 0.25 for
   the threshold fraction, 0.125 misses fewer low-amplitude beats on MIT-BIH at no
   cost in false detections); a candidate within 360 ms of the
   previous beat whose steepest slope is below half that beat's is taken as a T wave;
   when no beat was found for 1.66 x the mean of the last 8 RR intervals, the largest
   noise candidate above ``THR / 2`` is accepted (search-back);
5. every accepted beat is refined to a local extremum of the ECG itself (after a
   centred 20-ms moving average, which has no phase delay and attenuates mains hum)
   inside [MWI peak - 250 ms, MWI peak - 20 ms], so the reported time does not carry
   the filters' delay and either polarity works. Relative to the local baseline (the
   straight line through the mean ECG over 50 ms before and 50 ms after the window)
   each beat has a largest positive and a largest negative wave (R and S, or a QS
   trough). The fiducial wave is the one on the side of the recording's polarity, a
   running mean of the beats' shares ``(pos - neg) / (pos + neg)`` (started from the
   median over the learning period, then averaged over ~32 beats), unless the other
   wave of that beat is more than twice as large (a beat of another morphology, such
   as a PVC). So the point does not jump between R and S in beats whose two waves are
   of similar size, which would put the R-S distance into two RR intervals.

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

Why one file, over the house's ~450 lines: the compiled functions here are one state
machine. ``_run`` calls ``_classify``, ``_accept``, ``_emit``, ``_refine``, ``_extrema``,
``_init_thresholds``, ``_next_wake`` and ``_max_slope``, and all of them index the state
arrays through the slot constants below (``P_*``, ``S_*``, ``F_*``), which Numba freezes
into the compiled code. Numba's on-disk cache (``cache=True``) checks only the source
file of the function it loads, not the files of what that function calls or reads: with
numba 0.68.1, a cached kernel calling a function from another file kept returning the
old result after that function changed, until ``__pycache__`` was cleared. Split across
files, an edit to one part would run with stale machine code of the others. The Python
side (``_design``, :class:`StreamingRPeakDetector`, :func:`detect_rpeaks`) allocates
the state those slots describe, so it stays beside them.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba import njit

from edge_emotion.kernels._validate import as_signal, check_fs
from edge_emotion.kernels.design_cache import cached_design

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
_THR_FRAC = 0.125  # THR = NPK + _THR_FRAC (SPK - NPK)
_PEAK_WEIGHT = 0.125  # update weight of SPK/NPK (doubled for a search-back beat)
_TWAVE_SLOPE = 0.5  # within _TWAVE_S of a beat, a slope below this fraction is a T wave
_SEARCHBACK_RR = 1.66  # search back after this many mean RR intervals without a beat
_SEARCHBACK_THR = 0.5  # ... for the largest candidate above this fraction of THR
_SMOOTH_S = 0.020  # centred moving average used for refinement
_REFINE_PRE_S = 0.250  # refinement window, relative to the MWI peak: [k - pre, k - post]
_REFINE_POST_S = 0.020
_BASELINE_S = 0.050  # baseline: line through the means over this span before and after it
_POL_K = 2.0  # a beat's own other wave wins over the running polarity if this much larger
_POL_W = 1.0 / 32.0  # the running polarity averages over about 1 / _POL_W beats

# Integer parameters (pi) and state (si) slots.
P_MWI, P_H, P_LEARN, P_TWAVE, P_SBMAX, P_SMOOTH, P_PRE, P_POST, P_BASE, P_MASK = range(10)
(
    S_N,
    S_LM_HEAD,
    S_LM_TAIL,
    S_LAST_QRS,
    S_NCAND,
    S_INIT,
    S_NLEARN,
    S_NRR,
    S_LAST_OUT,
    S_HAVE_X0,
    S_SB_DEADLINE,
    S_RECOMPUTE,
    S_NPOL,
) = range(13)
N_SI = 13
# Float parameters (pf) and state (sf) slots.
PF_DERIV_SCALE, PF_RR_INIT, PF_THR, PF_TSLOPE, PF_SBF, PF_SBTHR, PF_W, PF_POL_K, PF_POL_W = range(9)
(
    F_SPK,
    F_NPK,
    F_MWI_SUM,
    F_NCAND_VAL,
    F_LAST_SLOPE,
    F_X0,
    F_LEARN_SUM,
    F_THR,
    F_B1,
    F_B2,
    F_B3,
    F_B4,
    F_M1,
    F_M2,
    F_POL,
    F_GAIN,
) = range(16)
N_SF = 16
# Rows of the float ring buffer.
R_RAW, R_SQ, R_MWI = range(3)
N_RINGS = 3
N_RR = 8
N_LEARN = 64
_NEVER = np.int64(2**62)
_RECOMPUTE_EVERY = 4096  # running sums are recomputed exactly this often (samples)
# Amplitude. The kernel runs on the ECG times a power of two, the "gain", which is exact:
# every sum, product, square root and ratio inside scales exactly, so the peaks are the
# same at any amplitude. A stream whose first nonzero samples reach a largest |value|
# inside [2**-400, 2**400) keeps gain 1 (nothing changes for any real recording);
# otherwise the gain brings that value to [0.5, 1). After the gain the squared
# derivative of a value of 2**450 is still ~1e278 at 1000 Hz, far from overflow, so
# values below 2**450 / gain are accepted and larger ones raise ValueError; tiny ones
# underflow to silence.
_GAIN_FREE_EXP = 400
_GAIN_LIMIT_EXP = 450
_GAIN_LIMIT = 2.0**_GAIN_LIMIT_EXP
_ERR_NONFINITE = -1
_ERR_RANGE = -2


@njit(cache=True)
def _top_exponent(x):
    """Biased exponent field of the largest |x| (2047: NaN or inf present; 0: none normal).

    Integer max of the masked bits: LLVM vectorises it (float max/sum reductions it may
    not reorder), so the pass costs ~0.1 ns a sample.
    """
    bits = x.view(np.uint64)
    top = np.uint64(0)
    for t in range(bits.shape[0]):
        top = max(top, bits[t] & np.uint64(0x7FF0000000000000))
    return np.int64(top >> np.uint64(52))


@njit(cache=True)
def _max_slope(rings, k, pi):
    m = 0.0
    lo = k - pi[P_MWI] + 1
    if lo < 0:
        lo = 0
    for j in range(lo, k + 1):
        v = rings[R_SQ, j & pi[P_MASK]]
        if v > m:
            m = v
    return np.sqrt(m)  # steepest |derivative| over the MWI window ending at k


@njit(cache=True)
def _extrema(rings, k, n_avail, pi, scratch):
    """Smooth the ECG around the MWI peak ``k`` and find its extrema about a local baseline.

    The window is [k - pre, k - post] (clipped to the signal). ``scratch`` receives the
    ECG after a centred moving average over ``smooth`` samples, from ``b0`` on. The
    baseline is the straight line through the mean of the smoothed ECG over ``base``
    samples before the window and the mean over ``base`` samples after it, so wander
    does not tilt the comparison of the positive and the negative wave.
    Returns ``(lo, hi, b0, jp, ap, jn, an, whole)``: the window, the largest positive
    deviation ``ap`` at ``jp`` and the largest negative one ``an`` (as a magnitude) at
    ``jn`` (0 where there is none), and whether the window and both baseline spans lie
    inside the signal. ``hi < lo`` means there is no window.
    """
    mask = pi[P_MASK]
    lo = k - pi[P_PRE]
    hi = k - pi[P_POST]
    b0 = lo - pi[P_BASE]
    e1 = hi + pi[P_BASE]
    whole = b0 >= 0 and e1 <= n_avail - 1
    if lo < 0:
        lo = 0
    if hi > n_avail - 1:
        hi = n_avail - 1
    if hi < lo:
        return lo, hi, lo, k, 0.0, k, 0.0, False
    if b0 < 0:
        b0 = 0
    if e1 > n_avail - 1:
        e1 = n_avail - 1
    # Centred moving average of the ECG over [b0, e1], as a running sum.
    hs = pi[P_SMOOTH] // 2
    inv = 1.0 / pi[P_SMOOTH]
    acc = 0.0
    j0 = b0 if b0 > hs else hs
    for j in range(j0 - hs, j0 + hs):
        acc += rings[R_RAW, j & mask]
    for j in range(b0, e1 + 1):
        if j < hs:
            scratch[j - b0] = rings[R_RAW, j & mask]  # too close to the start to centre
        else:
            acc += rings[R_RAW, (j + hs) & mask]
            scratch[j - b0] = acc * inv
            acc -= rings[R_RAW, (j - hs) & mask]
    m1 = 0.0
    for j in range(b0, lo + 1):
        m1 += scratch[j - b0]
    m1 /= lo + 1 - b0
    m2 = 0.0
    for j in range(hi, e1 + 1):
        m2 += scratch[j - b0]
    m2 /= e1 + 1 - hi
    c1 = 0.5 * (b0 + lo)
    c2 = 0.5 * (hi + e1)
    slope = (m2 - m1) / (c2 - c1) if c2 > c1 else 0.0
    jp = lo
    ap = 0.0
    jn = lo
    an = 0.0
    for j in range(lo, hi + 1):
        v = scratch[j - b0] - (m1 + slope * (j - c1))
        if v > ap:
            ap = v
            jp = j
        if -v > an:
            an = -v
            jn = j
    return lo, hi, b0, jp, ap, jn, an, whole


@njit(cache=True)
def _share(ap, an):
    """Signed share of the positive wave, in [-1, 1]; amplitude-free."""
    tot = ap + an
    return (ap - an) / tot if tot > 0.0 else 0.0


@njit(cache=True)
def _refine(rings, k, n_avail, pi, pf, sf, si, scratch, vote):
    """Fiducial point of the beat at MWI peak ``k``: its R peak or its S/QS trough.

    The wave is chosen on the side of the recording's polarity (``sf[F_POL]``, the
    running mean of the beats' :func:`_share`), unless the other wave of this beat is
    more than ``PF_POL_K`` times larger (a beat of another morphology, such as a PVC).
    Choosing beat by beat would let a beat whose R and S are of similar size jump
    between them (an RR error of the R–S distance, twice). With ``vote``, a beat whose
    window is whole then updates the polarity. Last, the point climbs to the local
    extremum of the smoothed ECG itself (at most ``smooth // 2`` samples): the baseline
    only decides between the waves, it does not move the peak.
    """
    lo, hi, b0, jp, ap, jn, an, whole = _extrema(rings, k, n_avail, pi, scratch)
    if hi < lo:
        return k
    pol = sf[F_POL]
    if vote and whole:
        q = _share(ap, an)
        n_pol = si[S_NPOL] + 1
        si[S_NPOL] = n_pol
        if n_pol == 1:
            pol = q  # the first beat has only itself to go by
        w = 1.0 / n_pol  # the plain mean at first, then an average over ~1/W beats
        if w < pf[PF_POL_W]:
            w = pf[PF_POL_W]
        sf[F_POL] = pol + w * (q - pol)
    if pol > 0.0:
        positive = not an > pf[PF_POL_K] * ap
    elif pol < 0.0:
        positive = ap > pf[PF_POL_K] * an
    elif ap != an:
        positive = ap > an
    else:
        positive = jp <= jn  # the earlier one: the same under a sign flip
    best = jp if positive else jn
    sgn = 1.0 if positive else -1.0
    for _ in range(pi[P_SMOOTH] // 2):
        if best < hi and sgn * scratch[best + 1 - b0] > sgn * scratch[best - b0]:
            best += 1
        elif best > lo and sgn * scratch[best - 1 - b0] > sgn * scratch[best - b0]:
            best -= 1
        else:
            break
    return best


@njit(cache=True)
def _emit(k, vote, pf, pi, sf, si, rings, scratch, n_avail, out, n_out):
    """Report the refined position of the beat at MWI index k; returns the new n_out."""
    r = _refine(rings, k, n_avail, pi, pf, sf, si, scratch, vote)
    if r > si[S_LAST_OUT]:
        out[n_out] = r
        si[S_LAST_OUT] = r
        return n_out + 1
    return n_out


@njit(cache=True)
def _set_threshold(pf, sf):
    sf[F_THR] = sf[F_NPK] + pf[PF_THR] * (sf[F_SPK] - sf[F_NPK])


@njit(cache=True)
def _accept(k, v, slope, searchback, pf, pi, sf, si, rr):
    """Record a beat at MWI index k (value v) in the detection state."""
    w = 2.0 * pf[PF_W] if searchback else pf[PF_W]
    sf[F_SPK] = w * v + (1.0 - w) * sf[F_SPK]
    _set_threshold(pf, sf)
    last = si[S_LAST_QRS]
    if last >= 0:
        rr[si[S_NRR] % N_RR] = k - last
        si[S_NRR] += 1
    si[S_LAST_QRS] = k
    sf[F_LAST_SLOPE] = slope
    si[S_NCAND] = -1
    sf[F_NCAND_VAL] = 0.0
    # Search back once no beat followed for 1.66 mean RR (capped).
    n = si[S_NRR]
    if n == 0:
        avg = pf[PF_RR_INIT]
    else:
        m = n if n < N_RR else N_RR
        avg = 0.0
        for j in range(m):
            avg += rr[j]
        avg /= m
    gap = pf[PF_SBF] * avg
    if gap > pi[P_SBMAX]:
        gap = pi[P_SBMAX]
    si[S_SB_DEADLINE] = k + np.int64(np.floor(gap))


@njit(cache=True)
def _classify(k, v, pf, pi, sf, si, rr, rings):
    """Decide whether the MWI candidate (k, v) is a beat; True if it was accepted."""
    slope = _max_slope(rings, k, pi)
    last = si[S_LAST_QRS]
    is_qrs = v > sf[F_THR] and v > 0.0
    # T-wave rule: soon after a beat, a candidate with a much gentler slope is a T wave.
    if is_qrs and last >= 0 and k - last < pi[P_TWAVE] and slope < pf[PF_TSLOPE] * sf[F_LAST_SLOPE]:
        is_qrs = False
    if is_qrs:
        _accept(k, v, slope, False, pf, pi, sf, si, rr)
        return True
    sf[F_NPK] = pf[PF_W] * v + (1.0 - pf[PF_W]) * sf[F_NPK]
    _set_threshold(pf, sf)
    if v > sf[F_NCAND_VAL]:
        sf[F_NCAND_VAL] = v
        si[S_NCAND] = k
    return False


@njit(cache=True)
def _init_thresholds(pf, pi, sf, si, rr, learn, rings, scratch, n_avail, out, n_out):
    """End of the learning period: set SPK/NPK and the polarity from it, report its beats.

    The polarity starts as the median share of the learning period's beats, so one odd
    first beat (a PVC, or a recording that starts inside a QRS) cannot set it.
    """
    nl = si[S_NLEARN]
    peak_max = 0.0
    for j in range(nl):
        if learn[j, 1] > peak_max:
            peak_max = learn[j, 1]
    mean_mwi = sf[F_LEARN_SUM] / pi[P_LEARN]
    sf[F_SPK] = 0.5 * peak_max
    sf[F_NPK] = 0.5 * mean_mwi
    _set_threshold(pf, sf)
    si[S_INIT] = 1
    beats = np.empty(nl, np.int64)
    n_beats = 0
    for j in range(nl):
        k = np.int64(learn[j, 0])
        if _classify(k, learn[j, 1], pf, pi, sf, si, rr, rings):
            beats[n_beats] = k
            n_beats += 1
    shares = np.empty(n_beats, np.float64)
    m = 0
    for j in range(n_beats):
        lo, hi, _, _, ap, _, an, whole = _extrema(rings, beats[j], n_avail, pi, scratch)
        if hi >= lo and whole:
            q = _share(ap, an)
            i = m  # insertion sort: a handful of beats
            while i > 0 and shares[i - 1] > q:
                shares[i] = shares[i - 1]
                i -= 1
            shares[i] = q
            m += 1
    if m > 0:
        sf[F_POL] = shares[m // 2] if m % 2 else 0.5 * (shares[m // 2 - 1] + shares[m // 2])
        si[S_NPOL] = m
    for j in range(n_beats):
        n_out = _emit(beats[j], False, pf, pi, sf, si, rings, scratch, n_avail, out, n_out)
    si[S_NLEARN] = 0
    return n_out


@njit(cache=True)
def _next_wake(pf, pi, sf, si, real_end, flushing):
    """First k at which the end of learning or a search-back can fire, given the state."""
    wake = _NEVER
    if si[S_INIT] == 0:
        wake = pi[P_LEARN] - 1
        if flushing and real_end - 1 < wake:
            wake = real_end - 1  # a recording shorter than the learning period
    elif si[S_NCAND] >= 0 and sf[F_NCAND_VAL] > pf[PF_SBTHR] * sf[F_THR]:
        wake = si[S_SB_DEADLINE] + 1
    return wake


@njit(cache=True)
def _run(x, n_real, pf, pi, sos, z, sf, si, rings, scratch, lm_idx, lm_val, rr, learn, out):
    """Feed ``x`` through the detector; samples at positions >= n_real are padding.

    Per sample: the ECG, the squared derivative of the band-passed ECG and the MWI go
    into ring buffers; local maxima of the MWI enter a monotone deque; the MWI value
    k = n - H is a candidate when it is the largest within +-H. The inner loop holds
    no calls (so its recursions stay in registers) and breaks out only when a decision
    is due: a candidate, the end of learning, or a search-back deadline — the same
    outcome as checking every sample. Peaks found in the padding are not reported.
    Returns the number of peaks written to ``out``, or ``_ERR_NONFINITE`` /
    ``_ERR_RANGE`` (and nothing changed) when ``x`` holds NaN/inf or a value too large
    for the stream's gain.
    """
    # Checked before any state changes, from the largest exponent in x.
    nx = x.shape[0]
    top = _top_exponent(x)
    if top == 2047:
        return _ERR_NONFINITE
    gain = sf[F_GAIN]
    if gain == 0.0:  # not chosen yet: the first nonzero samples choose it
        gain = 1.0
        log2_big = top - 1023  # floor(log2(max |x|)) for a normal max
        if top == 0:
            for t in range(nx):
                if x[t] != 0.0:
                    gain = math.ldexp(1.0, 1022)  # subnormal: to [2**-52, 1)
                    sf[F_GAIN] = gain
                    break
        else:
            if not -_GAIN_FREE_EXP <= log2_big < _GAIN_FREE_EXP:
                gain = math.ldexp(1.0, -(log2_big + 1))
            sf[F_GAIN] = gain
    elif top - 1023 + math.frexp(gain)[1] - 1 >= _GAIN_LIMIT_EXP:
        return _ERR_RANGE
    mask = pi[P_MASK]
    L = pi[P_MWI]
    H = pi[P_H]
    hs = pi[P_SMOOTH] // 2
    n_learn = pi[P_LEARN]
    lmask = lm_idx.shape[0] - 1
    inv_l = 1.0 / L
    scale = pf[PF_DERIV_SCALE]
    n_out = 0
    n = si[S_N]
    real_end = n + n_real  # absolute index of the first padding sample
    flushing = n_real < nx
    if si[S_HAVE_X0] == 0 and nx > 0:
        sf[F_X0] = x[0]  # a constant signal becomes exactly zero: no filter transients
        si[S_HAVE_X0] = 1
    x0 = sf[F_X0] * gain
    b1 = sf[F_B1]
    b2 = sf[F_B2]
    b3 = sf[F_B3]
    b4 = sf[F_B4]
    mwi_sum = sf[F_MWI_SUM]
    learn_sum = sf[F_LEARN_SUM]
    countdown = si[S_RECOMPUTE]
    lm_head = si[S_LM_HEAD]
    lm_tail = si[S_LM_TAIL]
    m1 = sf[F_M1]
    m2 = sf[F_M2]
    wake = _next_wake(pf, pi, sf, si, real_end, flushing)
    # Three biquads held in locals: the recursion stays in registers (sos is order 3).
    a0, a1, a2, a4, a5 = sos[0, 0], sos[0, 1], sos[0, 2], sos[0, 4], sos[0, 5]
    c0, c1, c2, c4, c5 = sos[1, 0], sos[1, 1], sos[1, 2], sos[1, 4], sos[1, 5]
    e0, e1, e2, e4, e5 = sos[2, 0], sos[2, 1], sos[2, 2], sos[2, 4], sos[2, 5]
    z00, z01, z10, z11, z20, z21 = z[0, 0], z[0, 1], z[1, 0], z[1, 1], z[2, 0], z[2, 1]
    t = 0
    while t < nx:
        candidate = False
        due = False
        k = 0
        vk = 0.0
        while t < nx:
            xv = x[t] * gain - x0
            t += 1
            rings[R_RAW, n & mask] = xv
            y = a0 * xv + z00
            z00 = a1 * xv - a4 * y + z01
            z01 = a2 * xv - a5 * y
            u = y
            y = c0 * u + z10
            z10 = c1 * u - c4 * y + z11
            z11 = c2 * u - c5 * y
            u = y
            v = e0 * u + z20
            z20 = e1 * u - e4 * v + z21
            z21 = e2 * u - e5 * v
            d = (2.0 * v + b1 - b3 - 2.0 * b4) * scale
            b4 = b3
            b3 = b2
            b2 = b1
            b1 = v
            sq = d * d
            rings[R_SQ, n & mask] = sq
            countdown -= 1
            if countdown <= 0:
                # Recompute the running sum exactly now and then, so rounding cannot drift.
                countdown = _RECOMPUTE_EVERY
                mwi_sum = 0.0
                for j in range(max(n - L + 1, 0), n + 1):
                    mwi_sum += rings[R_SQ, j & mask]
            else:
                mwi_sum += sq
                if n >= L:
                    mwi_sum -= rings[R_SQ, (n - L) & mask]
            mwi = mwi_sum * inv_l
            if mwi < 0.0:
                mwi = 0.0
            rings[R_MWI, n & mask] = mwi
            if n < n_learn:
                learn_sum += mwi
            # Local maxima of the MWI (first sample of a plateau) enter a monotone deque:
            # values non-increasing from head to tail (equal values kept, earliest first).
            if m2 < m1 and m1 >= mwi:
                while lm_tail > lm_head and lm_val[(lm_tail - 1) & lmask] < m1:
                    lm_tail -= 1
                lm_idx[lm_tail & lmask] = n - 1
                lm_val[lm_tail & lmask] = m1
                lm_tail += 1
            m2 = m1
            m1 = mwi
            k = n - H
            n += 1
            if k < 0 or k >= real_end:
                continue
            # k is a candidate when it is the largest MWI value within -H (strictly) and
            # +H. An interval's maximum lies at an interior local maximum or at an end;
            # the deque holds the local maxima up to k + H - 1, and once those before
            # k - H are dropped its head is the largest of them.
            lo = k - H
            while lm_tail > lm_head and lm_idx[lm_head & lmask] < lo:
                lm_head += 1
            if lm_tail > lm_head and lm_idx[lm_head & lmask] == k:
                vk = lm_val[lm_head & lmask]
                if mwi <= vk and (lo < 0 or rings[R_MWI, lo & mask] < vk):
                    candidate = True
            if candidate or k >= wake:
                due = True
                break
        if not due:
            break
        # Decisions for k, in the fixed order: candidate, end of learning, search-back.
        n_avail = min(n - hs, real_end)  # the smoothed ECG is known below this index
        if candidate:
            if si[S_INIT] == 0:
                if si[S_NLEARN] < N_LEARN:
                    learn[si[S_NLEARN], 0] = k
                    learn[si[S_NLEARN], 1] = vk
                    si[S_NLEARN] += 1
            else:
                if _classify(k, vk, pf, pi, sf, si, rr, rings):
                    n_out = _emit(k, True, pf, pi, sf, si, rings, scratch, n_avail, out, n_out)
                wake = _next_wake(pf, pi, sf, si, real_end, flushing)
        if k >= wake:
            if si[S_INIT] == 0:
                sf[F_LEARN_SUM] = learn_sum
                n_out = _init_thresholds(
                    pf, pi, sf, si, rr, learn, rings, scratch, n_avail, out, n_out
                )
            # Search-back over the decided part of the signal.
            if (
                k > si[S_SB_DEADLINE]
                and si[S_NCAND] >= 0
                and sf[F_NCAND_VAL] > pf[PF_SBTHR] * sf[F_THR]
            ):
                kc = si[S_NCAND]
                slope = _max_slope(rings, kc, pi)
                vc = sf[F_NCAND_VAL]
                _accept(kc, vc, slope, True, pf, pi, sf, si, rr)
                n_out = _emit(kc, True, pf, pi, sf, si, rings, scratch, n_avail, out, n_out)
            wake = _next_wake(pf, pi, sf, si, real_end, flushing)
    z[0, 0], z[0, 1], z[1, 0], z[1, 1], z[2, 0], z[2, 1] = z00, z01, z10, z11, z20, z21
    sf[F_B1] = b1
    sf[F_B2] = b2
    sf[F_B3] = b3
    sf[F_B4] = b4
    sf[F_M1] = m1
    sf[F_M2] = m2
    sf[F_MWI_SUM] = mwi_sum
    sf[F_LEARN_SUM] = learn_sum
    si[S_RECOMPUTE] = countdown
    si[S_N] = n
    si[S_LM_HEAD] = lm_head
    si[S_LM_TAIL] = lm_tail
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


@lru_cache(maxsize=32)
def _design(fs: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Band-pass sections and integer/float parameters for one sampling rate (read-only)."""

    def band_pass():  # scipy.signal only on a miss (kernels/design_cache.py says why)
        from scipy.signal import butter

        return butter(_BAND_ORDER, _BAND_HZ, btype="bandpass", fs=fs, output="sos")

    key = f"butter rpeaks {_BAND_ORDER} {_BAND_HZ} {float(fs).hex()}"
    sos = np.ascontiguousarray(cached_design(key, band_pass), np.float64)
    smooth = max(1, round(_SMOOTH_S * fs))
    if smooth % 2 == 0:
        smooth += 1  # odd, so the moving average is centred on a sample
    h = round(_REFRACTORY_S * fs)
    mwi = round(_MWI_S * fs)
    pre = round(_REFINE_PRE_S * fs)
    base = round(_BASELINE_S * fs)
    learn = round(_LEARN_S * fs)
    sbmax = round(_SEARCHBACK_MAX_S * fs)
    lookback = max(learn, sbmax) + 2 * h + pre + base + mwi + smooth
    size = 1 << int(np.ceil(np.log2(lookback + 64)))
    pi = np.array(
        [
            mwi,
            h,
            learn,
            round(_TWAVE_S * fs),
            sbmax,
            smooth,
            pre,
            round(_REFINE_POST_S * fs),
            base,
            size - 1,
        ],
        np.int64,
    )
    pf = np.array(
        [
            fs / 8.0,  # five-point derivative (2x[n] + x[n-1] - x[n-3] - 2x[n-4]) * fs / 8
            _RR_INIT_S * fs,
            _THR_FRAC,
            _TWAVE_SLOPE,
            _SEARCHBACK_RR,
            _SEARCHBACK_THR,
            _PEAK_WEIGHT,
            _POL_K,
            _POL_W,
        ],
        np.float64,
    )
    if sos.shape != (3, 6):
        raise AssertionError("the front end is written for three biquad sections")
    for arr in (sos, pi, pf):
        arr.flags.writeable = False
    return sos, pi, pf


class StreamingRPeakDetector:
    """Chunk-by-chunk R-peak detector; the same peaks as :func:`detect_rpeaks`.

    ``update(chunk)`` returns the int64 absolute sample indices (counted from the first
    sample ever fed) of the peaks confirmed by this call. A peak at index ``p`` is
    reported at the latest by the call that brings the stream to
    ``p + delay_samples + 1`` samples. Typically a beat is reported about 0.4 s after
    its R peak (the 250-ms look-ahead plus the lag of the MWI peak behind the R peak;
    median 0.40 s on MIT-BIH 100 and 208); beats found by search-back or during the
    first 2 s (threshold learning) take longer, up to ``delay_samples`` (2.5 s + 1
    sample, rounded to samples).
    Chunks may have any length, including 0 and 1. All state is preallocated; each
    update is one compiled call.

    ``fs`` is the sampling rate in Hz, 100–1000.
    """

    def __init__(self, fs: float) -> None:
        fs = check_fs(fs, "fs", FS_MIN_HZ, FS_MAX_HZ)
        self.fs = fs
        self._sos, self._pi, self._pf = _design(fs)
        self._h = int(self._pi[P_H])
        self._size = int(self._pi[P_MASK]) + 1
        self._scratch = np.zeros(int(self._pi[P_PRE] + 2 * self._pi[P_BASE]) + 8, np.float64)
        self._lm_size = 1 << int(np.ceil(np.log2(2 * self._h + 8)))
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
        self._si[S_SB_DEADLINE] = _NEVER
        self._rings = np.zeros((N_RINGS, self._size), np.float64)
        self._lm_idx = np.zeros(self._lm_size, np.int64)
        self._lm_val = np.zeros(self._lm_size, np.float64)
        self._rr = np.zeros(N_RR, np.float64)
        self._learn = np.zeros((N_LEARN, 2), np.float64)

    @property
    def samples_seen(self) -> int:
        """Number of samples fed since construction or the last :meth:`reset`."""
        return int(self._si[S_N])

    def _call(self, x: np.ndarray, n_real: int) -> np.ndarray:
        out = np.empty(x.shape[0] // self._h + N_LEARN + 4, np.int64)
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
            self._scratch,
            self._lm_idx,
            self._lm_val,
            self._rr,
            self._learn,
            out,
        )
        if n == _ERR_NONFINITE:
            bad = int(x.size - np.count_nonzero(np.isfinite(x)))
            raise ValueError(
                f"chunk contains {bad} NaN or infinite values; clean or interpolate them first"
            )
        if n == _ERR_RANGE:
            raise ValueError(
                f"chunk has a value of magnitude {np.max(np.abs(x)):.3g}; this stream takes "
                f"values below {_GAIN_LIMIT / self._sf[F_GAIN]:.3g}: 2**450 (about 3e135), or "
                "about 2**450 times its first nonzero samples when those were outside "
                "2**-400..2**400 (they fixed its scale); reset() to start at the new amplitude"
            )
        return out[:n].copy()

    def update(self, chunk) -> np.ndarray:
        """Feed the next samples (1-D, finite); return the peaks confirmed by them.

        Any amplitude works (see ``detect_rpeaks``), but the first nonzero samples fix a
        stream's internal scale: later values must stay below 2**450 (about 3e135), or
        about 2**450 times those first samples' largest |value| when it was outside
        2**-400..2**400; a larger value raises ValueError and changes nothing.
        """
        # NaN/inf and the range are checked inside the compiled call, in one pass.
        x = as_signal(chunk, "chunk", ndim=1, min_samples=0, allow_nonfinite=True)
        return self._call(x, x.shape[0])

    def _finish(self) -> np.ndarray:
        n = self.samples_seen
        if n == 0:
            return np.zeros(0, np.int64)
        gain = self._sf[F_GAIN] if self._sf[F_GAIN] > 0.0 else 1.0
        last = self._rings[R_RAW, (n - 1) & (self._size - 1)] / gain + self._sf[F_X0]
        return self._call(np.full(self.delay_samples + 1, last, np.float64), 0)

    def flush(self) -> np.ndarray:
        """Peaks still pending if the stream ended now; the detector itself is unchanged.

        The stream is continued with its last value for the look-ahead, as
        :func:`detect_rpeaks` does at the end of a recording.
        """
        names = ("_z", "_sf", "_si", "_rings", "_lm_idx", "_lm_val", "_rr", "_learn")
        saved = {name: getattr(self, name).copy() for name in names}
        try:
            return self._finish()
        finally:
            for name, value in saved.items():
                setattr(self, name, value)


def detect_rpeaks(ecg, fs: float) -> np.ndarray:
    """R-peak sample indices (int64, ascending) of a whole single-lead ECG recording.

    ``ecg``: 1-D array in any unit and either polarity, at least 1 s long, finite.
    Amplitude does not matter, down to subnormal values and up to the largest float:
    the kernel works on the ECG times a power of two (exact, so the peaks are identical
    to those of ``ecg * 2**k`` for any k; see ``_GAIN_FREE_EXP``).
    ``fs``: sampling rate in Hz, 100–1000. A flat line gives an empty array.
    Method: see the module docstring (Pan–Tompkins detection with Hamilton–Tompkins
    decision rules, refined to the QRS's major extremum). The result equals the peaks
    of :class:`StreamingRPeakDetector` fed the same samples in any chunks, followed by
    its :meth:`flush`.

    Example::

        >>> import neurokit2 as nk
        >>> ecg = nk.ecg_simulate(duration=20, sampling_rate=250, heart_rate=70, random_state=1)
        >>> peaks = detect_rpeaks(ecg, 250)
    """
    fs = check_fs(fs, "fs", FS_MIN_HZ, FS_MAX_HZ)
    x = as_signal(ecg, "ecg", ndim=1, min_samples=max(1, int(np.ceil(fs))))
    det = StreamingRPeakDetector(fs)
    head = det._call(x, x.shape[0])  # x is checked; one chunk, so any amplitude fits
    return np.concatenate([head, det._finish()])
