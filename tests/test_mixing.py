"""The mixing stage (method MIXED): round trips, the stream against its estimate, what it gains over the network
alone, hostile payloads, its lookup tables, and the format version it needs."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

import lcodec
from lcd_images import fix_header_crc, train_crop
from lcodec import api, container, learned, mixing
from lcodec.errors import FormatError
from lcodec.mixing.logistic import ST_MAX
from lcodec.model import registry


@pytest.fixture(scope="module", params=[3, 1], ids=["rgb", "gray"])
def net(request):
    return registry.load(registry.default_for(request.param))


@pytest.mark.parametrize("config", sorted(mixing.PARAMS))
@pytest.mark.parametrize("folder", ["bsd200", "wikipedia"])
def test_round_trip_and_estimate(shared_data, net, folder, config):
    tile = train_crop(shared_data, net.channels, folder, (48, 64), seed=net.channels)
    data = mixing.encode_tile(net, tile, config=config)
    assert data[0] == config
    np.testing.assert_array_equal(mixing.decode_tile(net, data, 48, 64), tile)
    est = mixing.bits_map(net, tile, config=config).sum()
    assert abs(8 * (len(data) - 1) - est) < 64  # the range coder: within a few bytes of Σ −log2 p


def test_learns_the_image(shared_data, net):
    """On a 256 x 256 photo crop the learned statistics pay: at least 1 % smaller than the network alone."""
    tile = train_crop(shared_data, net.channels, "bsd200", (256, 256), seed=5)
    mixed, alone = len(mixing.encode_tile(net, tile)), len(learned.encode_tile(net, tile))
    assert mixed < 0.99 * alone, (mixed, alone)


def test_repeats_cost_little(net):
    """The match model: a tile of one random block repeated 8 times costs less than two blocks (the network
    alone codes every copy afresh)."""
    rng = np.random.default_rng(7)
    block = rng.integers(0, 256, (8, 64, net.channels), dtype=np.uint8)
    tile = np.ascontiguousarray(np.tile(block, (8, 1, 1)))
    data = mixing.encode_tile(net, tile)
    np.testing.assert_array_equal(mixing.decode_tile(net, data, *tile.shape[:2]), tile)
    assert len(data) < 2 * block.size and len(data) < 0.3 * len(learned.encode_tile(net, tile)), len(data)


def test_garbage_and_bad_parameters(net):
    rng = np.random.default_rng(0)
    for n in (1, 2, 9, 300):
        payload = bytes([mixing.DEFAULT_PARAMS]) + rng.integers(0, 256, n - 1, dtype=np.uint8).tobytes()
        out = mixing.decode_tile(net, payload, 9, 11)  # some pixels, never a crash or a hang
        assert out.shape == (9, 11, net.channels) and out.dtype == np.uint8
    with pytest.raises(FormatError, match="parameter set"):
        mixing.decode_tile(net, b"\xee\x00\x00", 4, 4)
    with pytest.raises(FormatError, match="empty"):
        mixing.decode_tile(net, b"", 4, 4)


def test_tables_are_pinned():
    """The lookup tables come from exact decimal arithmetic: these digests hold on every machine."""
    t = mixing.tables(127)
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(a, "<i8").tobytes() for a in t)).hexdigest()
    assert digest == TABLES_SHA256
    assert t.squash[ST_MAX] == 1 << 15 and t.squash[0] == 1 and t.squash[-1] == (1 << 16) - 1
    assert (np.diff(t.squash) >= 0).all() and (np.diff(t.stretch) >= 0).all()
    assert (t.stretch == -t.stretch[::-1]).all() and (t.squash + t.squash[::-1] == 1 << 16).all()
    assert t.log2[0] == 0 and t.recip[0] == 43691


TABLES_SHA256 = "16c044c6b39208cadbcff1b919b652244cf39208536b50b8061c622cb3d27bed"


def test_efforts_and_versions(shared_data):
    img = np.asarray(train_crop(shared_data, 3, "wikipedia", (40, 48), seed=2))
    version = container.VERSION
    for effort, method in ((1, container.LEARNED), (2, container.MIXED), (3, container.MIXED)):
        data = api.Compressor(fallback=False, effort=effort, threads=1).compress(img)
        h = lcodec.read_header(data)
        assert set(h.methods) == {method} and h.version == version == data[8]
        assert np.array_equal(lcodec.decompress(data), img)
    for bad in (4, 0, True, "2", None):
        with pytest.raises(lcodec.InvalidInputError, match="effort"):
            api.Compressor(effort=bad)


def test_version_1_cannot_hold_mixed():
    data = bytearray((Path(__file__).parent / "golden" / "rgb-mixed.lcd").read_bytes())  # a version-2 file
    assert data[8] == 2
    data[8] = 1
    with pytest.raises(FormatError, match="version 1"):
        lcodec.decompress(fix_header_crc(data))


def test_networks_too_narrow_for_the_contexts(shared_data):
    """A network whose causal window is under MIN_RADIUS cannot carry the stage: it refuses to encode over it, and
    a tile claiming it is a FormatError (the Compressor then codes with the network alone)."""
    from test_kernels import random_net

    net = random_net(3, 0, kernel=5)
    assert not mixing.supports(net) and mixing.supports(registry.load(registry.default_for(3)))
    tile = train_crop(shared_data, 3, "wikipedia", (8, 8), seed=1)
    with pytest.raises(lcodec.InvalidInputError, match="radius"):
        mixing.encode_tile(net, tile)
    with pytest.raises(FormatError, match="radius"):
        mixing.decode_tile(net, b"\x01\x00", 8, 8)
    from lcodec import stages

    wide = registry.load(registry.default_for(3))  # one choice for api and explain: the stage the network carries
    assert [stages.choose(n, tile, e)[0] for n, e in ((net, 2), (wide, 1), (wide, 3))] == [
        learned.STAGE, learned.STAGE, mixing.STAGE]
    assert stages.choose(wide, tile, 3)[1] == {"config": mixing.choose_params(tile, 3)}
    assert [s.name for s in stages.model_stages(net)] == ["learned"]
    assert [s.name for s in stages.model_stages(wide)] == ["learned", "mixed"]
