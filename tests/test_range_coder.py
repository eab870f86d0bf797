import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numba import njit

from lcodec.entropy import range_coder
from lcodec.entropy.float_cdf import decode_probs, quantize
from lcodec.errors import FormatError, InvalidInputError

SLOW = os.environ.get("LCODEC_SLOW") == "1"
OVERHEAD_BITS = 64  # the promised bound: actual bits <= cost_bits + 64


def random_cdf(rng, k, precision, skew=0.0):
    """A strictly increasing CDF row: K-1 distinct cut points, squeezed towards 0 by skew."""
    total = 1 << precision
    if k == 1:
        return np.array([0, total], np.int64)
    if skew:
        cuts = np.unique(np.floor(rng.random(4 * k) ** (1 + skew) * (total - 1)).astype(np.int64) + 1)
        cuts = np.sort(rng.choice(cuts, min(k - 1, cuts.size), replace=False))
        if cuts.size < k - 1:  # too few distinct points: fall back to uniform cuts
            cuts = np.sort(rng.choice(total - 1, k - 1, replace=False) + 1)
    else:
        cuts = np.sort(rng.choice(total - 1, k - 1, replace=False) + 1)
    return np.concatenate([[0], cuts, [total]]).astype(np.int64)


def sample(rng, cdfs):
    """One symbol per row, drawn from the row's own quantised distribution."""
    total = cdfs[:, -1:].astype(np.int64)
    u = (rng.random((cdfs.shape[0], 1)) * total).astype(np.int64)
    return ((cdfs[:, 1:].astype(np.int64) <= u).sum(axis=1)).astype(np.int64)


def roundtrip(symbols, cdfs, precision):
    data = range_coder.encode(symbols, cdfs, precision)
    assert np.array_equal(range_coder.decode(data, cdfs, precision), symbols)
    assert len(data) * 8 <= range_coder.cost_bits(symbols, cdfs, precision) + OVERHEAD_BITS
    assert not data.endswith(b"\0")
    return data


@settings(max_examples=150 if SLOW else 40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    precision=st.integers(1, 32),
    log_k=st.floats(0, 12),
    n=st.integers(0, 300),
    skew=st.sampled_from([0.0, 3.0, 30.0]),
)
def test_roundtrip_random_distributions(seed, precision, log_k, n, skew):
    rng = np.random.default_rng(seed)
    k = min(int(2**log_k), 1 << precision)
    cdfs = np.stack([random_cdf(rng, k, precision, skew) for _ in range(n)]) if n else np.zeros((0, k + 1), np.int64)
    roundtrip(sample(rng, cdfs), cdfs, precision)


@settings(max_examples=60 if SLOW else 15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 2000), concentration=st.floats(0.01, 10))
def test_roundtrip_quantized_probabilities(seed, n, concentration):
    rng = np.random.default_rng(seed)
    cdfs = quantize(rng.dirichlet(np.full(256, concentration), size=n).reshape(n, 256), range_coder.DEFAULT_PRECISION)
    roundtrip(sample(rng, cdfs), cdfs, range_coder.DEFAULT_PRECISION)


def long_cases():
    """(name, CDF row, symbol sampler) for the overhead bound on long messages."""
    def uniform(p):
        return np.arange(257, dtype=np.int64) << (p - 8)

    def skewed(p):
        q = 0.5 ** np.arange(1, 17)
        return quantize(q, p).astype(np.int64)

    def top_heavy(p):  # the last symbol holds all but one count: low climbs, carries and 0xFF runs
        return np.array([0, 1, 1 << p], np.int64)

    def bottom_heavy(p):  # the first symbol holds all but one count
        return np.array([0, (1 << p) - 1, 1 << p], np.int64)

    def adversarial(p):  # count-1 symbols at both ends plus a large middle: maximal shifts and carries
        t = 1 << p
        return np.array([0, 1, 2, t - 2, t - 1, t], np.int64)

    return [
        ("uniform", uniform, lambda rng, n: rng.integers(0, 256, n)),
        ("skewed", skewed, lambda rng, n: np.minimum(rng.geometric(0.5, n) - 1, 15)),
        ("top_heavy", top_heavy, lambda rng, n: np.ones(n, np.int64)),
        ("bottom_heavy", bottom_heavy, lambda rng, n: np.zeros(n, np.int64)),
        ("adversarial", adversarial, lambda rng, n: rng.choice([0, 1, 3, 4], n)),
    ]


