"""The RESIDUAL kernels (lcodec.mixing.residuals) against lcodec.mixing.residual_reference, a plain-Python reading of
FORMAT.md section 4.3 written independently of them: payloads equal byte for byte at every depth B = 1 .. 16 and
every channel count 1 .. 4, each side decodes the other's payloads back to the tile, and any bytes decode the same in
both, FormatError included. A bug common to the kernels' encoder and decoder, which a round trip cannot see, shows
here as a difference from the spec. Small tiles: the reference is slow by design (the whole file takes under a
minute, a third of it the kernels' first compilation)."""

from collections import Counter

import numpy as np
import pytest

from lcodec.errors import FormatError
from lcodec.mixing import residual_reference as ref
from lcodec.mixing import residuals


def kernel_encode(tile):
    method, payload = residuals.encode_tile(np.ascontiguousarray(np.asarray(tile).astype(np.uint16)))
    assert method == ref.METHOD
    return bytes(payload)


def kernel_decode(payload, h, w, c, storage_bits=16, strict=True):
    """The kernels' samples, or FormatError as a value, so that both outcomes compare with =="""
    try:
        out = residuals.decode_tile(payload, h, w, c, storage_bits, strict)
    except FormatError:
        return FormatError
    assert out.dtype == np.uint16 and out.shape == (h, w, c)
    return out


def ref_decode(payload, h, w, c, storage_bits=16, strict=True, stats=None):
    try:
        out = ref.decode(payload, h, w, c, storage_bits, strict=strict, stats=stats)
    except FormatError:
        return FormatError
    assert out.dtype == np.uint16 and out.shape == (h, w, c)
    return out


def same(a, b):
    if a is FormatError or b is FormatError:
        return a is b
    return np.array_equal(a, b)


def hold(tile, stats=None):
    """The kernels' payload equals the reference's, and each side decodes the other's payload back to the tile."""
    tile = np.asarray(tile)
    h, w, c = tile.shape
    ours = ref.encode(tile, stats=stats)
    theirs = kernel_encode(tile)
    assert theirs.hex() == ours.hex(), f"payloads differ on a {tile.shape} tile of {ours[1]} bits"
    assert ours[1] == ref.used_bits(tile)
    back = kernel_decode(ours, h, w, c)
    assert back is not FormatError and np.array_equal(back, tile)
    mine = ref_decode(theirs, h, w, c, stats=stats)
    assert mine is not FormatError and np.array_equal(mine, tile)
    return ours


# -- tiles that reach the paths of section 4.3 ---------------------------------------------------------------------

def top(B):
    return (1 << B) - 1


