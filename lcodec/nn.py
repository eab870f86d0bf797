"""The integer PixelCNN: its fixed-point format, the loaded `Net`, and a NumPy reference.

A released model is an .npz of integers only (weights, requantisation multipliers and shifts, lookup tables),
so every machine computes the same CDFs. The Numba kernels that run the network pixel by pixel live in
`lcodec.codec` beside the coding loops; `reference_outputs` / `reference_cdfs` here evaluate the same integer
network over all positions at once with NumPy, and tests require the two to agree exactly.

Fixed-point format (FORMAT 4; FORMAT 1 files are read with the adaptive stage off, FORMAT 2 files with
cfg[CFG_ERRCTX] = 0, FORMAT 3 files with cfg[CFG_FEATS] = 6):

- conv1 input: x - 128 in [-128, 127]; zero padding outside the image (= the float model's zero padding).
- A layer: acc = b + sum_i W[i, j] * a[i] (int32), then y = (acc * M[j] + 2**(S[j]-1)) >> S[j] (int64,
  arithmetic shift = floor), then ReLU as a clamp to [0, amax] for hidden layers. The residual stream is
  h = min(h + relu(y), amax). Overflow is ruled out by construction: `Net` refuses weights unless
  n_in * max|W| * max|a| + max|b| < 2**31 for every layer, M < 2**31 and 1 <= S <= 62, so |acc * M| < 2**62.
  Weights fit int16 and amax < 2**15, so the kernels may multiply int16 pairs (`paired`): every partial sum
  is exact in int32 and the order of the additions does not matter.
- Head outputs per channel c: logits (1/256 nat), mu (1/256 pixel, the +128 offset folded into the bias),
  log_s (1/256 nat); for RGB then alpha, beta, gamma (2**-14). Outputs are clamped to +-2**30.
- Mixture weights: w_k = (E[min(lmax - l_k, len(E) - 1)] << 16) // sum, remainder to the first argmax,
  so sum w_k == 2**16 exactly. E = `exp_lut`, E[i] = round(2**16 exp(-i/256)).
- Channel-linear means: mu_G += (alpha (x_R - 128) + 32) >> 6, mu_B += (beta (x_R - 128) + gamma (x_G - 128)
  + 32) >> 6; mu clamped to [MU_MIN, MU_MAX].
- Inverse scale: inv_s = `invs_lut`[clamp(log_s, ls_min, ls_max) - ls_min] = round(2**16 exp(-log_s)).
- Logistic CDF at the lower edge of v: t = (256 v - 128 - mu) inv_s (units 2**-24), clamped to +-16;
  sigma(t) by linear interpolation in `sig_lut` (step 1/64, values round(2**16 sigmoid), monotone), so
  F(v) = sum w_k sigma_k in [0, 2**32] is non-decreasing in v.
- Coder CDF: C(0) = 0, C(256) = 2**P, C(v) = v + (((2**P - 256) F(v)) >> 32): strictly increasing.

Adaptive stage (cfg[CFG_ADAPT] = decay shift d > 0): corrects the network's mean and scale to the image being
coded from the sub-pixels already coded, identically in the decoder. Per sub-pixel: the mixture mean
mm = (sum w_k mu_k) >> 16 and the model's mean absolute deviation mad = (sum w_k (((s_k MAD_C) >> 12)
+ |mu_k - mm|)) >> 16 (s_k = `scale_lut`, 1/256 pixel) pick a context (channel, 2 buckets per octave of mad).
Its decayed sums n (256 per sample) and B (error e = 256 x - mm) give the context bias cb = (B << 8) // n (0 while
n == 0). The scale context is the same (channel, mad bucket) or, when cfg[CFG_ERRCTX] = m > 0, that context times m
plus clamp(bit_length((g << 6) // (q + 1)) - 3, 0, m - 1): the octave of the neighbours' error energy
g = |e_left| + |e_up| + ((|e_upright| + |e_upleft|) >> 1) + |e of the previous channel| over what the model's
mad expects of it, q = 3 mad (4 mad for G and B). Its decayed sums E (|e - bias|) and M (mad) give
rf = clamp((M << 16) // E, 2**15, 2**17) (2**16 while E == 0). A sign-sign LMS per channel then predicts the
bias from f = (cb, e_left, e_up, e_upright, e_upleft, e of the previous channel of this pixel) (errors e of the
same channel, 0 outside the tile / for R); with cfg[CFG_FEATS] = 10 also (e of this pixel two channels back (B:
R), e two to the left, e of the previous channel of the pixel above, of the pixel to the left), which carry the
colour channels' shared surprise (they stay 0, and so do their weights, with 6). bias = clamp((sum lms_i f_i) >> 12,
+-2**16), weights starting at LMS_INIT. Then mu_k += bias (clamped to [MU_MIN, MU_MAX]) and inv_s_k =
max((inv_s_k rf) >> 16, 1) before the CDF. After coding x: each sum S += value - (S >> d), and
lms_i += LMS_STEP sign(e - bias) sign(f_i), clamped to +-2**16.
"""