@pytest.mark.parametrize("precision", [range_coder.DEFAULT_PRECISION, 32, 8])
@pytest.mark.parametrize("name,row,draw", long_cases(), ids=[c[0] for c in long_cases()])
def test_overhead_bound_up_to_ten_million_symbols(name, row, draw, precision):
    rng = np.random.default_rng(1)
    cdf_row = row(precision)
    range_coder.encode([0], cdf_row[None], precision)  # validates the row once; the long runs skip re-checking it
    for n in [0, 1, 2, 1000, 10**5, 10**7]:
        symbols = draw(rng, n).astype(np.int64)
        cdfs = np.broadcast_to(cdf_row, (n, cdf_row.size))  # one row, no memory per symbol
        data = range_coder.encode(symbols, cdfs, precision, validate=False)
        cost = range_coder.cost_bits(symbols, cdfs, precision, validate=False)
        assert len(data) * 8 <= cost + OVERHEAD_BITS, (n, len(data) * 8, cost)
        assert np.array_equal(range_coder.decode(data, cdfs, precision, validate=False), symbols)


def reference_encode(symbols, cdfs, precision):
    """The stream format in exact integers: no carries to handle, so it checks the coder's carry logic."""
    low, rng, shifts = 0, 2**64 - 1, 0
    for s, row in zip(symbols, cdfs):
        r = rng >> precision
        low += r * int(row[s])
        rng = r * (int(row[s + 1]) - int(row[s]))
        while rng < 2**56:
            rng, low, shifts = rng << 8, low << 8, shifts + 1
    pad = -low % 2**64
    if pad >= rng:
        pad %= 2**56
    return (low + pad).to_bytes(8 + shifts, "big").rstrip(b"\0")


@settings(max_examples=60 if SLOW else 20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), precision=st.integers(1, 32), n=st.integers(0, 200))
def test_bytes_match_the_exact_integer_reference(seed, precision, n):
    rng = np.random.default_rng(seed)
    k = min(5, 1 << precision)
    cdfs = np.stack([random_cdf(rng, k, precision, 30.0) for _ in range(n)]) if n else np.zeros((0, k + 1), np.int64)
    # Mostly the top symbol: low keeps climbing, which is what makes carries and 0xFF runs.
    symbols = np.where(rng.random(n) < 0.8, k - 1, sample(rng, cdfs))
    assert range_coder.encode(symbols, cdfs, precision) == reference_encode(symbols, cdfs, precision)


def test_golden_bytes():
    cdf = np.array([0, 1000, 50000, 60000, 65535, 65536], np.int64)
    symbols = np.array([0, 1, 2, 3, 4, 1, 1, 2, 0, 4, 4, 4, 3, 1], np.int64)
    cdfs = np.broadcast_to(cdf, (symbols.size, cdf.size))
    golden = "02bbc7708013308902e30fbc"
    assert range_coder.encode(symbols, cdfs, 16).hex() == golden
    assert reference_encode(symbols, cdfs, 16).hex() == golden
    assert np.array_equal(range_coder.decode(bytes.fromhex(golden), cdfs, 16), symbols)
    assert range_coder.encode([], np.zeros((0, 3), np.int64), 24) == b""


