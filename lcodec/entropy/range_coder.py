"""Range coder over integer CDFs, as Numba kernels plus a validating batch API.

A symbol with CDF interval [c_low, c_high) out of 2**P costs -log2((c_high - c_low) / 2**P) bits;
`cost_bits` sums that, and the coder stays within 64 bits of it for any message (tests check up to
10**7 symbols).

Design. `low` and `range` are 64-bit; `range` is kept in [2**56, 2**64) by shifting out one byte at a
time, so a symbol only loses range // 2**P truncation, at most 2**P / 2**56 of the interval (for
P = 32, 0.9 bits over 10**7 symbols). A carry out of `low` is held LZMA-style: the last unsettled byte
(`cache`), a count of 0xFF bytes behind it and a carry flag, so every byte written is final. The code
value starts as the first 8 bytes of the stream; no carry can reach past the first byte, so no leading
zero byte is needed. `enc_finish` writes the value in [low, low + range) with the most trailing zero
bytes and trims trailing zeros; the decoder reads zeros past the end, never out of bounds.

From Python, `encode`/`decode` code a whole message under a CDF table in one call, and `Encoder`/`Decoder`
code it block by block (same bytes), for models whose next CDFs depend on the symbols decoded so far.

Streaming use from another @njit function (the names below are stable)::

    state = np.zeros(ENC_STATE_SIZE, np.uint64)
    buf = np.empty(max_encoded_size(n_symbols, P), np.uint8)
    enc_init(state)
    for each symbol:                              # c_low < c_high <= 2**P
        enc_put(state, buf, c_low, c_high, P)
    nbytes = enc_finish(state, buf)               # the stream is buf[:nbytes]

    state = np.zeros(DEC_STATE_SIZE, np.uint64)
    dec_init(state, data)                         # data: uint8 array
    for each symbol:
        t = dec_target(state, data, P)            # int64 in [0, 2**P)
        s, c_low, c_high = search_cdf(cdf_row, t)                      # a (K+1,) CDF row, or
        s, c_low, c_high = search_cdf_fn(cdf_fn, params, t, K, P)      # a monotone CDF function
        dec_consume(state, data, c_low, c_high, P)
    ok = dec_finish(state, data)                  # False: data is not a stream enc_finish wrote

A loop that codes many symbols runs faster holding the state in local variables (registers) than in the
array: `enc_load(state)` gives the values, `enc_step(*values, buf, c_low, c_high, P)` returns the next ones,
`enc_store(state, *values)` puts them back before `enc_finish`; likewise `dec_load`, `dec_target_of(code, rng,
P)`, `dec_step(*values, data, c_low, c_high, P)` and `dec_store` (these are inlined at Numba IR level; spell
the tuple out, `*values` does not survive inlining).

`cdf_fn(params, v) -> int` is an @njit function giving C(v) for 1 <= v <= K - 1 (C(0) = 0 and
C(K) = 2**P are implied); `search_cdf_fn` calls it ceil(log2 K) times. Passing a jitted function as an
argument caches fine when the caller is itself an @njit(cache=True) function (a call from Python with
a function argument recompiles each process). Numba's cache only tracks the file of the function it
compiles: a caller in another module must be recompiled after this file changes.

Corrupt or truncated data never crashes or hangs the decoder: if the code value falls outside the
interval consumed (impossible for streams this encoder wrote) it is clamped and an error flag is set,
which `dec_finish` reports.

DEFAULT_PRECISION = 24: a lower precision already loses little on image-model predictions, and 24 leaves margin
for near-deterministic ones, where the one count every symbol keeps costs about K / 2**P * 1.44 bits per symbol;
coding speed does not depend on P (the precision sweep, `python -m bench.coder --precision-sweep`:
bench/results/NOTES.md).
"""

import numpy as np
from numba import njit

from lcodec.errors import FormatError, InvalidInputError

DEFAULT_PRECISION = 24
MAX_PRECISION = 32

# The contract of a tile's stream (FORMAT.md section 4, version 3):
TRIM = 2    # trailing zero bytes a stream may leave implicit (the range coder reads zeros past the end)...
SLACK = 7 + TRIM  # ...so its decoder reads at most this past the end: 8 bytes at the start and one a shift, against
                  # one written a shift and two at the finish, less the first (FORMAT.md, version 3)
