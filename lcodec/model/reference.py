"""A NumPy reference of the integer model: every position at once, the same integer operations as the kernels,
written independently of them. The tests require the kernels' CDFs to equal these exactly. pixel_outputs and
Adaptive run it in a decoder's order, one pixel and one sub-pixel at a time (lcodec.mixing.reference uses them)."""

import numpy as np

from lcodec.model.fixed_point import (
    ADAPT_BUCKETS, BIAS_CLAMP, COEF_FRAC, COUNT_ONE, ERR_OCTAVE0, ERR_RATIO_BITS, EXP_LEN, F_BITS, LMS_CLAMP, LMS_FRAC,
    LMS_INIT, LMS_STEP, MAD_C, MIXW_BITS, MU_FRAC, MU_MAX, MU_MIN, OUT_CLAMP, RATIO_FRAC, RATIO_MAX, RATIO_MIN,
    SIG_RANGE, SIG_STEP_BITS, T_FRAC,
)
from lcodec.model.weights import DENSE, HEAD, RESIDUAL, causal_offsets


def _requant(acc, m, s):
    return (acc * m + (np.int64(1) << (s - 1))) >> s


def mad_bucket(mad):
    """Context of the adaptive stage: 2 buckets per octave of mad (1/256 pixel), clamped to ADAPT_BUCKETS."""
    n = int(mad).bit_length() if mad > 0 else 0
    half = (int(mad) >> (n - 2)) & 1 if n >= 2 else 0
    return min(max(2 * n + half - 10, 0), ADAPT_BUCKETS - 1)


def outputs(net, img):
    """Head outputs (h, w, n_out) int64 of the integer network for every pixel of uint8 img (h, w, C)."""
    cfg = net.config
    c, r = cfg.channels, cfg.radius
    h, w = img.shape[:2]
    x = np.zeros((h + r, w + 2 * r, c), np.int64)
    x[r:, r:r + w] = img.reshape(h, w, c).astype(np.int64) - 128
    cols = [x[r + dy:r + dy + h, r + dx:r + dx + w] for dy, dx in causal_offsets(2 * r + 1)]
    return _layers(net, np.concatenate(cols, axis=2).reshape(h * w, -1)).reshape(h, w, -1)


def pixel_outputs(net, img, y, x):
    """Head outputs (n_out,) int64 of pixel (y, x) alone: its causal window of img (h, w, C), of which only the
    pixels before (y, x) in raster order are read (a decoder's partly decoded tile will do)."""
    h, w = img.shape[:2]
    c = net.config.channels
    taps = []
    for dy, dx in causal_offsets(2 * net.config.radius + 1):
        yy, xx = y + dy, x + dx
        inside = 0 <= yy < h and 0 <= xx < w
        taps.append(img[yy, xx].astype(np.int64) - 128 if inside else np.zeros(c, np.int64))
    return _layers(net, np.concatenate(taps)[None, :])[0]


def _layers(net, a):
    """The layer stack of WEIGHTS.md sections 3 and 4.2 on input rows a (n, n_in) int64."""
    amax = net.config.amax
    for i, (kind, _, _) in enumerate(net.layers):
        wm, b, m, s = net.layer_arrays(i)
        y = _requant(a @ wm.astype(np.int64) + b, m, s)
        if kind == DENSE:
            a = np.clip(y, 0, amax)
        elif kind == RESIDUAL:
            a = np.minimum(a + np.clip(y, 0, amax), amax)
        elif kind == HEAD:
            a = np.clip(y, -OUT_CLAMP, OUT_CLAMP)
    return a


