"""Adaptive counters: a bit's probability in a context, learned from the bits seen there.

A counter is one uint32: the probability of a 1 in the top CTR_BITS bits (stored with its top bit flipped, so a
zeroed slot reads as 1/2) and the number of updates in the rest. Each bit moves the probability 1/(n + 1.5) of
the way to it, so a new context learns fast and an old one averages; n stops at the parameter set's limit, so
counts of that age keep adapting."""

import numpy as np
from numba import njit

CTR_BITS = 22
CTR_COUNT_MASK = (1 << (32 - CTR_BITS)) - 1
CTR_HALF = 1 << (CTR_BITS - 1)


@njit(cache=True, nogil=True, inline="always")
def stretch_of(s, stretch):
    """The counter's probability in the stretch domain (through its 12 top bits)."""
    return stretch[((s >> (32 - CTR_BITS)) ^ CTR_HALF) >> (CTR_BITS - 12)]


@njit(cache=True, nogil=True, inline="always")
def probability(s, p_bits):
    """The counter's probability of a 1 in p_bits bits, within [1, 2^p_bits - 1]."""
    p = np.int64((s >> (32 - CTR_BITS)) ^ CTR_HALF) >> (CTR_BITS - p_bits)
    return min(max(p, 1), (1 << p_bits) - 1)


@njit(cache=True, nogil=True, inline="always")
def update(s, bit, recip, limit):
    """The counter after coding bit: its probability moves 1/(n + 1.5) of the way, its count n goes up to limit."""
    p = np.int64((s >> (32 - CTR_BITS)) ^ CTR_HALF)
    n = np.int64(s & CTR_COUNT_MASK)
    p += ((((1 << CTR_BITS) - 1) if bit else 0) - p) * recip[n] >> 16
    return np.uint32(((p ^ CTR_HALF) << (32 - CTR_BITS)) | min(n + 1, limit))


@njit(cache=True, nogil=True, inline="always")
def stretch_nodes(slots, base, node, stretch, st):
    """st[1 + a]: the stretch of node `node` of bucket base[a] in table a, for every table."""
    for a in range(base.shape[0]):
        st[a + 1] = stretch_of(slots[a, base[a] + node], stretch)


@njit(cache=True, nogil=True, inline="always")
def update_nodes(slots, base, node, bit, recip, limit):
    """Node `node` of bucket base[a] in every table a, after coding bit."""
    for a in range(base.shape[0]):
        slots[a, base[a] + node] = update(slots[a, base[a] + node], bit, recip, limit)