ENC_STATE_SIZE = 7
DEC_STATE_SIZE = 4

# Encoder state slots.
_LOW, _RANGE, _CACHE, _PENDING, _CARRY, _POS, _HAS_CACHE = range(ENC_STATE_SIZE)
# Decoder state slots.
_CODE, _DRANGE, _DPOS, _ERROR = range(DEC_STATE_SIZE)

# uint64 constants: mixing uint64 with int64 would silently promote to float64 in Numba and NumPy.
_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U8 = np.uint64(8)
_TOP_SHIFT = np.uint64(56)
_TOP = np.uint64(1 << 56)
_BYTE = np.uint64(0xFF)
_FULL = np.uint64(2**64 - 1)
_LOW56 = np.uint64((1 << 56) - 1)

# Problems the table kernels report: a CDF row's (_row_problem), or a symbol's.
_CDF_PROBLEMS = {1: "does not start at 0", 2: "does not end at 2**precision", 3: "is not strictly increasing"}
_SYMBOL_OUT_OF_RANGE = 4

_CACHE_LINE = 64  # bytes
_LOOKAHEAD = 2  # rows of a CDF table fetched ahead while decoding...
_LOOKAHEAD_MIN_BYTES = 1 << 22  # ...when the table spans more than a typical L2 cache


@njit(cache=True, nogil=True)
def max_encoded_size(n_symbols, precision):
    """Bytes enough for any n_symbols at this precision: P bits each, plus truncation and flush slack."""
    return (n_symbols * precision) // 8 + (n_symbols >> 20) + 16


@njit(cache=True, nogil=True)
def enc_init(state):
    state[_LOW] = _U0
    state[_RANGE] = _FULL
    state[_CACHE] = _U0
    state[_PENDING] = _U0
    state[_CARRY] = _U0
    state[_POS] = _U0
    state[_HAS_CACHE] = _U0


# The step functions below take and return the coder state as plain values, inlined into their callers so that
# a loop keeps the state in registers (faster than reading and writing a state array per symbol; the figure is in
# bench/results/NOTES.md);
# enc_put / dec_consume wrap them with the state array.

@njit(cache=True, nogil=True, inline="always")
def _enc_shift(low, cache, pending, carry, pos, started, buf):
    """Move the top byte of low out: settle the cached byte and pending 0xFFs unless a carry may still come."""
    top = low >> _TOP_SHIFT
    if started == _U0:
        # The first byte: nothing before it can receive a carry, and it cannot carry out.
        cache = top
        started = _U1
    elif carry != _U0 or top != _BYTE:
        buf[pos] = np.uint8((cache + carry) & _BYTE)
        pos += 1
        fill = np.uint8((_BYTE + carry) & _BYTE)
        for _ in range(pending):
            buf[pos] = fill
            pos += 1
        pending = 0
        cache = top
        carry = _U0
    else:
        pending += 1
    return low << _U8, cache, pending, carry, pos, started


@njit(cache=True, nogil=True, inline="always")
def enc_step(low, rng, cache, pending, carry, pos, started, buf, cdf_low, cdf_high, precision):
    """Encode [cdf_low, cdf_high) of 2**precision; returns the new state values."""
    if np.uint64(cdf_high) <= np.uint64(cdf_low):  # an empty interval would make the loop below endless
        raise InvalidInputError("range coder: empty interval, cdf_high <= cdf_low")
    r = rng >> np.uint64(precision)
    new_low = low + r * np.uint64(cdf_low)
    if new_low < low:
        carry = _U1
    low = new_low
    rng = r * (np.uint64(cdf_high) - np.uint64(cdf_low))
    while rng < _TOP:
        rng <<= _U8
        low, cache, pending, carry, pos, started = _enc_shift(low, cache, pending, carry, pos, started, buf)
    return low, rng, cache, pending, carry, pos, started


@njit(cache=True, nogil=True, inline="always")
def enc_load(state):
    return (state[_LOW], state[_RANGE], state[_CACHE], np.int64(state[_PENDING]), state[_CARRY],
            np.int64(state[_POS]), state[_HAS_CACHE])


