"""The adaptive stage, as Numba kernels: it corrects the network's mean and scale of each sub-pixel to the image
being coded, from the sub-pixels already coded, identically in the decoder (WEIGHTS.md, "Adaptive stage")."""

from collections import namedtuple

import numpy as np
from numba import njit

from lcodec.model.fixed_point import (
    ADAPT_BUCKETS, BIAS_CLAMP, COUNT_ONE, ERR_OCTAVE0, ERR_RATIO_BITS, LMS_CLAMP, LMS_FRAC, LMS_INIT, LMS_STEP,
    MU_FRAC, MU_MAX, MU_MIN, N_FEAT, RATIO_FRAC, RATIO_MAX, RATIO_MIN, bit_length,
)
from lcodec.model.mixture import mean, spread

# stats: per context the decayed (count, bias sum, |error| sum, mad sum); lms: per channel the LMS weights; errs:
# the errors of the current and previous row (slots y & 1 and (y + 1) & 1, at column + 1, zero borders); feat: the
# sub-pixel's features; memo: (bias context, mean, mad, bias, scale context) for `learn`.
AdaptState = namedtuple("AdaptState", "stats lms errs feat memo")


def adapt_state(cfg, w):
    """A fresh state for a tile w pixels wide."""
    lms = np.tile(np.array(LMS_INIT, np.int64), (cfg.channels, 1))
    stats = np.zeros((cfg.channels * ADAPT_BUCKETS * max(cfg.err_buckets, 1), 4), np.int64)
    return AdaptState(stats, lms, np.zeros((2, w + 2, cfg.channels), np.int64), np.zeros(N_FEAT, np.int64),
                      np.zeros(5, np.int64))


@njit(cache=True, nogil=True, inline="always")
def correct(st, y, x, ch, cfg, wts, mu, inv, scl):
    """Correct mu and inv of sub-pixel (y, x, ch) from what was coded before it."""
    stats, lms, errs, feat, memo = st.stats, st.lms, st.errs, st.feat, st.memo
    k = wts.shape[0]
    mm = mean(wts, mu)
    mad = spread(wts, mu, scl, mm)
    n = bit_length(mad)
    half = (mad >> (n - 2)) & 1 if n >= 2 else 0
    bucket = min(max(2 * n + half - 10, 0), ADAPT_BUCKETS - 1)
    ctx = ch * ADAPT_BUCKETS + bucket
    cur = y & 1
    up = cur ^ 1
    feat[0] = (stats[ctx, 1] << 8) // stats[ctx, 0] if stats[ctx, 0] > 0 else 0
    feat[1] = errs[cur, x, ch]
    feat[2] = errs[up, x + 1, ch]
    feat[3] = errs[up, x + 2, ch]
    feat[4] = errs[up, x, ch]
    feat[5] = errs[cur, x + 1, ch - 1] if ch > 0 else 0
    if cfg.lms_features > 6:  # the later features stay 0 otherwise, and so do their weights
        feat[6] = errs[cur, x + 1, ch - 2] if ch > 1 else 0
        feat[7] = errs[cur, x - 1, ch] if x > 0 else 0
        feat[8] = errs[up, x + 1, ch - 1] if ch > 0 else 0
        feat[9] = errs[cur, x, ch - 1] if ch > 0 else 0
    sctx = ctx
    n_err = cfg.err_buckets
    if n_err:  # scale context: also the octave of the neighbours' |errors| over what mad expects of them
        energy = abs(feat[1]) + abs(feat[2]) + ((abs(feat[3]) + abs(feat[4])) >> 1) + abs(feat[5])
        expect = 3 * mad + (mad if ch > 0 else 0)
        octave = bit_length((energy << ERR_RATIO_BITS) // (expect + 1)) - ERR_OCTAVE0
        sctx = ctx * n_err + min(max(octave, 0), n_err - 1)
    acc = np.int64(0)
    for i in range(N_FEAT):
        acc += lms[ch, i] * feat[i]
    bias = min(max(acc >> LMS_FRAC, -BIAS_CLAMP), BIAS_CLAMP)
    rf = np.int64(1) << RATIO_FRAC
    if stats[sctx, 2] > 0:
        rf = min(max((stats[sctx, 3] << RATIO_FRAC) // stats[sctx, 2], RATIO_MIN), RATIO_MAX)
    for i in range(k):
        mu[i] = min(max(mu[i] + bias, MU_MIN), MU_MAX)
        inv[i] = max((inv[i] * rf) >> RATIO_FRAC, 1)
    memo[0] = ctx
    memo[1] = mm
    memo[2] = mad
    memo[3] = bias
    memo[4] = sctx


@njit(cache=True, nogil=True, inline="always")
def learn(st, y, x, ch, v, shift):
    """Learn from the coded sub-pixel v: the contexts' decayed sums, the row of errors, the LMS weights."""
    stats, lms, errs, feat, memo = st.stats, st.lms, st.errs, st.feat, st.memo
    ctx = memo[0]
    sctx = memo[4]
    err = (np.int64(v) << MU_FRAC) - memo[1]
    res = err - memo[3]
    errs[y & 1, x + 1, ch] = err
    stats[ctx, 0] += COUNT_ONE - (stats[ctx, 0] >> shift)
    stats[ctx, 1] += err - (stats[ctx, 1] >> shift)
    stats[sctx, 2] += abs(res) - (stats[sctx, 2] >> shift)
    stats[sctx, 3] += memo[2] - (stats[sctx, 3] >> shift)
    if res != 0:
        step = LMS_STEP if res > 0 else -LMS_STEP
        for i in range(N_FEAT):
            if feat[i] != 0:
                lms[ch, i] = min(max(lms[ch, i] + (step if feat[i] > 0 else -step), -LMS_CLAMP), LMS_CLAMP)
