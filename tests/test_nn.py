"""The integer network: Numba kernels (decode order, pixel by pixel) against the NumPy reference (all positions
at once), CDF invariants on ordinary and extreme networks, causality, and the weight-file checks."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from lcodec import codec, nn, registry
from lcodec.errors import UnknownModelError


def random_net(channels, seed, *, extreme=False, kernel=5, hidden=13, n_layers=1, n_mix=3, adapt=0, n_err=0,
               n_feat=nn.N_FEAT):
    """A Net with random integer weights at the overflow bounds (int16, accumulators near 2**30); extreme=True
    drives outputs to their clamps."""
    rng = np.random.default_rng(seed)
    r = kernel // 2
    amax = (1 << 13) - 1
    n1 = len(nn.causal_offsets(kernel)) * channels
    n_out = nn.n_outputs(channels, n_mix)
    shifts = (20, 32) if extreme else (38, 46)

    def layer(prefix, n_in, n_out, in_max):
        wmax = min((1 << 30) // (n_in * in_max), (1 << 15) - 1)
        return (rng.integers(-wmax, wmax + 1, prefix + (n_in, n_out)).astype(np.int32),
                rng.integers(-(1 << 29), 1 << 29, prefix + (n_out,)).astype(np.int32),
                rng.integers(1, 1 << 30, prefix + (n_out,)).astype(np.int64),
                rng.integers(*shifts, prefix + (n_out,)).astype(np.int64))

    a = dict(zip(("w1", "b1", "m1", "s1"), layer((), n1, hidden, 128)))
    a.update(zip(("wl", "bl", "ml", "sl"), layer((n_layers,), hidden, hidden, amax)))
    a.update(zip(("wo", "bo", "mo", "so"), layer((), hidden, n_out, amax)))
    ls_min, ls_max = -768, 1536
    a["cfg"] = np.array([channels, n_mix, r, amax, ls_min, ls_max, adapt, n_err, n_feat], np.int64)
    a["sig_lut"], a["exp_lut"] = nn.sigmoid_lut(), nn.exp_lut()
    a["invs_lut"], a["scale_lut"] = nn.invs_lut(ls_min, ls_max), nn.scale_lut(ls_min, ls_max)
    a["format"] = np.array(nn.FORMAT)
    return nn.Net(a, name=f"random-{channels}-{seed}", sha256="0" * 64)


def train_crop(shared_data, channels, folder, size, seed):
    """A fixed crop (h, w) of a training image (never Kodak), as uint8 (h, w, C); gray is convert("L")."""
    files = sorted((shared_data / "train" / folder).glob("*.png"))
    rng = np.random.default_rng(seed)
    with Image.open(files[rng.integers(len(files))]) as im:
        arr = np.asarray(im.convert("RGB" if channels == 3 else "L"))
    h, w = size
    y, x = rng.integers(0, arr.shape[0] - h + 1), rng.integers(0, arr.shape[1] - w + 1)
    return np.ascontiguousarray(arr[y:y + h, x:x + w].reshape(h, w, channels))


def released(channels, adapt=None):
    """The default model; adapt = a decay shift to run it with the adaptive stage set that way."""
    net = registry.load(registry.default_for(channels))
    if adapt is None:
        return net
    cfg = net.arrays["cfg"].copy()
    cfg[nn.CFG_ADAPT] = adapt
    return nn.Net(dict(net.arrays, cfg=cfg, format=np.array(nn.FORMAT)), name=net.name, sha256=net.sha256)


def check_cdfs(cdf):
    assert np.all(cdf[..., 0] == 0)
    assert np.all(cdf[..., 256] == 1 << codec.PRECISION)
    assert np.all(np.diff(cdf, axis=-1) >= 1)


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("extreme", [False, True])
@pytest.mark.parametrize("kernel,hidden,n_layers,adapt,n_err,n_feat",
                         [(5, 13, 1, 0, 0, 10), (3, 8, 0, 5, 0, 6), (7, 17, 2, 1, 0, 10), (9, 11, 2, 4, 10, 10),
                          (3, 8, 1, 2, 3, 6), (5, 8, 1, 3, 10, 6)])
def test_kernel_equals_reference_on_random_nets(channels, extreme, kernel, hidden, n_layers, adapt, n_err, n_feat):
    net = random_net(channels, seed=kernel * 100 + hidden, extreme=extreme, kernel=kernel, hidden=hidden,
                     n_layers=n_layers, adapt=adapt, n_err=n_err, n_feat=n_feat)
    tile = np.random.default_rng(hidden).integers(0, 256, (6, 9, channels), dtype=np.uint8)
    ref = nn.reference_cdfs(net, tile, codec.PRECISION)
    np.testing.assert_array_equal(codec.cdf_table(net, tile), ref)
    check_cdfs(ref)


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("folder,adapt", [("bsd200", None), ("wikipedia", None), ("wikipedia", 0), ("bsd200", 3)])
def test_incremental_equals_parallel_on_real_crops(shared_data, channels, folder, adapt):
    """Decode-order CDFs (the kernel) == all-positions network + sequential adaptive stage (the reference)."""
    net = released(channels, adapt)
    tile = train_crop(shared_data, channels, folder, (20, 20), seed=channels)
    ref = nn.reference_cdfs(net, tile, codec.PRECISION)
    np.testing.assert_array_equal(codec.cdf_table(net, tile), ref)
    check_cdfs(ref)
    freq = np.take_along_axis(np.diff(ref, axis=-1), tile[..., None].astype(np.intp), -1)[..., 0]
    np.testing.assert_array_equal(codec.bits_map(net, tile), codec.PRECISION - np.log2(freq))


@pytest.mark.parametrize("seed", range(4))
def test_cdf_invariants_on_extreme_outputs(seed):
    """Random head outputs over the full clamp range, incl. flat, spiky and far-away components:
    weights sum to 2**16, C(0) = 0, C(256) = 2**P, C strictly increasing."""
    net = random_net(3, seed, extreme=True)
    rng = np.random.default_rng(seed)
    h, w = 5, 7
    k = net.n_mix
    out = rng.integers(-nn.OUT_CLAMP, nn.OUT_CLAMP + 1, (h, w, nn.n_outputs(3, k)), dtype=np.int64)
    out[0, :, : 3 * k] = rng.integers(-300, 300, (w, 3 * k)) << 8  # moderate ones too
    out[1] = nn.OUT_CLAMP
    out[2] = -nn.OUT_CLAMP
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    img[3] = 0
    img[4] = 255
    wts, mu, inv, scl = nn.reference_mixture(net, out, img)
    assert np.all(wts.sum(axis=-1) == 1 << nn.MIXW_BITS) and wts.min() >= 0
    assert mu.min() >= nn.MU_MIN and mu.max() <= nn.MU_MAX and inv.min() >= 1
    check_cdfs(nn.mixture_cdfs(net, wts, mu, inv, codec.PRECISION))
    # what the adaptive stage can make of them: means shifted to the clamps, scales halved or doubled
    mu_a, inv_a = nn.reference_adapt(random_net(3, seed, adapt=1), wts, mu, inv, scl, img)
    check_cdfs(nn.mixture_cdfs(net, wts, np.clip(mu_a + (nn.BIAS_CLAMP if seed % 2 else -nn.BIAS_CLAMP),
                                                  nn.MU_MIN, nn.MU_MAX), inv_a * 2, codec.PRECISION))


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("seed,extreme,adapt,n_err", [(0, True, 0, 0), (1, True, 3, 10), (2, False, 4, 10)])
def test_decoder_search_round_trips_on_random_nets(channels, seed, extreme, adapt, n_err):
    """The decoder's outward search (codec._search) finds every symbol, also where the predicted mean sits at a
    clamp far outside 0..255 or the distribution is a spike: round trips on random and extreme networks."""
    net = random_net(channels, seed, extreme=extreme, kernel=3, hidden=8, adapt=adapt, n_err=n_err)
    rng = np.random.default_rng(seed)
    tile = rng.integers(0, 256, (11, 13, channels), dtype=np.uint8)
    tile[:3] = 0
    tile[-3:] = 255
    data = codec.encode_tile(net, tile)
    np.testing.assert_array_equal(codec.decode_tile(net, data, 11, 13), tile)


def test_causality(shared_data):
    """Changing sub-pixel t leaves the CDFs of every sub-pixel up to t unchanged (and changes later ones),
    with the adaptive stage on."""
    net = released(3, adapt=3)
    tile = train_crop(shared_data, 3, "wikipedia", (12, 12), seed=5)
    base = nn.reference_cdfs(net, tile, codec.PRECISION)
    y, x = 6, 7
    for ch in range(3):
        changed = tile.copy()
        changed[y, x, ch] ^= 0x80
        cdf = nn.reference_cdfs(net, changed, codec.PRECISION)
        flat_base = base.reshape(-1, 257)
        flat = cdf.reshape(-1, 257)
        t = (y * tile.shape[1] + x) * 3 + ch
        np.testing.assert_array_equal(flat[: t + 1], flat_base[: t + 1])
        assert not np.array_equal(flat[t + 1:], flat_base[t + 1:])


def test_net_rejects_weights_that_could_overflow():
    net = random_net(3, 0)
    arrays = dict(net.arrays, format=np.array(nn.FORMAT))
    arrays["b1"] = np.full_like(arrays["b1"], (1 << 31) - 1)
    with pytest.raises(UnknownModelError, match="accumulator bound"):
        nn.Net(arrays, name="big", sha256="0" * 64)
    arrays = dict(net.arrays, format=np.array(nn.FORMAT))
    arrays["w1"] = arrays["w1"] * 4  # the kernels multiply int16 pairs
    with pytest.raises(UnknownModelError, match="w1: weights beyond int16"):
        nn.Net(arrays, name="wide", sha256="0" * 64)
    arrays = dict(net.arrays, format=np.array(nn.FORMAT))
    arrays["cfg"] = arrays["cfg"].copy()
    arrays["cfg"][nn.CFG_AMAX] = 1 << 15
    with pytest.raises(UnknownModelError, match="cfg values"):
        nn.Net(arrays, name="amax", sha256="0" * 64)
    arrays = dict(net.arrays, format=np.array(nn.FORMAT))
    arrays["sig_lut"] = arrays["sig_lut"][::-1].copy()
    with pytest.raises(UnknownModelError, match="sig_lut"):
        nn.Net(arrays, name="bad-lut", sha256="0" * 64)


def test_released_models_are_consistent():
    for kind, channels in (("rgb", 3), ("gray", 1)):
        net = registry.load(registry.DEFAULT_MODELS[kind])
        assert net.channels == channels
        assert net.name == registry.DEFAULT_MODELS[kind]
    total = sum((registry.WEIGHTS_DIR / f).stat().st_size for f, _ in registry.MODELS.values())
    assert total <= 8_000_000


def test_coding_path_never_imports_torch():
    code = (
        "import sys, numpy as np\n"
        "import lcodec\n"
        "from lcodec import codec, registry\n"
        "for c in (3, 1):\n"
        "    net = registry.load(registry.default_for(c))\n"
        "    data = codec.encode_tile(net, np.full((3, 4, c), 7, np.uint8))\n"
        "    codec.decode_tile(net, data, 3, 4)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'models')))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
