"""Band-pass filter banks as second-order sections, run in Numba.

Filters are Butterworth band-passes designed by :func:`scipy.signal.butter` with
``output="sos"``. ``order`` is scipy's ``N``: a band-pass of order ``N`` has ``2N`` poles
and ``N`` second-order sections (the default ``N = 4`` gives 4 sections, an 8th-order
band-pass, -3 dB at the band edges; Butterworth, "On the theory of filter amplifiers",
Wireless Engineer 7, 1930).

Two ways to run a bank of ``bands`` filters over ``channels`` signals:

- :func:`sosfiltfilt_bank`, zero-phase forward-backward filtering of a whole recording,
  the same computation as :func:`scipy.signal.sosfiltfilt` with its defaults: odd
  extension of ``padlen = 3 * (2 * n_sections + 1 - min(#zero b2, #zero a2))`` samples at
  each end (27 for ``N = 4``) and the initial state ``sosfilt_zi(sos) * first_sample``
  for each pass (Gustafsson, "Determining the initial states in forward-backward
  filtering", IEEE Trans. Signal Process. 44(4), 1996). Each section computes scipy's
  ``sosfilt`` recurrence (transposed direct form II) with fused multiply-adds, so the
  results round differently from scipy's: they agree to ~1e-13 relative, and measured
  against the same computation in long double the kernel's error is about scipy's own
  (median 0.5x, at most 1.3x over 300 random inputs; ``tests/test_filters.py``).
- :func:`sosfilt_bank` and :class:`StreamingFilterBank`, causal filtering with the
  state starting at rest (zero); the streaming form carries the state across chunks and
  gives exactly the samples of :func:`sosfilt_bank` on the concatenated signal.
  (The causal DE path in :mod:`edge_emotion.kernels.de` subtracts each channel's first
  sample before calling these, which starts the band-passes in the steady state for it.)

Layout: all ``bands x channels`` filters are independent. Channels are padded to
vectors of ``W = 16`` lanes (the ``Vec`` type below), and for each band and
vector of channels the kernel runs four sections at a time down the whole signal, with
their eight state vectors held in registers (``_cascade``): per sample, one vector
load and one store for four sections. Orders that are not a
multiple of four are padded with pass-through sections.

Why: the previous layout stepped through time and ran every section over a row of
channels, a loop LLVM vectorised by itself, but it had to load and store the filter
state at every step: three vector stores per section per sample, and the kernel was
bound by the one store port (band DE of 10 s x 14 channels x 4 bands: ~170 µs). With
the state in registers the filtering takes ~60 µs, and what is left is the arithmetic
itself: 2 passes x 1334 samples x 4 bands x 4 sections x 5 multiply-adds on 16 lanes,
~430k 8-wide vector operations, which the FMA units issue at two per cycle.
Tried with that older layout and slower: one long loop over all filters with
per-filter coefficients, two bands per loop, fused sections, interleaved state planes,
time-blocked sections, DE statistics inside the backward pass, and a small local state
array, which Numba allocates on the heap so LLVM never promotes it to registers (the
reason for the explicit vector type). One vector of 8 lanes per loop instead of 16
measured ~13% slower (less independent work to hide the FMA latency).

Why one file, over the house's ~450 lines: the vector type and its intrinsics
(``vload``, ``vstore``, ``vsplat``, ``vfma``, ``vmul``) are compiled into the kernels that
use them, and the kernels call one another (``_filtfilt_rows`` and ``_sosfilt_rows`` ->
``_filter_lanes`` -> ``_cascade``). Numba's on-disk cache (``cache=True``) checks only the
source file of the function it loads: with numba 0.68.1 a cached kernel calling a
function from another file kept the old code after that function changed. So an edit to
an intrinsic or a kernel in a separate file would run stale until ``__pycache__`` was
cleared. The filter design above is plain Python and could move, but the kernels and
their wrappers alone are over 450 lines. :mod:`edge_emotion.kernels.de_stream` writes
its section loop out for the same reason.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic, models, register_model

from edge_emotion.kernels._validate import as_signal, check_fs, check_positive_int
from edge_emotion.kernels.design_cache import cached_design

DEFAULT_ORDER = 4

__all__ = [
    "DEFAULT_ORDER",
    "StreamingFilterBank",
    "bandpass_bank_sos",
    "design_bandpass_sos",
    "filtfilt_padlen",
    "sosfilt_bank",
    "sosfiltfilt_bank",
]


# ----------------------------------------------------------------------------- design


def _check_order(order) -> int:
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not 1 <= order <= 12:
        raise ValueError(f"order must be an integer between 1 and 12, got {order!r}")
    return int(order)


def _check_band(low_hz, high_hz, fs: float, name: str = "band") -> tuple[float, float]:
    try:
        lo, hi = float(low_hz), float(high_hz)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} edges must be numbers in Hz, got {low_hz!r}, {high_hz!r}"
        ) from None
    nyq = fs / 2.0
    if not (np.isfinite(lo) and np.isfinite(hi) and 0.0 < lo < hi < nyq):
        raise ValueError(
            f"{name} must satisfy 0 < low < high < fs/2 = {nyq:g} Hz, got ({low_hz!r}, {high_hz!r})"
        )
    return lo, hi


def design_bandpass_sos(low_hz: float, high_hz: float, fs: float, order: int = DEFAULT_ORDER):
    """Butterworth band-pass ``[low_hz, high_hz]`` (Hz) at ``fs`` Hz as sections.

    Returns a ``(order, 6)`` float64 array ``[b0, b1, b2, 1, a1, a2]`` per section
    (:func:`scipy.signal.butter` with ``btype="bandpass", output="sos"``).

    >>> design_bandpass_sos(8.0, 14.0, 128.0).shape
    (4, 6)
    """
    fs = check_fs(fs)
    order = _check_order(order)
    lo, hi = _check_band(low_hz, high_hz, fs)
    return _design(lo, hi, fs, order).copy()


@functools.lru_cache(maxsize=256)
def _design(lo: float, hi: float, fs: float, order: int) -> np.ndarray:
    def butter():  # scipy.signal only on a miss (kernels/design_cache.py says why)
        import scipy.signal

        return scipy.signal.butter(order, [lo, hi], btype="bandpass", fs=fs, output="sos")

    sos = cached_design(f"butter bandpass {order} {lo.hex()} {hi.hex()} {fs.hex()}", butter)
    sos.flags.writeable = False
    return sos


def _band_edges(bands) -> list[tuple[float, float]]:
    """``bands`` as ``(low, high)`` pairs; items may be ``(name, low, high)`` or ``(low, high)``."""
    if isinstance(bands, (str, bytes)) or not isinstance(bands, Sequence):
        raise ValueError(f"bands must be a sequence of (name, low_hz, high_hz), got {bands!r}")
    if len(bands) == 0:
        raise ValueError("bands must not be empty; give at least one (name, low_hz, high_hz)")
    edges = []
    for item in bands:
        if (
            isinstance(item, (str, bytes))
            or not isinstance(item, Sequence)
            or len(item) not in (2, 3)
        ):
            raise ValueError(f"each band must be (name, low_hz, high_hz), got {item!r}")
        edges.append((item[-2], item[-1]))
    return edges


def bandpass_bank_sos(bands, fs: float, order: int = DEFAULT_ORDER) -> np.ndarray:
    """A bank of Butterworth band-passes: ``(n_bands, order, 6)`` float64.

    ``bands`` holds ``(name, low_hz, high_hz)`` (or ``(low_hz, high_hz)``) items with
    ``0 < low < high < fs / 2``.
    """
    fs = check_fs(fs)
    order = _check_order(order)
    edges = [
        _check_band(lo, hi, fs, name=f"bands[{i}]") for i, (lo, hi) in enumerate(_band_edges(bands))
    ]
    return np.stack([_design(lo, hi, fs, order) for lo, hi in edges])


def filtfilt_padlen(sos: np.ndarray) -> int:
    """scipy.signal.sosfiltfilt's default ``padlen`` for one ``(n_sections, 6)`` filter."""
    sos = np.asarray(sos)
    n_zero = min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    return 3 * (2 * sos.shape[0] + 1 - n_zero)