@njit(cache=True, nogil=True, inline="always")
def enc_store(state, low, rng, cache, pending, carry, pos, started):
    state[_LOW] = low
    state[_RANGE] = rng
    state[_CACHE] = cache
    state[_PENDING] = np.uint64(pending)
    state[_CARRY] = carry
    state[_POS] = np.uint64(pos)
    state[_HAS_CACHE] = started


@njit(cache=True, nogil=True, inline="always")
def enc_put(state, buf, cdf_low, cdf_high, precision):
    """Encode the interval [cdf_low, cdf_high) of 2**precision (InvalidInputError if it is empty)."""
    low, rng, cache, pending, carry, pos, started = enc_load(state)
    low, rng, cache, pending, carry, pos, started = enc_step(
        low, rng, cache, pending, carry, pos, started, buf, cdf_low, cdf_high, precision)
    enc_store(state, low, rng, cache, pending, carry, pos, started)


@njit(cache=True, nogil=True)
def enc_finish(state, buf, max_trim=1 << 62):
    """Flush the final interval and return the stream length in bytes (up to max_trim trailing zeros trimmed: the
    decoder reads zeros past the end)."""
    low, rng, cache, pending, carry, pos, started = enc_load(state)
    # The multiple of 2**64 at or above low if it lies in the interval, else the multiple of 2**56
    # (always inside: range >= 2**56); either leaves at most one significant byte to write.
    pad = _U0 - low
    if pad >= rng:
        pad &= _LOW56
    new_low = low + pad
    if new_low < low:
        carry = _U1
    for _ in range(2):
        new_low, cache, pending, carry, pos, started = _enc_shift(new_low, cache, pending, carry, pos, started, buf)
    enc_store(state, new_low, rng, cache, pending, carry, pos, started)
    end = max(pos - max_trim, 0)
    while pos > end and buf[pos - 1] == 0:
        pos -= 1
    return pos


@njit(cache=True, nogil=True, inline="always")
def enc_bit(low, rng, cache, pending, carry, pos, started, buf, bit, split, one, precision):
    """enc_step of a binary decision whose 0 is [0, split) and 1 is [split, one)."""
    if bit:
        return enc_step(low, rng, cache, pending, carry, pos, started, buf, split, one, precision)
    return enc_step(low, rng, cache, pending, carry, pos, started, buf, 0, split, precision)


@njit(cache=True, nogil=True, inline="always")
def dec_bit(code, rng, pos, error, data, split, one, precision):
    """(bit, code, rng, pos, error): the binary decision of enc_bit, decoded."""
    bit = 1 if code >= (rng >> np.uint64(precision)) * np.uint64(split) else 0
    if bit:
        code, rng, pos, error = dec_step(code, rng, pos, error, data, split, one, precision)
    else:
        code, rng, pos, error = dec_step(code, rng, pos, error, data, 0, split, precision)
    return bit, code, rng, pos, error


@njit(cache=True, nogil=True, inline="always")
def enc_begin():
    """A fresh encoder as the locals a coding loop keeps: (low, rng, cache, pending, carry, pos, started)."""
    state = np.zeros(ENC_STATE_SIZE, np.uint64)
    enc_init(state)
    return enc_load(state)


@njit(cache=True, nogil=True, inline="always")
def enc_end(low, rng, cache, pending, carry, pos, started, buf):
    """The stream of a coding loop's encoder (locals as enc_begin's): flushed, TRIM zeros left implicit, copied."""
    state = np.zeros(ENC_STATE_SIZE, np.uint64)
    enc_store(state, low, rng, cache, pending, carry, pos, started)
    return buf[:enc_finish(state, buf, TRIM)].copy()


@njit(cache=True, nogil=True, inline="always")
def dec_begin(data):
    """A decoder of data as the locals a decoding loop keeps: (code, rng, pos, error)."""
    state = np.zeros(DEC_STATE_SIZE, np.uint64)
    dec_init(state, data)
    return dec_load(state)


@njit(cache=True, nogil=True, inline="always")
def _read_byte(data, pos):
    if pos < data.shape[0]:
        return np.uint64(data[pos])
    return _U0


@njit(cache=True, nogil=True)
def dec_init(state, data):
    code = _U0
    for i in range(8):
        code = (code << _U8) | _read_byte(data, i)
    state[_CODE] = code
    state[_DRANGE] = _FULL
    state[_DPOS] = _U8
    state[_ERROR] = _U0


