"""The logistic domain the mixing stage works in: squash, stretch and log2 as exact integer tables.

Probabilities of a bit are 16-bit integers, logits ("stretch") are in 1/256 nat. The tables are computed with
Python's decimal module, which rounds the same on every machine, so every probability is the same everywhere.
"""

import functools
from collections import namedtuple
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import numpy as np
from numba import njit

from lcodec.model.fixed_point import bit_length

P_BITS = 16          # coded probabilities: P(bit = 1) in [1, 2**16 - 1] / 2**16
ST_FRAC = 8          # stretch domain: logits in 1/256 nat...
ST_MAX = 4095        # ...clamped to +-16 nats
LOG_BITS = 10        # mantissa bits of the log2 table

Tables = namedtuple("Tables", "squash stretch log2 recip")


@functools.cache
def tables(limit):
    """squash (2 ST_MAX + 1 entries, 16-bit probability of stretch s - ST_MAX), stretch (4096 entries, of 12-bit
    probabilities j + 1/2), log2 (mantissa table, 16 fraction bits), recip (65536 / (n + 1.5) for counters with
    counts up to limit)."""
    with localcontext() as context:  # the caller's decimal settings must not change the tables
        context.prec = 40
        context.rounding = ROUND_HALF_EVEN
        one = Decimal(1)
        squash = np.empty(2 * ST_MAX + 1, np.int64)
        for i in range(ST_MAX + 1):
            p = int((Decimal(1 << P_BITS) / (one + (Decimal(-i) / (1 << ST_FRAC)).exp())).to_integral_value())
            p = min(max(p, 1), (1 << P_BITS) - 1)
            squash[ST_MAX + i] = p
            squash[ST_MAX - i] = (1 << P_BITS) - p
        stretch = np.empty(4096, np.int64)
        for j in range(2048):
            p = (Decimal(j) + Decimal("0.5")) / 4096
            s = int(((p / (one - p)).ln() * (1 << ST_FRAC)).to_integral_value())
            stretch[j], stretch[4095 - j] = s, -s
        log2 = np.array([int(((one + Decimal(m) / (1 << LOG_BITS)).ln() / Decimal(2).ln() * (1 << 16))
                             .to_integral_value()) for m in range(1 << LOG_BITS)], np.int64)
        recip = np.array([int((Decimal(1 << 16) / (Decimal(n) + Decimal("1.5"))).to_integral_value())
                          for n in range(limit + 1)], np.int64)
    return Tables(squash, stretch, log2, recip)


@njit(cache=True, nogil=True, inline="always")
def clamp_st(s):
    """A logit held to the stretch domain's +-ST_MAX."""
    return min(max(s, -ST_MAX), ST_MAX)


@njit(cache=True, nogil=True, inline="always")
def squash(s, lut):
    """P(bit = 1) in 1/65536 of a logit within +-ST_MAX."""
    return lut[s + ST_MAX]


@njit(cache=True, nogil=True, inline="always")
def log2(v, lut):
    """log2(v) in 1/65536 for 1 <= v < 2**32."""
    b = bit_length(v) - 1
    m = ((v << LOG_BITS) >> b) - (1 << LOG_BITS)
    return (np.int64(b) << 16) + lut[m]


@njit(cache=True, nogil=True, inline="always")
def stretch_ratio(n1, n0, lut):
    """The logit of a bit whose two outcomes have weights n1 and n0, clamped to +-ST_MAX: log2(n1 / n0) in 1/65536
    times 11629 / 2**22, which is 1.024 ln(n1 / n0) in 1/256 nat (the factor is a slip of the first version, fixed
    by the format: the mixers learn the network's scale anyway)."""
    return clamp_st(((log2(n1, lut) - log2(n0, lut)) * 11629) >> 22)
