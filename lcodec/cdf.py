"""Float probabilities to integer CDFs: the one place floats become coder input.

Each symbol gets 1 + floor(p * (2**P - K) / sum(p)) counts (so none is impossible), and the few counts
left over by the floors go to the most probable symbol, where they cost least. Only IEEE-754 additions,
multiplications, one division and floors are used, in a fixed order, so from probabilities the result
is identical on every platform; from logits it also depends on the platform's exp().
"""

import math

import numpy as np
from numba import njit

from lcodec.coder import check_precision
from lcodec.errors import InvalidInputError

# Rounding error in the row sum stays below one count only for alphabets up to 2**20 at 32 bits.
MAX_SYMBOLS = 1 << 20

@njit(cache=True, nogil=True)
def _row_weights(x, logits, w):
    """Write the nonnegative weights of one row into w; return their sum, or -1.0 if the row is invalid."""
    k = x.shape[0]
    bad = False  # flagged rather than returned early: an exit inside the loop makes it several times slower
    if logits:
        m = -math.inf
        for j in range(k):
            v = np.float64(x[j])
            bad |= v != v or v == math.inf
            m = max(m, v)
        if bad or m == -math.inf:
            return -1.0
        for j in range(k):
            w[j] = math.exp(np.float64(x[j]) - m)
    else:
        for j in range(k):
            v = np.float64(x[j])
            bad |= not (0.0 <= v < math.inf)
            w[j] = v
        if bad:
            return -1.0
    # Eight partial sums in a fixed order: deterministic, yet not one long chain of dependent additions.
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    full = k - k % 8
    for j in range(0, full, 8):
        a0 += w[j]
        a1 += w[j + 1]
        a2 += w[j + 2]
        a3 += w[j + 3]
        a4 += w[j + 4]
        a5 += w[j + 5]
        a6 += w[j + 6]
        a7 += w[j + 7]
    for j in range(full, k):
        a0 += w[j]
    total = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
    if not (0.0 < total < math.inf):
        return -1.0
    return total


@njit(cache=True, nogil=True)
def _quantize_rows(x, precision, logits, out):
    """Fill out (N, K+1) with CDFs; return the index of the first invalid row, or -1."""
    n, k = x.shape
    total_count = np.int64(1) << precision
    spare = total_count - k
    w = np.empty(k)
    for i in range(n):
        total = _row_weights(x[i], logits, w)
        if total < 0.0:
            return i
        scale = spare / total
        acc = np.int64(0)
        best = 0
        best_count = np.int64(0)
        out[i, 0] = 0
        for j in range(k):
            c = np.int64(1) + np.int64(math.floor(w[j] * scale))
            if c > best_count:
                best = j
                best_count = c
            acc += c
            out[i, j + 1] = acc
        for j in range(best + 1, k + 1):
            out[i, j] += total_count - acc
    return -1


def quantize(probs, precision, *, logits=False):
    """Integer CDFs (..., K+1) from probabilities (..., K) (or logits): C(0) = 0, C(K) = 2**precision,
    every symbol at least one count.

    Rows need not sum to 1; they must be finite, nonnegative and not all zero (logits: no NaN or +inf,
    not all -inf). The result is uint32 for precision <= 31 and int64 for 32 (2**32 needs 33 bits).
    """
    precision = check_precision(precision)
    x = np.asarray(probs)
    if x.ndim < 1 or x.shape[-1] < 1:
        raise InvalidInputError(f"probs must have a last axis of K >= 1 symbols, got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise InvalidInputError(f"probs must be real numbers, got {x.dtype}")
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    k = x.shape[-1]
    if k > min(1 << precision, MAX_SYMBOLS):
        raise InvalidInputError(
            f"{k} symbols do not fit a {precision}-bit CDF (at most {min(1 << precision, MAX_SYMBOLS)})"
        )
    rows = x.reshape(-1, k)
    out = np.empty((rows.shape[0], k + 1), np.uint32 if precision < 32 else np.int64)
    bad = _quantize_rows(rows, precision, bool(logits), out)
    if bad >= 0:
        what = "logits" if logits else "probabilities"
        raise InvalidInputError(f"row {bad} has invalid {what} (NaN, infinite, negative or all zero)")
    return out.reshape(x.shape[:-1] + (k + 1,))
