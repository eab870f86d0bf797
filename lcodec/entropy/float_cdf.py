"""Float probabilities to integer CDFs: the one place floats become coder input.

For K weights w (any positive total) and precision P, symbol j < K starts at

    C(j) = j + floor(scale * S(j)),    T = 2**P - K,  scale = T / S(K),

and C(K) = 2**P, where S(j) is the sum of the weights before j. Every symbol gets one count plus its share
of T, and the floors do not pile up: each count is within one of 1 + scale * w(j), the last symbol's too
(S(j) <= S(K), and the two roundings in scale * S(j) stay far below one count: the floor is at most T).
S is summed in float64 in blocks of eight: the sum of block b is its weights added in order, G(b) the sums of the
blocks before b added in order, and S(j) = G(b) + (the weights of block b before j, added in order).
Rounding keeps S non-decreasing, the block sums are independent chains that run side by side, and any
S(j) is at most 7 additions from its G(b): a coder needs C(s) and C(s + 1) alone, from one pass over the
row. Only IEEE-754 additions, multiplications, one division and floors are used, in that fixed order, so
from probabilities the result is identical on every platform; from logits it also depends on exp().
"""

import math

import numpy as np
from numba import njit

from lcodec.entropy.range_coder import (
    DEC_STATE_SIZE,
    DEFAULT_PRECISION,
    ENC_STATE_SIZE,
    as_array,
    as_stream,
    check_precision,
    check_symbols,
    dec_finish,
    dec_init,
    dec_load,
    dec_step,
    dec_store,
    dec_target_of,
    enc_finish,
    enc_init,
    enc_load,
    enc_step,
    enc_store,
    max_encoded_size,
)
from lcodec.errors import FormatError, InvalidInputError

# Keeps the rounding of the sums (relative K * 2**-53) below one count at 32 bits.
MAX_SYMBOLS = 1 << 20
_BLOCK = 8


@njit(inline="always")
def _block_sum(w, j):
    """The weights w[j:j + 8] added in order, in float64 whatever w's type."""
    f = np.float64
    return ((((((f(w[j]) + f(w[j + 1])) + f(w[j + 2])) + f(w[j + 3])) + f(w[j + 4])) + f(w[j + 5])) +
            f(w[j + 6])) + f(w[j + 7])


@njit(inline="always")
def _partial_sum(w, j0, j1):
    p = 0.0
    for j in range(j0, j1):
        p += np.float64(w[j])
    return p


@njit(inline="always")
def _start(s, scale):
    """C(j) - j from S(j) = s."""
    return np.int64(np.floor(s * scale))


@njit(inline="always")
def _at_most(s, j, scale, target):
    """C(j) <= target, from S(j) = s, without a floor: floor(x) <= m exactly when x < m + 1."""
    return s * scale < np.float64(target - j + 1)


@njit(cache=True, nogil=True, inline="always")
def _has_negative(w):
    neg = False  # flagged, not returned early, so that the loop vectorises
    for j in range(w.shape[0]):
        neg |= w[j] < 0.0
    return neg


@njit(cache=True, nogil=True, inline="always")
def _scale(w, total, precision):
    """scale = (2**P - K) / S(K) (zero if K = 2**P), or -1.0 if the weights are invalid: a negative, NaN or
    infinite entry, or a total of zero (or so near it, below 1e-298, that the scale overflows)."""
    scale = ((np.int64(1) << precision) - w.shape[0]) / total if total > 0.0 else math.inf
    if not (total < math.inf and scale < math.inf):  # NaN and inf entries make the total NaN or inf
        return -1.0
    return -1.0 if _has_negative(w) else scale


@njit(cache=True, nogil=True, inline="always")
def _sums_at(w, s):
    """(S(K), S(s), S(s + 1)) in one pass over the row, with no branch on s: G(b) is picked up by a select as
    the blocks go by, and the weights of block b before s are added with the rest masked to +0.0 (adding
    +0.0 to a sum started at +0.0 changes nothing). Branching on s mispredicted about once per row."""
    k = w.shape[0]
    full = k - k % _BLOCK
    b = s - s % _BLOCK
    g = at = 0.0
    for j in range(0, full, _BLOCK):
        at = g if j == b else at
        g += _block_sum(w, j)
    if b == full:
        at = g
    g += _partial_sum(w, full, k)
    p = 0.0
    for r in range(_BLOCK - 1):
        v = np.float64(w[min(b + r, k - 1)])
        p += v if b + r < s else 0.0
    return g, at + p, at + (p + np.float64(w[s]))