def mixture(net, out, img):
    """Mixture weights, means, inverse scales and scales (h, w, C, K) int64 from head outputs and the true pixels."""
    a, cfg = net.arrays, net.config
    c, k = cfg.channels, cfg.n_mix
    h, w = img.shape[:2]
    px = img.reshape(h, w, c).astype(np.int64) - 128
    per = out[..., :3 * k * c].reshape(h, w, c, 3, k)
    logit, mu, logs = per[..., 0, :], per[..., 1, :].copy(), per[..., 2, :]
    rnd = 1 << (COEF_FRAC - MU_FRAC - 1)
    if c == 3:
        coef = out[..., 3 * k * c:].reshape(h, w, 3, k)
        mu[:, :, 1] += (coef[:, :, 0] * px[:, :, 0, None] + rnd) >> (COEF_FRAC - MU_FRAC)
        mu[:, :, 2] += (coef[:, :, 1] * px[:, :, 0, None] + coef[:, :, 2] * px[:, :, 1, None] + rnd) \
            >> (COEF_FRAC - MU_FRAC)
    mu = np.clip(mu, MU_MIN, MU_MAX)
    ls_idx = np.clip(logs, cfg.ls_min, cfg.ls_max) - cfg.ls_min
    inv, scl = a["invs_lut"][ls_idx], a["scale_lut"][ls_idx]
    d = np.minimum(logit.max(axis=-1, keepdims=True) - logit, EXP_LEN - 1)
    e = a["exp_lut"][d]
    wts = (e << MIXW_BITS) // e.sum(axis=-1, keepdims=True)
    first = np.argmax(logit, axis=-1)[..., None]
    rem = (1 << MIXW_BITS) - wts.sum(axis=-1, keepdims=True)
    np.put_along_axis(wts, first, np.take_along_axis(wts, first, -1) + rem, -1)
    return wts, mu, inv, scl


def mean_spread(wts, mu, scl):
    """The mixture's mean mm and mean absolute deviation mad (WEIGHTS.md section 5 step 1), in 1/256 of a sample
    value, from one sub-pixel's weights, means and scales (sequences of K ints)."""
    mm = sum(int(wi) * int(mi) for wi, mi in zip(wts, mu)) >> MIXW_BITS
    mad = sum(int(wi) * (((int(si) * MAD_C) >> 12) + abs(int(mi) - mm)) for wi, mi, si in zip(wts, mu, scl))
    return mm, mad >> MIXW_BITS