def _check_sos_bank(sos_bank, name: str = "sos_bank") -> np.ndarray:
    arr = np.asarray(sos_bank)
    if arr.ndim != 3 or arr.shape[2] != 6 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have shape (n_bands, n_sections, 6), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating) and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be a real float array, got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite coefficients")
    if not np.all(arr[:, :, 3] == 1.0):
        raise ValueError(f"{name} must be normalised: a0 (column 3 of every section) must be 1")
    return _readonly(arr)


@functools.lru_cache(maxsize=64)
def _zi_cached(key: bytes, shape: tuple[int, int, int]) -> np.ndarray:
    sos_bank = np.frombuffer(key, dtype=np.float64).reshape(shape)

    def step_states():
        import scipy.signal

        return np.stack([scipy.signal.sosfilt_zi(sos) for sos in sos_bank])

    zi = cached_design(f"sosfilt_zi {hashlib.sha256(key).hexdigest()} {shape}", step_states)
    zi.flags.writeable = False
    return zi


def _bank_zi(sos_bank: np.ndarray) -> np.ndarray:
    """``(n_bands, n_sections, 2)`` step-response initial states (scipy.signal.sosfilt_zi)."""
    return _zi_cached(sos_bank.tobytes(), sos_bank.shape)


def _readonly(a: np.ndarray) -> np.ndarray:
    """A read-only C-contiguous copy. Numba compiles read-only and writable arrays
    separately; coefficient arrays (cached, shared) reach the kernels read-only, always."""
    a = np.array(a, dtype=np.float64, order="C")
    a.flags.writeable = False
    return a