@njit(cache=True, nogil=True, inline="always")
def dec_target_of(code, rng, precision):
    """dec_target from the state values (clamped: corrupt data may point past the last interval)."""
    t = code // (rng >> np.uint64(precision))
    top = (_U1 << np.uint64(precision)) - _U1
    if t > top:
        t = top
    return np.int64(t)


@njit(cache=True, nogil=True, inline="always")
def dec_step(code, rng, pos, error, data, cdf_low, cdf_high, precision):
    """Narrow to [cdf_low, cdf_high) and read bytes as the range shrinks; returns the new state values."""
    r = rng >> np.uint64(precision)
    code = code - r * np.uint64(cdf_low)
    rng = r * (np.uint64(cdf_high) - np.uint64(cdf_low))
    if code >= rng:
        # Only corrupt data (or an interval not holding the target) gets here: clamp, remember.
        error = _U1
        if rng == _U0:
            rng = _U1
        code = rng - _U1
    while rng < _TOP:
        code = (code << _U8) | _read_byte(data, pos)
        rng <<= _U8
        pos += 1
    return code, rng, pos, error


@njit(cache=True, nogil=True, inline="always")
def dec_load(state):
    return state[_CODE], state[_DRANGE], np.int64(state[_DPOS]), state[_ERROR]


@njit(cache=True, nogil=True, inline="always")
def dec_store(state, code, rng, pos, error):
    state[_CODE] = code
    state[_DRANGE] = rng
    state[_DPOS] = np.uint64(pos)
    state[_ERROR] = error


@njit(cache=True, nogil=True, inline="always")
def dec_target(state, data, precision):
    """The value in [0, 2**precision) whose CDF interval holds the next symbol.

    `data` is unused (the bytes are read in dec_consume); it is taken so that every decoder step has
    the same (state, data, ...) shape.
    """
    return dec_target_of(state[_CODE], state[_DRANGE], precision)


@njit(cache=True, nogil=True, inline="always")
def dec_consume(state, data, cdf_low, cdf_high, precision):
    """Narrow to the decoded symbol's interval [cdf_low, cdf_high) and read bytes as the range shrinks."""
    code, rng, pos, error = dec_load(state)
    code, rng, pos, error = dec_step(code, rng, pos, error, data, cdf_low, cdf_high, precision)
    dec_store(state, code, rng, pos, error)


@njit(cache=True, nogil=True)
def dec_finish(state, data):
    """True if the decode was consistent with a stream enc_finish wrote for these intervals.

    Such a stream never sent the decoder out of an interval, ends in a nonzero byte and is at
    least 7 bytes shorter than what the decoder has read (8 bytes of code window, one flushed byte).
    """
    n = data.shape[0]
    if state[_ERROR] != _U0:
        return False
    if n > 0 and data[n - 1] == 0:
        return False
    return n + 7 <= np.int64(state[_DPOS])


@njit(cache=True, nogil=True, inline="always")
def search_cdf(cdf_row, target):
    """(s, cdf_row[s], cdf_row[s + 1]) with cdf_row[s] <= target < cdf_row[s + 1], by binary search."""
    lo = 0
    hi = cdf_row.shape[0] - 1
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if np.int64(cdf_row[mid]) <= target:
            lo = mid
        else:
            hi = mid
    return lo, np.int64(cdf_row[lo]), np.int64(cdf_row[lo + 1])


@njit(cache=True, nogil=True, inline="always")
def search_cdf_fn(cdf_fn, params, target, n_symbols, precision):
    """Like search_cdf for a monotone CDF given as cdf_fn(params, v), C(0) = 0 and C(K) = 2**precision."""
    lo = 0
    hi = n_symbols
    c_lo = np.int64(0)
    c_hi = np.int64(1) << precision
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        c = np.int64(cdf_fn(params, mid))
        if c <= target:
            lo = mid
            c_lo = c
        else:
            hi = mid
            c_hi = c
    return lo, c_lo, c_hi


@njit(cache=True, nogil=True, inline="always")
def _row_problem(row, total):
    """0 for a valid CDF row, else 1 = first entry not 0, 2 = last entry not total, 3 = not strictly increasing."""
    k1 = row.shape[0]
    if np.int64(row[0]) != 0:
        return 1
    if np.int64(row[k1 - 1]) != total:
        return 2
    bad = False  # flagged, not returned early, so that the loop vectorises (in the row's own type)
    for j in range(k1 - 1):
        bad |= row[j] >= row[j + 1]
    return 3 if bad else 0


