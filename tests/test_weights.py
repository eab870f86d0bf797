"""The weight file and the registry: the checks a Net makes of its arrays, older formats read as FORMAT 5, and the
manifest's models loaded once and verified."""

import hashlib

import numpy as np
import pytest

from lcodec import learned
from lcodec.errors import UnknownModelError
from lcodec.model import registry
from lcodec.model.weights import DENSE, FORMAT, HEAD, Net, upgrade
from test_kernels import random_arrays


def refused(arrays, match):
    with pytest.raises(UnknownModelError, match=match):
        Net(arrays, name="bad", sha256="0" * 64)


def test_net_rejects_weights_that_could_overflow():
    a = random_arrays(3, 0)
    refused(dict(a, bias=np.full_like(a["bias"], (1 << 31) - 1)), "layer 0: accumulator bound")
    refused(dict(a, weights=a["weights"] * 4), "weights beyond int16")  # the kernels multiply int16 pairs
    cfg = a["cfg"].copy()
    cfg[3] = 1 << 15  # amax
    refused(dict(a, cfg=cfg), "cfg values")
    refused(dict(a, sig_lut=a["sig_lut"][::-1].copy()), "sig_lut")
    refused(dict(a, mult=-a["mult"]), "multipliers or shifts")


def test_net_rejects_layer_lists_that_do_not_chain():
    a = random_arrays(1, 0, widths=(6, 6))
    layers = a["layers"]
    refused(dict(a, layers=layers[::-1].copy()), "cannot be here")  # the head first
    refused(dict(a, layers=layers[[0, 2]].copy()), "longer than the layers")  # weights of a layer left out
    bad = layers.copy()
    bad[2, 1] = 5  # a head over 5 inputs after 6 outputs
    refused(dict(a, layers=bad), "after 6 outputs")
    bad = layers.copy()
    bad[1, 2] = 7  # a residual layer that changes width
    refused(dict(a, layers=bad), "cannot be here")
    bad = layers.copy()
    bad[-1, 0] = DENSE  # no head
    refused(dict(a, layers=bad), "cannot be here")
    refused(dict(a, weights=a["weights"][:-1]), "end early")
    refused(dict(a, shift=np.append(a["shift"], 3)), "longer than the layers")
    refused(dict(a, layers=np.zeros((0, 3), np.int64)), "layers")
    refused(dict(a, format=np.array(9)), "format 9")


def test_format_4_template_reads_as_layer_records():
    """A FORMAT 4 file (w1, wl, wo and their b, m, s) upgrades to a dense layer, residual layers and a head over the
    same numbers, and codes the same stream as its FORMAT 5 twin."""
    rng = np.random.default_rng(3)
    a5 = random_arrays(3, 4, kernel=3, widths=(8, 8, 8))
    net5 = Net(a5, name="five", sha256="")
    w = [net5.layer_arrays(i) for i in range(4)]
    a4 = {k: a5[k] for k in ("cfg", "sig_lut", "exp_lut", "invs_lut", "scale_lut")}
    a4.update(format=np.array(4), w1=w[0][0].copy(), b1=w[0][1], m1=w[0][2], s1=w[0][3],
              wl=np.stack([w[1][0], w[2][0]]), bl=np.stack([w[1][1], w[2][1]]), ml=np.stack([w[1][2], w[2][2]]),
              sl=np.stack([w[1][3], w[2][3]]), wo=w[3][0].copy(), bo=w[3][1], mo=w[3][2], so=w[3][3])
    up = upgrade(a4)
    assert int(up["format"]) == FORMAT and up["layers"].tolist() == a5["layers"].tolist()
    tile = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    assert learned.encode_tile(Net(a4, name="four", sha256=""), tile) == learned.encode_tile(net5, tile)
    assert net5.layers[0][0] == DENSE and net5.layers[-1][0] == HEAD


def test_released_models_are_consistent():
    for kind, channels in (("rgb", 3), ("gray", 1)):
        name = registry.DEFAULT_MODELS[kind]
        net = registry.load(name)
        assert net.channels == channels and net.name == name
        assert registry.MODELS[name]["status"] == "released"  # a provisional model is never a default
    assert {m["status"] for m in registry.MODELS.values()} <= set(registry.STATUSES)
    total = sum((registry.WEIGHTS_DIR / m["file"]).stat().st_size for m in registry.MODELS.values())
    assert total <= 8_000_000
    listed = {m["file"] for m in registry.MODELS.values()}
    assert listed == {p.name for p in registry.WEIGHTS_DIR.glob("*.npz")}  # no file unlisted, none missing
    for name, entry in registry.MODELS.items():  # each file named after its model and hash, and hashing to it
        assert entry["file"] == f"{name}-{entry['sha256'][:8]}.npz"
        data = (registry.WEIGHTS_DIR / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]


def test_registry_loads_once_and_verifies_hashes(monkeypatch, tmp_path):
    name = registry.default_for(3)
    assert registry.load(name) is registry.load(name)
    with pytest.raises(UnknownModelError, match="no-such-model"):
        registry.load("no-such-model")
    entry = registry.MODELS[name]
    monkeypatch.setitem(registry.MODELS, "tampered", dict(entry, sha256="0" * 64))
    with pytest.raises(UnknownModelError, match="tampered.*sha256"):
        registry.load("tampered")
    # a file whose bytes changed on disk is refused too
    data = bytearray((registry.WEIGHTS_DIR / entry["file"]).read_bytes())
    data[-10] ^= 1
    (tmp_path / entry["file"]).write_bytes(bytes(data))
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setitem(registry.MODELS, "corrupt", entry)
    with pytest.raises(UnknownModelError, match="corrupt"):
        registry.load("corrupt")
    assert hashlib.sha256(bytes(data)).hexdigest() != entry["sha256"]