def _lanes(n_channels: int) -> int:
    """Channels padded to whole vectors: the lane count of the kernels' rows."""
    return -(-n_channels // W) * W


# ----------------------------------------------------------------------------- vectors
# A ``Vec`` is an LLVM ``<W x double>`` SSA value. Numba's loop vectoriser only vectorises
# innermost loops over arrays, so filter state kept in an array is loaded and stored at
# every time step; state kept in ``Vec`` locals stays in vector registers across the
# whole time loop (two AVX-512 registers each for W = 16). LLVM splits the type to the
# host's vector width: the filter tests pass compiled for AVX-512, AVX2 (haswell) and
# baseline x86-64 (NUMBA_CPU_NAME=generic); NEON (Jetson) has not been run.
# Arithmetic is plain IEEE (fmul without fast-math flags; fma rounds once), so results
# do not depend on the optimiser. A CPU without FMA instructions (x86 before Haswell, or
# generic code) computes each fma in a libm call: still right, ~35x slower. Measured
# here (AMD Zen 5), band DE of 10 s x 14 channels x 4 bands takes ~85 µs compiled for
# AVX-512 and ~190 µs for AVX2 (the state no longer fits 16 registers), against ~170 and
# ~235 µs for the older array-state layout.
# vload/vstore take a C-contiguous float64 array and a flat element index and do NO
# bounds check: the kernels below compute every index from shapes they allocate or
# check. (They live here, not in a module of their own, because Numba's on-disk cache
# only notices changes to a kernel's own file.)

W = 16  # lanes per vector: 16 channels of one band


class _VecType(types.Type):
    def __init__(self) -> None:
        super().__init__(name=f"float64x{W}")


Vec = _VecType()
_LLVM_VEC = ir.VectorType(ir.DoubleType(), W)


@register_model(_VecType)
class _VecModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type) -> None:
        super().__init__(dmm, fe_type, _LLVM_VEC)


def _check_array(arr, what: str) -> None:
    if not (isinstance(arr, types.Array) and arr.dtype == types.float64 and arr.layout == "C"):
        raise TypingError(f"{what} needs a C-contiguous float64 array, got {arr}")


def _vec_pointer(context, builder, arr_type, arr, index):
    data = context.make_array(arr_type)(context, builder, arr).data
    return builder.bitcast(builder.gep(data, [index]), _LLVM_VEC.as_pointer())


@intrinsic
def vload(typingctx, arr, index):
    """``arr.flat[index : index + W]`` as a vector (no bounds check)."""
    _check_array(arr, "vload")
    sig = Vec(arr, types.intp)

    def codegen(context, builder, sig, args):
        return builder.load(_vec_pointer(context, builder, sig.args[0], args[0], args[1]), align=8)

    return sig, codegen


