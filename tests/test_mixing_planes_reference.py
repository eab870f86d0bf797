"""The CONTEXT kernels (lcodec.mixing.planes) against lcodec.mixing.plane_reference, a plain-Python reading of
FORMAT.md section 4.2 written independently of them: payloads equal byte for byte at every depth B = 1 .. 16 and
every channel count 1 .. 4, each side decodes the other's payloads to the same samples, and any bytes decode the
same in both, FormatError included. A bug common to the kernels' encoder and decoder, which a round trip cannot see,
shows here as a difference from the spec. Small tiles: the reference is slow by design (the whole file takes under a
minute, most of it the kernels' first compilation)."""

from collections import Counter

import numpy as np
import pytest

from lcodec.errors import FormatError
from lcodec.mixing import plane_reference as ref
from lcodec.mixing import planes

DTYPES = {1: np.bool_, 8: np.uint8, 16: np.uint16}


def storage_for(B):
    """The storage bits a group of B bits has: 1-bit groups are bool, else 8 or 16 bits (FORMAT.md section 1)."""
    return 1 if B == 1 else 8 if B <= 8 else 16


def kernel_encode(tile, storage_bits):
    method, payload = planes.encode_tile(np.ascontiguousarray(tile.astype(DTYPES[storage_bits])), storage_bits)
    assert method == ref.METHOD
    return bytes(payload)


def kernel_decode(payload, h, w, c, storage_bits, strict=True):
    """The kernels' samples, or FormatError as a value, so that both outcomes compare with =="""
    try:
        out = planes.decode_tile(payload, h, w, c, storage_bits, strict)
    except FormatError:
        return FormatError
    assert out.dtype == DTYPES[storage_bits] and out.shape == (h, w, c)
    return out


def ref_decode(payload, h, w, c, storage_bits, strict=True, stats=None):
    try:
        out = ref.decode(payload, h, w, c, storage_bits, strict=strict, stats=stats)
    except FormatError:
        return FormatError
    assert out.dtype == DTYPES[storage_bits] and out.shape == (h, w, c)
    return out


def same(a, b):
    if a is FormatError or b is FormatError:
        return a is b
    return np.array_equal(a, b)


def hold(tile, storage_bits, stats=None):
    """The kernels' payload equals the reference's, and each side decodes the other's payload back to the tile."""
    tile = np.asarray(tile)
    h, w, c = tile.shape
    ours = ref.encode(tile, storage_bits, stats=stats)
    theirs = kernel_encode(tile, storage_bits)
    assert theirs.hex() == ours.hex(), f"payloads differ on a {tile.shape} tile of {ours[1]} bits"
    assert ours[1] == ref.used_bits(tile)
    back = kernel_decode(ours, h, w, c, storage_bits)
    assert back is not FormatError and np.array_equal(back, tile)
    mine = ref_decode(theirs, h, w, c, storage_bits, stats=stats)
    assert mine is not FormatError and np.array_equal(mine, tile)
    return ours


# -- tiles that reach the paths of section 4.2 ---------------------------------------------------------------------

