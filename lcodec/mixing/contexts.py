"""The context set: what the counters of a sub-pixel are keyed by, each context by name.

Every context is a function of what the decoder already has: the tile's pixels coded before this sub-pixel (its
causal neighbours W, N, NW, NE, WW, NN in the same channel, the same pixel's earlier channels), the network's
predicted value pv, and the errors of the adaptive stage. A parameter set names the contexts it uses (FORMAT.md
section 4.1 defines each); `compute` fills every context's value, the tile loop hashes the active ones."""

import numpy as np
from numba import njit

from lcodec.model.fixed_point import bit_length

NAMES = (
    "w_n", "near_w", "pv", "pos_pv", "w_n_nw_ne", "grad_pv_w_n", "plane_x0", "ww_nn_w_n", "pred_w", "pred_n",
    "pred_mean_pv_x", "pv_errors", "pred_ne_pv", "pred_sum", "pred_w_n", "near_n", "near_ne", "near_pv",
    "near_pred_w",
)
INDEX = {name: i for i, name in enumerate(NAMES)}
MIN_RADIUS = 3  # the contexts (and the match model) read up to three pixels left and two rows up


def mask_of(names):
    """The bit mask of a set of context names (bit i: context NAMES[i])."""
    unknown = set(names) - set(INDEX)
    if unknown:
        raise ValueError(f"unknown contexts {sorted(unknown)}")
    return sum(1 << INDEX[n] for n in set(names))


def names_of(mask):
    """The context names of a bit mask, in NAMES order."""
    return tuple(n for i, n in enumerate(NAMES) if (mask >> i) & 1)


@njit(cache=True, nogil=True, inline="always")
def active(mask):
    """The indices of the contexts a mask selects, in order."""
    n = 0
    for i in range(len(NAMES)):
        n += (mask >> i) & 1
    act = np.zeros(n, np.int64)
    n = 0
    for i in range(len(NAMES)):
        if (mask >> i) & 1:
            act[n] = i
            n += 1
    return act


@njit(cache=True, nogil=True, inline="always")
def _errq(e):
    """An error of the adaptive stage (1/256 pixel) quantised to 16 levels, finer near zero."""
    a = abs(e) >> 7
    q = min(bit_length(a), 7)
    return q + 8 if e < 0 else q


@njit(cache=True, nogil=True, inline="always")
def compute(pad, errs, y, x, ch, r, pv, ctx):
    """Every context of sub-pixel (y, x, ch) into ctx (len(NAMES)), from the padded tile (samples - 128; 128
    outside the tile), the adaptive stage's error rows errs and the network's value pv."""
    yy = y + r
    xx = x + r
    w_ = np.int64(pad[yy, xx - 1, ch]) + 128
    n_ = np.int64(pad[yy - 1, xx, ch]) + 128
    nw = np.int64(pad[yy - 1, xx - 1, ch]) + 128
    ne = np.int64(pad[yy - 1, xx + 1, ch]) + 128
    ww = np.int64(pad[yy, xx - 2, ch]) + 128
    nn = np.int64(pad[yy - 2, xx, ch]) + 128
    cur = y & 1
    up = cur ^ 1
    if ch > 0:
        p = ch - 1
        xp = np.int64(pad[yy, xx, p]) + 128
        wp = np.int64(pad[yy, xx - 1, p]) + 128
        np_ = np.int64(pad[yy - 1, xx, p]) + 128
        nep = np.int64(pad[yy - 1, xx + 1, p]) + 128
        x0 = np.int64(pad[yy, xx, 0]) + 128
        x1 = np.int64(pad[yy, xx, 1]) + 128 if ch > 1 else 256
        cw = min(max(w_ + xp - wp, 0), 255)
        cn = min(max(n_ + xp - np_, 0), 255)
        cne = min(max(ne + xp - nep, 0), 255)
        near = (x0 << 9) | x1
        eq = _errq(errs[cur, x + 1, p]) << 4 | _errq(errs[cur, x + 1, 0])
        if ch > 1:
            w0 = np.int64(pad[yy, xx - 1, 0]) + 128
            n0 = np.int64(pad[yy - 1, xx, 0]) + 128
            c2 = min(max(w_ + (xp - wp + x0 - w0) // 2, 0), 255) + min(max(n_ + (xp - np_ + x0 - n0) // 2, 0), 255)
        else:
            c2 = cw + cn
    else:
        x0 = 256
        cw = min(max(w_ + n_ - nw, 0), 255)
        cn = min(max((w_ + ne + 1) >> 1, 0), 255)
        cne = min(max(ne + n_ - np.int64(pad[yy - 2, xx + 1, ch]) - 128, 0), 255)
        near = ((n_ >> 2) << 6) | (ne >> 2)
        eq = _errq(errs[cur, x, ch]) << 4 | _errq(errs[up, x + 1, ch])
        c2 = cw + cn
    grad = bit_length(abs(w_ - nw) + abs(n_ - nw) + abs(ne - n_))
    ctx[0] = (w_ << 8) | n_                                            # w_n
    ctx[1] = (near << 6) | (w_ >> 2)                                   # near_w
    ctx[2] = pv                                                        # pv
    ctx[3] = (((x & 7) << 3 | (y & 7)) << 5) | (pv >> 3)               # pos_pv
    ctx[4] = (((w_ << 8 | n_) << 8 | nw) << 8) | ne                    # w_n_nw_ne
    ctx[5] = ((grad << 10 | (pv - w_ + 512)) << 10) | (pv - n_ + 512)  # grad_pv_w_n
    ctx[6] = (min(max(w_ + n_ - nw, -256), 511) + 256) << 9 | (x0 >> 3)  # plane_x0
    ctx[7] = (((ww << 8 | nn) << 8 | w_) << 8) | n_                    # ww_nn_w_n
    ctx[8] = cw                                                        # pred_w
    ctx[9] = cn                                                        # pred_n
    ctx[10] = ((((cw + cn) >> 1) << 6 | (pv >> 2)) << 3) | (x & 7)     # pred_mean_pv_x
    ctx[11] = (pv << 8) | eq                                           # pv_errors
    ctx[12] = (cne << 6) | (pv >> 2)                                   # pred_ne_pv
    ctx[13] = c2                                                       # pred_sum
    ctx[14] = ((cw >> 1) << 7) | (cn >> 1)                             # pred_w_n
    ctx[15] = (near << 6) | (n_ >> 2)                                  # near_n
    ctx[16] = (near << 6) | (ne >> 2)                                  # near_ne
    ctx[17] = (near << 7) | (pv >> 1)                                  # near_pv
    ctx[18] = (near << 7) | (cw >> 1)                                  # near_pred_w