@intrinsic
def vstore(typingctx, arr, index, value):
    """``arr.flat[index : index + W] = value`` (no bounds check)."""
    _check_array(arr, "vstore")
    sig = types.void(arr, types.intp, Vec)

    def codegen(context, builder, sig, args):
        ptr = _vec_pointer(context, builder, sig.args[0], args[0], args[1])
        builder.store(args[2], ptr, align=8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def vsplat(typingctx, x):
    """A vector with every lane equal to ``x``."""
    sig = Vec(types.float64)

    def codegen(context, builder, sig, args):
        one = builder.insert_element(
            ir.Constant(ir.VectorType(ir.DoubleType(), 1), None),
            args[0],
            ir.Constant(ir.IntType(32), 0),
        )
        return builder.shuffle_vector(
            one, one, ir.Constant(ir.VectorType(ir.IntType(32), W), [0] * W)
        )

    return sig, codegen


@intrinsic
def vfma(typingctx, a, b, c):
    """``a * b + c`` rounded once, lane by lane."""
    sig = Vec(Vec, Vec, Vec)

    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_LLVM_VEC, [_LLVM_VEC] * 3), f"llvm.fma.v{W}f64"
        )
        return builder.call(fn, args)

    return sig, codegen


@intrinsic
def vmul(typingctx, a, b):
    """``a * b``, lane by lane."""
    sig = Vec(Vec, Vec)

    def codegen(context, builder, sig, args):
        return builder.fmul(args[0], args[1])

    return sig, codegen


# ----------------------------------------------------------------------------- kernels


@njit(cache=True)
def _odd_extend_rows(x, padlen, center, lanes, max_abs):
    """``(n + 2 padlen, lanes)``: channels of ``x`` as columns, odd-extended at both ends.

    With ``center`` each channel has its first sample subtracted: band-passes have zero
    DC gain and the extension and initial states are affine, so the filtered result is
    unchanged mathematically while large electrode offsets stop costing precision.
    Also returns the number of samples of ``x`` that are NaN or exceed ``max_abs`` in
    magnitude (``max_abs`` = the largest float counts NaN/inf). They are counted channel
    by channel in their own loop, which LLVM vectorises (1 µs for 14 x 1280 samples;
    counted inside the transposing loop they cost 3 µs). Rows are written one after another
    (reading the channels as 14 strided streams): ~20% faster than channel by channel.
    """
    n_ch, n = x.shape
    ext = np.zeros((n + 2 * padlen, lanes))
    off = np.zeros(n_ch)
    two_first = np.zeros(n_ch)
    two_last = np.zeros(n_ch)
    for c in range(n_ch):
        o = x[c, 0] if center else 0.0
        off[c] = o
        two_first[c] = 2.0 * (x[c, 0] - o)
        two_last[c] = 2.0 * (x[c, n - 1] - o)
    n_bad = 0
    for c in range(n_ch):
        xc = x[c]
        for i in range(n):
            n_bad += np.int64(not abs(xc[i]) <= max_abs)
    for t in range(padlen):
        row = ext[t]
        for c in range(n_ch):
            row[c] = two_first[c] - (x[c, padlen - t] - off[c])
    for i in range(n):
        row = ext[padlen + i]
        for c in range(n_ch):
            row[c] = x[c, i] - off[c]
    for i in range(padlen):
        row = ext[padlen + n + i]
        for c in range(n_ch):
            row[c] = two_last[c] - (x[c, n - 2 - i] - off[c])
    return ext, n_bad


_GROUP = 4  # sections per cascade pass: per sample, one load and one store for all four