def gradient(h, w, c, B, rng):
    """Smooth planes, a slope per channel, scaled so that the largest sample is 2^B - 1: the predictor is right."""
    y, x = np.mgrid[:h, :w]
    out = np.empty((h, w, c), np.int64)
    for ch in range(c):
        a, b, o = rng.integers(1, 6), rng.integers(1, 6), rng.integers(0, 4)
        ramp = a * y + b * x + o
        out[:, :, ch] = (ramp * ((1 << B) - 1) + ramp.max() // 2) // ramp.max()
    return out


def repeats(h, w, c, B, rng):
    """A random pixel pattern of period 5 in raster order: the match model finds it, follows it across row ends (mlen
    far past MAX_LENGTH and 32), then one pixel with every bit flipped loses it mid-sample."""
    top = (1 << B) - 1
    pattern = rng.integers(0, top + 1, (5, c))
    pattern[0, 0] = top
    out = pattern[np.arange(h * w) % 5].reshape(h, w, c)
    k = (3 * h * w) // 4
    out[k // w, k % w] ^= top
    return out


def noise(h, w, c, B, rng):
    out = rng.integers(0, 1 << B, (h, w, c))
    out[h // 2, w // 3, c - 1] = (1 << B) - 1
    return out


def extremes(h, w, c, B, rng):
    """Only 0 and 2^B - 1: a constant top band, then random 2 x 2 blocks of either."""
    top = (1 << B) - 1
    out = top * (rng.random((h // 2 + 1, w // 2 + 1, c)) < 0.5).repeat(2, 0).repeat(2, 1)[:h, :w]
    out[: h // 3] = top
    return out


KINDS = (gradient, repeats, noise, extremes)
SIZES = {gradient: [(8, 9), (10, 11), (12, 12), (9, 12)], repeats: [(10, 12), (12, 12), (11, 12), (12, 11)],
         noise: [(5, 7), (6, 8), (7, 9), (6, 7)], extremes: [(8, 10), (9, 9), (7, 11), (10, 10)]}


@pytest.mark.parametrize("B", range(1, 17))
def test_every_depth_and_channel_count(B):
    """Per depth, one tile for each channel count 1 .. 4, the kinds rotating so that every kind meets every depth
    and every channel count."""
    sb = storage_for(B)
    for c in range(1, 5):
        kind = KINDS[(B + c) % len(KINDS)]
        rng = np.random.default_rng(100 * B + c)
        h, w = SIZES[kind][(B // 4) % 4]
        tile = kind(h, w, c, B, rng)
        stats = Counter()
        payload = hold(tile, sb, stats)
        assert payload[1] == B
        assert stats["predictor input"] and (B == 1 or stats["predictor lost"])  # 4.2.8's two cases
        assert stats["shared W1 row"] == (B > 8) * 2 * h * w * c * (B - 8)  # 4.2.9, d >= 8 (encoder and decoder)
        if kind is repeats:  # 4.2.5: a match followed far, its length capped in MC, lost where the bits differ
            assert stats["match past MAX_LENGTH"] and stats["g = 7"]
            assert B == 1 or stats["match lost"]
        if kind is noise and B == 16:  # 4.1.8's take-over of a bucket whose check word is another hash's
            assert stats["take-over"]


def test_constant_and_extreme_tiles():
    """All samples 2^B - 1 at every depth (counters saturate, every nibble's buckets are the same), and all-zero
    groups, B = 1: a small one's payload is the two bytes 01 01 (FORMAT.md 4.2.13), a larger one's stream holds
    zero bytes beyond the two trimmed."""
    stats = Counter()
    for B in range(1, 17):
        c = B % 4 + 1
        hold(np.full((6, 7, c), (1 << B) - 1), storage_for(B), stats)
    hold(np.full((16, 16, 1), 3), 8, stats)
    assert stats["saturated"]
    for c in range(1, 5):
        assert hold(np.zeros((2, 2, c), np.int64), 1 + 7 * (c % 2)) == b"\x01\x01"
    for shape, sb in [((16, 16, 1), 8), ((6, 7, 3), 16), ((8, 8, 4), 1)]:
        payload = hold(np.zeros(shape, np.int64), sb)
        assert payload[:2] == b"\x01\x01" and len(payload) > 2 and not any(payload[2:])


def test_a_large_noise_tile_takes_buckets_over():
    """Enough distinct contexts that a table's bucket is taken over by another hash (its check word differs) and the
    counters restart: both implementations must clear the same buckets."""
    stats = Counter()
    hold(noise(12, 12, 1, 16, np.random.default_rng(7)), 16, stats)
    assert stats["take-over"] > 0
    assert stats["carries"] > 0  # the range coder's carry into pending 0xFF bytes (4.1.14)


def test_hash_collisions_of_a_binary_tile():
    """1024 pixels of 4 random bits (B = 1 in 8-bit storage): the template table's buckets are taken over, and the
    match table's slots collide (a lookup finds another key's position and follows a false match). Only a collision
    shows which integer a context or the match key hashes: without one, any one-to-one change of it codes alike."""
    stats = Counter()
    tile = np.random.default_rng(0).integers(0, 2, (32, 32, 4))
    assert hold(tile, 8, stats)[1] == 1
    assert stats["take-over template"] > 0 and stats["false match"] > 0


def test_a_decoder_accepts_every_B_up_to_the_storage_bits():
    """A writer may code more bits than the tile uses (4.2.13): the kernels decode the reference's payloads of any B
    from used_bits up to the storage bits (the kernels' encoder never writes them)."""
    rng = np.random.default_rng(3)
    for sb, B, tile in [(8, 8, rng.integers(0, 8, (5, 6, 2))), (8, 5, rng.integers(0, 2, (6, 5, 1))),
                        (16, 16, rng.integers(0, 512, (5, 5, 1))), (16, 11, rng.integers(0, 300, (4, 5, 3))),
                        (16, 9, gradient(6, 6, 1, 1, rng))]:
        payload = ref.encode(tile, sb, bits=B)
        assert payload[1] == B and len(payload) > 2
        assert same(kernel_decode(payload, *tile.shape, sb), tile)
        assert same(ref_decode(payload, *tile.shape, sb), tile)


CHECK_VALUES = [  # FORMAT.md section 4.2.13
    (np.array([[0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5]]).reshape(3, 4, 1), 8, "01030544de4582"),
    (np.array([[0, 1, 1, 0, 1], [1, 1, 0, 0, 1]], bool).reshape(2, 5, 1), 1, "01016e6a"),
    (np.array([[7, 200, 31, 7, 200, 31, 7, 200]] * 2 + [[200, 31, 7, 200, 31, 7, 200, 31]] * 2).reshape(4, 8, 1), 8,
     "010807c87df07e69fcc8cb4eae129915fed093f5265c8c9587180d94b3ba"),
    ((331 * np.arange(12)).reshape(3, 4, 1), 16, "010c000155eb978954e41f1e2cb7df9168c0f1e9"),
    (np.array([[[1000, 7, 65535], [999, 8, 65535]], [[1001, 7, 0], [1000, 9, 65534]]]), 16,
     "011003e7c8aad6e255936012ec19a8d4faa1c3a3c0e01a27b00a"),
    ((7 * np.arange(36) % 64).reshape(3, 3, 4), 8, "010600739572cb7c4f2a17e63ec620e22f7c9cadd82e96961f859b764e"),
    (np.zeros((3, 3, 1), np.int64), 8, "0101"),
]


@pytest.mark.parametrize("tile, sb, hexed", CHECK_VALUES, ids=range(len(CHECK_VALUES)))
def test_check_values_of_the_spec(tile, sb, hexed):
    assert ref.encode(tile, sb).hex() == hexed
    assert kernel_encode(tile, sb).hex() == hexed
    assert same(ref_decode(bytes.fromhex(hexed), *tile.shape, sb), tile)


def test_bad_headers_are_format_errors_in_both():
    """4.2.1: under 2 bytes, an unknown set, B = 0 or above the storage bits."""
    for payload, sb in [(b"", 8), (b"\x01", 8), (b"\x00\x03abc", 8), (b"\x02\x03abc", 8), (b"\xff\x01", 1),
                        (b"\x01\x00abc", 8), (b"\x01\x09abc", 8), (b"\x01\x02", 1), (b"\x01\x11abc", 16),
                        (b"\x01\xffabc", 16)]:
        assert kernel_decode(payload, 2, 3, 1, sb) is FormatError, payload
        assert ref_decode(payload, 2, 3, 1, sb) is FormatError, payload
    # an empty stream is no error in itself: 6 decisions decode from it, 48 run it past SLACK
    for payload, sb, ok in [(b"\x01\x01", 1, True), (b"\x01\x01", 16, True), (b"\x01\x08", 8, False),
                            (b"\x01\x10", 16, False), (b"\x01\x10" + bytes(8), 16, True)]:
        a, b = kernel_decode(payload, 2, 3, 1, sb), ref_decode(payload, 2, 3, 1, sb)
        assert same(a, b) and (a is not FormatError) == ok, payload


def test_random_payloads_decode_the_same():
    """Any bytes decode to some samples below 2^B, or run out past SLACK, the same in both (4.2.11); an all-0xFF
    stream reaches the decoder's clamp (code >= range, 4.1.14)."""
    rng = np.random.default_rng(11)
    outcomes, stats = Counter(), Counter()
    cases = [(sb, c) for sb in (1, 8, 16) for c in range(1, 5)] * 3
    for i, (sb, c) in enumerate(cases):
        B = int(rng.integers(1, sb + 1))
        h, w = 3 + i % 2, 4
        n = int(rng.integers(0, 6 * B * c)) if i % 3 else int(rng.integers(0, 12))
        stream = rng.integers(0, 256, n, dtype=np.uint8).tobytes() if i % 5 else b"\xff" * n
        payload = bytes([1, B]) + stream
        a, b = kernel_decode(payload, h, w, c, sb), ref_decode(payload, h, w, c, sb, stats=stats)
        assert same(a, b), (sb, c, payload.hex())
        outcomes[a is FormatError] += 1
        if a is not FormatError:
            assert int(a.max()) < 1 << B
    assert outcomes[True] and outcomes[False]
    assert stats["clamps"] > 0


def test_truncated_payloads_decode_the_same():
    """A real stream cut short: decoded the same, or a FormatError in both at the same lengths; not strictly, the
    same samples at every length (the zeros read past the end)."""
    rng = np.random.default_rng(5)
    tile = noise(6, 7, 2, 6, rng)
    full = hold(tile, 8)
    outcomes = Counter()
    for n in list(range(2, len(full) - 12, 3)) + list(range(len(full) - 12, len(full))):
        a, b = kernel_decode(full[:n], 6, 7, 2, 8), ref_decode(full[:n], 6, 7, 2, 8)
        assert same(a, b), n
        outcomes["error" if a is FormatError else "same" if same(a, tile) else "other"] += 1
    assert outcomes["error"] and outcomes["other"] and not outcomes["same"]  # its last byte is not a trimmed zero
    for n in (len(full) // 2, len(full) - 8):
        a, b = kernel_decode(full[:n], 6, 7, 2, 8, False), ref_decode(full[:n], 6, 7, 2, 8, False)
        assert a is not FormatError and same(a, b), n
