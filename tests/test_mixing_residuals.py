"""Method RESIDUAL (deep planes without the network): every depth and channel count round trips, hostile payloads
decode or refuse, deep images go through the API coded by it, smaller than the fallback and JPEG-XL e9."""

import numpy as np
import pytest

import lcodec
from lcodec import api, container, fallback
from lcodec.errors import FormatError
from lcodec.mixing import residuals


@pytest.mark.parametrize("config", sorted(residuals.PARAMS))
@pytest.mark.parametrize("bits", range(9, 17))
def test_round_trip_every_depth_and_channel_count(bits, config):
    rng = np.random.default_rng(bits)
    top = (1 << bits) - 1
    for c in (1, 2, 3, 4):
        smooth = np.add.outer(np.arange(11), np.arange(9))[:, :, None] * (top // 20) + np.arange(c) * 7
        for tile in (rng.integers(0, top + 1, (11, 9, c)), smooth, np.full((11, 9, c), top), np.zeros((11, 9, c))):
            tile = tile.astype(np.uint16)
            method, payload = residuals.encode_tile(tile, config)
            lo = 0 if config == 1 else int(tile.min())
            assert method == container.RESIDUAL and payload[:2] == bytes([config, max((int(tile.max()) - lo).bit_length(), 1)])
            assert np.array_equal(residuals.decode_tile(payload, 11, 9, c, 16, True), tile)
    # noise costs about its bits and a sign while the tile's statistics are learned, then less than half a bit more
    # (tiling keeps the fallback where that is smaller)
    noise = rng.integers(0, top + 1, (32, 32, 1)).astype(np.uint16)
    assert 8 * len(residuals.encode_tile(noise, config)[1]) < 1024 * (bits + 2.5)
    noise = rng.integers(0, top + 1, (256, 256, 1)).astype(np.uint16)
    assert 8 * len(residuals.encode_tile(noise, config)[1]) < noise.size * (bits + 0.5)


def test_garbage_payloads_decode_or_refuse():
    rng = np.random.default_rng(3)
    for n in (0, 1, 7, 300):
        out = residuals.decode_tile(bytes([1, 12]) + rng.bytes(n), 6, 7, 2, 16, False)
        assert out.shape == (6, 7, 2) and out.dtype == np.uint16 and out.max() < 4096
    for bad in (b"", b"\x01", b"\x02\x0c\x00", b"\x03\x0c\x00\x00", b"\x00\x0c", b"\x01\x00", b"\x02\x11\x00\x00",
                b"\x02\x0c\xf0\x01"):  # the last: offset + 2^B passes 65536
        with pytest.raises(FormatError):
            residuals.decode_tile(bad + b"\0" * 4, 4, 4, 1, 16, True)
    with pytest.raises(FormatError, match="8-bit samples"):
        residuals.decode_tile(residuals.encode_tile(np.ones((4, 4, 1), np.uint16))[1], 4, 4, 1, 8, True)
    with pytest.raises(FormatError, match="exhausted"):
        residuals.decode_tile(bytes([1, 16]) + rng.bytes(3), 40, 40, 1, 16, True)


@pytest.mark.parametrize("name", ["sunpy_trace_171_1998-05-19.png", "neubias_hela-cells_rgb.png"])
def test_deep_images_through_the_api(shared_data, name):
    """A 16-bit gray and a 16-bit colour image: coded by RESIDUAL (version 5), exact, smaller than the fallback and
    than JPEG-XL e9 told the bits used."""
    imagecodecs = pytest.importorskip("imagecodecs")
    arr = imagecodecs.png_decode((shared_data / "deep" / name).read_bytes())
    y, x = arr.shape[0] // 2 - 128, arr.shape[1] // 2 - 128
    arr = np.ascontiguousarray(arr[y:y + 256, x:x + 256])  # the middle, where the content is
    data = api.Compressor(threads=1).compress(arr)
    h = lcodec.read_header(data)
    assert set(h.methods) == {container.RESIDUAL} and h.version == 5
    assert np.array_equal(lcodec.decompress(data), arr)
    plane = np.ascontiguousarray(arr.reshape(256, 256, -1))
    assert len(data) < len(fallback.encode(plane, 16)[1])
    bits = max(int(arr.max()).bit_length(), 1)
    assert len(data) < len(imagecodecs.jpegxl_encode(arr, effort=9, lossless=True, bitspersample=bits))


CHECK_VALUES = [  # FORMAT.md section 4.3.14: (tile, payload of set 1)
    (np.array([[[5]]]), "010338"),
    (np.array([[0, 1, 1], [1, 0, 1]])[:, :, None], "01018d37"),
    ((331 * np.arange(12)).reshape(3, 4, 1), "010c9fd29feb5478e4d78e82829e6cab59acce0adb8bc8d6b9220f"),
    (np.full((4, 4, 1), 1000), "010a3fff3fc13c"),
    (np.array([40000, 39000, 41000, 65535]).reshape(4, 1, 1), "01103fffce1db6389a20ce974f855324"),
    (np.array([0, 65535, 0, 65535, 0]).reshape(1, 5, 1), "01109fe03fff86e51151cba87709a3"),
    (np.array([[[0, 65535, 0], [65535, 0, 65535], [0, 0, 65535]], [[65535, 65535, 0], [0, 65535, 65535], [65535, 0, 0]]]),
     "01109fe03fff86e57f41f27fe46283a042295398ec8d6a2e4974372e7cac710b64da4b563a49f71377a2a15d98f7d2bc6fe58f5e9d4d1cf2d1"
     "730a76d8"),
    ((256 + (97 * np.arange(50)) % 61).reshape(5, 5, 2),
     "01093fdfcf06e67648edd0afb3c5f575bd6b721197e30ba93e75901e18bb7341150fbe3e107f34bb65d29505764a4eb0d52b9748e8c6"),
]


FIT_TILES = [  # tiles where set 2's least-squares fit has features (y >= 3, x >= 4) and mantissas are long
    ((np.arange(6)[:, None] * 1171 + np.arange(7) * 523 + (np.arange(42).reshape(6, 7) * 7919) % 4001) % 65536)[:, :, None],
    (np.add.outer(np.arange(5), np.arange(6))[:, :, None] * 2003 + np.arange(3) * 911
     + (np.arange(90).reshape(5, 6, 3) * 12345) % 2999) % 65536,
]
CHECK_VALUES_2 = [  # FORMAT.md section 4.3.14: (tile, payload of set 2)
    (CHECK_VALUES[3][0],
     "020103e8ff7e"),
    (CHECK_VALUES[4][0],
     "020f80003ffec3f8035650cbf809347cd97b"),
    (CHECK_VALUES[2][0],
     "020c00009fd29f92bf53b8fa91582e0cbf58958b111e9a322790f8"),
    (CHECK_VALUES[7][0],
     "020601009f6da594bd3fce0662a7aadc3981c54fc7e4c4ea7e2413a7309ce892ac45145327cfafe4f4009137c3c729e66a1d"
     "2acc"),
    (FIT_TILES[0],
     "020e00009fdf4bb553bc8a000ab7e88ded4d2941a7b9341ff5533269fde244c8ae7578c0fb3c610b46e571dea242a8ae8888"
     "668da2cad5a41c"),
    (FIT_TILES[1],
     "020f00009fdcb92379124567cff63ea6dfeaec06fdb180640f78cebb9a4fc38450bb91eaf9d9e3b502b12d4c8b6b00b34b9c"
     "b9b98e590a1aaba68050881996e8b47b0306f96a41aa0093ab1f314f12933367095c985adcbb9bd6b34d6b732d26912a3979"
     "59ea1c6356b3411f52ff2fd0c273f68472f0cb3cfe1f0d6d55288491099beebc38d59dced7895ab9b626f0c7db2b51610487"
     "83111011eb0eb2389202a2fe9f375a0c9d1230db188690a18452"),
]


@pytest.mark.parametrize("config, tile, payload", [(1, t, p) for t, p in CHECK_VALUES] + [(2, t, p) for t, p in CHECK_VALUES_2])
def test_the_spec_check_values(config, tile, payload):
    tile = tile.astype(np.uint16)
    assert residuals.encode_tile(tile, config) == (container.RESIDUAL, bytes.fromhex(payload))
    assert np.array_equal(residuals.decode_tile(bytes.fromhex(payload), *tile.shape, 16, True), tile)


def test_signed_and_offset_samples_cost_what_unsigned_ones_do(shared_data):
    """A real CT slice as stored (Hounsfield units + 1500), as signed Hounsfield units, and raised by 20000: set 2 codes
    the samples less their offset, so the three files are within 0.5 % of each other, and each is exact."""
    imagecodecs = pytest.importorskip("imagecodecs")
    stored = imagecodecs.png_decode((shared_data / "deep" / "dcmqact_GE_14.png").read_bytes())[128:384, 128:384]
    hu = (stored.astype(np.int32) - 1500).astype(np.int16)
    sizes = []
    for arr in (stored, hu, stored + np.uint16(20000)):
        data = lcodec.compress(arr)
        back = lcodec.decompress(data)
        assert back.dtype == arr.dtype and np.array_equal(back, arr)
        assert set(lcodec.read_header(data).methods) == {container.RESIDUAL}
        sizes.append(len(data))
    assert max(sizes) < min(sizes) * 1.005, sizes


def test_effort_3_tries_every_fallback_method(monkeypatch):
    """Below effort 3 the fallback skips LZMA where its quick look says the stage's payload is out of reach; at effort
    3 it tries every method (a full Digitized Sky Survey plate's tile is smaller by LZMA than by any stage, though its
    quick DEFLATE is not)."""
    targets = []
    encode = fallback.encode

    def spy(plane, bits, target=None):
        targets.append(target)
        return encode(plane, bits, target)

    monkeypatch.setattr(fallback, "encode", spy)
    tile = np.add.outer(np.arange(40), np.arange(48)).astype(np.uint16) * 300
    for effort in (2, 3):
        assert np.array_equal(lcodec.decompress(api.Compressor(effort=effort, threads=1).compress(tile)), tile)
    assert len(targets) == 2 and isinstance(targets[0], int) and targets[1] is None