@njit(cache=True, nogil=True)
def _check_cdfs(cdfs, total):
    """(row, problem) of the first bad CDF row (problem as in _row_problem), or (-1, 0)."""
    for i in range(cdfs.shape[0]):
        problem = _row_problem(cdfs[i], total)
        if problem:
            return i, problem
    return -1, 0


@njit(cache=True, nogil=True)
def _encode_table(symbols, cdfs, index, precision, check, state, buf):
    """Code symbol i under CDF row i, or row index[i] when index is an array (None: Numba compiles that away),
    continuing from state. Symbols are range-checked here rather than by a NumPy pass (small blocks from a
    model's loop pay for every pass); with check, each row is validated just before it is used (one pass
    over a table in memory instead of two). A bad symbol or row stops the loop with state untouched.
    Returns (i, problem) for the first: problem as in _row_problem, or 4 = symbol out of range; (-1, 0)."""
    total = np.int64(1) << precision
    k = cdfs.shape[1] - 1
    low, rng, cache, pending, carry, pos, started = enc_load(state)
    for i in range(symbols.shape[0]):
        s = symbols[i]
        if s < 0 or s >= k:
            return i, _SYMBOL_OUT_OF_RANGE
        row = i if index is None else index[i]
        if check:
            problem = _row_problem(cdfs[row], total)
            if problem:
                return i, problem
        low, rng, cache, pending, carry, pos, started = enc_step(
            low, rng, cache, pending, carry, pos, started, buf, cdfs[row, s], cdfs[row, s + 1], precision)
    enc_store(state, low, rng, cache, pending, carry, pos, started)
    return -1, 0


@njit(cache=True, nogil=True)
def _decode_table(data, cdfs, index, precision, check, state, out, lookahead):
    """Decode into out (row i, or index[i], as in _encode_table), continuing from state; returns (row,
    problem) as _encode_table, and a sum of prefetched entries to keep those loads."""
    total = np.int64(1) << precision
    code, rng, pos, error = dec_load(state)
    n, k1 = cdfs.shape
    # A binary search over a row in DRAM is a chain of dependent cache misses. Touching the row
    # `lookahead` rows ahead (each cache line for K = 256, at most 32 spread entries for larger K) lets
    # those misses overlap the current search: faster on a table in DRAM, slower on one that stays
    # in cache, hence 0 there (figures: bench/results/NOTES.md).
    stride = max(_CACHE_LINE // cdfs.itemsize, k1 // 32)
    touched = np.int64(0)
    for i in range(out.shape[0]):
        if lookahead and i + lookahead < n:  # lookahead is 0 with an index
            for j in range(0, k1, stride):
                touched += np.int64(cdfs[i + lookahead, j])
        row = i if index is None else index[i]
        if check:
            problem = _row_problem(cdfs[row], total)
            if problem:
                return i, problem, touched
        s, c_low, c_high = search_cdf(cdfs[row], dec_target_of(code, rng, precision))
        code, rng, pos, error = dec_step(code, rng, pos, error, data, c_low, c_high, precision)
        out[i] = s
    dec_store(state, code, rng, pos, error)
    return -1, 0, touched


def as_array(x, what):
    """np.asarray(x), with a ragged or otherwise unconvertible input as an InvalidInputError naming it."""
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"{what} is not an array: {str(exc).splitlines()[0]}") from None


def check_precision(precision):
    """precision as an int, or InvalidInputError outside 1..MAX_PRECISION."""
    if isinstance(precision, bool) or not isinstance(precision, (int, np.integer)):
        raise InvalidInputError(f"precision must be an integer, got {type(precision).__name__}")
    if not 1 <= precision <= MAX_PRECISION:
        raise InvalidInputError(f"precision must be in 1..{MAX_PRECISION}, got {precision}")
    return int(precision)


def _bad_row(row, problem):
    return InvalidInputError(f"cdfs row {row} {_CDF_PROBLEMS[problem]}")