import hashlib
import io
import json
from functools import cached_property

import numpy as np

from lcodec.errors import UnknownModelError

FORMAT = 4

LOGIT_FRAC = 8    # logits in 1/256 nat
MU_FRAC = 8       # mu in 1/256 pixel
LOGS_FRAC = 8     # log scale in 1/256 nat
COEF_FRAC = 14    # channel-linear coefficients alpha, beta, gamma
INVS_FRAC = 16    # inverse scale
T_FRAC = MU_FRAC + INVS_FRAC   # logistic argument t = (edge - mu) * inv_s
SIG_BITS = 16     # sigmoid values in [0, 2**16]
MIXW_BITS = 16    # mixture weights sum to 2**16
F_BITS = SIG_BITS + MIXW_BITS
SIG_STEP_BITS = 6  # sigmoid table step 1/64
SIG_RANGE = 16     # sigmoid table covers t in [-16, 16]
SIG_LEN = 2 * SIG_RANGE * (1 << SIG_STEP_BITS) + 1
EXP_LEN = 16 * (1 << LOGIT_FRAC) + 1
OUT_CLAMP = 1 << 30
MU_MIN = -128 << MU_FRAC
MU_MAX = 384 << MU_FRAC
ACC_LIMIT = 1 << 31
PAIR_LANES = 8               # outputs per pairwise multiply-add in the kernels (8 int32 lanes)
ADAPT_BUCKETS = 24           # mad contexts per channel
MAD_C = 5678                 # round(2 ln 2 * 2**12): mean |x - mu| of a logistic is 2 ln 2 s
COUNT_ONE = 256              # one sample in the decayed count
ERR_RATIO_BITS = 6           # error energy over expected, in 1/64
ERR_OCTAVE0 = 3              # bit_length of that ratio below which the first error bucket starts
RATIO_FRAC = 16
RATIO_MIN, RATIO_MAX = 1 << 15, 1 << 17   # scale corrected by a factor in [0.5, 2]
LMS_FRAC = 12
LMS_INIT = (2048, 1024, 1024, 0, 0, 0, 0, 0, 0, 0)   # bias = (cb + (e_left + e_up) / 2) / 2 to start
N_FEAT = len(LMS_INIT)
LMS_FEATURES = (6, N_FEAT)   # cfg[CFG_FEATS]: FORMAT 3's six features, or all
LMS_STEP = 4
LMS_CLAMP = 1 << 16
BIAS_CLAMP = 1 << 16

# cfg vector layout (int64), shared with the kernels in lcodec.codec
CFG_C, CFG_K, CFG_R, CFG_AMAX, CFG_LS_MIN, CFG_LS_MAX, CFG_ADAPT, CFG_ERRCTX, CFG_FEATS = range(9)
CFG_LEN = 9

WEIGHT_KEYS = ("w1", "b1", "m1", "s1", "wl", "bl", "ml", "sl", "wo", "bo", "mo", "so")
LUT_KEYS = ("sig_lut", "exp_lut", "invs_lut", "scale_lut")
KERNEL_KEYS = ("cfg",) + WEIGHT_KEYS + LUT_KEYS


