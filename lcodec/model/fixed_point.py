"""The fixed-point units, bounds and lookup tables shared by the network, the mixture and the adaptive stage, and
their two integer helpers. WEIGHTS.md gives the meaning of each constant; these are the one definition."""

import numpy as np
from numba import njit

LOGIT_FRAC = 8    # logits in 1/256 nat
MU_FRAC = 8       # mu in 1/256 pixel
LOGS_FRAC = 8     # log scale in 1/256 nat
COEF_FRAC = 14    # channel-linear coefficients alpha, beta, gamma
INVS_FRAC = 16    # inverse scale
T_FRAC = MU_FRAC + INVS_FRAC   # logistic argument t = (edge - mu) * inv_s
SIG_BITS = 16     # sigmoid values in [0, 2**16]
MIXW_BITS = 16    # mixture weights sum to 2**16
F_BITS = SIG_BITS + MIXW_BITS
SIG_STEP_BITS = 6  # sigmoid table step 1/64
SIG_RANGE = 16     # sigmoid table covers t in [-16, 16]
SIG_LEN = 2 * SIG_RANGE * (1 << SIG_STEP_BITS) + 1
EXP_LEN = 16 * (1 << LOGIT_FRAC) + 1
OUT_CLAMP = 1 << 30
MU_MIN = -128 << MU_FRAC
MU_MAX = 384 << MU_FRAC
ACC_LIMIT = 1 << 31
PAIR_LANES = 8               # outputs per pairwise multiply-add in the kernels (8 int32 lanes)
ADAPT_BUCKETS = 24           # mad contexts per channel
MAD_C = 5678                 # round(2 ln 2 * 2**12): mean |x - mu| of a logistic is 2 ln 2 s
COUNT_ONE = 256              # one sample in the decayed count
ERR_RATIO_BITS = 6           # error energy over expected, in 1/64
ERR_OCTAVE0 = 3              # bit_length of that ratio below which the first error bucket starts
RATIO_FRAC = 16
RATIO_MIN, RATIO_MAX = 1 << 15, 1 << 17   # scale corrected by a factor in [0.5, 2]
LMS_FRAC = 12
LMS_INIT = (2048, 1024, 1024, 0, 0, 0, 0, 0, 0, 0)   # bias = (cb + (e_left + e_up) / 2) / 2 to start
N_FEAT = len(LMS_INIT)
LMS_FEATURES = (6, N_FEAT)   # the adaptive stage's feature counts: weight FORMAT 3's six, or all
LMS_STEP = 4
LMS_CLAMP = 1 << 16
BIAS_CLAMP = 1 << 16


def sigmoid_lut():
    """round(2**16 sigmoid(t)) at t = -16 + i/64; float64 once at export time, then stored as integers."""
    t = np.arange(SIG_LEN, dtype=np.float64) / (1 << SIG_STEP_BITS) - SIG_RANGE
    return np.round((1 << SIG_BITS) / (1.0 + np.exp(-t))).astype(np.int64)


def exp_lut():
    """round(2**16 exp(-i/256)); the last entry (exp(-16)) rounds to 0."""
    i = np.arange(EXP_LEN, dtype=np.float64)
    return np.round((1 << MIXW_BITS) * np.exp(-i / (1 << LOGIT_FRAC))).astype(np.int64)


def invs_lut(ls_min_q, ls_max_q):
    """round(2**16 exp(-log_s)) for log_s = ls_min_q/256 .. ls_max_q/256."""
    ls = np.arange(ls_min_q, ls_max_q + 1, dtype=np.float64) / (1 << LOGS_FRAC)
    return np.round((1 << INVS_FRAC) * np.exp(-ls)).astype(np.int64)


def scale_lut(ls_min_q, ls_max_q):
    """round(256 exp(log_s)): the scale in 1/256 pixel, for the adaptive stage."""
    ls = np.arange(ls_min_q, ls_max_q + 1, dtype=np.float64) / (1 << LOGS_FRAC)
    return np.round((1 << MU_FRAC) * np.exp(ls)).astype(np.int64)


@njit(cache=True, nogil=True, inline="always")
def bit_length(v):
    """Bits of v (0 for v <= 0), by bisection: per-sub-pixel code, no loop over the bits."""
    if v <= 0:
        return 0
    n = 0
    if v >= 1 << 32:
        v >>= 32
        n += 32
    if v >= 1 << 16:
        v >>= 16
        n += 16
    if v >= 1 << 8:
        v >>= 8
        n += 8
    if v >= 1 << 4:
        v >>= 4
        n += 4
    if v >= 1 << 2:
        v >>= 2
        n += 2
    if v >= 2:
        v >>= 1
        n += 1
    return n + v


@njit(cache=True, nogil=True, inline="always")
def requant(acc, m, s):
    """round(acc * m / 2**s), ties up, in int64 (|acc * m| < 2**62 by the weight-file bounds)."""
    return (np.int64(acc) * m + (np.int64(1) << (s - 1))) >> s