PURE_PYTHON_SCRIPT = """
import numpy as np
from lcodec.entropy import range_coder
from lcodec.entropy.float_cdf import decode_probs, quantize
rng = np.random.default_rng(7)
cdfs = quantize(rng.dirichlet(np.full(64, 0.2), size=300), 24)
symbols = ((cdfs[:, 1:] <= rng.integers(0, 1 << 24, (300, 1))).sum(axis=1)).astype(np.int64)
heavy = np.broadcast_to(np.array([0, 1, 2, (1 << 32) - 1, 1 << 32]), (500, 5))
heavy_symbols = rng.choice([0, 2, 3], 500)
a = range_coder.encode(symbols, cdfs, 24)
b = range_coder.encode(heavy_symbols, heavy, 32)
assert np.array_equal(range_coder.decode(a, cdfs, 24), symbols)
assert np.array_equal(range_coder.decode(b, heavy, 32), heavy_symbols)
print(a.hex(), b.hex(), cdfs.sum())
"""


def test_pure_python_gives_identical_bytes():
    def run(disable_jit):
        env = dict(os.environ, NUMBA_DISABLE_JIT=disable_jit)
        out = subprocess.run([sys.executable, "-c", PURE_PYTHON_SCRIPT], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout

    compiled = run("0")
    assert len(compiled.split()) == 3
    assert run("1") == compiled


def encoded_example(n=2000, seed=3):
    rng = np.random.default_rng(seed)
    cdfs = quantize(rng.dirichlet(np.full(256, 0.1), size=n), range_coder.DEFAULT_PRECISION)
    symbols = sample(rng, cdfs)
    return range_coder.encode(symbols, cdfs), cdfs, symbols


def decode_or_format_error(data, cdfs):
    try:
        out = range_coder.decode(data, cdfs)
    except FormatError:
        return None
    assert out.shape == (cdfs.shape[0],) and out.min() >= 0 and out.max() < cdfs.shape[1] - 1
    return out


def test_truncated_and_corrupted_streams_never_crash():
    data, cdfs, symbols = encoded_example()
    rng = np.random.default_rng(11)
    for cut in list(range(0, 40)) + list(rng.integers(0, len(data), 40)):
        out = decode_or_format_error(data[:cut], cdfs)
        assert out is None or not np.array_equal(out, symbols)
    detected = 0
    for _ in range(200):
        bad = bytearray(data)
        for pos in rng.integers(0, len(bad), rng.integers(1, 4)):
            bad[pos] ^= int(rng.integers(1, 256))
        detected += decode_or_format_error(bytes(bad), cdfs) is None
    for size in (1, 7, 8, 100, 5000):
        decode_or_format_error(rng.integers(0, 256, size, dtype=np.uint8).tobytes(), cdfs)
    assert detected > 0  # corruption that leaves the decoder outside every interval is reported


def test_trailing_bytes_are_rejected():
    data, cdfs, _ = encoded_example(200)
    with pytest.raises(FormatError):
        range_coder.decode(data + b"\0", cdfs)
    with pytest.raises(FormatError):
        range_coder.decode(data + bytes(range(1, 17)), cdfs)


@pytest.mark.parametrize(
    "cdf,symbols,precision,message",
    [
        ([[0, 5, 5, 16]], [0], 4, "cdfs row 0 is not strictly increasing"),
        ([[0, 9, 5, 16]], [0], 4, "cdfs row 0 is not strictly increasing"),
        ([[1, 5, 16]], [0], 4, "cdfs row 0 does not start at 0"),
        ([[0, 5, 15]], [0], 4, "cdfs row 0 does not end at 2**precision"),
        ([[0, 5, 16], [0, 5, 17]], [0, 0], 4, "cdfs row 1 does not end at 2**precision"),
        ([[0, 5, 16]], [2], 4, "symbol 0 is out of range 0..1"),
        ([[0, 5, 16]], [-1], 4, "symbol 0 is out of range 0..1"),
        ([[0, 1, 2, 3, 4]], [0], 1, "4 symbols do not fit a 1-bit CDF (at most 2)"),
        ([[0, 5, 16]], [0], 0, "precision must be in 1..32, got 0"),
        ([[0, 5, 16]], [0], 33, "precision must be in 1..32, got 33"),
        ([[0.0, 5.0, 16.0]], [0], 4, "cdfs must be an integer array, got float64"),
        ([0, 5, 16], [0], 4, "cdfs must have shape (N, K+1) with K >= 1, got (3,)"),
        ([[0, 5, 16]], [0.0], 4, "symbols must be integers, got float64"),
        ([[0, 5, 16]], [0, 1], 4, "symbols must have shape (1,), got (2,)"),
    ],
)
def test_invalid_input_is_rejected(cdf, symbols, precision, message):
    with pytest.raises(InvalidInputError) as exc:
        range_coder.encode(symbols, np.array(cdf), precision)
    assert str(exc.value) == message


def test_an_index_into_shared_rows_codes_like_the_expanded_table():
    rng = np.random.default_rng(11)
    table = np.stack([random_cdf(rng, 256, 24, skew=float(i % 3)) for i in range(64)])
    index = rng.integers(0, 64, 20000)
    symbols = sample(rng, table[index])
    data = range_coder.encode(symbols, table, index=index)
    assert data == range_coder.encode(symbols, table[index])
    assert np.array_equal(range_coder.decode(data, table, index=index), symbols)
    assert range_coder.cost_bits(symbols, table, index=index) == range_coder.cost_bits(symbols, table[index])
    with pytest.raises(FormatError):  # the same stream read through a different index
        range_coder.decode(data, table, index=(index + 1) % 64)


@pytest.mark.parametrize("index, message", [
    (np.array([0, 2]), r"index\[1\] = 2 names no row of cdfs \(2 rows\)"),
    (np.array([-1, 0]), r"index\[0\] = -1 names no row"),
    (np.zeros((2, 1), np.int64), "one-dimensional"),
    (np.array([0.0, 1.0]), "must be integers"),
])
def test_a_bad_index_is_rejected(index, message):
    table = np.array([[0, 8, 16], [0, 1, 16]])
    with pytest.raises(InvalidInputError, match=message):
        range_coder.encode([0, 1], table, 4, index=index)
    with pytest.raises(InvalidInputError, match=message):
        range_coder.decode(b"\x12", table, 4, index=index)


def test_symbols_must_match_the_index_length():
    with pytest.raises(InvalidInputError, match=r"symbols must have shape \(3,\)"):
        range_coder.encode([0, 1], np.array([[0, 8, 16]]), 4, index=[0, 0, 0])


def test_ragged_input_is_rejected():
    with pytest.raises(InvalidInputError, match="^cdfs is not an array: "):
        range_coder.Encoder(4).encode([0, 0], [[0, 8, 16], [0, 16]])
    with pytest.raises(InvalidInputError, match="^index is not an array: "):
        range_coder.Decoder(b"\x12", 4).decode(np.array([[0, 8, 16]]), index=[[0], [0, 0]])
    with pytest.raises(InvalidInputError, match="^probs is not an array: "):
        decode_probs(b"\x12", [[0.5, 0.5], [1.0]], 4)


def test_decode_wants_bytes():
    with pytest.raises(InvalidInputError, match="data must be bytes, got str"):
        range_coder.decode("\x12", np.array([[0, 8, 16]]), 4)
    with pytest.raises(InvalidInputError, match="data must be bytes, got NoneType"):
        decode_probs(None, np.ones((1, 2)), 4)


def test_decode_validates_cdfs_too():
    with pytest.raises(InvalidInputError, match="not strictly increasing"):
        range_coder.decode(b"\x12", np.array([[0, 8, 8, 16]]), 4)


def test_blocks_through_encoder_and_decoder_give_the_batch_bytes():
    rng = np.random.default_rng(12)
    cdfs = np.stack([random_cdf(rng, 40, 20, skew=float(i % 3)) for i in range(3000)])
    symbols = sample(rng, cdfs)
    data = range_coder.encode(symbols, cdfs, 20)
    cuts = np.sort(np.concatenate([[0, 0, 3000], rng.integers(0, 3000, 12)]))  # an empty block too
    encoder, decoder = range_coder.Encoder(20), range_coder.Decoder(data, 20)
    for a, b in zip(cuts[:-1], cuts[1:]):
        encoder.encode(symbols[a:b], cdfs[a:b], validate=bool(a % 2))
        assert np.array_equal(decoder.decode(cdfs[a:b]), symbols[a:b])
    decoder.finish()
    assert encoder.finish() == data
    with pytest.raises(InvalidInputError, match="finished"):
        encoder.encode(symbols[:1], cdfs[:1], validate=False)
    short = range_coder.Decoder(data[:-2], 20)  # truncated: wrong symbols or a FormatError, never silence
    out = short.decode(cdfs)
    if np.array_equal(out, symbols):
        with pytest.raises(FormatError):
            short.finish()


@settings(max_examples=60 if SLOW else 20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), precision=st.integers(8, 32), k=st.integers(1, 256),
       n=st.integers(0, 400), n_cuts=st.integers(0, 8), dtype=st.sampled_from([np.int64, np.uint32, np.uint64]))