def _check_table(cdfs, precision, validate):
    """The CDF table as an integer (N, K+1) array, each row checked up front when validate is true."""
    precision = check_precision(precision)
    cdfs = as_array(cdfs, "cdfs")
    if cdfs.ndim != 2 or cdfs.shape[1] < 2:
        raise InvalidInputError(f"cdfs must have shape (N, K+1) with K >= 1, got {cdfs.shape}")
    if not np.issubdtype(cdfs.dtype, np.integer):
        raise InvalidInputError(f"cdfs must be an integer array, got {cdfs.dtype}")
    k = cdfs.shape[1] - 1
    if k > 1 << precision:
        raise InvalidInputError(f"{k} symbols do not fit a {precision}-bit CDF (at most {1 << precision})")
    if validate and cdfs.shape[0]:
        row, problem = _check_cdfs(cdfs, 1 << precision)
        if row >= 0:
            raise _bad_row(row, problem)
    return cdfs, precision


def _check_call(cdfs, precision, index, validate):
    """(cdfs, index, number of symbols, whether the kernel checks each row as it uses it): a table of shared
    rows is checked once up front, a row per symbol as the kernel reaches it (one pass over the table)."""
    cdfs, precision = _check_table(cdfs, precision, validate and index is not None)
    index, n = _check_index(index, cdfs)
    return cdfs, index, n, validate and index is None


def check_symbols(symbols, n, k=None):
    """symbols as an int64 array of shape (n,), each in 0..k-1 (not range-checked without k)."""
    symbols = as_array(symbols, "symbols")
    if symbols.shape != (n,):
        raise InvalidInputError(f"symbols must have shape ({n},), got {symbols.shape}")
    if symbols.size and symbols.dtype.kind not in "iu":  # [] arrives as float64
        raise InvalidInputError(f"symbols must be integers, got {symbols.dtype}")
    symbols = symbols.astype(np.int64, copy=False)
    if k is not None:
        bad = np.flatnonzero((symbols < 0) | (symbols >= k))
        if bad.size:
            raise _symbol_out_of_range(bad[0], k)
    return symbols


def _symbol_out_of_range(i, k):
    return InvalidInputError(f"symbol {i} is out of range 0..{k - 1}")


def as_stream(data):
    """A coded stream (bytes, bytearray or memoryview) as a uint8 array, without a copy."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidInputError(f"data must be bytes, got {type(data).__name__}")
    return np.frombuffer(data, np.uint8)


def _check_index(index, cdfs):
    """(index as int64 or None, number of symbols): every index must name a row of cdfs."""
    if index is None:
        return None, cdfs.shape[0]
    index = as_array(index, "index")
    if index.ndim != 1:
        raise InvalidInputError(f"index must be one-dimensional, got shape {index.shape}")
    if index.size and not np.issubdtype(index.dtype, np.integer):
        raise InvalidInputError(f"index must be integers, got {index.dtype}")
    index = index.astype(np.int64, copy=False)
    bad = np.flatnonzero((index < 0) | (index >= cdfs.shape[0]))
    if bad.size:
        raise InvalidInputError(f"index[{bad[0]}] = {index[bad[0]]} names no row of cdfs ({cdfs.shape[0]} rows)")
    return index, index.shape[0]


class Encoder:
    """A range-coded stream built a block of symbols at a time, for models that emit CDFs in blocks.

    `encode(symbols, cdfs)` codes symbols[i] under CDF row cdfs[i] (0 = C(0) < ... < C(K) = 2**precision),
    or under cdfs[index[i]] with an index; `finish()` returns the bytes. Any split into blocks gives the
    bytes of one `encode` call over the whole message. A block with bad input raises and
    leaves the encoder as it was.
    """

    def __init__(self, precision=DEFAULT_PRECISION):
        self.precision = check_precision(precision)
        self._state = np.zeros(ENC_STATE_SIZE, np.uint64)
        enc_init(self._state)
        self._buf = np.empty(max_encoded_size(0, self.precision), np.uint8)
        self._symbols = 0
        self._done = False

    def encode(self, symbols, cdfs, *, index=None, validate=True):
        """Code one block. validate=False skips the CDF row checks; use it only for tables known to be valid,
        such as `lcodec.entropy.float_cdf.quantize` output."""
        if self._done:
            raise InvalidInputError("the encoder is finished")
        cdfs, index, n, check = _check_call(cdfs, self.precision, index, validate)
        symbols = check_symbols(symbols, n)
        need = max_encoded_size(self._symbols + n, self.precision)  # bytes written never exceed this
        if need > self._buf.shape[0]:
            grown = np.empty(max(need, 2 * self._buf.shape[0]), np.uint8)
            grown[:self._buf.shape[0]] = self._buf
            self._buf = grown
        with np.errstate(over="ignore"):  # uint64 wrap-around is intended (pure-Python runs warn otherwise)
            row, problem = _encode_table(symbols, cdfs, index, self.precision, check, self._state, self._buf)
        if problem == _SYMBOL_OUT_OF_RANGE:
            raise _symbol_out_of_range(row, cdfs.shape[1] - 1)
        if row >= 0:
            raise _bad_row(row, problem)
        self._symbols += n

    def finish(self):
        """The stream's bytes; the encoder takes no more symbols."""
        if self._done:
            raise InvalidInputError("the encoder is finished")
        self._done = True
        with np.errstate(over="ignore"):
            return self._buf[:enc_finish(self._state, self._buf)].tobytes()


