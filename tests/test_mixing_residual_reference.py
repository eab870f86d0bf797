"""The RESIDUAL kernels (lcodec.mixing.residuals) against lcodec.mixing.residual_reference, a plain-Python reading of
FORMAT.md section 4.3 written independently of them, for parameter sets 1 and 2: payloads equal byte for byte at
every depth B = 1 .. 16 and every channel count 1 .. 4, each side decodes the other's payloads back to the tile, and
any bytes decode the same in both, FormatError included. Set 2's least-squares fit (section 4.3.4a) is held on tiles
where it has features and learns many times, its clamps binding, and its light decisions (section 4.3.8) on long
mantissas. A bug common to the kernels' encoder and decoder, which a round trip cannot see, shows here as a
difference from the spec. Small tiles: the reference is slow by design (the whole file takes about 70 s, some 30 s
of it the kernels' first compilation)."""

from collections import Counter

import numpy as np
import pytest

from lcodec.errors import FormatError
from lcodec.mixing import residual_reference as ref
from lcodec.mixing import residuals

SETS = sorted(ref.SETS)


def kernel_encode(tile, config=None):
    """The kernels' payload with set config, or with their default set where config is None."""
    tile = np.ascontiguousarray(np.asarray(tile).astype(np.uint16))
    method, payload = residuals.encode_tile(tile) if config is None else residuals.encode_tile(tile, config)
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


def hold(tile, config, stats=None):
    """The kernels' payload with set config equals the reference's, and each side decodes the other's payload back
    to the tile."""
    tile = np.asarray(tile)
    h, w, c = tile.shape
    ours = ref.encode(tile, config=config, stats=stats)
    theirs = kernel_encode(tile, config)
    assert theirs.hex() == ours.hex(), f"set {config}: payloads differ on a {tile.shape} tile of {ours[1]} bits"
    low = int(tile.min()) if config >= 2 else 0  # set 2 codes the samples less their offset (4.3.14)
    assert ours[0] == config and ours[1] == ref.used_bits(tile - low)
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


