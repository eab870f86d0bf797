"""The network's distribution of one sub-pixel, as Numba kernels: a mixture of discretised logistics from the head
outputs (`mixture`), its integer CDF at any value (`cdf_at`), and the value whose interval holds a coder target
(`search`). Encoder, decoder and CDF tables all evaluate `cdf_at`, so they see identical CDFs."""

import numpy as np
from numba import njit

from lcodec.model.fixed_point import (
    COEF_FRAC, EXP_LEN, F_BITS, MAD_C, MIXW_BITS, MU_FRAC, MU_MAX, MU_MIN, SIG_RANGE, SIG_STEP_BITS, T_FRAC,
)

PRECISION = 24  # coder CDF precision: C(256) == 2**PRECISION

_COEF_SHIFT = COEF_FRAC - MU_FRAC
_SIG_SHIFT = T_FRAC - SIG_STEP_BITS
_SIG_MASK = (1 << _SIG_SHIFT) - 1
_SIG_OFFSET = SIG_RANGE << T_FRAC
_SIG_TOP = (2 * SIG_RANGE << T_FRAC) - 1
_F_SCALE = (1 << PRECISION) - 256
_TOTAL = 1 << PRECISION


@njit(cache=True, nogil=True, inline="always")
def mixture(out, ch, xr, xg, net, wts, mu, inv, scl):
    """Weights (sum 2**16), means (1/256 pixel), inverse scales and scales of channel ch; xr, xg = x_R - 128,
    x_G - 128."""
    c = net.cfg.channels
    k = net.cfg.n_mix
    ls_min = net.cfg.ls_min
    ls_max = net.cfg.ls_max
    base = 3 * k * ch
    cb = 3 * k * c
    lmax = out[base]
    first = 0
    for i in range(1, k):
        if out[base + i] > lmax:
            lmax = out[base + i]
            first = i
    total = np.int64(0)
    for i in range(k):
        d = min(lmax - out[base + i], EXP_LEN - 1)
        wts[i] = net.exp_lut[d]
        total += wts[i]
    rest = np.int64(1) << MIXW_BITS
    for i in range(k):
        wts[i] = (wts[i] << MIXW_BITS) // total
        rest -= wts[i]
    wts[first] += rest
    rnd = np.int64(1) << (_COEF_SHIFT - 1)
    for i in range(k):
        m = out[base + k + i]
        if ch == 1:
            m += (out[cb + i] * xr + rnd) >> _COEF_SHIFT
        elif ch == 2:
            m += (out[cb + k + i] * xr + out[cb + 2 * k + i] * xg + rnd) >> _COEF_SHIFT
        mu[i] = min(max(m, MU_MIN), MU_MAX)
        ls = min(max(out[base + 2 * k + i], ls_min), ls_max) - ls_min
        inv[i] = net.invs_lut[ls]
        scl[i] = net.scale_lut[ls]


@njit(cache=True, nogil=True, inline="always")
def cdf_at(v, wts, mu, inv, sig_lut):
    """C(v) for v in 0..256: strictly increasing, C(0) = 0, C(256) = 2**PRECISION."""
    if v <= 0:
        return np.int64(0)
    if v >= 256:
        return np.int64(_TOTAL)
    edge = (np.int64(v) << MU_FRAC) - (1 << (MU_FRAC - 1))
    f = np.int64(0)
    for i in range(wts.shape[0]):
        u = min(max((edge - mu[i]) * inv[i] + _SIG_OFFSET, 0), _SIG_TOP)
        j = u >> _SIG_SHIFT
        lo = sig_lut[j]
        f += wts[i] * (lo + (((sig_lut[j + 1] - lo) * (u & _SIG_MASK)) >> _SIG_SHIFT))
    return v + ((_F_SCALE * f) >> F_BITS)


@njit(cache=True, nogil=True, inline="always")
def mean(wts, mu):
    """The mixture's mean (1/256 pixel)."""
    mm = np.int64(0)
    for i in range(wts.shape[0]):
        mm += wts[i] * mu[i]
    return mm >> MIXW_BITS


@njit(cache=True, nogil=True, inline="always")
def spread(wts, mu, scl, mm):
    """The mixture's mean absolute deviation (1/256 pixel) around its mean mm, for contexts."""
    mad = np.int64(0)
    for i in range(wts.shape[0]):
        mad += wts[i] * (((scl[i] * MAD_C) >> 12) + abs(mu[i] - mm))
    return mad >> MIXW_BITS


@njit(cache=True, nogil=True, inline="always")
def search(target, wts, mu, inv, sig_lut):
    """(v, C(v), C(v + 1)) with C(v) <= target < C(v + 1). Gallops out from the mixture mean, then bisects:
    a sub-pixel a few values from its prediction costs about 4 evaluations of C instead of 8."""
    v0 = min(max((mean(wts, mu) + (1 << (MU_FRAC - 1))) >> MU_FRAC, 0), 255)
    c0 = cdf_at(v0, wts, mu, inv, sig_lut)
    step = 1
    if c0 <= target:  # the symbol is v0 or above: widen [lo, hi) upwards
        lo, c_lo = v0, c0
        hi, c_hi = 256, np.int64(_TOTAL)
        while lo + step < 256:
            c = cdf_at(lo + step, wts, mu, inv, sig_lut)
            if c > target:
                hi, c_hi = lo + step, c
                break
            lo, c_lo = lo + step, c
            step <<= 1
    else:  # below v0: widen downwards
        hi, c_hi = v0, c0
        lo, c_lo = 0, np.int64(0)
        while hi - step > 0:
            c = cdf_at(hi - step, wts, mu, inv, sig_lut)
            if c <= target:
                lo, c_lo = hi - step, c
                break
            hi, c_hi = hi - step, c
            step <<= 1
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        cm = cdf_at(mid, wts, mu, inv, sig_lut)
        if cm <= target:
            lo, c_lo = mid, cm
        else:
            hi, c_hi = mid, cm
    return lo, c_lo, c_hi
