import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lcodec.entropy import float_cdf, range_coder
from lcodec.errors import FormatError, InvalidInputError


def logistic_probs(n, lo, hi, seed=0):
    """Discretised logistics over 0..255 around random predictions, scales log-uniform in [lo, hi]."""
    rng = np.random.default_rng(seed)
    mu = rng.uniform(0, 255, (n, 1))
    s = np.exp(rng.uniform(np.log(lo), np.log(hi), (n, 1)))
    edges = 0.5 * (1 + np.tanh((np.arange(1, 256) - 0.5 - mu) / (2 * s)))
    f = np.concatenate([np.zeros((n, 1)), edges, np.ones((n, 1))], axis=1)
    return np.maximum(np.diff(f, axis=1), np.finfo(np.float64).tiny)


def check_cdfs(cdfs, precision):
    counts = np.diff(cdfs.astype(np.int64), axis=-1)
    assert (cdfs[..., 0] == 0).all() and (cdfs[..., -1] == 1 << precision).all()
    assert (counts >= 1).all()


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    precision=st.integers(1, 32),
    k=st.integers(1, 4096),
    n=st.integers(1, 20),
    concentration=st.floats(0.001, 100),
)
def test_quantize_gives_valid_cdfs_close_to_the_probabilities(seed, precision, k, n, concentration):
    k = min(k, 1 << precision)
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(k, concentration), size=n) * rng.uniform(0.1, 10)  # rows need not sum to 1
    cdfs = float_cdf.quantize(probs, precision)
    assert cdfs.dtype == (np.uint32 if precision < 32 else np.int64)
    check_cdfs(cdfs, precision)
    # One count plus the symbol's share of the other 2**P - K, within one (the floors do not pile up).
    counts = np.diff(cdfs.astype(np.int64), axis=1)
    ideal = probs / probs.sum(axis=1, keepdims=True) * ((1 << precision) - k)
    assert (np.abs(counts - 1 - ideal) < 1 + 1e-11 * 2**precision).all()


def reference_cdf(w, precision):
    """The CDF as cdf's docstring defines it, in plain Python floats."""
    w = [float(v) for v in w]
    k = len(w)
    starts, g = [], 0.0
    for b in range(0, k, 8):
        starts.append(g)
        block = 0.0
        for v in w[b : b + 8]:
            block += v
        g += block
    scale = ((1 << precision) - k) / g
    out = []
    for j in range(k):
        p = 0.0
        for v in w[j - j % 8 : j]:
            p += v
        out.append(j + math.floor((starts[j // 8] + p) * scale))
    return out + [1 << precision]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_quantize_follows_the_documented_definition(dtype):
    rng = np.random.default_rng(7)
    for k in [1, 2, 7, 8, 9, 16, 23, 64, 257]:
        for precision in [k.bit_length(), 12, 24, 32]:
            probs = (rng.dirichlet(np.full(k, 0.3), size=3) * rng.uniform(1e-3, 1e3)).astype(dtype)
            cdfs = float_cdf.quantize(probs, precision).astype(np.int64)
            for row, out in zip(probs, cdfs):
                assert out.tolist() == reference_cdf(row, precision)


def test_quantize_is_deterministic_and_matches_pure_python():
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.full(256, 0.05), size=50)
    cdfs = float_cdf.quantize(probs, 24)
    assert np.array_equal(cdfs, float_cdf.quantize(probs.copy(), 24))
    out = np.empty_like(cdfs)
    assert float_cdf._quantize_rows.py_func(probs, 24, False, out) == -1
    assert np.array_equal(out, cdfs)
    with np.errstate(divide="ignore"):
        logits = np.log(probs) + 3.0  # -inf where a probability underflowed: a valid logit
    out = np.empty_like(cdfs)
    assert float_cdf._quantize_rows.py_func(logits, 24, True, out) == -1
    assert np.array_equal(out, float_cdf.quantize(logits, 24, logits=True))


def test_logits_match_their_softmax():
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 4, (100, 64))
    logits[:, 5] = -np.inf  # a forbidden symbol still gets one count
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    from_logits = float_cdf.quantize(logits, 20, logits=True).astype(np.int64)
    from_probs = float_cdf.quantize(probs, 20).astype(np.int64)
    check_cdfs(from_logits, 20)
    assert np.abs(from_logits - from_probs).max() <= 64  # floors may differ by one count per symbol
    assert (np.diff(from_logits, axis=1)[:, 5] == 1).all()


def test_shapes_and_float32():
    probs = np.random.default_rng(4).random((2, 3, 10)).astype(np.float32)
    cdfs = float_cdf.quantize(probs, 16)
    assert cdfs.shape == (2, 3, 11)
    assert np.array_equal(float_cdf.quantize(probs[0, 0], 16), cdfs[0, 0])
    assert np.array_equal(float_cdf.quantize([[1, 1]], 1), [[0, 1, 2]])


def coding_loss(probs, precision, seed=6):
    """(bits written - float cross-entropy) / cross-entropy, for symbols drawn from probs."""
    rng = np.random.default_rng(seed)
    symbols = (probs.cumsum(axis=1) < rng.random((len(probs), 1))).sum(axis=1).clip(0, probs.shape[1] - 1)
    h = -np.log2(probs[np.arange(len(probs)), symbols]).sum()
    return (8 * len(float_cdf.encode_probs(symbols, probs, precision)) - h) / h


def test_default_precision_loses_under_a_thousandth_of_the_cross_entropy():
    """The reason for DEFAULT_PRECISION: quantisation plus coding stays under 0.1 % where 16 bits do not."""
    regimes = {"sharp": (0.2, 1.5), "image": (0.3, 40.0), "wide": (8.0, 60.0)}
    for lo, hi in regimes.values():
        assert coding_loss(logistic_probs(20000, lo, hi, seed=5), range_coder.DEFAULT_PRECISION) < 1e-3
    assert coding_loss(logistic_probs(20000, *regimes["sharp"], seed=5), 16) > 1e-3


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 500),
    k=st.integers(1, 300),
    precision=st.integers(9, 32),
    logits=st.booleans(),
    float32=st.booleans(),
)
def test_fused_coding_equals_quantize_then_code(seed, n, k, precision, logits, float32):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(k, 0.1), size=n).reshape(n, k) + 1e-12
    x = (np.log(probs) if logits else probs).astype(np.float32 if float32 else np.float64)
    cdfs = float_cdf.quantize(x, precision, logits=logits)
    symbols = rng.integers(0, k, n)
    data = float_cdf.encode_probs(symbols, x, precision, logits=logits)
    assert data == range_coder.encode(symbols, cdfs, precision)
    assert np.array_equal(float_cdf.decode_probs(data, x, precision, logits=logits), symbols)