class Decoder:
    """Reads a stream a block at a time: `decode(cdfs)` returns the next len(cdfs) symbols (len(index) with an
    index), so the CDFs of a block can depend on the symbols decoded before it; `finish()` raises FormatError
    if the stream was not what `Encoder` wrote for these CDFs. A block with bad input raises and leaves the
    decoder as it was."""

    def __init__(self, data, precision=DEFAULT_PRECISION):
        self.precision = check_precision(precision)
        self._data = as_stream(data)
        self._state = np.zeros(DEC_STATE_SIZE, np.uint64)
        dec_init(self._state, self._data)

    def decode(self, cdfs, *, index=None, validate=True):
        """Decode one block; validate as in `Encoder.encode`."""
        cdfs, index, n, check = _check_call(cdfs, self.precision, index, validate)
        out = np.empty(n, np.int64)
        span = abs(cdfs.strides[0]) * cdfs.shape[0]  # 0 for one row broadcast to every symbol
        lookahead = _LOOKAHEAD if index is None and span > _LOOKAHEAD_MIN_BYTES else 0
        with np.errstate(over="ignore"):
            row, problem, _ = _decode_table(self._data, cdfs, index, self.precision, check, self._state, out,
                                            lookahead)
        if row >= 0:
            raise _bad_row(row, problem)
        return out

    def finish(self):
        """FormatError unless every symbol so far came from the stream as encoded and the stream has ended."""
        if not dec_finish(self._state, self._data):
            raise FormatError("range-coded data is corrupt or does not match the CDFs")


def encode(symbols, cdfs, precision=DEFAULT_PRECISION, *, index=None, validate=True):
    """Encode symbols[i] under CDF row cdfs[i] (each row 0 = C(0) < ... < C(K) = 2**precision), or under
    cdfs[index[i]] when index is given: a few shared rows (say, one per quantised scale of a hyperprior
    model) instead of a row per symbol; the bytes equal those of encode(symbols, cdfs[index]).

    validate=False skips the per-row CDF check (it reads the whole table, which costs more than coding);
    use it only for tables known to be valid, such as `lcodec.entropy.float_cdf.quantize` output.
    """
    encoder = Encoder(precision)
    encoder.encode(symbols, cdfs, index=index, validate=validate)
    return encoder.finish()


def decode(data, cdfs, precision=DEFAULT_PRECISION, *, index=None, validate=True):
    """Decode len(cdfs) symbols (len(index) with an index, as in `encode`); FormatError if data is not a
    stream `encode` wrote for these CDFs."""
    decoder = Decoder(data, precision)
    out = decoder.decode(cdfs, index=index, validate=validate)
    decoder.finish()
    return out


def cost_bits(symbols, cdfs, precision=DEFAULT_PRECISION, *, index=None, validate=True):
    """Information content sum(-log2 q(symbols[i])) under the integer CDFs: the bound `encode` meets."""
    cdfs, precision = _check_table(cdfs, precision, validate)
    index, n = _check_index(index, cdfs)
    symbols = check_symbols(symbols, n, cdfs.shape[1] - 1)
    rows = np.arange(n) if index is None else index
    counts = cdfs[rows, symbols + 1].astype(np.int64) - cdfs[rows, symbols].astype(np.int64)
    return float(precision * n - np.log2(counts).sum())
