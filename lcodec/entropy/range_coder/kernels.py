"""The range coder's state machine as Numba kernels: encoder and decoder steps over integer CDF intervals, the
state they keep, the stream contract (TRIM, SLACK) and CDF searches. `lcodec.entropy.range_coder` describes the
design and how other kernels use these."""

import numpy as np
from numba import njit

from lcodec.errors import InvalidInputError

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
