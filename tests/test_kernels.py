"""The integer network's kernels (decode order, pixel by pixel) against the NumPy reference (all positions at
once) on random networks of many shapes and on the released ones, CDF invariants on ordinary and extreme networks,
and causality."""

import subprocess
import sys

import numpy as np
import pytest

from lcd_images import train_crop
from lcodec import learned
from lcodec.model import reference, registry
from lcodec.model.fixed_point import (
    BIAS_CLAMP, MIXW_BITS, MU_MAX, MU_MIN, N_FEAT, OUT_CLAMP, exp_lut, invs_lut, scale_lut, sigmoid_lut,
)
from lcodec.model.mixture import PRECISION
from lcodec.model.weights import DENSE, FORMAT, HEAD, RESIDUAL, Net, n_inputs, n_outputs


def random_arrays(channels, seed, *, extreme=False, kernel=5, widths=(13, 13), n_mix=3, adapt=0, n_err=0,
                  n_feat=N_FEAT):
    """FORMAT 5 arrays with random integer weights at the overflow bounds (int16, accumulators near 2**30): a dense
    layer to widths[0], then per further width a residual layer where it repeats the previous one, else a dense one,
    then the head; extreme=True drives outputs to their clamps."""
    rng = np.random.default_rng(seed)
    amax = (1 << 13) - 1
    shifts = (20, 32) if extreme else (38, 46)
    sizes = [n_inputs(channels, kernel // 2), *widths, n_outputs(channels, n_mix)]
    layers, parts = [], []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        kind = HEAD if i == len(sizes) - 2 else RESIDUAL if i > 0 and n_in == n_out else DENSE
        wmax = min((1 << 30) // (n_in * (128 if i == 0 else amax)), (1 << 15) - 1)
        layers.append((kind, n_in, n_out))
        parts.append((rng.integers(-wmax, wmax + 1, n_in * n_out).astype(np.int32),
                      rng.integers(-(1 << 29), 1 << 29, n_out).astype(np.int32),
                      rng.integers(1, 1 << 30, n_out).astype(np.int64), rng.integers(*shifts, n_out).astype(np.int64)))
    a = {key: np.concatenate([p[j] for p in parts]) for j, key in enumerate(("weights", "bias", "mult", "shift"))}
    ls_min, ls_max = -768, 1536
    a["layers"] = np.array(layers, np.int64)
    a["cfg"] = np.array([channels, n_mix, kernel // 2, amax, ls_min, ls_max, adapt, n_err, n_feat], np.int64)
    a["sig_lut"], a["exp_lut"] = sigmoid_lut(), exp_lut()
    a["invs_lut"], a["scale_lut"] = invs_lut(ls_min, ls_max), scale_lut(ls_min, ls_max)
    a["format"] = np.array(FORMAT)
    return a


def random_net(channels, seed, **shape):
    """A Net of random_arrays."""
    return Net(random_arrays(channels, seed, **shape), name=f"random-{channels}-{seed}", sha256="0" * 64)


def released(channels, adapt=None):
    """The default model; adapt = a decay shift to run it with the adaptive stage set that way."""
    net = registry.load(registry.default_for(channels))
    return net if adapt is None else net.replace(adapt_shift=adapt)


def check_cdfs(cdf):
    assert np.all(cdf[..., 0] == 0)
    assert np.all(cdf[..., 256] == 1 << PRECISION)
    assert np.all(np.diff(cdf, axis=-1) >= 1)


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("extreme", [False, True])
@pytest.mark.parametrize("kernel,widths,adapt,n_err,n_feat",
                         [(5, (13, 13), 0, 0, 10), (3, (8,), 5, 0, 6), (7, (17, 17, 17), 1, 0, 10),
                          (9, (11, 11, 11), 4, 10, 10), (3, (8, 8), 2, 3, 6), (5, (8, 8), 3, 10, 6),
                          (5, (70, 9, 9, 130), 4, 10, 10), (3, (1, 64, 33, 33), 0, 0, 6)])
def test_kernel_equals_reference_on_random_nets(channels, extreme, kernel, widths, adapt, n_err, n_feat):
    """Any depth and any widths, residual or not: the kernels and the reference agree."""
    net = random_net(channels, seed=kernel * 100 + sum(widths), extreme=extreme, kernel=kernel, widths=widths,
                     adapt=adapt, n_err=n_err, n_feat=n_feat)
    tile = np.random.default_rng(sum(widths)).integers(0, 256, (6, 9, channels), dtype=np.uint8)
    ref = reference.cdfs(net, tile, PRECISION)
    np.testing.assert_array_equal(learned.cdf_table(net, tile), ref)
    check_cdfs(ref)


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("folder,adapt", [("bsd200", None), ("wikipedia", None), ("wikipedia", 0), ("bsd200", 3)])
def test_incremental_equals_parallel_on_real_crops(shared_data, channels, folder, adapt):
    """Decode-order CDFs (the kernel) == all-positions network + sequential adaptive stage (the reference)."""
    net = released(channels, adapt)
    tile = train_crop(shared_data, channels, folder, (20, 20), seed=channels)
    ref = reference.cdfs(net, tile, PRECISION)
    np.testing.assert_array_equal(learned.cdf_table(net, tile), ref)
    check_cdfs(ref)
    freq = np.take_along_axis(np.diff(ref, axis=-1), tile[..., None].astype(np.intp), -1)[..., 0]
    np.testing.assert_array_equal(learned.bits_map(net, tile), PRECISION - np.log2(freq))


@pytest.mark.parametrize("seed", range(4))
def test_cdf_invariants_on_extreme_outputs(seed):
    """Random head outputs over the full clamp range, incl. flat, spiky and far-away components:
    weights sum to 2**16, C(0) = 0, C(256) = 2**P, C strictly increasing."""
    net = random_net(3, seed, extreme=True)
    rng = np.random.default_rng(seed)
    h, w = 5, 7
    k = net.n_mix
    out = rng.integers(-OUT_CLAMP, OUT_CLAMP + 1, (h, w, n_outputs(3, k)), dtype=np.int64)
    out[0, :, : 3 * k] = rng.integers(-300, 300, (w, 3 * k)) << 8  # moderate ones too
    out[1] = OUT_CLAMP
    out[2] = -OUT_CLAMP
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    img[3] = 0
    img[4] = 255
    wts, mu, inv, scl = reference.mixture(net, out, img)
    assert np.all(wts.sum(axis=-1) == 1 << MIXW_BITS) and wts.min() >= 0
    assert mu.min() >= MU_MIN and mu.max() <= MU_MAX and inv.min() >= 1
    check_cdfs(reference.mixture_cdfs(net, wts, mu, inv, PRECISION))
    # what the adaptive stage can make of them: means shifted to the clamps, scales halved or doubled
    mu_a, inv_a = reference.adapt(random_net(3, seed, adapt=1), wts, mu, inv, scl, img)
    check_cdfs(reference.mixture_cdfs(net, wts, np.clip(mu_a + (BIAS_CLAMP if seed % 2 else -BIAS_CLAMP),
                                                  MU_MIN, MU_MAX), inv_a * 2, PRECISION))


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("seed,extreme,adapt,n_err", [(0, True, 0, 0), (1, True, 3, 10), (2, False, 4, 10)])
def test_decoder_search_round_trips_on_random_nets(channels, seed, extreme, adapt, n_err):
    """The decoder's outward search (mixture.search) finds every symbol, also where the predicted mean sits at a
    clamp far outside 0..255 or the distribution is a spike: round trips on random and extreme networks."""
    net = random_net(channels, seed, extreme=extreme, kernel=3, widths=(8, 8), adapt=adapt, n_err=n_err)
    rng = np.random.default_rng(seed)
    tile = rng.integers(0, 256, (11, 13, channels), dtype=np.uint8)
    tile[:3] = 0
    tile[-3:] = 255
    data = learned.encode_tile(net, tile)
    np.testing.assert_array_equal(learned.decode_tile(net, data, 11, 13), tile)


def test_causality(shared_data):
    """Changing sub-pixel t leaves the CDFs of every sub-pixel up to t unchanged (and changes later ones),
    with the adaptive stage on."""
    net = released(3, adapt=3)
    tile = train_crop(shared_data, 3, "wikipedia", (12, 12), seed=5)
    base = reference.cdfs(net, tile, PRECISION)
    y, x = 6, 7
    for ch in range(3):
        changed = tile.copy()
        changed[y, x, ch] ^= 0x80
        cdf = reference.cdfs(net, changed, PRECISION)
        flat_base = base.reshape(-1, 257)
        flat = cdf.reshape(-1, 257)
        t = (y * tile.shape[1] + x) * 3 + ch
        np.testing.assert_array_equal(flat[: t + 1], flat_base[: t + 1])
        assert not np.array_equal(flat[t + 1:], flat_base[t + 1:])


def test_coding_path_never_imports_torch():
    code = (
        "import sys, numpy as np\n"
        "import lcodec\n"
        "from lcodec import learned\n"
        "from lcodec.model import registry\n"
        "for c in (3, 1):\n"
        "    net = registry.load(registry.default_for(c))\n"
        "    data = learned.encode_tile(net, np.full((3, 4, c), 7, np.uint8))\n"
        "    learned.decode_tile(net, data, 3, 4)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'models')))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
