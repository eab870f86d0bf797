"""Method LEARNED, tiles coded with the network alone: round trips on real crops, the model estimate against the
stream size, garbage streams, pure-Python vs compiled kernels."""

import os
import subprocess
import sys

import numpy as np
import pytest

from lcd_images import train_crop
from lcodec import learned
from lcodec.errors import InvalidInputError
from lcodec.model import registry


@pytest.fixture(scope="module", params=[3, 1], ids=["rgb", "gray"])
def net(request):
    return registry.load(registry.default_for(request.param))


@pytest.mark.parametrize("folder", ["bsd200", "wikipedia"])
def test_round_trip_real_crops(shared_data, net, folder):
    tile = train_crop(shared_data, net.channels, folder, (40, 56), seed=net.channels)
    data = learned.encode_tile(net, tile)
    np.testing.assert_array_equal(learned.decode_tile(net, data, 40, 56), tile)
    # the range coder stays within a few bytes of the model's estimate; the model beats raw bytes
    est = learned.bits_map(net, tile).sum()
    assert abs(8 * len(data) - est) < 64
    assert 8 * len(data) < 8 * tile.size


@pytest.mark.parametrize("name", sorted(registry.MODELS))
def test_every_registered_model_still_decodes(shared_data, name):
    """Streams name their model: every model ever registered must keep loading and round-tripping."""
    net = registry.load(name)
    tile = train_crop(shared_data, net.channels, "wikipedia", (16, 24), seed=3)
    data = learned.encode_tile(net, tile)
    np.testing.assert_array_equal(learned.decode_tile(net, data, 16, 24), tile)


def test_round_trip_edge_cases(net):
    """Flat, saturated, noise and 1-pixel tiles; odd sizes."""
    rng = np.random.default_rng(0)
    c = net.channels
    tiles = [np.zeros((1, 1, c), np.uint8), np.full((3, 17, c), 255, np.uint8),
             rng.integers(0, 256, (9, 2, c), dtype=np.uint8), np.zeros((13, 1, c), np.uint8)]
    tiles[2][::2] = 0
    for tile in tiles:
        data = learned.encode_tile(net, tile)
        np.testing.assert_array_equal(learned.decode_tile(net, data, *tile.shape[:2]), tile)


def test_garbage_streams_decode_without_crashing(net):
    rng = np.random.default_rng(1)
    tile = rng.integers(0, 256, (8, 8, net.channels), dtype=np.uint8)
    data = learned.encode_tile(net, tile)
    for junk in (b"", b"\x00", b"\xff" * 3, bytes(rng.integers(0, 256, 500, dtype=np.uint8)),
                 data[: len(data) // 2], data + b"\x01" * 100):
        out = learned.decode_tile(net, junk, 8, 8)
        assert out.shape == (8, 8, net.channels) and out.dtype == np.uint8
    flipped = bytearray(data)
    flipped[len(flipped) // 3] ^= 0x10
    assert not np.array_equal(learned.decode_tile(net, bytes(flipped), 8, 8), tile)


def test_bad_tiles_are_rejected(net):
    with pytest.raises(InvalidInputError):
        learned.encode_tile(net, np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(InvalidInputError):
        learned.encode_tile(net, np.zeros((4, 4, net.channels), np.uint16))
    with pytest.raises(InvalidInputError):
        learned.encode_tile(net, np.zeros((0, 4, net.channels), np.uint8))
    with pytest.raises(InvalidInputError):
        learned.decode_tile(net, b"", 0, 5)


def test_pure_python_kernels_agree_with_compiled():
    """NUMBA_DISABLE_JIT=1 runs the same functions as Python: same stream, same decode, same bits."""
    code = (
        "import sys, numpy as np\n"
        "from lcodec import learned\n"
        "from lcodec.model import registry\n"
        "for c in (3, 1):\n"
        "    net = registry.load(registry.default_for(c))\n"
        "    tile = np.random.default_rng(c).integers(0, 256, (3, 4, c), dtype=np.uint8)\n"
        "    data = learned.encode_tile(net, tile)\n"
        "    back = learned.decode_tile(net, data, 3, 4)\n"
        "    print(data.hex(), back.tobytes().hex(), learned.bits_map(net, tile).tobytes().hex())\n"
    )
    outs = []
    for disable in ("1", "0"):
        env = dict(os.environ, NUMBA_DISABLE_JIT=disable)
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
        assert res.returncode == 0, res.stderr
        outs.append(res.stdout)
    assert outs[0] == outs[1]
    assert len(outs[0].split()) == 6


def test_full_size_round_trip(shared_data):
    """A 768x512 photo (training set) round trip; prints seconds of CPU time."""
    import time

    net = registry.load(registry.default_for(3))
    tile = train_crop(shared_data, 3, "wikipedia", (512, 768), seed=2)
    t0 = time.process_time()
    data = learned.encode_tile(net, tile)
    t1 = time.process_time()
    back = learned.decode_tile(net, data, 512, 768)
    t2 = time.process_time()
    np.testing.assert_array_equal(back, tile)
    print(f"encode {t1 - t0:.2f} s, decode {t2 - t1:.2f} s, {8 * len(data) / tile.size:.3f} bpsp")
