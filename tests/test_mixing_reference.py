"""The MIXED kernels (lcodec.mixing) against lcodec.mixing.reference, a plain-Python reading of FORMAT.md section 4.1
written independently of them: payloads equal byte for byte for every parameter set, and the reference decodes
the kernels' payloads, and any bytes, as the kernels do. Small tiles: the reference is slow by design."""

from collections import Counter

import numpy as np
import pytest

from lcodec import mixing
from lcodec.errors import FormatError
from lcodec.mixing import reference
from lcodec.model import reference as netref
from lcodec.model import registry
from lcd_images import train_crop


def _adaptation_off():
    """A registered model without the adaptive stage (E = 0 everywhere), RGB first; None if there is none."""
    names = sorted((registry.load(n).channels != 3, n) for n in registry.MODELS
                   if registry.load(n).config.adapt_shift == 0
                   and registry.load(n).config.radius >= reference.MIN_RADIUS)
    return names[0][1] if names else None


MODELS = [registry.default_for(3), registry.default_for(1)] + [n for n in [_adaptation_off()] if n]


def repeats(c, h, w, seed):
    """Rows of one random 5-pixel pattern: the match model finds it, follows it across row ends (mlen past 32) and
    loses it where the period breaks at each row end."""
    rng = np.random.default_rng(seed)
    row = np.tile(rng.integers(0, 256, (1, 5, c), dtype=np.uint8), (1, -(-w // 5), 1))[:, :w]
    return np.ascontiguousarray(np.tile(row, (h, 1, 1)))


def flat(c, h, w):
    """Mostly 255, a block of 0 and a row of 128, one odd sample: the network is sure of most bits (set 1 codes them
    as it says) and the counters of the flat area reach their limit."""
    t = np.full((h, w, c), 255, np.uint8)
    t[:3, :4] = 0
    t[-1] = 128
    t[h // 2, w // 2, 0] = 1
    return t


def noise(c, h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


def tile_of(kind, net, shared_data):
    c = net.channels
    if kind == "photo":
        return train_crop(shared_data, c, "bsd200" if c == 3 else "wikipedia", (8, 10), seed=5)
    return {"repeats": lambda: repeats(c, 9, 12, 1), "flat": lambda: flat(c, 12, 14),
            "noise": lambda: noise(c, 6, 9, 3)}[kind]()


def test_parameter_sets_are_those_of_the_spec():
    assert sorted(mixing.PARAMS) == sorted(reference.SETS) == [1, 2, 3]


def test_tables_match_the_spec_check_values():
    sq, st, lg, rc = reference.SQUASH, reference.STRETCH, reference.LOG2, reference.RECIP
    assert (sq[0], sq[4095], sq[4096], sq[8190], sum(sq[4095:8191])) == (1, 32768, 32832, 65535, 256_789_000)
    assert (st[0], st[1], st[2047], sum(st[:2048])) == (-2307, -2025, 0, -726_713)
    assert (lg[1], lg[512], lg[1023], sum(lg)) == (92, 38336, 65490, 37_367_338)
    assert (rc[0], rc[1], rc[127], sum(rc[:128])) == (43691, 26214, 510, 316_108)


def test_pixel_outputs_equal_the_all_positions_network():
    net = registry.load(MODELS[0])
    img = noise(net.channels, 5, 7, 9)
    out = netref.outputs(net, img)
    for y, x in [(0, 0), (0, 6), (2, 3), (4, 6)]:
        assert np.array_equal(netref.pixel_outputs(net, img, y, x), out[y, x])


def test_range_coder_round_trips_and_stays_within_slack():
    """The coder of section 4.1.14 on long random streams, bits drawn against their probability too: decodes back,
    carries happen, and the decoder never reads more than SLACK bytes past the (trimmed) end."""
    rng = np.random.default_rng(11)
    for trial in range(6):
        n = int(rng.integers(1, 3000))
        p = rng.choice([1, 2, 65534, 65535, 32768], n) if trial % 2 else rng.integers(1, 65536, n)
        bits = (rng.integers(0, 65536, n) < (p if trial < 4 else 65536 - p)).astype(int).tolist()
        enc = reference.Encoder()
        for b, pi in zip(bits, p.tolist()):
            enc.code(b, pi)
        stream = enc.finish()
        assert trial == 0 or enc.carries > 0
        dec = reference.Decoder(stream)
        assert [dec.code(None, pi) for pi in p.tolist()] == bits
        assert dec.pos - len(stream) <= reference.SLACK


@pytest.mark.parametrize("q", sorted(mixing.PARAMS))
@pytest.mark.parametrize("kind", ["photo", "repeats", "flat", "noise"])
@pytest.mark.parametrize("name", MODELS)
def test_kernels_code_as_the_reference(shared_data, name, kind, q):
    net = registry.load(name)
    tile = tile_of(kind, net, shared_data)
    got = mixing.encode_tile(net, tile, config=q)
    stats = Counter()
    want = reference.encode(net, tile, q, stats=stats)
    first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    assert got == want, f"{len(got)} vs {len(want)} bytes, first difference at byte {first}"
    assert np.array_equal(reference.decode(net, got, *tile.shape[:2], strict=True), tile)
    # the tile reaches what it is meant to, so a path no tile takes cannot hide a difference
    assert stats["carries"] > 0 and (q == 1 or stats["sure"] == 0), stats
    if kind == "flat" and q == 1:  # 0, 255 and flat areas: the network is sure of some bits
        assert stats["sure"] > 0, stats
    if kind == "repeats":
        assert min(stats["follow-on"], stats["long match"], stats["match lost"]) > 0, stats
    if kind == "flat" and q != 1:
        assert stats["saturated"] > 0, stats
    if net.channels == 3 and kind in ("repeats", "noise"):  # a bucket taken over by another context value
        assert stats["reclaimed"] > 0, stats


@pytest.mark.parametrize("kind", ["photo", "noise"])
@pytest.mark.parametrize("channels", [3, 1])
def test_kernels_code_as_the_reference_where_hashes_collide(shared_data, channels, kind):
    """Larger tiles, where hashes collide: context buckets change hands between values that recur (so a context value
    built otherwise than the spec says shows, as a different pattern of collisions), the match table's slots collide,
    and the flat rows under the gray noise saturate counters."""
    net = registry.load(registry.default_for(channels))
    shape = (24, 24) if channels == 3 else (40, 40)
    if kind == "photo":
        tile = train_crop(shared_data, channels, "bsd200", shape, seed=7)
    else:
        tile = noise(channels, *shape, 5)
        tile[shape[0] * 2 // 3:] = 200
    stats = Counter()
    assert mixing.encode_tile(net, tile, config=3) == reference.encode(net, tile, 3, stats=stats)
    assert stats["reclaimed"] > 400, stats
    if kind == "noise":
        assert stats["saturated"] > 0 and stats["hit"] > 0, stats


def test_stream_with_two_implicit_zeros():
    """A tile (found by search, model gray-v5 by name: a name never changes meaning) whose stream ended in two zero
    bytes before TRIM dropped them: the kernels drop exactly those, and both decoders read them back."""
    net = registry.load("gray-v5")
    tile = noise(1, 2, 3, 494)
    stats = Counter()
    payload = mixing.encode_tile(net, tile, config=1)
    assert payload == reference.encode(net, tile, 1, stats=stats)
    assert stats["trimmed"] == 2
    assert np.array_equal(reference.decode(net, payload, 2, 3, strict=True), tile)
    assert np.array_equal(mixing.decode_tile(net, payload, 2, 3, strict=True), tile)


def _outcome(fn):
    try:
        return fn().tobytes()
    except FormatError:
        return "FormatError"


@pytest.mark.parametrize("name", MODELS[:2])
def test_any_bytes_decode_as_the_reference_decodes_them(name):
    """Random streams after each valid parameter byte, streams that open with the largest code (the decoder's clamp
    of section 4.1.14), truncated real payloads: the same samples, or FormatError in both under the strict rule."""
    net = registry.load(name)
    h, w, c = 5, 6, net.channels
    rng = np.random.default_rng(21)
    real = mixing.encode_tile(net, noise(c, h, w, 4), config=1)
    payloads = [bytes([q]) + rng.bytes(int(n)) for q in sorted(mixing.PARAMS) for n in (h * w * c // 3, h * w * c)]
    payloads += [bytes([2]) + b"\xff" * (h * w * c), bytes([3]) + b"\xff" * 6 + rng.bytes(h * w * c)]
    payloads += [real[:n] for n in (2, len(real) // 2, len(real) - 3, len(real) - 1)]
    stats, outcomes = Counter(), Counter()
    for payload in payloads:
        got = mixing.decode_tile(net, payload, h, w)
        assert np.array_equal(got, reference.decode(net, payload, h, w, stats=stats))
        strict = _outcome(lambda: mixing.decode_tile(net, payload, h, w, strict=True))
        assert strict == _outcome(lambda: reference.decode(net, payload, h, w, strict=True))
        outcomes[strict == "FormatError"] += 1
    assert stats["clamps"] > 0 and outcomes[True] > 0 and outcomes[False] > 0, (stats, outcomes)
    for bad in (b"", b"\x00", bytes([max(mixing.PARAMS) + 1]) + rng.bytes(8)):
        with pytest.raises(FormatError):
            mixing.decode_tile(net, bad, h, w)
        with pytest.raises(FormatError):
            reference.decode(net, bad, h, w)