def causal_offsets(kernel):
    """(dy, dx) of the conv1 taps in the order of w1's rows: rows above, then the current row left of p."""
    r = kernel // 2
    above = [(dy, dx) for dy in range(-r, 0) for dx in range(-r, r + 1)]
    return above + [(0, dx) for dx in range(-r, 0)]


def n_outputs(channels, n_mix):
    """Head width: [logit, mu, log_s] x K per channel, plus alpha, beta, gamma x K for RGB."""
    return 3 * n_mix * channels + (3 * n_mix if channels == 3 else 0)


def sigmoid_lut():
    """round(2**16 sigmoid(t)) at t = -16 + i/64; float64 once at export time, then stored as integers."""
    t = np.arange(SIG_LEN, dtype=np.float64) / (1 << SIG_STEP_BITS) - SIG_RANGE
    return np.round((1 << SIG_BITS) / (1.0 + np.exp(-t))).astype(np.int64)


def exp_lut():
    """round(2**16 exp(-i/256)); the last entry (exp(-16)) rounds to 0."""
    i = np.arange(EXP_LEN, dtype=np.float64)
    return np.round((1 << MIXW_BITS) * np.exp(-i / (1 << LOGIT_FRAC))).astype(np.int64)


def invs_lut(ls_min_q, ls_max_q):
    """round(2**16 exp(-log_s)) for log_s = ls_min_q/256 .. ls_max_q/256."""
    ls = np.arange(ls_min_q, ls_max_q + 1, dtype=np.float64) / (1 << LOGS_FRAC)
    return np.round((1 << INVS_FRAC) * np.exp(-ls)).astype(np.int64)


def scale_lut(ls_min_q, ls_max_q):
    """round(256 exp(log_s)): the scale in 1/256 pixel, for the adaptive stage."""
    ls = np.arange(ls_min_q, ls_max_q + 1, dtype=np.float64) / (1 << LOGS_FRAC)
    return np.round((1 << MU_FRAC) * np.exp(ls)).astype(np.int64)


def mad_bucket(mad):
    """Context of the adaptive stage: 2 buckets per octave of mad (1/256 pixel), clamped to ADAPT_BUCKETS."""
    n = int(mad).bit_length() if mad > 0 else 0
    half = (int(mad) >> (n - 2)) & 1 if n >= 2 else 0
    return min(max(2 * n + half - 10, 0), ADAPT_BUCKETS - 1)


class Net:
    """A loaded integer model: arrays for the kernels plus its name and hash."""

    def __init__(self, arrays, *, name, sha256):
        self.name = name
        self.sha256 = sha256
        try:
            arrays = _upgrade(arrays)
            _validate(arrays)
            self.meta = json.loads(str(arrays["meta"])) if "meta" in arrays else {}
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            raise UnknownModelError(f"model {name!r}: invalid weights ({exc})") from None
        self.arrays = {k: np.ascontiguousarray(arrays[k]) for k in KERNEL_KEYS}
        cfg = self.arrays["cfg"]
        self.channels = int(cfg[CFG_C])
        self.n_mix = int(cfg[CFG_K])
        self.kernel = 2 * int(cfg[CFG_R]) + 1
        self.hidden = self.arrays["w1"].shape[1]
        self.n_layers = self.arrays["wl"].shape[0]

    @classmethod
    def from_bytes(cls, data, *, name):
        """Parse an .npz (no pickles); sha256 is of the file bytes."""
        sha = hashlib.sha256(data).hexdigest()
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except Exception as exc:  # np.load raises many types on foreign bytes
            raise UnknownModelError(f"model {name!r}: unreadable weights ({type(exc).__name__})") from None
        return cls(arrays, name=name, sha256=sha)

    @cached_property
    def kernel_args(self):
        """The arrays in the order the Numba kernels take them, weight matrices `paired`."""
        return tuple(paired(self.arrays[k]) if k in ("w1", "wl", "wo") else self.arrays[k] for k in KERNEL_KEYS)

    def __repr__(self):
        return (f"Net({self.name!r}, channels={self.channels}, kernel={self.kernel}, hidden={self.hidden}, "
                f"n_layers={self.n_layers}, n_mix={self.n_mix}, sha256={self.sha256[:8]})")


