"""The contexts of method RESIDUAL: how large the residuals around a deep sample were (its activity), their signs,
where the neighbours and the other predictors lie from the prediction, and the prediction's intensity."""

import numpy as np
from numba import njit

from lcodec.model.fixed_point import bit_length

NAMES = ("activity", "activity_signs", "w_n_residuals", "agreement", "intensity", "far_residuals", "w_n_offsets",
         "channel", "grad_offsets", "plane_offsets", "log_intensity", "fit_offset")  # the last in parameter sets with the fit
LEVELS = 20  # activity levels


@njit(cache=True, nogil=True, inline="always")
def _signed_log(v, drop):
    """sign(v) * bl(|v| >> drop) + 20: a signed magnitude class, 0 .. 40."""
    return (1 if v > 0 else -1 if v < 0 else 0) * bit_length(abs(v) >> drop) + 20


@njit(cache=True, nogil=True, inline="always")
def activity(res, cur, up, x, ch):
    """(Q, the signs of W's, N's and NW's residuals as 0 .. 26): Q = bl(|rW| + |rN| + (|rNW| + |rNE|) / 2),
    at most LEVELS - 1."""
    xr = min(x + 1, res.shape[1] - 3) + 1
    rw, rn, rnw, rne = res[cur, x, ch], res[up, x + 1, ch], res[up, x, ch], res[up, xr, ch]
    e = abs(rw) + abs(rn) + (abs(rnw) + abs(rne)) // 2
    sg = (np.sign(rw) + 1) * 9 + (np.sign(rn) + 1) * 3 + np.sign(rnw) + 1
    return min(bit_length(e), LEVELS - 1), np.int64(sg), e


@njit(cache=True, nogil=True, inline="always")
def compute(res, cur, up, up2, y, x, ch, bits, nb, p, n, big_p, emin, e, q, sg, ctx):
    """Every context of a sample predicted as big_p into ctx (len(NAMES)); p[:n] the predictions, the ninth (if n is
    9) the least-squares fit's."""
    xr = min(x + 1, res.shape[1] - 3) + 1
    rw, rn, rnw, rne = res[cur, x, ch], res[up, x + 1, ch], res[up, x, ch], res[up, xr, ch]
    rww = res[cur, max(x - 1, 0), ch]
    e2 = 2 * e + abs(rww) + abs(res[up2, x + 1, ch]) if y > 1 else 3 * e
    b2 = bit_length(e2)
    qf = b2 * 2 + ((e2 >> (b2 - 2)) & 1 if b2 >= 2 else 0)  # half-octave activity, over WW and NN too
    pmax, pmin = p[0], p[0]
    for k in range(1, n):
        pmax, pmin = max(pmax, p[k]), min(pmin, p[k])
    bp = bit_length(big_p)
    lp = bp * 4 + ((big_p >> (bp - 3)) & 3 if bp >= 3 else big_p & 3)
    ctx[0] = qf
    ctx[1] = qf * 27 + sg
    ctx[2] = bit_length(abs(rw)) * 32 + bit_length(abs(rn)) + (ch << 12)
    ctx[3] = bit_length(emin) * 32 + bit_length((pmax - pmin) >> 4)
    ctx[4] = (big_p >> max(bits - 6, 0)) * 32 + (q >> 1) + (ch << 12)
    ctx[5] = ((bit_length(abs(rnw)) * 32 + bit_length(abs(rne))) * 32 + bit_length(abs(rww))) * 4 + ch
    ctx[6] = (_signed_log(nb[0] - big_p, 0) * 64 + _signed_log(nb[1] - big_p, 0)) * 4 + ch
    ctx[7] = min(bit_length(abs(rw if ch == 0 else res[cur, x + 1, ch - 1])), 15)
    ctx[8] = (_signed_log(p[2] - big_p * 16, 3) * 64 + _signed_log(p[3] - big_p * 16, 3)) * 4 + ch
    ctx[9] = (_signed_log(p[4] - big_p * 16, 3) * 64 + _signed_log(p[6] - big_p * 16, 3)) * 4 + ch
    ctx[10] = (lp * 32 + (q >> 1)) * 4 + ch + (np.int64(min(nb[0], nb[1]) == 0) << 20)
    if n > 8:
        ctx[11] = (_signed_log(p[8] - big_p * 16, 2) * 32 + (q >> 1)) * 4 + ch
