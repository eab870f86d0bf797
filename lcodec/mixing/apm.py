"""The APM (adaptive probability map, or SSE): a final refinement of the mixed probability, per small context.

Each context has a piecewise-linear map from the stretch domain to a probability, with APM_KNOTS knots every
2**APM_STEP_BITS; it starts as squash (no change) and learns where the mixer is over- or under-confident by moving
the two knots around the input towards the coded bit, each in proportion to its interpolation weight."""

import numpy as np
from numba import njit

from lcodec.mixing.logistic import P_BITS, ST_MAX

APM_STEP_BITS = 8
APM_KNOTS = 2 * (ST_MAX + 1) // (1 << APM_STEP_BITS) + 1


@njit(cache=True, nogil=True, inline="always")
def new_maps(n, squash):
    """n maps, each the identity: knot j at squash((j << APM_STEP_BITS) - ST_MAX - 1), clamped to the domain."""
    apm = np.empty((n, APM_KNOTS), np.int64)
    for j in range(APM_KNOTS):
        v = min(max((j << APM_STEP_BITS) - (ST_MAX + 1), -ST_MAX), ST_MAX)
        for s in range(n):
            apm[s, j] = squash[v + ST_MAX]
    return apm


@njit(cache=True, nogil=True, inline="always")
def refine(apm, a, s):
    """(probability, knot, fraction) of map a at logit s: the interpolation between knots j and j + 1."""
    ap = s + ST_MAX + 1
    j = ap >> APM_STEP_BITS
    f = ap & ((1 << APM_STEP_BITS) - 1)
    return (apm[a, j] * ((1 << APM_STEP_BITS) - f) + apm[a, j + 1] * f) >> APM_STEP_BITS, j, f


@njit(cache=True, nogil=True, inline="always")
def update(apm, a, j, f, bit, rate):
    """Map a after coding bit: knots j and j + 1 move towards it by 2**-rate, weighted by the interpolation."""
    target = ((1 << P_BITS) - 1) if bit else 0
    apm[a, j] += ((target - apm[a, j]) * ((1 << APM_STEP_BITS) - f)) >> (rate + APM_STEP_BITS)
    apm[a, j + 1] += ((target - apm[a, j + 1]) * f) >> (rate + APM_STEP_BITS)
