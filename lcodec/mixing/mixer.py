"""The mixers: online logistic regression over the inputs' logits, two layers.

The first layer has several weight sets, each row chosen per decision by a small context (a "selected weight
set"); each gives a logit, sum(w_i st_i) >> 16 (weights in 1/65536), and learns from the coded bit by gradient
descent on coding cost, skipped when its error is within `quiet` (the update would be noise). The final mixer
weighs the first layer's logits with one set per (channel, bit)."""

import numpy as np
from numba import njit

from lcodec.mixing.logistic import P_BITS, ST_MAX, clamp_st

WEIGHT_ONE = 1 << 16
W_CLAMP = 1 << 24    # weights stay within +-256
SETS = 3             # rows of the first layer selected per decision


@njit(cache=True, nogil=True, inline="always")
def new_sets(rows, n_in):
    """rows weight sets of n_in inputs: the first input (the network) at weight 1, the others at 0."""
    weights = np.zeros((rows, n_in), np.int32)
    for s in range(rows):
        weights[s, 0] = WEIGHT_ONE
    return weights


@njit(cache=True, nogil=True, inline="always")
def new_final(rows):
    """rows final mixers, each weighing the SETS first-layer logits equally."""
    return np.full((rows, SETS), WEIGHT_ONE // SETS, np.int64)


@njit(cache=True, nogil=True, inline="always")
def dot(weights, sel, st, n_in, sm):
    """The logits sm[m] = clamp(sum_i w[sel[m], i] st[i] >> 16) of the SETS selected rows, in one pass over the
    inputs."""
    r0 = weights[sel[0]]
    r1 = weights[sel[1]]
    r2 = weights[sel[2]]
    d0 = d1 = d2 = np.int64(0)
    for i in range(n_in):
        xi = np.int64(st[i])
        d0 += r0[i] * xi
        d1 += r1[i] * xi
        d2 += r2[i] * xi
    sm[0] = clamp_st(d0 >> 16)
    sm[1] = clamp_st(d1 >> 16)
    sm[2] = clamp_st(d2 >> 16)


@njit(cache=True, nogil=True, inline="always")
def train(weights, sel, st, n_in, sm, bit, squash, lr, lr_shift, quiet):
    """Each selected row after coding bit: w_i += st_i ((err lr) >> 10) >> (lr_shift - 10), err = bit - p in 1/65536,
    held to +-W_CLAMP; rows whose |err| <= quiet stay."""
    for m in range(SETS):
        err = (bit << P_BITS) - squash[sm[m] + ST_MAX]
        if abs(err) > quiet:
            row = weights[sel[m]]
            ek = np.int32((err * lr) >> 10)
            for i in range(n_in):
                row[i] = min(max(row[i] + ((st[i] * ek) >> np.int32(lr_shift - 10)), -W_CLAMP), W_CLAMP)


@njit(cache=True, nogil=True, inline="always")
def final_dot(final, s, sm):
    """The final mixer's logit of the first layer's: clamp(sum_m w[s, m] sm[m] >> 16)."""
    acc = np.int64(0)
    for m in range(SETS):
        acc += final[s, m] * sm[m]
    return clamp_st(acc >> 16)


@njit(cache=True, nogil=True, inline="always")
def final_train(final, s, sm, err, lr2, lr_shift):
    """Set s of the final mixer after an error err (bit - p, 1/65536): w_m += (sm_m err lr2) >> lr_shift."""
    for m in range(SETS):
        final[s, m] += (sm[m] * err * lr2) >> lr_shift
