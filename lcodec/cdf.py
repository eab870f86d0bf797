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


# floor(x) + 2**52 is exact for integers 0 <= floor(x) < 2**52, and its bits are those of 2**52 plus the
# integer: a float-to-integer conversion that vectorises (AVX2 has no packed double-to-int64 one).
_MAGIC = 4503599627370496.0
_MAGIC_BITS = 0x4330000000000000
# Counts summed per block while scanning a row for the median or a decoder target.
_BLOCK = 16


@njit(cache=True, nogil=True)
def _counts(w, precision, f, bs):
    """Fill f (K floats) with the counts of nonnegative weights w, each stored as count - 1 + 2**52 (read
    them as int64 minus _MAGIC_BITS - 1), and bs with the sums of the counts in blocks of _BLOCK symbols;
    return (ok, sum of the counts). ok is False if w has a negative, NaN or infinite entry or sums to zero
    (or so near it, below 1e-298, that the scale overflows)."""
    k = w.shape[0]
    total = _sum8(w)  # NaN and inf entries make it NaN or inf
    scale = ((np.int64(1) << precision) - k) / total if total > 0.0 else math.inf
    if not (total < math.inf and scale < math.inf):
        return False, np.int64(0)
    neg = False  # flagged, not returned early, so that the loop vectorises
    for j in range(k):
        v = np.float64(w[j])
        neg |= v < 0.0
        f[j] = np.floor(v * scale) + _MAGIC  # the floor of v * scale is its truncation, for v >= 0
    if neg:
        return False, np.int64(0)
    fi = f.view(np.int64)
    acc = np.int64(0)
    for b in range(bs.shape[0]):
        t = np.int64(0)
        for j in range(b * _BLOCK, min(b * _BLOCK + _BLOCK, k)):
            t += fi[j] - (_MAGIC_BITS - 1)
        bs[b] = t
        acc += t
    return True, acc


@njit(cache=True, nogil=True)
def _prefix(f, bs, s):
    """The sum of the first s counts in f, from the block sums bs and at most _BLOCK - 1 single counts."""
    fi = f.view(np.int64)
    total = np.int64(0)
    for b in range(s // _BLOCK):
        total += bs[b]
    for j in range(s - s % _BLOCK, s):
        total += fi[j] - (_MAGIC_BITS - 1)
    return total


@njit(cache=True, nogil=True)
def _last_at_most(f, bs, target, m, left):
    """(j, C(j)) for the largest j < K with C(j) <= target, where C(j) is the sum of the first j counts in f
    (from _counts) plus left if j > m. Whole blocks are skipped by their sums bs."""
    fi = f.view(np.int64)
    k = f.shape[0]
    j = 0
    base = np.int64(0)
    while j + _BLOCK < k:
        nxt = base + bs[j // _BLOCK]
        if nxt + (left if j + _BLOCK > m else np.int64(0)) > target:
            break
        base = nxt
        j += _BLOCK
    while j + 1 < k:
        nxt = base + (fi[j] - (_MAGIC_BITS - 1))
        if nxt + (left if j + 1 > m else np.int64(0)) > target:
            break
        base = nxt
        j += 1
    return j, base + (left if j > m else np.int64(0))


@njit(cache=True, nogil=True)
def _leftover(f, bs, precision, acc):
    """(m, left): the fewer than K counts left over by the floors go to symbol m, the one holding the
    median (it only has to be deterministic: at the default precision the recipient makes no measurable
    difference)."""
    m, _ = _last_at_most(f, bs, acc >> 1, f.shape[0], np.int64(0))
    return m, (np.int64(1) << precision) - acc


@njit(cache=True, nogil=True)
def _counts_to_cdf(w, precision, out):
    """Write the CDF of nonnegative weights w into out (K+1); False if the weights are invalid (as in
    _counts, which gives the same counts for coding one symbol without writing the row). Writing
    the row, the fused loop here is faster than _counts' two."""
    k = w.shape[0]
    total = _sum8(w)  # NaN and inf entries make it NaN or inf
    total_count = np.int64(1) << precision
    scale = (total_count - k) / total if total > 0.0 else math.inf
    if not (total < math.inf and scale < math.inf):
        return False
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
        return False
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
    for j in range(lo + 1, k + 1):
        out[j] += total_count - acc
    return True


@njit(cache=True, nogil=True)
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
def _quantize_row(x, precision, logits, w, f, bs):
    """_counts of one row (probabilities or logits) into f and bs. w: scratch of K floats."""
    if not logits:
        return _counts(x, precision, f, bs)
    if not _exp_weights(x, w):
        return False, np.int64(0)
    return _counts(w, precision, f, bs)


@njit(cache=True, nogil=True)
def _quantize_rows(x, precision, logits, out):
    """Fill out (N, K+1) with CDFs; return the index of the first invalid row, or -1."""
    w = np.empty(x.shape[1])
    for i in range(x.shape[0]):
        if logits:
            ok = _exp_weights(x[i], w) and _counts_to_cdf(w, precision, out[i])
        else:
            ok = _counts_to_cdf(x[i], precision, out[i])
        if not ok:
            return i
    return -1


@njit(cache=True, nogil=True)
def _encode_rows(symbols, x, precision, logits, buf):
    """Quantise each row into an L1-resident scratch row of counts and code its symbol: no (N, K+1) table,
    and only the two CDF entries the symbol needs. Returns (stream length, -1) or (0, first invalid row)."""
    k = x.shape[1]
    w = np.empty(k)
    f = np.empty(k)
    fi = f.view(np.int64)
    bs = np.empty((k + _BLOCK - 1) // _BLOCK, np.int64)
    state = np.zeros(ENC_STATE_SIZE, np.uint64)
    enc_init(state)
    low, rng, cache, pending, carry, pos, started = enc_load(state)
    for i in range(x.shape[0]):
        ok, acc = _quantize_row(x[i], precision, logits, w, f, bs)
        if not ok:
            return 0, i
        m, left = _leftover(f, bs, precision, acc)
        s = symbols[i]
        c_low = _prefix(f, bs, s)
        c_high = c_low + (fi[s] - (_MAGIC_BITS - 1)) + (left if s + 1 > m else np.int64(0))
        low, rng, cache, pending, carry, pos, started = enc_step(
            low, rng, cache, pending, carry, pos, started, buf, c_low + (left if s > m else np.int64(0)), c_high,
            precision)
    enc_store(state, low, rng, cache, pending, carry, pos, started)
    return enc_finish(state, buf), -1


@njit(cache=True, nogil=True)
def _decode_rows(data, x, precision, logits, out):
    """Decoder twin of _encode_rows; returns (stream consistent, first invalid row or -1)."""
    k = x.shape[1]
    w = np.empty(k)
    f = np.empty(k)
    fi = f.view(np.int64)
    bs = np.empty((k + _BLOCK - 1) // _BLOCK, np.int64)
    state = np.zeros(DEC_STATE_SIZE, np.uint64)
    dec_init(state, data)
    code, rng, pos, error = dec_load(state)
    for i in range(x.shape[0]):
        ok, acc = _quantize_row(x[i], precision, logits, w, f, bs)
        if not ok:
            return False, i
        m, left = _leftover(f, bs, precision, acc)
        s, c_low = _last_at_most(f, bs, dec_target_of(code, rng, precision), m, left)
        c_high = c_low + (fi[s] - (_MAGIC_BITS - 1)) + (left if s == m else np.int64(0))
        code, rng, pos, error = dec_step(code, rng, pos, error, data, c_low, c_high, precision)
        out[i] = s
    dec_store(state, code, rng, pos, error)
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