@njit(cache=True)
def _cascade(src, src_at, src_step, dst, dst_at, dst_step, n, coef, s0, z, z_at):
    """Run sections ``s0 .. s0+3`` of ``coef`` over ``n`` vectors of ``W`` lanes.

    Vector ``i`` is read at flat index ``src_at + i * src_step`` of ``src`` and its output
    written at ``dst_at + i * dst_step`` of ``dst`` (steps may be negative; ``src`` may be
    ``dst``). ``z`` holds the transposed-direct-form-II states from flat index ``z_at``,
    ``(sections, 2, W)``: they are read once, kept in registers for the whole loop, and
    written back at the end, so each sample costs one vector load and one store for four
    sections. Each section computes scipy's ``sosfilt`` recurrence
    ``y = b0 x + z0; z0 = b1 x - a1 y + z1; z1 = b2 x - a2 y`` with fused multiply-adds.
    """
    b0, b1, b2 = vsplat(coef[s0, 0]), vsplat(coef[s0, 1]), vsplat(coef[s0, 2])
    a1, a2 = vsplat(-coef[s0, 4]), vsplat(-coef[s0, 5])
    c0, c1, c2 = vsplat(coef[s0 + 1, 0]), vsplat(coef[s0 + 1, 1]), vsplat(coef[s0 + 1, 2])
    c4, c5 = vsplat(-coef[s0 + 1, 4]), vsplat(-coef[s0 + 1, 5])
    d0, d1, d2 = vsplat(coef[s0 + 2, 0]), vsplat(coef[s0 + 2, 1]), vsplat(coef[s0 + 2, 2])
    d4, d5 = vsplat(-coef[s0 + 2, 4]), vsplat(-coef[s0 + 2, 5])
    e0, e1, e2 = vsplat(coef[s0 + 3, 0]), vsplat(coef[s0 + 3, 1]), vsplat(coef[s0 + 3, 2])
    e4, e5 = vsplat(-coef[s0 + 3, 4]), vsplat(-coef[s0 + 3, 5])
    zb0, zb1 = vload(z, z_at), vload(z, z_at + W)
    zc0, zc1 = vload(z, z_at + 2 * W), vload(z, z_at + 3 * W)
    zd0, zd1 = vload(z, z_at + 4 * W), vload(z, z_at + 5 * W)
    ze0, ze1 = vload(z, z_at + 6 * W), vload(z, z_at + 7 * W)
    for i in range(n):
        x = vload(src, src_at + i * src_step)
        y = vfma(b0, x, zb0)
        zb0 = vfma(a1, y, vfma(b1, x, zb1))
        zb1 = vfma(a2, y, vmul(b2, x))
        x = vfma(c0, y, zc0)
        zc0 = vfma(c4, x, vfma(c1, y, zc1))
        zc1 = vfma(c5, x, vmul(c2, y))
        y = vfma(d0, x, zd0)
        zd0 = vfma(d4, y, vfma(d1, x, zd1))
        zd1 = vfma(d5, y, vmul(d2, x))
        x = vfma(e0, y, ze0)
        ze0 = vfma(e4, x, vfma(e1, y, ze1))
        ze1 = vfma(e5, x, vmul(e2, y))
        vstore(dst, dst_at + i * dst_step, x)
    vstore(z, z_at, zb0)
    vstore(z, z_at + W, zb1)
    vstore(z, z_at + 2 * W, zc0)
    vstore(z, z_at + 3 * W, zc1)
    vstore(z, z_at + 4 * W, zd0)
    vstore(z, z_at + 5 * W, zd1)
    vstore(z, z_at + 6 * W, ze0)
    vstore(z, z_at + 7 * W, ze1)