def paired(w):
    """int16 weights for the kernels' pairwise multiply-adds: (..., n_in, n_out) becomes
    (..., ceil(n_in / 2), 2 * n_out8) with [i, 2 j + e] = W[2 i + e, j], zero-padded to n_out8 = n_out rounded
    up to a multiple of PAIR_LANES (and an even n_in)."""
    *lead, n_in, n_out = w.shape
    n_out8 = -(-n_out // PAIR_LANES) * PAIR_LANES
    out = np.zeros((*lead, -(-n_in // 2) * 2, n_out8), np.int16)
    out[..., :n_in, :n_out] = w
    out = out.reshape(*lead, out.shape[-2] // 2, 2, n_out8)
    return np.ascontiguousarray(np.swapaxes(out, -1, -2)).reshape(*lead, out.shape[-3], 2 * n_out8)


def _upgrade(a):
    """Older files as FORMAT 4 arrays: FORMAT 1 (no adaptive stage) with adaptation off, FORMAT 2 without the
    error-energy scale contexts, FORMAT 3 with six LMS features. Each step appends the cfg entry it introduced."""
    version = int(a["format"])
    if version == 1:
        a = dict(a, format=np.array(2), cfg=np.append(a["cfg"], 0).astype(np.int64))
        a["scale_lut"] = np.ones_like(a["invs_lut"])  # never read: adaptation is off
        version = 2
    if version == 2:
        a = dict(a, format=np.array(3), cfg=np.append(a["cfg"], 0).astype(np.int64))
        version = 3
    if version == 3:
        a = dict(a, format=np.array(4), cfg=np.append(a["cfg"], LMS_FEATURES[0]).astype(np.int64))
    return a


def _validate(a):
    """Shapes, dtypes and the bounds that make int32 accumulation and int64 products overflow-free."""
    if int(a["format"]) != FORMAT:
        raise ValueError(f"format {int(a['format'])}, expected {FORMAT}")
    cfg = a["cfg"]
    if cfg.dtype != np.int64 or cfg.shape != (CFG_LEN,):
        raise ValueError("cfg")
    c, k, r, amax, ls_min, ls_max, adapt, n_err, n_feat = (int(v) for v in cfg)
    if c not in (1, 3) or not 1 <= k <= 64 or not 1 <= r <= 15 or not 1 <= amax < 1 << 15 or not 0 <= adapt <= 12 \
            or not 0 <= n_err <= 16 or n_feat not in LMS_FEATURES:
        raise ValueError("cfg values")
    n1 = len(causal_offsets(2 * r + 1)) * c
    hid = a["w1"].shape[1] if a["w1"].ndim == 2 else -1
    n_layers = a["wl"].shape[0] if a["wl"].ndim == 3 else -1
    no = n_outputs(c, k)
    shapes = {"w1": (n1, hid), "b1": (hid,), "m1": (hid,), "s1": (hid,),
              "wl": (n_layers, hid, hid), "bl": (n_layers, hid), "ml": (n_layers, hid), "sl": (n_layers, hid),
              "wo": (hid, no), "bo": (no,), "mo": (no,), "so": (no,)}
    if hid < 1 or n_layers < 0:
        raise ValueError("layer sizes")
    for key, shape in shapes.items():
        want = np.int32 if key[0] in "wb" else np.int64
        if a[key].shape != shape or a[key].dtype != want:
            raise ValueError(f"{key}: {a[key].dtype}{a[key].shape}, expected {np.dtype(want)}{shape}")
    for w, b, m, s, n_in, in_max in (("w1", "b1", "m1", "s1", n1, 128), ("wl", "bl", "ml", "sl", hid, amax),
                                     ("wo", "bo", "mo", "so", hid, amax)):
        if a[w].size:
            if a[w].min() < -(1 << 15) or a[w].max() >= 1 << 15:
                raise ValueError(f"{w}: weights beyond int16")
            bound = n_in * int(np.abs(a[w].astype(np.int64)).max()) * in_max
            bound += int(np.abs(a[b].astype(np.int64)).max())
            if bound >= ACC_LIMIT:
                raise ValueError(f"{w}: accumulator bound {bound} >= 2**31")
            if a[m].min() < 0 or a[m].max() >= 1 << 31 or a[s].min() < 1 or a[s].max() > 62:
                raise ValueError(f"{m}/{s} out of range")
    sig, ex, inv = a["sig_lut"], a["exp_lut"], a["invs_lut"]
    if sig.dtype != np.int64 or sig.shape != (SIG_LEN,) or sig[0] != 0 or sig[-1] != 1 << SIG_BITS \
            or np.any(np.diff(sig) < 0):
        raise ValueError("sig_lut")
    if ex.dtype != np.int64 or ex.shape != (EXP_LEN,) or ex[0] != 1 << MIXW_BITS or ex.min() < 0 \
            or np.any(np.diff(ex) > 0):
        raise ValueError("exp_lut")
    if inv.dtype != np.int64 or ls_max < ls_min or inv.shape != (ls_max - ls_min + 1,) or inv.min() < 1 \
            or inv.max() >= 1 << 36:
        raise ValueError("invs_lut")
    scl = a["scale_lut"]
    if scl.dtype != np.int64 or scl.shape != inv.shape or scl.min() < 1 or scl.max() >= 1 << 24:
        raise ValueError("scale_lut")


# ---------------------------------------------------------------------------------------------------------
# NumPy reference: every position at once. Same integer operations as the kernels, written independently.

def _requant(acc, m, s):
    return (acc * m + (np.int64(1) << (s - 1))) >> s


def reference_outputs(net, img):
    """Head outputs (h, w, n_out) int64 of the integer network for every pixel of uint8 img (h, w, C)."""
    a = net.arrays
    cfg = a["cfg"]
    c, r, amax = int(cfg[CFG_C]), int(cfg[CFG_R]), int(cfg[CFG_AMAX])
    h, w = img.shape[:2]
    x = np.zeros((h + r, w + 2 * r, c), np.int64)
    x[r:, r:r + w] = img.reshape(h, w, c).astype(np.int64) - 128
    cols = [x[r + dy:r + dy + h, r + dx:r + dx + w] for dy, dx in causal_offsets(2 * r + 1)]
    win = np.concatenate(cols, axis=2).reshape(h * w, -1)
    acc = win @ a["w1"].astype(np.int64) + a["b1"]
    hid = np.clip(_requant(acc, a["m1"], a["s1"]), 0, amax)
    for layer in range(a["wl"].shape[0]):
        acc = hid @ a["wl"][layer].astype(np.int64) + a["bl"][layer]
        hid = np.minimum(hid + np.clip(_requant(acc, a["ml"][layer], a["sl"][layer]), 0, amax), amax)
    acc = hid @ a["wo"].astype(np.int64) + a["bo"]
    out = np.clip(_requant(acc, a["mo"], a["so"]), -OUT_CLAMP, OUT_CLAMP)
    return out.reshape(h, w, -1)


def reference_mixture(net, out, img):
    """Mixture weights, means, inverse scales and scales (h, w, C, K) int64 from head outputs and the true pixels."""
    a = net.arrays
    cfg = a["cfg"]
    c, k = int(cfg[CFG_C]), int(cfg[CFG_K])
    ls_min, ls_max = int(cfg[CFG_LS_MIN]), int(cfg[CFG_LS_MAX])
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
    ls_idx = np.clip(logs, ls_min, ls_max) - ls_min
    inv, scl = a["invs_lut"][ls_idx], a["scale_lut"][ls_idx]
    d = np.minimum(logit.max(axis=-1, keepdims=True) - logit, EXP_LEN - 1)
    e = a["exp_lut"][d]
    wts = (e << MIXW_BITS) // e.sum(axis=-1, keepdims=True)
    first = np.argmax(logit, axis=-1)[..., None]
    rem = (1 << MIXW_BITS) - wts.sum(axis=-1, keepdims=True)
    np.put_along_axis(wts, first, np.take_along_axis(wts, first, -1) + rem, -1)
    return wts, mu, inv, scl


def reference_adapt(net, wts, mu, inv, scl, img):
    """The adaptive stage in raster order (it is sequential by nature): corrected (mu, inv), new arrays."""
    cfg = net.arrays["cfg"]
    shift, n_err, n_feat = int(cfg[CFG_ADAPT]), int(cfg[CFG_ERRCTX]), int(cfg[CFG_FEATS])
    h, w, c, _ = mu.shape
    mu, inv = mu.copy(), inv.copy()
    bias_stats, scale_stats = {}, {}
    lms = [list(LMS_INIT) for _ in range(c)]
    err = {}  # (y, x, ch) -> 256 x - mm

    def sign(v):
        return (v > 0) - (v < 0)

    for y in range(h):
        for x in range(w):
            for ch in range(c):
                wk, mk, sk = (wts[y, x, ch].tolist(), mu[y, x, ch].tolist(), scl[y, x, ch].tolist())
                mm = sum(wi * mi for wi, mi in zip(wk, mk)) >> MIXW_BITS
                mad = sum(wi * (((si * MAD_C) >> 12) + abs(mi - mm)) for wi, mi, si in zip(wk, mk, sk)) >> MIXW_BITS
                key = (ch, mad_bucket(mad))
                n, b_sum = bias_stats.get(key, (0, 0))
                cb = (b_sum << 8) // n if n > 0 else 0
                feat = [cb, err.get((y, x - 1, ch), 0), err.get((y - 1, x, ch), 0),
                        err.get((y - 1, x + 1, ch), 0) if x + 1 < w else 0, err.get((y - 1, x - 1, ch), 0),
                        err[y, x, ch - 1] if ch > 0 else 0]
                feat += [err[y, x, ch - 2] if ch > 1 else 0, err.get((y, x - 2, ch), 0),
                         err.get((y - 1, x, ch - 1), 0) if ch > 0 else 0,
                         err.get((y, x - 1, ch - 1), 0) if ch > 0 else 0][:n_feat - 6]
                skey = key
                if n_err:
                    energy = sum(abs(f) for f in feat[1:3] + feat[5:6]) + ((abs(feat[3]) + abs(feat[4])) >> 1)
                    ratio = (energy << ERR_RATIO_BITS) // ((4 if ch else 3) * mad + 1)
                    skey = key + (min(max(ratio.bit_length() - ERR_OCTAVE0, 0), n_err - 1),)
                e_sum, m_sum = scale_stats.get(skey, (0, 0))
                rf = min(max((m_sum << RATIO_FRAC) // e_sum, RATIO_MIN), RATIO_MAX) if e_sum > 0 else 1 << RATIO_FRAC
                bias = sum(li * fi for li, fi in zip(lms[ch], feat)) >> LMS_FRAC
                bias = min(max(bias, -BIAS_CLAMP), BIAS_CLAMP)
                mu[y, x, ch] = np.clip(mu[y, x, ch] + bias, MU_MIN, MU_MAX)
                inv[y, x, ch] = np.maximum((inv[y, x, ch] * rf) >> RATIO_FRAC, 1)
                e = err[y, x, ch] = (int(img[y, x, ch]) << MU_FRAC) - mm
                bias_stats[key] = (n + COUNT_ONE - (n >> shift), b_sum + e - (b_sum >> shift))
                scale_stats[skey] = (e_sum + abs(e - bias) - (e_sum >> shift), m_sum + mad - (m_sum >> shift))
                s = sign(e - bias)
                lms[ch] = [min(max(li + LMS_STEP * s * sign(fi), -LMS_CLAMP), LMS_CLAMP)
                           for li, fi in zip(lms[ch], feat)]
    return mu, inv


def reference_cdfs(net, img, precision):
    """Coder CDFs (h, w, C, 257) int64 for every sub-pixel of img, all positions at once."""
    out = reference_outputs(net, img)
    wts, mu, inv, scl = reference_mixture(net, out, img)
    if net.arrays["cfg"][CFG_ADAPT]:
        mu, inv = reference_adapt(net, wts, mu, inv, scl, img.reshape(mu.shape[:3]))
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
