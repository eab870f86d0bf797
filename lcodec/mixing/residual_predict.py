"""The prediction of method RESIDUAL: eight causal predictors of a deep sample (and, in parameter set 2, the online
least-squares fit of `residual_ols`), blended by their recent errors around the pixel (the predictor that was right
nearby weighs most), plus a learned bias per small context. Values are in 1/16 of a sample, so the blend keeps a
fraction."""

import numpy as np
from numba import njit

from lcodec.model.fixed_point import bit_length

N_PREDICTORS = 9  # eight fixed, then the least-squares fit where the parameter set has it
BIAS_CONTEXTS = 27 * 20  # three neighbours' residual signs, by activity
BIAS_LIMIT = 64          # a bias context's count is halved here, so it follows drift


@njit(cache=True, nogil=True, inline="always")
def _at(img, y, x, ch):
    """A sample of the tile, its last column repeated to the right; 0 above or left of it."""
    if y < 0 or x < 0:
        return np.int64(0)
    return np.int64(img[y, min(x, img.shape[1] - 1), ch])


@njit(cache=True, nogil=True, inline="always")
def neighbours(img, y, x, ch, nb):
    """nb = W, N, NW, NE, WW, NN, NNE of sample (y, x, ch); outside the tile, the nearest of them inside."""
    w_, n_, nw, ne = _at(img, y, x - 1, ch), _at(img, y - 1, x, ch), _at(img, y - 1, x - 1, ch), _at(img, y - 1, x + 1, ch)
    ww, nn, nne = _at(img, y, x - 2, ch), _at(img, y - 2, x, ch), _at(img, y - 2, x + 1, ch)
    if x == 0:
        w_ = ww = nw = n_
    elif x == 1:
        ww = w_
    if y == 0:
        n_ = nw = ne = nn = nne = w_
    elif y == 1:
        nn, nne = n_, ne
    nb[0], nb[1], nb[2], nb[3], nb[4], nb[5], nb[6] = w_, n_, nw, ne, ww, nn, nne


@njit(cache=True, nogil=True, inline="always")
def predictions(img, y, x, ch, nb, p):
    """p: the eight predictions of sample (y, x, ch), in 1/16; from channel 1 on, two of them follow the earlier
    channel's step from its own neighbours."""
    w_, n_, nw, ne, ww, nn, nne = nb[0], nb[1], nb[2], nb[3], nb[4], nb[5], nb[6]
    p[0] = n_ * 16
    p[1] = w_ * 16
    p[2] = (w_ + n_ - nw) * 16
    p[3] = (n_ + ne - nne) * 16
    p[4] = (w_ + ne - n_) * 16
    p[5] = (w_ + n_) * 8 + (ne - nw) * 4
    p[6] = (w_ * 3 + ne * 3 + n_ * 2 - nw * 2 - ww - nn) * 4
    p[7] = ne * 16
    if ch > 0:
        x0, w0, n0, nw0 = (np.int64(img[y, x, ch - 1]), _at(img, y, x - 1, ch - 1), _at(img, y - 1, x, ch - 1),
                           _at(img, y - 1, x - 1, ch - 1))
        if x == 0:
            w0 = nw0 = n0
        if y == 0:
            n0 = nw0 = w0
        p[6] = (w_ + x0 - w0) * 8 + (n_ + x0 - n0) * 8
        p[7] = (w_ + n_ - nw + x0 - w0 - n0 + nw0) * 16


@njit(cache=True, nogil=True, inline="always")
def blend(err, esum, cur, up, y, x, ch, p, n, fit_weight):
    """(the blend of the first n predictions in 1/16, their smallest error sum): each weighs 2^32 / (e^2 + 1), e its
    errors at W, N, NW and NE (4 x W's on the first row), scaled down together so that the smallest stays under 2^10;
    the ninth's e is first multiplied by fit_weight / 16."""
    xr = min(x + 1, err.shape[1] - 3) + 1
    emin = np.int64(1) << 62
    for k in range(n):
        es = err[up, x + 1, ch, k] + err[cur, x, ch, k] + err[up, x, ch, k] + err[up, xr, ch, k] if y > 0 else \
            err[cur, x, ch, k] * 4
        esum[k] = es
        emin = min(emin, es)
    s = max(bit_length(emin) - 10, 0)
    num = np.int64(0)
    den = np.int64(0)
    for k in range(n):
        e = esum[k] >> s
        if k == 8:
            e = e * fit_weight >> 4
        wk = (np.int64(1) << 32) // (e * e + 1)
        num += wk * p[k]
        den += wk
    return (num + den // 2) // den, emin


@njit(cache=True, nogil=True, inline="always")
def learn(err, cur, x, ch, p, n, v):
    """Each of the n predictors' error at this sample, in whole samples, for the pixels to come."""
    for k in range(n):
        err[cur, x + 1, ch, k] = abs(v * 16 - p[k]) >> 4


@njit(cache=True, nogil=True, inline="always")
def bias(bsum, bcnt, ch, b):
    """The mean error of the blend seen in bias context b, in 1/16 (0 before any)."""
    return bsum[ch, b] // bcnt[ch, b] if bcnt[ch, b] > 0 else np.int64(0)


@njit(cache=True, nogil=True, inline="always")
def learn_bias(bsum, bcnt, ch, b, v, pb):
    """Context b after a sample v whose blend was pb (1/16)."""
    bsum[ch, b] += v * 16 - pb
    bcnt[ch, b] += 1
    if bcnt[ch, b] >= BIAS_LIMIT:
        bsum[ch, b] //= 2
        bcnt[ch, b] //= 2