@njit(cache=True, nogil=True, inline="always")
def _block_starts(w, starts):
    """S(K), with S(8 b) = G(b) in starts[b] for every block b (and S(K) after the last)."""
    k = w.shape[0]
    g = 0.0
    for j in range(0, k - k % _BLOCK, _BLOCK):
        starts[j // _BLOCK] = g
        g += _block_sum(w, j)
    if k % _BLOCK:
        starts[k // _BLOCK] = g
        g += _partial_sum(w, k - k % _BLOCK, k)
    starts[(k + _BLOCK - 1) // _BLOCK] = g
    return g


@njit(cache=True, nogil=True, inline="always")
def _find(w, starts, scale, precision, target, part):
    """(s, C(s), C(s + 1)) for the symbol with C(s) <= target < C(s + 1), from _block_starts' output:
    every fourth block start, then the three blocks after the last of those <= target, then the starts
    inside one block are counted (C is increasing: the count finds the last start <= target), with no
    branch that depends on the data. part: scratch of 8."""
    k = w.shape[0]
    last = (k - 1) // _BLOCK  # the last block holding a symbol
    b = 0
    for h in range(4, last + 1, 4):
        b += 4 * _at_most(starts[h], h * _BLOCK, scale, target)
    for h in range(b + 1, min(b + 3, last) + 1):
        b += _at_most(starts[h], h * _BLOCK, scale, target)
    j = b * _BLOCK
    g = starts[b]
    part[0] = g
    m = min(_BLOCK - 1, k - 1 - j)
    n = 0
    p = 0.0
    for r in range(m):
        p += np.float64(w[j + r])
        part[r + 1] = g + p
        n += _at_most(part[r + 1], j + r + 1, scale, target)
    s = j + n
    if s + 1 == k:
        high = np.int64(1) << precision
    else:
        high = s + 1 + _start(part[n + 1] if n < m else starts[b + 1], scale)
    return s, s + _start(part[n], scale), high


@njit(cache=True, nogil=True, inline="always")
def _row_cdf(w, precision, out):
    """Write the CDF of the weights w into out (K+1); False if they are invalid."""
    k = w.shape[0]
    g = 0.0
    for j in range(0, k - k % _BLOCK, _BLOCK):
        g += _block_sum(w, j)
    scale = _scale(w, g + _partial_sum(w, k - k % _BLOCK, k), precision)
    if scale < 0.0:
        return False
    g = p = 0.0
    for j in range(k):
        if j % _BLOCK == 0:
            g, p = g + p, 0.0
        out[j] = j + _start(g + p, scale)
        p += np.float64(w[j])
    out[k] = np.int64(1) << precision
    return True


@njit(cache=True, nogil=True, inline="always")
def _exp_weights(x, w):
    """w = exp(x - max(x)) for a row of logits; False if it has a NaN or +inf or is all -inf."""
    m = -math.inf
    bad = False  # flagged rather than returned early: an exit inside the loop makes it several times slower
    for j in range(x.shape[0]):
        v = np.float64(x[j])
        bad |= v != v or v == math.inf
        m = max(m, v)
    if bad or m == -math.inf:
        return False
    for j in range(x.shape[0]):
        w[j] = math.exp(np.float64(x[j]) - m)
    return True


@njit(cache=True, nogil=True)
def _quantize_rows(x, precision, logits, out):
    """Fill out (N, K+1) with CDFs; return the index of the first invalid row, or -1."""
    w = np.empty(x.shape[1])
    for i in range(x.shape[0]):
        if logits:
            ok = _exp_weights(x[i], w) and _row_cdf(w, precision, out[i])
        else:
            ok = _row_cdf(x[i], precision, out[i])
        if not ok:
            return i
    return -1


@njit(cache=True, nogil=True, inline="always")
def _interval(w, s, precision):
    """(valid, C(s), C(s + 1)) of symbol s under the weights w, from one pass over them."""
    k = w.shape[0]
    total, below, above = _sums_at(w, s)
    scale = _scale(w, total, precision)
    if scale < 0.0:
        return False, np.int64(0), np.int64(0)
    high = s + 1 + _start(above, scale) if s + 1 < k else np.int64(1) << precision
    return True, s + _start(below, scale), high


@njit(cache=True, nogil=True)
def _encode_rows(symbols, x, precision, logits, buf):
    """Code each symbol under its row, computing only C(s) and C(s + 1): no (N, K+1) table. Returns
    (stream length, -1) or (0, first invalid row)."""
    w = np.empty(x.shape[1])
    state = np.zeros(ENC_STATE_SIZE, np.uint64)
    enc_init(state)
    low, rng, cache, pending, carry, pos, started = enc_load(state)
    for i in range(x.shape[0]):
        if logits:
            ok, c_low, c_high = False, np.int64(0), np.int64(0)
            if _exp_weights(x[i], w):
                ok, c_low, c_high = _interval(w, symbols[i], precision)
        else:
            ok, c_low, c_high = _interval(x[i], symbols[i], precision)
        if not ok:
            return 0, i
        low, rng, cache, pending, carry, pos, started = enc_step(
            low, rng, cache, pending, carry, pos, started, buf, c_low, c_high, precision)
    enc_store(state, low, rng, cache, pending, carry, pos, started)
    return enc_finish(state, buf), -1


@njit(cache=True, nogil=True, inline="always")
def _lookup(w, precision, target, starts, part):
    """(s, C(s), C(s + 1)) of the symbol whose interval holds target, or s = -1 if w is invalid."""
    scale = _scale(w, _block_starts(w, starts), precision)
    if scale < 0.0:
        return -1, np.int64(0), np.int64(0)
    return _find(w, starts, scale, precision, target, part)


@njit(cache=True, nogil=True)
def _decode_rows(data, x, precision, logits, out):
    """Decoder twin of _encode_rows; returns (stream consistent, first invalid row or -1)."""
    k = x.shape[1]
    w = np.empty(k)
    starts = np.empty((k + _BLOCK - 1) // _BLOCK + 1)
    part = np.empty(_BLOCK)
    state = np.zeros(DEC_STATE_SIZE, np.uint64)
    dec_init(state, data)
    code, rng, pos, error = dec_load(state)
    for i in range(x.shape[0]):
        target = dec_target_of(code, rng, precision)
        if logits:
            s, c_low, c_high = -1, np.int64(0), np.int64(0)
            if _exp_weights(x[i], w):
                s, c_low, c_high = _lookup(w, precision, target, starts, part)
        else:
            s, c_low, c_high = _lookup(x[i], precision, target, starts, part)
        if s < 0:
            return False, i
        code, rng, pos, error = dec_step(code, rng, pos, error, data, c_low, c_high, precision)
        out[i] = s
    dec_store(state, code, rng, pos, error)
    return dec_finish(state, data), -1


def _as_rows(probs, precision):
    """probs as a float (N, K) array (N = product of the leading axes), checked against the precision."""
    precision = check_precision(precision)
    x = as_array(probs, "probs")
    if x.ndim < 1 or x.shape[-1] < 1:
        raise InvalidInputError(f"probs must have a last axis of K >= 1 symbols, got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise InvalidInputError(f"probs must be real numbers, got {x.dtype}")
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    x = np.ascontiguousarray(x)  # rows read at vector speed
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
    (N, K+1) table: each row gives only the two CDF entries its symbol needs."""
    rows, precision = _as_rows(probs, precision)
    symbols = as_array(symbols, "symbols")
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
        ok, bad = _decode_rows(as_stream(data), rows, precision, bool(logits), out)
    if bad >= 0:
        raise _invalid_row(bad, logits)
    if not ok:
        raise FormatError("range-coded data is corrupt or does not match the probabilities")
    return out.reshape(np.shape(probs)[:-1])