def test_fused_decode_of_corrupt_data_raises_or_returns_symbols():
    probs = logistic_probs(3000, 0.5, 5)
    symbols = probs.argmax(axis=1)
    data = bytearray(float_cdf.encode_probs(symbols, probs))
    data[len(data) // 2] ^= 0x55
    try:
        out = float_cdf.decode_probs(bytes(data), probs)
    except FormatError:
        return
    assert out.shape == symbols.shape and not np.array_equal(out, symbols)


@pytest.mark.parametrize(
    "probs,precision,logits,message",
    [
        ([[0.5, np.nan]], 16, False, "row 0 has invalid probabilities (NaN, infinite, negative or all zero)"),
        ([[0.5, 0.5], [0.5, -1e-30]], 16, False, "row 1 has invalid probabilities (NaN, infinite, negative or all zero)"),
        ([[0.0, 0.0]], 16, False, "row 0 has invalid probabilities (NaN, infinite, negative or all zero)"),
        ([[1e-320, 1e-320]], 32, False, "row 0 has invalid probabilities (NaN, infinite, negative or all zero)"),
        ([[np.inf, 1.0]], 16, False, "row 0 has invalid probabilities (NaN, infinite, negative or all zero)"),
        ([[-np.inf, -np.inf]], 16, True, "row 0 has invalid logits (NaN, infinite, negative or all zero)"),
        ([[np.inf, 0.0]], 16, True, "row 0 has invalid logits (NaN, infinite, negative or all zero)"),
        ([[0.2] * 5], 2, False, "5 symbols do not fit a 2-bit CDF (at most 4)"),
        ([[0.5, 0.5]], 33, False, "precision must be in 1..32, got 33"),
        ([["a", "b"]], 16, False, "probs must be real numbers, got <U1"),
        (np.zeros((3, 0)), 16, False, "probs must have a last axis of K >= 1 symbols, got shape (3, 0)"),
    ],
)
def test_invalid_probabilities_are_rejected(probs, precision, logits, message):
    with pytest.raises(InvalidInputError) as exc:
        float_cdf.quantize(np.array(probs), precision, logits=logits)
    assert str(exc.value) == message


def test_fused_coding_validates_symbols():
    with pytest.raises(InvalidInputError, match="symbol 1 is out of range 0..1"):
        float_cdf.encode_probs([0, 2], [[0.5, 0.5], [0.5, 0.5]], 16)
    with pytest.raises(InvalidInputError, match=r"symbols must have shape \(2,\), got \(3,\)"):
        float_cdf.encode_probs([0, 1, 1], [[0.5, 0.5], [0.5, 0.5]], 16)


@pytest.mark.parametrize("precision", [2, 3, 24])
def test_fused_coding_of_edge_rows(precision):
    # At 2 bits, K = 2**P leaves no counts to share (scale 0); -0.0 and 0.0 are valid weights.
    probs = np.array([[0.1, 0.2, 0.3, 0.4], [-0.0, 1.0, 0.0, 2.0], [0.0, 0.0, 0.0, 5e-300]])
    cdfs = float_cdf.quantize(probs, precision)
    check_cdfs(cdfs, precision)
    for symbols in np.ndindex(4, 4, 4):
        data = float_cdf.encode_probs(list(symbols), probs, precision)
        assert data == range_coder.encode(list(symbols), cdfs, precision)
        assert float_cdf.decode_probs(data, probs, precision).tolist() == list(symbols)
