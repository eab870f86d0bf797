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

from lcodec.entropy.range_coder.kernels import (  # noqa: F401  (the stable names other kernels use)
    DEC_STATE_SIZE, DEFAULT_PRECISION, ENC_STATE_SIZE, MAX_PRECISION, SLACK, TRIM, dec_begin, dec_bit, dec_consume,
    dec_finish, dec_init, dec_load, dec_step, dec_store, dec_target, dec_target_of, enc_begin, enc_bit, enc_end,
    enc_finish, enc_init, enc_load, enc_put, enc_step, enc_store, max_encoded_size, search_cdf, search_cdf_fn,
)
from lcodec.entropy.range_coder.messages import (  # noqa: F401
    Decoder, Encoder, as_array, as_stream, check_precision, check_symbols, cost_bits, decode, encode,
)