def test_any_blocks_any_mix_of_row_kinds_give_the_batch_bytes(seed, precision, k, n, n_cuts, dtype):
    """Blocks alternate between a row per symbol and an index into a few shared rows, in random sizes."""
    rng = np.random.default_rng(seed)
    if dtype == np.uint32 and precision == 32:
        dtype = np.uint64  # 2**32 needs 33 bits
    shared = np.stack([random_cdf(rng, k, precision) for _ in range(3)]).astype(dtype)
    index = rng.integers(0, 3, n)
    cdfs = shared[index]
    symbols = sample(rng, cdfs)
    cuts = np.sort(np.concatenate([[0, n], rng.integers(0, n + 1, n_cuts)]))
    encoder = range_coder.Encoder(precision)
    for j, (a, b) in enumerate(zip(cuts[:-1], cuts[1:])):
        if j % 2:
            encoder.encode(symbols[a:b], shared, index=index[a:b])
        else:
            encoder.encode(symbols[a:b], cdfs[a:b])
    data = encoder.finish()
    assert data == range_coder.encode(symbols, cdfs, precision)
    decoder = range_coder.Decoder(data, precision)
    out = [decoder.decode(shared, index=index[a:b]) if j % 2 else decoder.decode(cdfs[a:b])
           for j, (a, b) in enumerate(zip(cuts[:-1], cuts[1:]))]
    decoder.finish()
    assert np.array_equal(np.concatenate(out), symbols)