def spikes(h, w, c, B, rng):
    """A flat plane of noise 0 .. 1 with spikes of half the range at random rows of the columns where the fit learns
    (x mod 4 = 0): the fit's features are tiny and its target large, so its weights run into their clamp
    (section 4.3.4a)."""
    out = rng.integers(0, 2, (h, w, c)) + top(B) // 64
    out[:, ::4] += (top(B) // 2) * (rng.random((h, (w + 3) // 4, c)) < 0.5)
    out[h - 1, w - 1, c - 1] = top(B)
    return out


KINDS = (ramp, noise, extremes, colour)
SIZES = {ramp: [(8, 9), (10, 10), (9, 10), (10, 7)], noise: [(5, 6), (6, 5), (4, 7), (6, 6)],
         extremes: [(6, 8), (7, 7), (8, 6), (5, 9)], colour: [(6, 7), (7, 6), (6, 6), (5, 8)]}


def test_the_sets_are_the_kernels():
    """Section 4.3.13's table, spelled out in the reference, is the kernels' PARAMS field by field."""
    assert sorted(residuals.PARAMS) == SETS == [1, 2]
    for k in SETS:
        assert residuals.PARAMS[k]._asdict() == ref.SETS[k]._asdict(), k
    assert [ref.sizes(ref.SETS[k]) for k in SETS] == [(8, 11, 12), (9, 12, 13)]


@pytest.mark.parametrize("config", SETS)
@pytest.mark.parametrize("B", range(1, 17))
def test_every_depth_and_channel_count(B, config):
    """Per depth, one tile for each channel count 1 .. 4, the kinds rotating so that every kind meets every depth
    and every channel count."""
    stats = Counter()
    for c in range(1, 5):
        kind = KINDS[(B + c) % len(KINDS)]
        rng = np.random.default_rng(100 * B + c)
        h, w = SIZES[kind][(B // 4) % 4]
        tile = kind(h, w, c, B, rng)
        assert ref.used_bits(tile) == B
        assert hold(tile, config, stats)[1] == B
    assert stats["zero"] and stats["class 1"]  # 4.3.8: both outcomes of the zero decision
    if B >= 2:  # exponents that end at B (residuals of +-M: extremes, noise) and mantissas of several lengths
        assert stats["e = B"] and stats[f"e = {B}"] == (B >= 2) * stats["e = B"]
        assert stats["negative bias"]
    if B >= 3:
        assert stats["mantissa"]
    if config == 1:  # neither the fit nor light decisions
        assert not stats["fit features"] and not stats["light"]
    else:  # every size has y >= 3 and x >= 4: the fit has features and learns; e = B >= 5 has light bits
        assert stats["fit features"] and stats["fit learned"]
        assert bool(stats["light"]) == (B >= 5)


@pytest.mark.parametrize("config", SETS)
def test_paths_over_many_tiles(config):
    """Summed over small tiles of every kind: every decision class a depth of 16 has (in set 2 the mantissa bits
    k >= 3 as light decisions), P clamped to 0 .. M, the bias halved at BIAS_LIMIT (a flat tile: its residuals are
    0, one bias context takes most samples, then a spike that the halved bias weighs), bucket take-overs, the range
    coder's carry."""
    stats = Counter()
    rng = np.random.default_rng(9)
    spike = np.full((12, 12, 1), 300)
    spike[8, 4] = 400  # after the bias context of exact neighbours has halved: its bias moves by 1 / 33, not 1 / 65
    for B, tile in [(16, noise(5, 6, 1, 16, rng)), (16, extremes(5, 5, 2, 16, rng)), (12, ramp(10, 10, 1, 12, rng)),
                    (16, colour(6, 6, 3, 16, rng)), (16, ramp(9, 8, 1, 16, rng)), (9, spike)]:
        assert hold(tile, config, stats)[1] == (B if config == 1 else ref.used_bits(tile - tile.min()))
    # 4.3.8: 0 .. 17, and the mantissa's classes of e = 2 .. 16 (e = 2, 3, 4 have fewer than four bits: 19 .. 21,
    # 24, 25 and 29 never occur)
    mantissa = {18 + 4 * (e - 2) + min(k, 3) for e in range(2, 17) for k in range(e - 1)}
    assert len(mantissa) == 60 - 6
    assert {d for d in range(ref.DECISIONS) if stats[f"class {d}"]} == set(range(18)) | mantissa
    assert stats["P clamped"] and stats["bias halved"] and stats["take-over"] and stats["carries"]
    assert bool(stats["light"]) == (config == 2)


FIT_KINDS = (ramp, noise, colour, extremes, spikes)


@pytest.mark.parametrize("c", range(1, 5))
def test_the_fit_learns_on_larger_tiles(c):
    """Set 2 on 12 x 16 tiles: the fit has features from y = 3, x = 4 on and learns at x = 4, 8, 12 (27 times a
    channel a tile); smooth planes (a feature of 0 leaves its weight: d = 0), noise, channels that move together
    (the earlier channels' features), extremes (0 and 65535: the clamps of the features and of the target bind) and
    spikes at the learning columns (the weights' clamp binds); every tile also reaches the light decisions. Set 1
    on one of them, for comparison."""
    stats = Counter()
    rng = np.random.default_rng(40 + c)
    for kind in FIT_KINDS:
        before = stats["fit learned"]
        hold(kind(12, 16, c, 16, rng), 2, stats)
        assert stats["fit learned"] - before == 2 * 27 * c  # hold's stats count the reference's encoder and decoder
    assert stats["fit features"] == 2 * len(FIT_KINDS) * 9 * 12 * c
    # the fit far from P (its weights clamped on the spikes): SL(p_8 - 16 P, 2) outside 0 .. 40 (section 4.3.6
    # says 0 .. 40 and ctx_11 non-negative, which set 2 does not keep), a negative ctx_11 hashed modulo 2^64
    for path in ("feature clamp", "target clamp", "fit weight clamp", "fit d <= 0", "fit below ref", "light",
                 "fit_offset negative", "fit_offset above 5159"):
        assert stats[path], path
    hold(colour(12, 16, c, 16, rng), 1)


@pytest.mark.parametrize("B", (14, 15, 16))
def test_long_mantissas_take_light_decisions(B):
    """Noise of 14 .. 16 bits: most residuals have e >= 5, so their mantissa bits from k = 3 on are light decisions
    (section 4.3.8), each on the counter LC[16 * e + k][Q] alone, at the exponents B and below; set 1 codes the same
    bits mixed."""
    stats = Counter()
    rng = np.random.default_rng(B)
    for h, w, c in [(6, 9, 1), (5, 7, 2), (4, 5, 4)]:
        tile = noise(h, w, c, B, rng)
        assert hold(tile, 2, stats)[1] == B
        hold(tile, 1)
    assert stats[f"light e = {B}"] and stats[f"light e = {B - 1}"] and stats[f"light e = {B - 2}"]
    assert stats["light"] == sum(stats[f"light e = {e}"] for e in range(5, B + 1))


@pytest.mark.parametrize("config", SETS)
def test_one_row_and_one_column_tiles(config):
    """Border rules of 4.3.4 - 4.3.6 alone: a row (y = 0 everywhere: N, NW, NE, NN, NNE are W), a column (x = 0
    everywhere: W, WW, NW are N; the last column repeated, x_E = x), single pixels and 2 x 2."""
    rng = np.random.default_rng(4)
    for B, (h, w), c in [(16, (1, 12), 1), (9, (1, 9), 3), (5, (11, 1), 2), (16, (10, 1), 4), (1, (1, 7), 2),
                         (12, (1, 1), 4), (3, (2, 2), 3), (14, (2, 9), 1), (7, (9, 2), 2)]:
        for kind in (noise, ramp):
            hold(kind(h, w, c, B, rng), config)


@pytest.mark.parametrize("config", SETS)
def test_a_larger_tile_takes_buckets_over(config):
    """Enough distinct contexts that many buckets are taken over by another hash (their check word differs) and
    their counters restart: both implementations must clear the same buckets."""
    stats = Counter()
    rng = np.random.default_rng(7)
    hold(colour(8, 8, 4, 16, rng), config, stats)
    hold(noise(8, 8, 3, 12, rng), config, stats)
    assert stats["take-over"] >= 10
    assert sum(stats[f"take-over {name}"] > 0 for name in ref.NAMES) >= 5


@pytest.mark.parametrize("config", SETS)
def test_a_decoder_accepts_every_B_up_to_16(config):
    """A writer may code more bits than the tile uses (4.3.14): the kernels decode the reference's payloads of any B
    from the used bits up to 16 (the kernels' encoder never writes them); a larger B changes M and so the clamps, the
    exponent's cap and ctx_4, so the payload differs from the used bits' one."""
    rng = np.random.default_rng(3)
    for B, tile in [(16, rng.integers(0, 512, (4, 5, 1))), (11, rng.integers(0, 300, (4, 4, 3))),
                    (9, ramp(5, 6, 1, 1, rng)), (16, np.zeros((3, 4, 2), np.int64)), (2, np.ones((3, 3, 1), np.int64)),
                    (13, extremes(4, 5, 2, 8, rng)), (16, colour(4, 4, 4, 15, rng))]:
        payload = ref.encode(tile, bits=B, config=config)
        assert payload[:2] == bytes([config, B]) and payload != ref.encode(tile, config=config)
        assert same(kernel_decode(payload, *tile.shape), tile)
        assert same(ref_decode(payload, *tile.shape), tile)
    with pytest.raises(ValueError):
        ref.encode(np.full((2, 2, 1), 300), bits=8, config=1)
    with pytest.raises(ValueError):
        ref.encode(np.array([[[0], [300]]]), bits=8, config=2)
    with pytest.raises(ValueError):
        ref.encode(np.full((2, 2, 1), 300), config=3)


def _fit_tile_1():
    """4.3.14's 6 x 7 x 1 tile: S(y, x) = (1171 y + 523 x + (7919 k mod 4001)) mod 65536, k = 7 y + x."""
    y, x = np.mgrid[:6, :7]
    return ((1171 * y + 523 * x + (7919 * (7 * y + x)) % 4001) % 65536).reshape(6, 7, 1)


def _fit_tile_3():
    """4.3.14's 5 x 6 x 3 tile: S(y, x, ch) = (2003 (y + x) + 911 ch + (12345 k mod 2999)) mod 65536,
    k = 18 y + 3 x + ch."""
    y, x, ch = np.mgrid[:5, :6, :3]
    return (2003 * (y + x) + 911 * ch + (12345 * (18 * y + 3 * x + ch)) % 2999) % 65536


CHECK_VALUES = [  # FORMAT.md section 4.3.14, set 1
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
] + [  # set 2: tiles above (offsets 1000, 32768, 0 and 256), and two where the fit has features
    (np.full((4, 4, 1), 1000),
     "020103e8ff7e"),
    (np.array([40000, 39000, 41000, 65535]).reshape(4, 1, 1),
     "020f80003ffec3f8035650cbf809347cd97b"),
    ((331 * np.arange(12)).reshape(3, 4, 1),
     "020c00009fd29f92bf53b8fa91582e0cbf58958b111e9a322790f8"),
    ((256 + (97 * np.arange(50)) % 61).reshape(5, 5, 2),
     "020601009f6da594bd3fce0662a7aadc3981c54fc7e4c4ea7e2413a7309ce892ac45145327cfafe4f4009137c3c729e66a1d2acc"),
    (_fit_tile_1(),
     ("020e00009fdf4bb553bc8a000ab7e88ded4d2941a7b9341ff5533269fde244c8ae7578c0fb3c610b46e571dea242a8ae8888668da2ca"
      "d5a41c")),
    (_fit_tile_3(),
     ("020f00009fdcb92379124567cff63ea6dfeaec06fdb180640f78cebb9a4fc38450bb91eaf9d9e3b502b12d4c8b6b00b34b9cb9b98e59"
      "0a1aaba68050881996e8b47b0306f96a41aa0093ab1f314f12933367095c985adcbb9bd6b34d6b732d26912a397959ea1c6356b3411f"
      "52ff2fd0c273f68472f0cb3cfe1f0d6d55288491099beebc38d59dced7895ab9b626f0c7db2b5161048783111011eb0eb2389202a2fe"
      "9f375a0c9d1230db188690a18452")),
]


@pytest.mark.parametrize("tile, hexed", CHECK_VALUES, ids=range(len(CHECK_VALUES)))
def test_check_values_of_the_spec(tile, hexed):
    config = int(hexed[:2], 16)
    assert ref.encode(tile, config=config).hex() == hexed
    assert kernel_encode(tile, config).hex() == hexed
    if config == ref.DEFAULT_SET:  # both encoders write set 2 unless told
        assert ref.encode(tile).hex() == kernel_encode(tile).hex() == hexed
    assert same(ref_decode(bytes.fromhex(hexed), *tile.shape), tile)
    assert same(kernel_decode(bytes.fromhex(hexed), *tile.shape), tile)


def test_the_set_2_check_values_reach_the_fit():
    """4.3.14's last two set-2 tiles are ones where the fit has features and learns, and the light decisions occur."""
    for tile in (_fit_tile_1(), _fit_tile_3()):
        stats = Counter()
        ref.encode(tile, config=2, stats=stats)
        assert stats["fit features"] and stats["fit learned"] and stats["light"]


def test_bad_headers_and_storage_are_format_errors_in_both():
    """4.3.1: under 2 bytes (set 1) or 4 (set 2), an unknown set, B = 0 or above 16, O + 2^B above 65536, a group
    whose storage bits are not 16."""
    for payload in [b"", b"\x01", b"\x02", b"\x02\x03a", b"\x00\x03abc", b"\x03\x03abc", b"\xff\x01", b"\x01\x00abc",
                    b"\x01\x11abc", b"\x01\xffabc", b"\x02\x00abc", b"\x02\x11abc", b"\x02\x0c\xf0\x01abc",
                    b"\x02\x10\x00\x01abc"]:
        assert kernel_decode(payload, 2, 3, 1) is FormatError, payload
        assert ref_decode(payload, 2, 3, 1) is FormatError, payload
    for config in SETS:
        good = hold(np.arange(6).reshape(2, 3, 1), config)
        for sb in (1, 8, 12, 15):
            assert kernel_decode(good, 2, 3, 1, sb) is FormatError, sb
            assert ref_decode(good, 2, 3, 1, sb) is FormatError, sb
        # an empty stream (L = 0) is no error in itself: a 1 x 1 tile decodes from it, six pixels run it past SLACK
        for B, shape, ok in [(1, (1, 1, 1), True), (16, (1, 1, 1), True), (1, (2, 3, 1), False),
                             (16, (2, 3, 4), False)]:
            payload = bytes([config, B]) + (b"\0\0" if config >= 2 else b"")
            a, b = kernel_decode(payload, *shape), ref_decode(payload, *shape)
            assert same(a, b) and (a is not FormatError) == ok, (payload, shape)


@pytest.mark.parametrize("config", SETS)
def test_random_payloads_decode_the_same(config):
    """Any bytes decode to some samples in O .. O + M, or run out past SLACK, the same in both (4.3.12) (set 2: an
    offset O that with B passes 65535 is refused, 4.3.1); random bytes
    reach the clamp of the decoded sample (4.3.11) and an all-0xFF stream the decoder's clamp (code >= range,
    4.1.14). In set 2 some tiles are large enough for the fit to have features."""
    rng = np.random.default_rng({1: 11, 2: 10}[config])
    outcomes, stats = Counter(), Counter()
    for i in range(36):
        B, c = int(rng.integers(1, 17)), 1 + i % 4
        h, w = (2 + i % 3, 3) if i % 4 < 2 or config == 1 else (4 + i % 2, 5 + i % 3)
        n = int(rng.integers(0, 3 * B * c * h * w // 2)) if i % 3 else int(rng.integers(0, 12))
        stream = rng.integers(0, 256, n, dtype=np.uint8).tobytes() if i % 6 else b"\xff" * n
        offset = int(rng.integers(0, 65537 - (1 << B))) if config >= 2 and i % 5 else 0
        payload = bytes([config, B]) + (offset.to_bytes(2, "big") if config >= 2 else b"") + stream
        a, b = kernel_decode(payload, h, w, c), ref_decode(payload, h, w, c, stats=stats)
        assert same(a, b), (B, c, payload.hex())
        outcomes[a is FormatError] += 1
        if a is not FormatError:
            assert offset <= int(a.min()) and int(a.max()) <= offset + (1 << B) - 1
    assert outcomes[True] and outcomes[False]
    assert stats["clamps"] > 0 and stats["sample clamped"] > 0
    if config == 2:
        assert stats["fit learned"] and stats["light"]


@pytest.mark.parametrize("config", SETS)
def test_truncated_payloads_decode_the_same(config):
    """A real stream cut short: decoded the same, or a FormatError in both at the same lengths; not strictly, the
    same samples at every length (the zeros read past the end)."""
    rng = np.random.default_rng(5)
    tile = noise(4, 5, 2, 10, rng)
    full = hold(tile, config)
    outcomes = Counter()
    for n in list(range(2 if config == 1 else 4, len(full) - 12, 4)) + list(range(len(full) - 12, len(full))):
        a, b = kernel_decode(full[:n], 4, 5, 2), ref_decode(full[:n], 4, 5, 2)
        assert same(a, b), n
        outcomes["error" if a is FormatError else "same" if same(a, tile) else "other"] += 1
    assert outcomes["error"] and outcomes["other"] and not outcomes["same"]  # its last byte is not a trimmed zero
    for n in (2 if config == 1 else 4, len(full) // 2, len(full) - 8):
        a, b = kernel_decode(full[:n], 4, 5, 2, strict=False), ref_decode(full[:n], 4, 5, 2, strict=False)
        assert a is not FormatError and same(a, b), n
