"""Online least squares for method RESIDUAL: a linear predictor of a deep sample from 18 causal neighbours (and the
pixel's earlier channels), fitted to the samples already coded with exponential forgetting. The fit runs in integers:
the normal equations are kept as sums that forget 2^-shift of themselves per update, and are solved by one
Gauss-Seidel sweep per update, starting from the last weights, so the weights follow the image as it changes."""

import numpy as np
from numba import njit

N_MAX = 24            # 18 neighbours + 2 per earlier channel (up to 3)
W_FRAC = 14           # weights in 1/2^14
W_LIMIT = 8 << W_FRAC
D_LIMIT = 1 << 15     # differences (and targets) are clamped here, so the sums stay far inside int64

# (dy, dx) of the 18 neighbours, each taken as its difference from W (0, -1)
OFFSETS = ((-1, 0), (-1, -1), (-1, 1), (0, -2), (-2, 0), (-2, 1), (-2, -1), (-1, -2), (-1, 2), (0, -3), (-2, 2),
           (-2, -2), (-3, 0), (-3, 1), (-3, -1), (-1, -3), (-1, 3), (0, -4))
_DY = np.array([o[0] for o in OFFSETS], np.int64)
_DX = np.array([o[1] for o in OFFSETS], np.int64)


def new_state(c):
    """(sums A (c, N_MAX, N_MAX), sums b (c, N_MAX), weights (c, N_MAX), features (N_MAX)) of c channels (0 where a
    parameter set has no fit): all zero."""
    return (np.zeros((c, N_MAX, N_MAX), np.int64), np.zeros((c, N_MAX), np.int64), np.zeros((c, N_MAX), np.int64),
            np.zeros(N_MAX, np.int64))


@njit(cache=True, nogil=True, inline="always")
def features(img, y, x, ch, f):
    """(n, reference W): f[:n] the neighbours' differences from W, then for each earlier channel k the differences of
    its sample at (y, x) from its W and N; n = 0 (the prediction is W, or N in column 0) where y < 3 or x < 4.
    Columns right of the tile read its last column."""
    w = img.shape[1]
    if y < 3 or x < 4:
        return 0, (np.int64(img[y, x - 1, ch]) if x > 0 else np.int64(img[y - 1, x, ch]) if y > 0 else np.int64(0))
    ref = np.int64(img[y, x - 1, ch])
    for k in range(_DY.shape[0]):
        f[k] = np.int64(img[y + _DY[k], min(x + _DX[k], w - 1), ch]) - ref
    n = _DY.shape[0]
    for c0 in range(ch):
        x0 = np.int64(img[y, x, c0])
        f[n] = x0 - np.int64(img[y, x - 1, c0])
        f[n + 1] = x0 - np.int64(img[y - 1, x, c0])
        n += 2
    for k in range(n):
        f[k] = min(max(f[k], -D_LIMIT), D_LIMIT)
    return n, ref


@njit(cache=True, nogil=True, inline="always")
def predict(wts, f, n, ch, ref):
    """The fit's prediction, in 1/16 of a sample: 16 W + (sum of weight x difference) / 2^10, floored."""
    s = np.int64(0)
    for k in range(n):
        s += wts[ch, k] * f[k]
    return ref * 16 + (s >> (W_FRAC - 4))


@njit(cache=True, nogil=True, inline="always")
def learn(a, b, wts, f, n, ch, t, shift):
    """The sums after a sample whose value is t above W, then one Gauss-Seidel sweep of the weights towards their
    solution (each diagonal damped by 1/32, and a weight stays within +-8)."""
    t = min(max(t, -D_LIMIT), D_LIMIT)
    for i in range(n):
        fi = f[i]
        for j in range(i, n):
            a[ch, i, j] += fi * f[j] - (a[ch, i, j] >> shift)
        b[ch, i] += fi * t - (b[ch, i] >> shift)
    for i in range(n):
        r = b[ch, i] << W_FRAC
        for j in range(n):
            r -= (a[ch, i, j] if j >= i else a[ch, j, i]) * wts[ch, j]
        d = a[ch, i, i]
        if d > 0:
            wts[ch, i] = min(max(wts[ch, i] + r // (d + (d >> 5) + 1), -W_LIMIT), W_LIMIT)
