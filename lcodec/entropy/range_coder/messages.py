"""Whole messages under CDF tables, validated: `encode`, `decode`, `cost_bits`, and the block-by-block `Encoder`
and `Decoder` for models whose next CDFs depend on the symbols decoded so far."""

import numpy as np
from numba import njit

from lcodec.entropy.range_coder.kernels import (
    DEC_STATE_SIZE, DEFAULT_PRECISION, ENC_STATE_SIZE, MAX_PRECISION, dec_finish, dec_init, dec_load, dec_step,
    dec_store, dec_target_of, enc_finish, enc_init, enc_load, enc_step, enc_store, max_encoded_size, search_cdf,
)
from lcodec.errors import FormatError, InvalidInputError

# Problems the table kernels report: a CDF row's (_row_problem), or a symbol's.
_CDF_PROBLEMS = {1: "does not start at 0", 2: "does not end at 2**precision", 3: "is not strictly increasing"}
_SYMBOL_OUT_OF_RANGE = 4

_CACHE_LINE = 64  # bytes
_LOOKAHEAD = 2  # rows of a CDF table fetched ahead while decoding...
_LOOKAHEAD_MIN_BYTES = 1 << 22  # ...when the table spans more than a typical L2 cache


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
