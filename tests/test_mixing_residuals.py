"""Method RESIDUAL (deep planes without the network): every depth and channel count round trips, hostile payloads
decode or refuse, deep images go through the API coded by it, smaller than the fallback and JPEG-XL e9."""

import numpy as np
import pytest

import lcodec
from lcodec import api, container, fallback
from lcodec.errors import FormatError
from lcodec.mixing import residuals


@pytest.mark.parametrize("bits", range(9, 17))
def test_round_trip_every_depth_and_channel_count(bits):
    rng = np.random.default_rng(bits)
    top = (1 << bits) - 1
    for c in (1, 2, 3, 4):
        smooth = np.add.outer(np.arange(11), np.arange(9))[:, :, None] * (top // 20) + np.arange(c) * 7
        for tile in (rng.integers(0, top + 1, (11, 9, c)), smooth, np.full((11, 9, c), top), np.zeros((11, 9, c))):
            tile = tile.astype(np.uint16)
            method, payload = residuals.encode_tile(tile)
            assert method == container.RESIDUAL and payload[:2] == bytes([1, max(int(tile.max()).bit_length(), 1)])
            assert np.array_equal(residuals.decode_tile(payload, 11, 9, c, True), tile)
    noise = rng.integers(0, top + 1, (32, 32, 1)).astype(np.uint16)
    assert 8 * len(residuals.encode_tile(noise)[1]) < 1024 * (bits + 2)  # noise: its bits and a sign (the fallback
    # is kept where that is smaller)


def test_garbage_payloads_decode_or_refuse():
    rng = np.random.default_rng(3)
    for n in (0, 1, 7, 300):
        out = residuals.decode_tile(bytes([1, 12]) + rng.bytes(n), 6, 7, 2, False)
        assert out.shape == (6, 7, 2) and out.dtype == np.uint16 and out.max() < 4096
    for bad in (b"", b"\x01", b"\x02\x0c", b"\x01\x00", b"\x01\x11"):
        with pytest.raises(FormatError):
            residuals.decode_tile(bad + b"\0" * 4, 4, 4, 1, True)
    with pytest.raises(FormatError, match="exhausted"):
        residuals.decode_tile(bytes([1, 16]) + rng.bytes(3), 40, 40, 1, True)


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