def counts_cdf(counts, precision):
    """An adaptive model: symbol frequencies so far (plus one) as a CDF, the same on both sides."""
    c = np.concatenate([[0], np.cumsum(counts)])
    return (c * ((1 << precision) - counts.size) // c[-1] + np.arange(counts.size + 1)).astype(np.int64)


def test_decoder_blocks_can_depend_on_the_symbols_decoded_before():
    rng = np.random.default_rng(13)
    symbols = np.minimum(rng.geometric(0.2, 4000) - 1, 15)
    encoder, counts = range_coder.Encoder(16), np.ones(16, np.int64)
    for block in symbols.reshape(-1, 100):
        encoder.encode(block, counts_cdf(counts, 16)[None], index=np.zeros(100, np.int64))
        counts += np.bincount(block, minlength=16)
    data = encoder.finish()
    decoder, counts, out = range_coder.Decoder(data, 16), np.ones(16, np.int64), []
    for _ in range(40):
        out.append(decoder.decode(counts_cdf(counts, 16)[None], index=np.zeros(100, np.int64)))
        counts += np.bincount(out[-1], minlength=16)
    decoder.finish()
    assert np.array_equal(np.concatenate(out), symbols)
    freq = np.bincount(symbols, minlength=16) / symbols.size
    entropy = -(symbols.size * freq[freq > 0] * np.log2(freq[freq > 0])).sum()
    assert len(data) * 8 < entropy + 300  # the adapted model learns the frequencies (uniform: 4000 * 4 bits)


def test_a_rejected_block_leaves_the_encoder_and_decoder_as_they_were():
    rng = np.random.default_rng(14)
    cdfs = np.stack([random_cdf(rng, 8, 12) for _ in range(200)])
    symbols = sample(rng, cdfs)
    bad = cdfs[:50].copy()
    bad[30, 4] = bad[30, 3]
    encoder = range_coder.Encoder(12)
    encoder.encode(symbols[:100], cdfs[:100])
    with pytest.raises(InvalidInputError, match="cdfs row 30 is not strictly increasing"):
        encoder.encode(symbols[100:150], bad)
    encoder.encode(symbols[100:], cdfs[100:])
    data = encoder.finish()
    assert data == range_coder.encode(symbols, cdfs, 12)
    decoder = range_coder.Decoder(data, 12)
    decoder.decode(cdfs[:100])
    with pytest.raises(InvalidInputError, match="cdfs row 30"):
        decoder.decode(bad)
    assert np.array_equal(decoder.decode(cdfs[100:]), symbols[100:])
    decoder.finish()


# A parametric CDF as a caller would write it: C(v) = v + floor((2**P - K) * v**2 / K**2).
@njit(cache=True)
def quadratic_cdf(params, v):
    k, spare = params[0], params[1]
    return v + (spare * v * v) // (k * k)


@njit(cache=True)
def stream_decode(data, params, n, precision):
    state = np.zeros(range_coder.DEC_STATE_SIZE, np.uint64)
    out = np.empty(n, np.int64)
    range_coder.dec_init(state, data)
    for i in range(n):
        t = range_coder.dec_target(state, data, precision)
        s, c_low, c_high = range_coder.search_cdf_fn(quadratic_cdf, params, t, params[0], precision)
        range_coder.dec_consume(state, data, c_low, c_high, precision)
        out[i] = s
    return out, range_coder.dec_finish(state, data)


@njit(cache=True)
def stream_encode(symbols, params, precision):
    state = np.zeros(range_coder.ENC_STATE_SIZE, np.uint64)
    buf = np.empty(range_coder.max_encoded_size(symbols.shape[0], precision), np.uint8)
    range_coder.enc_init(state)
    for s in symbols:
        range_coder.enc_put(state, buf, quadratic_cdf(params, s), quadratic_cdf(params, s + 1), precision)
    return buf[: range_coder.enc_finish(state, buf)]


def test_streaming_kernels_with_a_cdf_function_match_the_batch_api():
    precision, k = 20, 1000
    params = np.array([k, (1 << precision) - k], np.int64)
    table = np.array([quadratic_cdf(params, v) for v in range(k + 1)], np.int64)
    rng = np.random.default_rng(5)
    symbols = sample(rng, np.broadcast_to(table, (5000, k + 1)))
    data = stream_encode(symbols, params, precision)
    assert data.tobytes() == range_coder.encode(symbols, np.broadcast_to(table, (5000, k + 1)), precision)
    out, ok = stream_decode(data, params, symbols.size, precision)
    assert ok and np.array_equal(out, symbols)


@njit(cache=True)
def register_encode(symbols, params, precision):
    """stream_encode with the state in local variables (enc_load / enc_step / enc_store)."""
    state = np.zeros(range_coder.ENC_STATE_SIZE, np.uint64)
    buf = np.empty(range_coder.max_encoded_size(symbols.shape[0], precision), np.uint8)
    range_coder.enc_init(state)
    low, rng, cache, pending, carry, pos, started = range_coder.enc_load(state)
    for s in symbols:
        low, rng, cache, pending, carry, pos, started = range_coder.enc_step(
            low, rng, cache, pending, carry, pos, started, buf, quadratic_cdf(params, s),
            quadratic_cdf(params, s + 1), precision)
    range_coder.enc_store(state, low, rng, cache, pending, carry, pos, started)
    return buf[: range_coder.enc_finish(state, buf)]


@njit(cache=True)
def register_decode(data, params, n, precision):
    state = np.zeros(range_coder.DEC_STATE_SIZE, np.uint64)
    out = np.empty(n, np.int64)
    range_coder.dec_init(state, data)
    code, rng, pos, error = range_coder.dec_load(state)
    for i in range(n):
        t = range_coder.dec_target_of(code, rng, precision)
        s, c_low, c_high = range_coder.search_cdf_fn(quadratic_cdf, params, t, params[0], precision)
        code, rng, pos, error = range_coder.dec_step(code, rng, pos, error, data, c_low, c_high, precision)
        out[i] = s
    range_coder.dec_store(state, code, rng, pos, error)
    return out, range_coder.dec_finish(state, data)


def test_register_state_steps_match_the_state_array_api():
    precision, k = 20, 1000
    params = np.array([k, (1 << precision) - k], np.int64)
    symbols = np.random.default_rng(6).integers(0, k, 5000)
    data = register_encode(symbols, params, precision)
    assert data.tobytes() == stream_encode(symbols, params, precision).tobytes()
    out, ok = register_decode(data, params, symbols.size, precision)
    assert ok and np.array_equal(out, symbols)
    out, ok = register_decode(data[:-3], params, symbols.size, precision)  # truncated: no crash, not silent
    assert not (ok and np.array_equal(out, symbols))


def test_enc_put_refuses_an_empty_interval():
    state = np.zeros(range_coder.ENC_STATE_SIZE, np.uint64)
    buf = np.zeros(range_coder.max_encoded_size(1, 16), np.uint8)
    range_coder.enc_init(state)
    with pytest.raises(InvalidInputError, match="empty interval"):
        range_coder.enc_put(state, buf, 7, 7, 16)


def test_search_cdf_finds_the_interval_holding_the_target():
    row = np.array([0, 3, 4, 10, 16], np.uint32)
    found = [range_coder.search_cdf(row, t) for t in range(16)]
    assert [s for s, _, _ in found] == [0, 0, 0, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3]
    assert all(lo <= t < hi for t, (_, lo, hi) in enumerate(found))


def test_max_encoded_size_holds_for_the_costliest_symbols():
    for precision in (1, 8, 24, 32):
        n = 20000
        # The top count-1 interval: P bits each, and nonzero bytes that trimming cannot shorten.
        cdfs = np.broadcast_to(np.array([0, (1 << precision) - 1, 1 << precision], np.int64), (n, 3))
        data = range_coder.encode(np.ones(n, np.int64), cdfs, precision)
        assert len(data) <= range_coder.max_encoded_size(n, precision)
        assert len(data) >= (n * precision) // 8 - 1


def test_benchmark_runs_and_reports_every_coder(capsys):
    pytest.importorskip("constriction")
    from bench.coder import main

    main(["-n", "3000", "--repeat", "1"])
    out = capsys.readouterr().out
    assert "| constriction 0.5, from float64 probs | " in out and "| constriction 0.5, from float32 probs | " in out
    assert out.count("| lcodec P=24") == 2 and "lcodec P=24 from ready integer CDFs" in out
    assert out.count("| per-symbol rows, fresh blocks of 1024") == 2 and out.count("| one (3000, 257) table") == 2
    assert "| 64 shared rows + `index=`" in out
    assert "Reading the float64 probabilities" in out
