"""The context set of planes coded without the network, at any sample depth (1 to 16 bits): neighbours of the same
channel, the pixel's earlier channels and a gradient predictor, as exact values where samples are narrow and as
their top 8 bits where they are deep."""

import numpy as np
from numba import njit

from lcodec.model.fixed_point import bit_length

NAMES = ("w", "n", "w_n", "w_n_nw_ne", "pred", "ww_w_nn_n", "grads", "earlier", "template", "nw_n_ne_nne")


@njit(cache=True, nogil=True, inline="always")
def predict(w_, n_, nw):
    """The median edge detector (LOCO-I): W or N at an edge, else the plane W + N - NW."""
    if nw >= max(w_, n_):
        return min(w_, n_)
    if nw <= min(w_, n_):
        return max(w_, n_)
    return w_ + n_ - nw


@njit(cache=True, nogil=True, inline="always")
def _at(img, y, x, ch):
    """A sample of the tile; 0 outside it."""
    if y < 0 or x < 0 or x >= img.shape[1]:
        return np.int64(0)
    return np.int64(img[y, x, ch])


@njit(cache=True, nogil=True, inline="always")
def compute(img, y, x, ch, bits, ctx):
    """Every context of sample (y, x, ch) into ctx (len(NAMES)); returns the predicted value."""
    q = max(bits - 8, 0)  # deep samples: contexts of their top 8 bits
    w_, n_, nw, ne = _at(img, y, x - 1, ch), _at(img, y - 1, x, ch), _at(img, y - 1, x - 1, ch), _at(img, y - 1, x + 1, ch)
    ww, nn, nne = _at(img, y, x - 2, ch), _at(img, y - 2, x, ch), _at(img, y - 2, x + 1, ch)
    pv = predict(w_, n_, nw)
    qw, qn, qnw, qne = w_ >> q, n_ >> q, nw >> q, ne >> q
    ctx[0] = qw
    ctx[1] = qn
    ctx[2] = qw << 8 | qn
    ctx[3] = ((qw << 8 | qn) << 8 | qnw) << 8 | qne
    ctx[4] = pv >> q
    ctx[5] = ((ww >> q) << 8 | qw) << 16 | (nn >> q) << 8 | qn
    ctx[6] = (bit_length(abs(w_ - nw)) << 5 | bit_length(abs(n_ - nw))) << 5 | bit_length(abs(ne - n_))
    earlier = np.int64(0)  # the pixel's three nearest earlier channels
    for p in range(max(ch - 3, 0), ch):
        earlier = earlier << 8 | (np.int64(img[y, x, p]) >> q)
    ctx[7] = (earlier << 8 | qw) << 4 | min(ch, 15)
    t = np.int64(0)  # a template of 12 neighbours' lowest bits: the bilevel contexts of JBIG
    for dy, dx in ((0, -1), (0, -2), (0, -3), (0, -4), (-1, -2), (-1, -1), (-1, 0), (-1, 1), (-1, 2), (-2, -1),
                   (-2, 0), (-2, 1)):
        t = t << 1 | (_at(img, y + dy, x + dx, ch) & 1)
    ctx[8] = t << 8 | (pv >> q) if bits > 1 else t
    ctx[9] = ((qnw << 8 | qn) << 8 | qne) << 8 | (nne >> q)
    return pv
