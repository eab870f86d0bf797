"""A hostile file costs its size, not its claim (FORMAT.md section 6): files that claim large images over random or
borrowed payloads are rejected after about one tile's work, and corruption in a real file is found in the tile
that holds it."""

import time

import numpy as np
import pytest
from lcd_images import photo

import lcodec
from lcodec import api, container
from lcodec.errors import ChecksumError, FormatError

BOUND_S = 2.0  # seconds of one core to reject any file up to 64 KB at the default limits (measured: about 0.2)


def _hostile(models, side, method, payloads, tile=512):
    net = models.load(models.default_for(3))
    n = len(container.tile_boxes(side, side, tile))
    header = container.Header(mode="RGB", width=side, height=side, tile=tile, precision=24, model=net.name,
                              model_sha256=net.sha256, pixel_sha256="0" * 64, methods=(method,) * n)
    return container.pack(header, [payloads(i) for i in range(n)])


def _cpu_to_reject(data, error=FormatError, threads=1):
    start = time.process_time()
    with pytest.raises(error):
        api.Decompressor(threads=threads).decompress(data)
    return time.process_time() - start


@pytest.mark.parametrize("side", [2048, 8192, 16384])
@pytest.mark.parametrize("method", [container.LEARNED, container.MIXED])
def test_claims_over_random_payloads(models, side, method):
    """The files of issue 16 (2048 x 2048 and 8192 x 8192 over 8 random bytes a tile) and the default limit's
    16384 x 16384, for both model methods: each tile's stream runs out at once."""
    rng = np.random.default_rng(side)
    prefix = b"\x01" if method == container.MIXED else b""
    data = _hostile(models, side, method, lambda i: prefix + rng.bytes(8))
    assert len(data) < 64 << 10
    assert _cpu_to_reject(data) < BOUND_S


@pytest.mark.parametrize("length", [64, 1024, 4000])
def test_random_payloads_of_plausible_length(models, length):
    """Random payloads as long as a 64 KB file allows, over 16 tiles: each decodes until its bytes run out."""
    rng = np.random.default_rng(length)
    data = _hostile(models, 2048, container.MIXED, lambda i: b"\x01" + rng.bytes(length))
    assert len(data) < 64 << 10 and _cpu_to_reject(data) < BOUND_S


def test_a_borrowed_stream_costs_one_tile(shared_data, models):
    """Real streams in the wrong places decode in full, but the first tile's checksum stops the file."""
    tile = np.asarray(photo(shared_data, 128, 128))
    real = api.Compressor(fallback=False, tile=128, threads=1).compress(tile)
    header, payloads = container.parse(real)
    stream = bytes(payloads[0])
    data = _hostile(models, 4096, container.MIXED, lambda i: stream, tile=128)  # 1024 tiles claimed
    one = time.process_time()
    api.Decompressor(threads=1).decompress(real)
    one = time.process_time() - one
    assert _cpu_to_reject(data, ChecksumError) < 3 * one + 0.5  # the first tile, perhaps a second in flight


def test_bit_flip_in_the_first_tile_of_a_large_file(shared_data):
    """A real 1024 x 1536 file with one bit flipped in its first tile: rejected in about one tile's time, long before
    the whole image is decoded."""
    image = np.tile(np.asarray(photo(shared_data, 512, 768)), (2, 2, 1))
    data = bytearray(api.Compressor(effort=1, fallback=False, threads=2).compress(image))
    header = lcodec.read_header(bytes(data))
    start = time.process_time()
    assert np.array_equal(api.Decompressor(threads=1).decompress(bytes(data)), image)
    whole = time.process_time() - start
    data[header.header_size + header.lengths[0] // 2] ^= 0x10
    cost = _cpu_to_reject(bytes(data), (ChecksumError, FormatError))
    assert cost < 0.5 * whole, (cost, whole)
