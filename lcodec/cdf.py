"""Float probabilities to integer CDFs: the one place floats become coder input.

Each symbol gets 1 + floor(p * (2**P - K) / sum(p)) counts (so none is impossible), and the fewer than K
counts left over by the floors go to the symbol holding the median. Only IEEE-754 additions,
multiplications, one division and floors are used, in a fixed order, so from probabilities the result
is identical on every platform; from logits it also depends on the platform's exp().
"""

import math

import numpy as np
from numba import njit

from lcodec.coder import (
    DEC_STATE_SIZE,
    DEFAULT_PRECISION,
    ENC_STATE_SIZE,
    check_precision,
    check_symbols,
    dec_consume,
    dec_finish,
    dec_init,
    dec_target,
    enc_finish,
    enc_init,
    enc_put,
    max_encoded_size,
)
from lcodec.errors import FormatError, InvalidInputError

# Rounding error in the row sum stays below one count only for alphabets up to 2**20 at 32 bits.
MAX_SYMBOLS = 1 << 20


@njit(cache=True, nogil=True)
def _sum8(w):
    """Eight partial sums in a fixed order: deterministic, yet not one long chain of dependent additions."""
    k = w.shape[0]
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
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))


@njit(cache=True, nogil=True)
def _counts_to_cum(w, precision, out):
    """Write the CDF of nonnegative weights w into out (K+1) before the leftover counts are added; return
    (ok, m, left): the full CDF is out[j] + left for j > m, out[j] for j <= m. Coding one symbol needs only
    two of its entries, so the leftover is applied on the fly there rather than to half the row.
    ok is False if w has a negative, NaN or infinite entry or sums to zero (or so near it, below 1e-298,
    that the scale overflows). The checks are folded into the sum and a running minimum: no branch per entry."""
    k = w.shape[0]
    total = _sum8(w)  # NaN and inf entries make it NaN or inf
    total_count = np.int64(1) << precision
    scale = (total_count - k) / total if total > 0.0 else math.inf
    if not (total < math.inf and scale < math.inf):
        return False, 0, np.int64(0)
    lowest = 0.0
    acc = np.int64(0)
    out[0] = 0
    for j in range(k):
        v = np.float64(w[j])
        lowest = min(lowest, v)
        c = np.int64(1) + np.int64(v * scale)  # truncation: the floor, for v >= 0
        acc += c
        out[j + 1] = acc
    if lowest < 0.0:
        return False, 0, np.int64(0)
    # The leftover goes to the symbol holding the median, found by bisection after the loop: tracking
    # the most probable symbol inside it would cost a third of the time, and at the default precision
    # the recipient makes no measurable difference (it only has to be deterministic).
    lo = 0
    hi = k
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if np.int64(out[mid]) <= acc >> 1:
            lo = mid
        else:
            hi = mid
    return True, lo, total_count - acc


@njit(cache=True, nogil=True)
def _cum_at(row, m, left, j):
    """Entry j of the full CDF from _counts_to_cum's output."""
    return np.int64(row[j]) + (left if j > m else np.int64(0))


@njit(cache=True, nogil=True)
def _search_cum(row, m, left, target):
    """coder.search_cdf over the full CDF that _counts_to_cum's (row, m, left) stand for."""
    lo = 0
    hi = row.shape[0] - 1
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if _cum_at(row, m, left, mid) <= target:
            lo = mid
        else:
            hi = mid
    return lo, _cum_at(row, m, left, lo), _cum_at(row, m, left, lo + 1)


@njit(cache=True, nogil=True)
def _quantize_row(x, precision, logits, w, out):
    """_counts_to_cum of one row (probabilities or logits). w: scratch of K floats."""
    if not logits:
        return _counts_to_cum(x, precision, out)
    m = -math.inf
    bad = False  # flagged rather than returned early: an exit inside the loop makes it several times slower
    for j in range(x.shape[0]):
        v = np.float64(x[j])
        bad |= v != v or v == math.inf
        m = max(m, v)
    if bad or m == -math.inf:
        return False, 0, np.int64(0)
    for j in range(x.shape[0]):
        w[j] = math.exp(np.float64(x[j]) - m)
    return _counts_to_cum(w, precision, out)


@njit(cache=True, nogil=True)
def _quantize_rows(x, precision, logits, out):
    """Fill out (N, K+1) with CDFs; return the index of the first invalid row, or -1."""
    w = np.empty(x.shape[1])
    for i in range(x.shape[0]):
        row = out[i]
        ok, m, left = _quantize_row(x[i], precision, logits, w, row)
        if not ok:
            return i
        for j in range(m + 1, row.shape[0]):
            row[j] += left
    return -1