class Adaptive:
    """The adaptive stage one sub-pixel at a time, in coding order, as an encoder or decoder runs it (WEIGHTS.md
    section 5): correct() before a sub-pixel is coded, update(v) after; error() reads the stored errors."""

    def __init__(self, net):
        self.shift, self.n_err, self.n_feat = net.config.adapt_shift, net.config.err_buckets, net.config.lms_features
        self.bias_stats, self.scale_stats = {}, {}
        self.lms = [list(LMS_INIT) for _ in range(net.config.channels)]
        self.err = {}  # (y, x, ch) -> 256 v - mm, of the coded sub-pixels
        self.pending = None

    def error(self, y, x, ch):
        """e = 256 v - mm of a coded sub-pixel (mm before its correction); 0 where nothing is stored."""
        return self.err.get((y, x, ch), 0)

    def correct(self, y, x, ch, wts, mu, inv, scl):
        """Corrected (mu, inv) lists of sub-pixel (y, x, ch), from its network values (sequences of K ints)."""
        e = self.error
        mm, mad = mean_spread(wts, mu, scl)
        key = (ch, mad_bucket(mad))
        n, b_sum = self.bias_stats.get(key, (0, 0))
        cb = (b_sum << 8) // n if n > 0 else 0
        feat = [cb, e(y, x - 1, ch), e(y - 1, x, ch), e(y - 1, x + 1, ch), e(y - 1, x - 1, ch),
                e(y, x, ch - 1) if ch > 0 else 0]
        feat += [e(y, x, ch - 2) if ch > 1 else 0, e(y, x - 2, ch), e(y - 1, x, ch - 1) if ch > 0 else 0,
                 e(y, x - 1, ch - 1) if ch > 0 else 0][:self.n_feat - 6]
        skey = key
        if self.n_err:
            energy = sum(abs(f) for f in feat[1:3] + feat[5:6]) + ((abs(feat[3]) + abs(feat[4])) >> 1)
            ratio = (energy << ERR_RATIO_BITS) // ((4 if ch else 3) * mad + 1)
            skey = key + (min(max(ratio.bit_length() - ERR_OCTAVE0, 0), self.n_err - 1),)
        e_sum, m_sum = self.scale_stats.get(skey, (0, 0))
        rf = min(max((m_sum << RATIO_FRAC) // e_sum, RATIO_MIN), RATIO_MAX) if e_sum > 0 else 1 << RATIO_FRAC
        bias = sum(li * fi for li, fi in zip(self.lms[ch], feat)) >> LMS_FRAC
        bias = min(max(bias, -BIAS_CLAMP), BIAS_CLAMP)
        self.pending = (y, x, ch, mm, mad, bias, key, skey, feat)
        return ([min(max(int(mi) + bias, MU_MIN), MU_MAX) for mi in mu],
                [max((int(ii) * rf) >> RATIO_FRAC, 1) for ii in inv])

    def update(self, v):
        """After coding value v of the sub-pixel last corrected."""
        y, x, ch, mm, mad, bias, key, skey, feat = self.pending
        shift = self.shift
        e = self.err[y, x, ch] = (int(v) << MU_FRAC) - mm
        n, b_sum = self.bias_stats.get(key, (0, 0))
        e_sum, m_sum = self.scale_stats.get(skey, (0, 0))
        self.bias_stats[key] = (n + COUNT_ONE - (n >> shift), b_sum + e - (b_sum >> shift))
        self.scale_stats[skey] = (e_sum + abs(e - bias) - (e_sum >> shift), m_sum + mad - (m_sum >> shift))
        s = _sign(e - bias)
        self.lms[ch] = [min(max(li + LMS_STEP * s * _sign(fi), -LMS_CLAMP), LMS_CLAMP)
                        for li, fi in zip(self.lms[ch], feat)]


def _sign(v):
    return (v > 0) - (v < 0)


def adapt(net, wts, mu, inv, scl, img):
    """The adaptive stage in raster order (it is sequential by nature): corrected (mu, inv), new arrays."""
    h, w, c, _ = mu.shape
    mu, inv = mu.copy(), inv.copy()
    stage = Adaptive(net)
    for y in range(h):
        for x in range(w):
            for ch in range(c):
                mu[y, x, ch], inv[y, x, ch] = stage.correct(y, x, ch, wts[y, x, ch].tolist(), mu[y, x, ch].tolist(),
                                                            inv[y, x, ch].tolist(), scl[y, x, ch].tolist())
                stage.update(img[y, x, ch])
    return mu, inv


def cdfs(net, img, precision):
    """Coder CDFs (h, w, C, 257) int64 for every sub-pixel of img, all positions at once."""
    out = outputs(net, img)
    wts, mu, inv, scl = mixture(net, out, img)
    if net.config.adapt_shift:
        mu, inv = adapt(net, wts, mu, inv, scl, img.reshape(mu.shape[:3]))
    return mixture_cdfs(net, wts, mu, inv, precision)


def mixture_cdfs(net, wts, mu, inv, precision):
    """Coder CDFs (..., 257) int64 from mixture weights, means and inverse scales (..., K)."""
    sig = net.arrays["sig_lut"]
    v = np.arange(1, 256, dtype=np.int64)[:, None]
    t = ((v << MU_FRAC) - (1 << (MU_FRAC - 1)) - mu[..., None, :]) * inv[..., None, :]
    u = np.clip(t + (SIG_RANGE << T_FRAC), 0, (2 * SIG_RANGE << T_FRAC) - 1)
    step = T_FRAC - SIG_STEP_BITS
    i = u >> step
    s = sig[i] + (((sig[i + 1] - sig[i]) * (u & ((1 << step) - 1))) >> step)
    f = (wts[..., None, :] * s).sum(axis=-1)
    cdf = np.empty(f.shape[:-1] + (257,), np.int64)
    cdf[..., 0] = 0
    cdf[..., 1:256] = v[:, 0] + ((((1 << precision) - 256) * f) >> F_BITS)
    cdf[..., 256] = 1 << precision
    return cdf
