"""The mixing engine without the network (method CONTEXT): any depth round trips, hostile payloads, and the planes
it takes over from the fallback (palette indices, alpha, bilevel)."""

import numpy as np
import pytest

import lcodec
from lcodec import api, container, fallback
from lcodec.errors import FormatError
from lcodec.mixing import planes


@pytest.mark.parametrize("bits", [1, 2, 5, 8, 12, 16])
def test_round_trip_every_depth(bits):
    rng = np.random.default_rng(bits)
    storage = 1 if bits == 1 else (8 if bits <= 8 else 16)
    smooth = (np.add.outer(np.arange(13), np.arange(17)) * ((1 << bits) - 1) // 28)[:, :, None]
    for tile in (rng.integers(0, 1 << bits, (13, 17, 2)), np.repeat(smooth, 3, axis=2)):
        tile = tile.astype(np.uint16 if storage == 16 else np.uint8)
        method, payload = planes.encode_tile(tile, storage)
        assert method == container.CONTEXT and payload[:2] == bytes([1, planes.used_bits(tile)])
        out = planes.decode_tile(payload, 13, 17, tile.shape[2], storage, True)
        assert np.array_equal(out.astype(np.uint16), tile.astype(np.uint16))
    noise = 8 * len(planes.encode_tile(rng.integers(0, 1 << bits, (13, 17, 2)).astype(np.uint16), storage)[1])
    assert noise < 13 * 17 * 2 * bits * 1.1 + 64  # random samples cost about their bits, no more


@pytest.mark.parametrize("name", ["vl_falcon.png", "tess_devatest.png"])
def test_palette_indices_smaller_than_the_fallback(shared_data, name):
    """The indices of real palette images (a chart, a scanned page): smaller than the fallback's best."""
    from PIL import Image

    tile = np.ascontiguousarray(np.asarray(Image.open(shared_data / "graphics" / name))[:160, :192, None])
    assert len(planes.encode_tile(tile, 8)[1]) < 0.9 * len(fallback.encode(tile, 8)[1])


def test_garbage_payloads_decode_or_refuse():
    rng = np.random.default_rng(2)
    for n in (0, 1, 5, 200):
        out = planes.decode_tile(bytes([1, 6]) + rng.bytes(n), 7, 9, 1, 8, False)
        assert out.shape == (7, 9, 1) and out.max() < 64
    for bad in (b"", b"\x01", b"\x02\x08", b"\x01\x00", b"\x01\x09"):
        with pytest.raises(FormatError):
            planes.decode_tile(bad + b"\0" * 4, 4, 4, 1, 8, True)
    with pytest.raises(FormatError, match="exhausted"):
        planes.decode_tile(bytes([1, 8]) + rng.bytes(3), 40, 40, 1, 8, True)


def test_alpha_and_palette_planes_through_the_api(shared_data):
    """Effort 2 codes a non-model plane with CONTEXT where it beats the fallback (a version 5 file), effort 1 and
    learned=False keep the fallback; every file decodes exactly."""
    from PIL import Image

    image = Image.open(shared_data / "graphics" / "spd_items.png")  # RGBA pixel art
    arr = np.asarray(image)[:128, :128]
    data = api.Compressor(threads=1).compress(arr)
    h = lcodec.read_header(data)
    assert container.CONTEXT in h.methods and h.version == 5
    assert np.array_equal(lcodec.decompress(data), arr)
    for kw in ({"effort": 1}, {"learned": False}):
        other = api.Compressor(threads=1, **kw).compress(arr)
        assert container.CONTEXT not in lcodec.read_header(other).methods
        assert np.array_equal(lcodec.decompress(other), arr)


CHECK_VALUES = [  # FORMAT.md section 4.2.13: (tile, storage bits, payload)
    (np.array([[0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5]])[:, :, None], 8, "01030544de4582"),
    (np.array([[0, 1, 1, 0, 1], [1, 1, 0, 0, 1]])[:, :, None], 1, "01016e6a"),
    (np.array([[7, 200, 31, 7, 200, 31, 7, 200]] * 2 + [[200, 31, 7, 200, 31, 7, 200, 31]] * 2)[:, :, None], 8,
     "010807c87df07e69fcc8cb4eae129915fed093f5265c8c9587180d94b3ba"),
    ((331 * np.arange(12)).reshape(3, 4, 1), 16, "010c000155eb978954e41f1e2cb7df9168c0f1e9"),
    (np.array([[[1000, 7, 65535], [999, 8, 65535]], [[1001, 7, 0], [1000, 9, 65534]]]), 16,
     "011003e7c8aad6e255936012ec19a8d4faa1c3a3c0e01a27b00a"),
    ((7 * np.arange(36) % 64).reshape(3, 3, 4), 8, "010600739572cb7c4f2a17e63ec620e22f7c9cadd82e96961f859b764e"),
    (np.zeros((3, 3, 1), int), 8, "0101"),
]


@pytest.mark.parametrize("tile, storage, payload", CHECK_VALUES)
def test_the_spec_check_values(tile, storage, payload):
    tile = tile.astype(bool if storage == 1 else (np.uint8 if storage == 8 else np.uint16))
    assert planes.encode_tile(tile, storage) == (container.CONTEXT, bytes.fromhex(payload))
    assert np.array_equal(planes.decode_tile(bytes.fromhex(payload), *tile.shape, storage, True), tile)