@njit(cache=True)
def _grouped_count(n_sections):
    """``n_sections`` rounded up to whole groups of :data:`_GROUP` (the kernels' section count)."""
    return -(-n_sections // _GROUP) * _GROUP


@njit(cache=True)
def _grouped_sections(sos):
    """``sos`` ``(bands, sections, 6)`` padded with pass-through sections (``y = x``, state
    always zero) to a multiple of :data:`_GROUP` sections."""
    n_bands, n_sec, _ = sos.shape
    n_pad = _grouped_count(n_sec)
    coef = np.zeros((n_bands, n_pad, 6))
    # plain loops: Numba's slice assignment takes seconds to compile here
    for b in range(n_bands):
        for s in range(n_pad):
            if s < n_sec:
                for k in range(6):
                    coef[b, s, k] = sos[b, s, k]
            else:
                coef[b, s, 0] = 1.0
                coef[b, s, 3] = 1.0
    return coef


@njit(cache=True)
def _filter_lanes(src, src_at, src_step, dst, dst_at, dst_step, n, coef, z, z_at):
    """All sections of one band (``coef`` ``(sections, 6)``, grouped) over one group of
    ``W`` lanes: the first group of sections reads ``src``, the rest filter ``dst`` in place.
    """
    _cascade(src, src_at, src_step, dst, dst_at, dst_step, n, coef, 0, z, z_at)
    for s0 in range(_GROUP, coef.shape[0], _GROUP):
        _cascade(dst, dst_at, dst_step, dst, dst_at, dst_step, n, coef, s0, z, z_at + 2 * W * s0)


@njit(cache=True)
def _state_at(z, band, group):
    """Flat index of the states of ``band`` and lane ``group`` in ``z``
    ``(bands, lane groups, sections, 2, W)``."""
    return (band * z.shape[1] + group) * z.shape[2] * 2 * W


@njit(cache=True)
def _start_from(z, z_at, zi, x, x_at):
    """Set the ``(sections, 2, W)`` states from flat index ``z_at`` of ``z`` to ``zi``
    ``(sections, 2)`` times the vector at ``x_at`` of ``x``: scipy's ``sosfilt_zi`` start,
    the steady state for that constant input. Pass-through padding sections start (and
    stay) at rest."""
    n_sec = zi.shape[0]
    for s in range(n_sec):
        for k in range(2):
            for c in range(W):
                z[z_at + (2 * s + k) * W + c] = zi[s, k] * x[x_at + c]
    for i in range(z_at + 2 * W * n_sec, z_at + 2 * W * _grouped_count(n_sec)):
        z[i] = 0.0


@njit(cache=True)
def _filtfilt_rows(x, padlen, sos, zi, center, max_abs):
    """Zero-phase filter every band over every channel of ``x`` ``(channels, n)``.

    Returns ``(rows, n_bad)``: the ``(n, bands, lanes)`` result (lanes >= channels;
    extra lanes are junk) and the count of input samples that are NaN or above
    ``max_abs`` in magnitude (the result is garbage unless it is 0; callers raise). As
    scipy's ``sosfiltfilt``: each band runs forward over the odd-extended signal, then
    backward over its own output, each pass starting from ``zi`` scaled by that pass's
    first input sample.
    """
    n_ch, n = x.shape
    n_bands = sos.shape[0]
    lanes = -(-n_ch // W) * W
    ext, n_bad = _odd_extend_rows(x, padlen, center, lanes, max_abs)
    n_ext = ext.shape[0]
    width = n_bands * lanes
    buf = np.empty((n_ext, n_bands, lanes))
    flat_ext = ext.reshape(-1)
    flat_buf = buf.reshape(-1)
    coef = _grouped_sections(sos)
    z = np.empty((n_bands, lanes // W, coef.shape[1], 2, W))
    flat_z = z.reshape(-1)
    for b in range(n_bands):
        for g in range(lanes // W):
            z_at = _state_at(z, b, g)
            first = b * lanes + g * W
            last = (n_ext - 1) * width + first
            _start_from(flat_z, z_at, zi[b], flat_ext, g * W)
            _filter_lanes(
                flat_ext, g * W, lanes, flat_buf, first, width, n_ext, coef[b], flat_z, z_at
            )
            # backward in place; outputs left of the first kept sample would be discarded
            _start_from(flat_z, z_at, zi[b], flat_buf, last)
            _filter_lanes(
                flat_buf,
                last,
                -width,
                flat_buf,
                last,
                -width,
                n_ext - padlen,
                coef[b],
                flat_z,
                z_at,
            )
    return buf[padlen : padlen + n], n_bad


@njit(cache=True)
def _sosfilt_rows(x, sos, z):
    """Causal filtering of ``x`` ``(channels, n)`` from state ``z`` (updated in place;
    allocate it with :func:`_causal_state`). Returns ``(n, bands, lanes)``."""
    n_ch, n = x.shape
    n_bands = sos.shape[0]
    lanes = z.shape[1] * W
    # the vector loads do not check bounds: the state must be exactly what the kernel indexes
    n_pad = _grouped_count(sos.shape[1])
    if z.shape != (n_bands, z.shape[1], n_pad, 2, W) or lanes < n_ch:
        raise ValueError("filter state does not match the filters and channels")
    inp = np.zeros((n, lanes))
    for t in range(n):
        for c in range(n_ch):
            inp[t, c] = x[c, t]
    width = n_bands * lanes
    buf = np.empty((n, n_bands, lanes))
    flat_inp = inp.reshape(-1)
    flat_buf = buf.reshape(-1)
    coef = _grouped_sections(sos)
    flat_z = z.reshape(-1)
    for b in range(n_bands):
        for g in range(lanes // W):
            _filter_lanes(
                flat_inp,
                g * W,
                lanes,
                flat_buf,
                b * lanes + g * W,
                width,
                n,
                coef[b],
                flat_z,
                _state_at(z, b, g),
            )
    return buf


def _causal_state(n_bands: int, n_sections: int, n_channels: int) -> np.ndarray:
    """Filter state at rest for :func:`_sosfilt_rows`: ``(bands, lane groups, sections, 2, W)``."""
    n_pad = _grouped_count(n_sections)
    return np.zeros((n_bands, _lanes(n_channels) // W, n_pad, 2, W))


def _rows_to_bands(rows: np.ndarray, n_channels: int) -> np.ndarray:
    """``(n, bands, lanes)`` -> C-contiguous ``(bands, channels, n)``."""
    return np.ascontiguousarray(rows[:, :, :n_channels].transpose(1, 2, 0))


# ----------------------------------------------------------------------------- public


_FLOAT_MAX = float(np.finfo(np.float64).max)  # as a max_abs: count only NaN/inf


def sosfiltfilt_bank(x, sos_bank) -> np.ndarray:
    """Zero-phase filter every channel of ``x`` ``(channels, n)`` with every filter of the bank.

    Returns ``(bands, channels, n)`` float64, equal (to rounding) to
    ``np.stack([scipy.signal.sosfiltfilt(sos, x, axis=-1) for sos in sos_bank])`` with
    scipy's default odd padding of ``padlen`` samples and ``sosfilt_zi`` initial states.
    ``x`` needs more than ``padlen`` samples (27 for order-4 Butterworth band-passes).
    """
    sos_bank = _check_sos_bank(sos_bank)
    padlens = [filtfilt_padlen(sos) for sos in sos_bank]
    sig = as_signal(x, "x", ndim=2, min_samples=max(padlens) + 1)
    zi = _bank_zi(sos_bank)
    out = np.empty((sos_bank.shape[0], sig.shape[0], sig.shape[1]))
    # Filters with different padlen see differently extended inputs: run them by group.
    for padlen in sorted(set(padlens)):
        idx = [i for i, p in enumerate(padlens) if p == padlen]
        sos_g, zi_g = _readonly(sos_bank[idx]), _readonly(zi[idx])
        rows, _ = _filtfilt_rows(sig, padlen, sos_g, zi_g, False, _FLOAT_MAX)
        out[idx] = _rows_to_bands(rows, sig.shape[0])
    return out


def sosfilt_bank(x, sos_bank) -> np.ndarray:
    """Causal filtering of ``x`` ``(channels, n)`` by every filter of the bank, state at rest.

    Returns ``(bands, channels, n)``, equal to ``scipy.signal.sosfilt(sos, x, axis=-1)``
    per band (and to :class:`StreamingFilterBank` fed the same samples in any chunks).
    """
    sos_bank = _check_sos_bank(sos_bank)
    sig = as_signal(x, "x", ndim=2)
    z = _causal_state(sos_bank.shape[0], sos_bank.shape[1], sig.shape[0])
    return _rows_to_bands(_sosfilt_rows(sig, sos_bank, z), sig.shape[0])


class StreamingFilterBank:
    """Causal band-pass bank with state carried across chunks.

    ``StreamingFilterBank(sos_bank, n_channels).process(chunk)`` with ``chunk`` of shape
    ``(n_channels, n)`` returns ``(bands, n_channels, n)``; feeding a signal in any
    chunking gives the same samples as :func:`sosfilt_bank` on the whole signal (state
    starts at rest). Empty chunks (``n = 0``) are allowed and change nothing.
    """

    def __init__(self, sos_bank, n_channels: int) -> None:
        self.sos_bank = _check_sos_bank(sos_bank)
        self.n_channels = check_positive_int(n_channels, "n_channels")
        self.n_bands = self.sos_bank.shape[0]
        self._z = _causal_state(self.n_bands, self.sos_bank.shape[1], self.n_channels)
        self.samples_seen = 0

    def reset(self) -> None:
        """Return the filters to rest and the sample count to zero."""
        self._z[...] = 0.0
        self.samples_seen = 0

    def process(self, chunk) -> np.ndarray:
        """Filter the next ``(n_channels, n)`` samples; returns ``(bands, n_channels, n)``."""
        sig = as_signal(chunk, "chunk", ndim=2, min_samples=0)
        if sig.shape[0] != self.n_channels:
            raise ValueError(
                f"chunk must have {self.n_channels} channels (rows), got shape {sig.shape}"
            )
        out = _rows_to_bands(_sosfilt_rows(sig, self.sos_bank, self._z), self.n_channels)
        self.samples_seen += sig.shape[1]
        return out