@njit(cache=True, nogil=True)
def _encode_rows(symbols, x, precision, logits, buf):
    """Quantise each row into an L1-resident scratch row and code its symbol: no (N, K+1) table.
    Returns (stream length, -1) or (0, first invalid row)."""
    k = x.shape[1]
    w = np.empty(k)
    row = np.empty(k + 1, np.int64)
    state = np.zeros(ENC_STATE_SIZE, np.uint64)
    enc_init(state)
    for i in range(x.shape[0]):
        ok, m, left = _quantize_row(x[i], precision, logits, w, row)
        if not ok:
            return 0, i
        s = symbols[i]
        enc_put(state, buf, _cum_at(row, m, left, s), _cum_at(row, m, left, s + 1), precision)
    return enc_finish(state, buf), -1


@njit(cache=True, nogil=True)
def _decode_rows(data, x, precision, logits, out):
    """Decoder twin of _encode_rows; returns (stream consistent, first invalid row or -1)."""
    k = x.shape[1]
    w = np.empty(k)
    row = np.empty(k + 1, np.int64)
    state = np.zeros(DEC_STATE_SIZE, np.uint64)
    dec_init(state, data)
    for i in range(x.shape[0]):
        ok, m, left = _quantize_row(x[i], precision, logits, w, row)
        if not ok:
            return False, i
        s, c_low, c_high = _search_cum(row, m, left, dec_target(state, data, precision))
        dec_consume(state, data, c_low, c_high, precision)
        out[i] = s
    return dec_finish(state, data), -1


def _as_rows(probs, precision):
    """probs as a float (N, K) array (N = product of the leading axes), checked against the precision."""
    precision = check_precision(precision)
    x = np.asarray(probs)
    if x.ndim < 1 or x.shape[-1] < 1:
        raise InvalidInputError(f"probs must have a last axis of K >= 1 symbols, got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise InvalidInputError(f"probs must be real numbers, got {x.dtype}")
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    k = x.shape[-1]
    limit = min(1 << precision, MAX_SYMBOLS)
    if k > limit:
        raise InvalidInputError(f"{k} symbols do not fit a {precision}-bit CDF (at most {limit})")
    return x.reshape(-1, k), precision


def _invalid_row(row, logits):
    what = "logits" if logits else "probabilities"
    return InvalidInputError(f"row {row} has invalid {what} (NaN, infinite, negative or all zero)")


def quantize(probs, precision, *, logits=False):
    """Integer CDFs (..., K+1) from probabilities (..., K) (or logits): C(0) = 0, C(K) = 2**precision,
    every symbol at least one count.

    Rows need not sum to 1; they must be finite, nonnegative and not all zero (logits: no NaN or +inf,
    not all -inf). The result is uint32 for precision <= 31 and int64 for 32 (2**32 needs 33 bits).
    """
    rows, precision = _as_rows(probs, precision)
    k = rows.shape[1]
    out = np.empty((rows.shape[0], k + 1), np.uint32 if precision < 32 else np.int64)
    bad = _quantize_rows(rows, precision, bool(logits), out)
    if bad >= 0:
        raise _invalid_row(bad, logits)
    return out.reshape(np.shape(probs)[:-1] + (k + 1,))


def encode_probs(symbols, probs, precision=DEFAULT_PRECISION, *, logits=False):
    """The bytes of `coder.encode(symbols, quantize(probs, precision), precision)`, without building the
    (N, K+1) table: each row is quantised in cache and coded at once."""
    rows, precision = _as_rows(probs, precision)
    symbols = np.asarray(symbols)
    if symbols.shape != np.shape(probs)[:-1]:
        raise InvalidInputError(f"symbols must have shape {np.shape(probs)[:-1]}, got {symbols.shape}")
    symbols = check_symbols(symbols.ravel(), *rows.shape)
    buf = np.empty(max_encoded_size(rows.shape[0], precision), np.uint8)
    with np.errstate(over="ignore"):
        n, bad = _encode_rows(symbols, rows, precision, bool(logits), buf)
    if bad >= 0:
        raise _invalid_row(bad, logits)
    return buf[:n].tobytes()


def decode_probs(data, probs, precision=DEFAULT_PRECISION, *, logits=False):
    """`coder.decode(data, quantize(probs, precision), precision)` without the table; shape probs.shape[:-1]."""
    rows, precision = _as_rows(probs, precision)
    out = np.empty(rows.shape[0], np.int64)
    with np.errstate(over="ignore"):
        ok, bad = _decode_rows(np.frombuffer(data, np.uint8), rows, precision, bool(logits), out)
    if bad >= 0:
        raise _invalid_row(bad, logits)
    if not ok:
        raise FormatError("range-coded data is corrupt or does not match the probabilities")
    return out.reshape(np.shape(probs)[:-1])