def ramp(h, w, c, B, rng):
    """Smooth planes, a slope per channel, scaled so that the largest sample is 2^B - 1: residuals near 0, the bias
    learns, some predictions overshoot (P clamped to 0 .. M)."""
    y, x = np.mgrid[:h, :w]
    out = np.empty((h, w, c), np.int64)
    for ch in range(c):
        a, b, o = rng.integers(1, 6), rng.integers(-3, 6), rng.integers(0, 4)
        r = a * y + b * x + o
        r = r - r.min()
        out[:, :, ch] = (r * top(B) + r.max() // 2) // max(r.max(), 1)
    out[h - 1, w - 1, c - 1] = top(B)
    return out


def noise(h, w, c, B, rng):
    """Uniform noise: long mantissas, exponents up to B."""
    out = rng.integers(0, 1 << B, (h, w, c))
    out[h // 2, w // 3, c - 1] = top(B)
    return out


def extremes(h, w, c, B, rng):
    """Only 0 and 2^B - 1, in random 2 x 2 blocks: residuals of +-M, the exponent ends at B."""
    out = top(B) * (rng.random((h // 2 + 1, w // 2 + 1, c)) < 0.5).repeat(2, 0).repeat(2, 1)[:h, :w]
    out[0, 0, 0] = top(B)
    return out


def colour(h, w, c, B, rng):
    """Channels that move together: a textured ramp of channel 0, the others it plus an offset and a little noise
    (the predictions of channels >= 1 from the previous channel are right, section 4.3.4)."""
    y, x = np.mgrid[:h, :w]
    base = (3 * y + 2 * x) * max(top(B) // (4 * (h + w)), 1) + rng.integers(0, 1 + top(B) // 16, (h, w))
    out = np.stack([base + k * (top(B) // 8) + rng.integers(0, 1 + top(B) // 64, (h, w)) for k in range(c)], -1)
    out = np.clip(out, 0, top(B))
    out[h - 1, w - 1, c - 1] = top(B)
    return out


KINDS = (ramp, noise, extremes, colour)
SIZES = {ramp: [(8, 9), (10, 10), (9, 10), (10, 7)], noise: [(5, 6), (6, 5), (4, 7), (6, 6)],
         extremes: [(6, 8), (7, 7), (8, 6), (5, 9)], colour: [(6, 7), (7, 6), (6, 6), (5, 8)]}


@pytest.mark.parametrize("B", range(1, 17))
def test_every_depth_and_channel_count(B):
    """Per depth, one tile for each channel count 1 .. 4, the kinds rotating so that every kind meets every depth
    and every channel count."""
    stats = Counter()
    for c in range(1, 5):
        kind = KINDS[(B + c) % len(KINDS)]
        rng = np.random.default_rng(100 * B + c)
        h, w = SIZES[kind][(B // 4) % 4]
        tile = kind(h, w, c, B, rng)
        assert ref.used_bits(tile) == B
        assert hold(tile, stats)[1] == B
    assert stats["zero"] and stats["class 1"]  # 4.3.8: both outcomes of the zero decision
    if B >= 2:  # exponents that end at B (residuals of +-M: extremes, noise) and mantissas of several lengths
        assert stats["e = B"] and stats[f"e = {B}"] == (B >= 2) * stats["e = B"]
        assert stats["negative bias"]
    if B >= 3:
        assert stats["mantissa"]


def test_paths_over_many_tiles():
    """Summed over small tiles of every kind: every decision class a depth of 16 has, P clamped to 0 .. M, the bias
    halved at BIAS_LIMIT (a flat tile: its residuals are 0, one bias context takes most samples, then a spike that
    the halved bias weighs), bucket take-overs, the range coder's carry."""
    stats = Counter()
    rng = np.random.default_rng(9)
    spike = np.full((12, 12, 1), 300)
    spike[8, 4] = 400  # after the bias context of exact neighbours has halved: its bias moves by 1 / 33, not 1 / 65
    for B, tile in [(16, noise(5, 6, 1, 16, rng)), (16, extremes(5, 5, 2, 16, rng)), (12, ramp(10, 10, 1, 12, rng)),
                    (16, colour(6, 6, 3, 16, rng)), (16, ramp(9, 8, 1, 16, rng)), (9, spike)]:
        assert hold(tile, stats)[1] == B
    # 4.3.8: 0 .. 17, and the mantissa's classes of e = 2 .. 16 (e = 2, 3, 4 have fewer than four bits: 19 .. 21,
    # 24, 25 and 29 never occur)
    mantissa = {18 + 4 * (e - 2) + min(k, 3) for e in range(2, 17) for k in range(e - 1)}
    assert len(mantissa) == 60 - 6
    assert {d for d in range(ref.DECISIONS) if stats[f"class {d}"]} == set(range(18)) | mantissa
    assert stats["P clamped"] and stats["bias halved"] and stats["take-over"] and stats["carries"]


def test_one_row_and_one_column_tiles():
    """Border rules of 4.3.4 - 4.3.6 alone: a row (y = 0 everywhere: N, NW, NE, NN, NNE are W), a column (x = 0
    everywhere: W, WW, NW are N; the last column repeated, x_E = x), single pixels and 2 x 2."""
    rng = np.random.default_rng(4)
    for B, (h, w), c in [(16, (1, 12), 1), (9, (1, 9), 3), (5, (11, 1), 2), (16, (10, 1), 4), (1, (1, 7), 2),
                         (12, (1, 1), 4), (3, (2, 2), 3), (14, (2, 9), 1), (7, (9, 2), 2)]:
        for kind in (noise, ramp):
            hold(kind(h, w, c, B, rng))


def test_a_larger_tile_takes_buckets_over():
    """Enough distinct contexts that many buckets are taken over by another hash (their check word differs) and
    their counters restart: both implementations must clear the same buckets."""
    stats = Counter()
    rng = np.random.default_rng(7)
    hold(colour(8, 8, 4, 16, rng), stats)
    hold(noise(8, 8, 3, 12, rng), stats)
    assert stats["take-over"] >= 10
    assert sum(stats[f"take-over {name}"] > 0 for name in ref.NAMES) >= 5


def test_a_decoder_accepts_every_B_up_to_16():
    """A writer may code more bits than the tile uses (4.3.14): the kernels decode the reference's payloads of any B
    from the used bits up to 16 (the kernels' encoder never writes them); a larger B changes M and so the clamps, the
    exponent's cap and ctx_4, so the payload differs from the used bits' one."""
    rng = np.random.default_rng(3)
    for B, tile in [(16, rng.integers(0, 512, (4, 5, 1))), (11, rng.integers(0, 300, (4, 4, 3))),
                    (9, ramp(5, 6, 1, 1, rng)), (16, np.zeros((3, 4, 2), np.int64)), (2, np.ones((3, 3, 1), np.int64)),
                    (13, extremes(4, 5, 2, 8, rng)), (16, colour(4, 4, 4, 15, rng))]:
        payload = ref.encode(tile, bits=B)
        assert payload[1] == B and payload != ref.encode(tile)
        assert same(kernel_decode(payload, *tile.shape), tile)
        assert same(ref_decode(payload, *tile.shape), tile)
    with pytest.raises(ValueError):
        ref.encode(np.full((2, 2, 1), 300), bits=8)


CHECK_VALUES = [  # FORMAT.md section 4.3.14
    (np.array([5]).reshape(1, 1, 1), "010338"),
    (np.array([[0, 1, 1], [1, 0, 1]]).reshape(2, 3, 1), "01018d37"),
    ((331 * np.arange(12)).reshape(3, 4, 1), "010c9fd29feb5478e4d78e82829e6cab59acce0adb8bc8d6b9220f"),
    (np.full((4, 4, 1), 1000), "010a3fff3fc13c"),
    (np.array([40000, 39000, 41000, 65535]).reshape(4, 1, 1), "01103fffce1db6389a20ce974f855324"),
    (np.array([0, 65535, 0, 65535, 0]).reshape(1, 5, 1), "01109fe03fff86e51151cba87709a3"),
    (np.array([[[0, 65535, 0], [65535, 0, 65535], [0, 0, 65535]],
               [[65535, 65535, 0], [0, 65535, 65535], [65535, 0, 0]]]),
     ("01109fe03fff86e57f41f27fe46283a042295398ec8d6a2e4974372e7cac710b64da4b563a49f71377a2a15d98f7d2bc6fe58f5e9d4d1c"
      "f2d1730a76d8")),
    ((256 + (97 * np.arange(50)) % 61).reshape(5, 5, 2),
     "01093fdfcf06e67648edd0afb3c5f575bd6b721197e30ba93e75901e18bb7341150fbe3e107f34bb65d29505764a4eb0d52b9748e8c6"),
    (np.zeros((3, 3, 1), np.int64), "0101ff"),  # an all-zero group's stream is not empty
    (np.zeros((16, 16, 1), np.int64), "0101fffc"),
]


@pytest.mark.parametrize("tile, hexed", CHECK_VALUES, ids=range(len(CHECK_VALUES)))
def test_check_values_of_the_spec(tile, hexed):
    assert ref.encode(tile).hex() == hexed
    assert kernel_encode(tile).hex() == hexed
    assert same(ref_decode(bytes.fromhex(hexed), *tile.shape), tile)
    assert same(kernel_decode(bytes.fromhex(hexed), *tile.shape), tile)


def test_bad_headers_and_storage_are_format_errors_in_both():
    """4.3.1: under 2 bytes, an unknown set, B = 0 or above 16, a group whose storage bits are not 16."""
    for payload in [b"", b"\x01", b"\x00\x03abc", b"\x02\x03abc", b"\xff\x01", b"\x01\x00abc", b"\x01\x11abc",
                    b"\x01\xffabc"]:
        assert kernel_decode(payload, 2, 3, 1) is FormatError, payload
        assert ref_decode(payload, 2, 3, 1) is FormatError, payload
    good = hold(np.arange(6).reshape(2, 3, 1))
    for sb in (1, 8, 12, 15):
        assert kernel_decode(good, 2, 3, 1, sb) is FormatError, sb
        assert ref_decode(good, 2, 3, 1, sb) is FormatError, sb
    # an empty stream (L = 0) is no error in itself: a 1 x 1 tile decodes from it, six pixels run it past SLACK
    for payload, shape, ok in [(b"\x01\x01", (1, 1, 1), True), (b"\x01\x10", (1, 1, 1), True),
                               (b"\x01\x01", (2, 3, 1), False), (b"\x01\x10", (2, 3, 4), False)]:
        a, b = kernel_decode(payload, *shape), ref_decode(payload, *shape)
        assert same(a, b) and (a is not FormatError) == ok, (payload, shape)


def test_random_payloads_decode_the_same():
    """Any bytes decode to some samples in 0 .. M, or run out past SLACK, the same in both (4.3.12); random bytes
    reach the clamp of the decoded sample (4.3.11) and an all-0xFF stream the decoder's clamp (code >= range,
    4.1.14)."""
    rng = np.random.default_rng(11)
    outcomes, stats = Counter(), Counter()
    for i in range(36):
        B, c = int(rng.integers(1, 17)), 1 + i % 4
        h, w = 2 + i % 3, 3
        n = int(rng.integers(0, 3 * B * c * h * w // 2)) if i % 3 else int(rng.integers(0, 12))
        stream = rng.integers(0, 256, n, dtype=np.uint8).tobytes() if i % 6 else b"\xff" * n
        payload = bytes([1, B]) + stream
        a, b = kernel_decode(payload, h, w, c), ref_decode(payload, h, w, c, stats=stats)
        assert same(a, b), (B, c, payload.hex())
        outcomes[a is FormatError] += 1
        if a is not FormatError:
            assert int(a.max()) <= (1 << B) - 1
    assert outcomes[True] and outcomes[False]
    assert stats["clamps"] > 0 and stats["sample clamped"] > 0


def test_truncated_payloads_decode_the_same():
    """A real stream cut short: decoded the same, or a FormatError in both at the same lengths; not strictly, the
    same samples at every length (the zeros read past the end)."""
    rng = np.random.default_rng(5)
    tile = noise(4, 5, 2, 10, rng)
    full = hold(tile)
    outcomes = Counter()
    for n in list(range(2, len(full) - 12, 4)) + list(range(len(full) - 12, len(full))):
        a, b = kernel_decode(full[:n], 4, 5, 2), ref_decode(full[:n], 4, 5, 2)
        assert same(a, b), n
        outcomes["error" if a is FormatError else "same" if same(a, tile) else "other"] += 1
    assert outcomes["error"] and outcomes["other"] and not outcomes["same"]  # its last byte is not a trimmed zero
    for n in (2, len(full) // 2, len(full) - 8):
        a, b = kernel_decode(full[:n], 4, 5, 2, strict=False), ref_decode(full[:n], 4, 5, 2, strict=False)
        assert a is not FormatError and same(a, b), n
