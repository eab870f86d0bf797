"""The weight file: an .npz of integers that describes the network as data, and the loaded, validated `Net`.

WEIGHTS.md specifies the file (FORMAT 5: a list of layer records over flat weight buffers) and how files of
FORMAT 1 to 4 read as FORMAT 5. `Net.kernel` is the network as the Numba kernels take it, by name.
"""

import hashlib
import io
import json
from collections import namedtuple
from functools import cached_property

import numpy as np

from lcodec.errors import UnknownModelError
from lcodec.model.fixed_point import ACC_LIMIT, EXP_LEN, LMS_FEATURES, MIXW_BITS, PAIR_LANES, SIG_BITS, SIG_LEN

FORMAT = 5
FORMATS = (1, 2, 3, 4, 5)

# The cfg array of the file, in this order; the kernels read it as a Config.
Config = namedtuple("Config", "channels n_mix radius amax ls_min ls_max adapt_shift err_buckets lms_features")

# Layer kinds. DENSE: y = clamp(requant(acc), 0, amax); RESIDUAL: h = min(h + clamp(requant(acc), 0, amax), amax)
# (n_in == n_out); HEAD: the outputs, clamp(requant(acc), -OUT_CLAMP, OUT_CLAMP), last and only last.
DENSE, RESIDUAL, HEAD = 0, 1, 2
KIND_NAMES = {DENSE: "dense", RESIDUAL: "residual", HEAD: "head"}
MAX_WIDTH = 1024  # outputs of one layer
MAX_LAYERS = 64

# Columns of the kernels' layer plan: the file's (kind, n_in, n_out), then where the layer's paired weights start in
# the flat buffer, their rows (input pairs) and row width.
P_KIND, P_IN, P_OUT, P_WOFF, P_PAIRS, P_WIDTH = range(6)

KernelNet = namedtuple("KernelNet", "cfg plan weights bias mult shift sig_lut exp_lut invs_lut scale_lut")

FILE_KEYS = ("cfg", "layers", "weights", "bias", "mult", "shift", "sig_lut", "exp_lut", "invs_lut", "scale_lut")


def causal_offsets(kernel):
    """(dy, dx) of the first layer's taps in the order of its input rows: rows above, then the current row left of
    the pixel (each tap gives C inputs, channel-minor)."""
    r = kernel // 2
    above = [(dy, dx) for dy in range(-r, 0) for dx in range(-r, r + 1)]
    return above + [(0, dx) for dx in range(-r, 0)]


def n_outputs(channels, n_mix):
    """Head width: [logit, mu, log_s] x K per channel, plus alpha, beta, gamma x K for RGB."""
    return 3 * n_mix * channels + (3 * n_mix if channels == 3 else 0)


def n_inputs(channels, radius):
    """Inputs of the first layer: C values per causal tap."""
    return len(causal_offsets(2 * radius + 1)) * channels


class Net:
    """A loaded integer model: its FORMAT 5 arrays, their layers, its name and hash."""

    def __init__(self, arrays, *, name, sha256):
        self.name = name
        self.sha256 = sha256
        try:
            arrays = upgrade(arrays)
            _validate(arrays)
            self.meta = json.loads(str(arrays["meta"])) if "meta" in arrays else {}
        except (KeyError, ValueError, TypeError, IndexError) as exc:
            raise UnknownModelError(f"model {name!r}: invalid weights ({exc})") from None
        self.arrays = {k: np.ascontiguousarray(arrays[k]) for k in FILE_KEYS}
        self.config = Config(*(int(v) for v in self.arrays["cfg"]))
        self.channels = self.config.channels
        self.n_mix = self.config.n_mix
        self.kernel = 2 * self.config.radius + 1
        self.layers = [tuple(int(v) for v in row) for row in self.arrays["layers"]]

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

    def replace(self, **config):
        """The same network with some Config fields changed (an unreleased variant: no hash)."""
        cfg = np.array(self.config._replace(**config), np.int64)
        return Net(dict(self.arrays, cfg=cfg, format=np.array(FORMAT)), name=self.name, sha256="")

    def layer_arrays(self, i):
        """(W (n_in, n_out) int32, b, m, s) of layer i, views of the flat buffers."""
        w_off = b_off = 0
        for kind, n_in, n_out in self.layers[:i]:
            w_off += n_in * n_out
            b_off += n_out
        _, n_in, n_out = self.layers[i]
        a = self.arrays
        return (a["weights"][w_off:w_off + n_in * n_out].reshape(n_in, n_out), a["bias"][b_off:b_off + n_out],
                a["mult"][b_off:b_off + n_out], a["shift"][b_off:b_off + n_out])

    @cached_property
    def kernel_net(self):
        """The network as the kernels take it: Config, the layer plan and the weights `paired` in one buffer."""
        plan = np.zeros((len(self.layers), 6), np.int64)
        chunks, w_off = [], 0
        for i, (kind, n_in, n_out) in enumerate(self.layers):
            wp = paired(self.layer_arrays(i)[0])
            plan[i] = (kind, n_in, n_out, w_off, wp.shape[0], wp.shape[1])
            chunks.append(wp.ravel())
            w_off += wp.size
        # biases, multipliers and shifts as (layer, output) rows, zero-padded (shift 1): indexed so, the kernels'
        # per-output loops compile to faster code than over offsets into the flat buffers
        width = max(n_out for _, _, n_out in self.layers)
        rows = {key: np.full((len(self.layers), width), 1 if key == "shift" else 0, self.arrays[key].dtype)
                for key in ("bias", "mult", "shift")}
        for i, (_, _, n_out) in enumerate(self.layers):
            for key, arr in zip(("bias", "mult", "shift"), self.layer_arrays(i)[1:]):
                rows[key][i, :n_out] = arr
        a = self.arrays
        return KernelNet(self.config, plan, np.ascontiguousarray(np.concatenate(chunks)), rows["bias"], rows["mult"],
                         rows["shift"], a["sig_lut"], a["exp_lut"], a["invs_lut"], a["scale_lut"])

    def __repr__(self):
        shape = " ".join(f"{KIND_NAMES[k]}{n_out}" for k, _, n_out in self.layers)
        return (f"Net({self.name!r}, channels={self.channels}, kernel={self.kernel}, layers=[{shape}], "
                f"n_mix={self.n_mix}, sha256={self.sha256[:8]})")


def paired(w):
    """int16 weights for the kernels' pairwise multiply-adds: (n_in, n_out) becomes (ceil(n_in / 2), 2 * n_out8)
    with [i, 2 j + e] = W[2 i + e, j], zero-padded to n_out8 = n_out rounded up to a multiple of PAIR_LANES (and an
    even n_in)."""
    n_in, n_out = w.shape
    n_out8 = -(-n_out // PAIR_LANES) * PAIR_LANES
    out = np.zeros((-(-n_in // 2) * 2, n_out8), np.int16)
    out[:n_in, :n_out] = w
    out = out.reshape(out.shape[0] // 2, 2, n_out8)
    return np.ascontiguousarray(np.swapaxes(out, -1, -2)).reshape(out.shape[0], 2 * n_out8)


def upgrade(a):
    """Arrays of any FORMAT as FORMAT 5. FORMAT 1 (no adaptive stage) reads with adaptation off, FORMAT 2 without
    the error-energy scale contexts, FORMAT 3 with six LMS features (each step appends the cfg entry it introduced);
    FORMAT 4's fixed template (w1, wl, wo and their b, m, s) becomes a dense layer, residual layers and a head."""
    version = int(a["format"])
    if version not in FORMATS:
        raise ValueError(f"format {version}, expected one of {FORMATS}")
    if version == 1:
        a = dict(a, cfg=np.append(a["cfg"], 0).astype(np.int64))
        a["scale_lut"] = np.ones_like(a["invs_lut"])  # never read: adaptation is off
    if version <= 2:
        a = dict(a, cfg=np.append(a["cfg"], 0).astype(np.int64))
    if version <= 3:
        a = dict(a, cfg=np.append(a["cfg"], LMS_FEATURES[0]).astype(np.int64))
    if version <= 4:
        wl = a["wl"]
        if wl.ndim != 3:
            raise ValueError("wl")
        ws = [a["w1"]] + list(wl) + [a["wo"]]
        layers = [(DENSE, *a["w1"].shape)] + [(RESIDUAL, *w.shape) for w in wl] + [(HEAD, *a["wo"].shape)]
        a = dict(a, format=np.array(FORMAT), layers=np.array(layers, np.int64).reshape(-1, 3),
                 weights=np.concatenate([w.ravel() for w in ws]),
                 bias=np.concatenate([a["b1"], *a["bl"], a["bo"]]), mult=np.concatenate([a["m1"], *a["ml"], a["mo"]]),
                 shift=np.concatenate([a["s1"], *a["sl"], a["so"]]))
    return a


def _validate(a):
    """Shapes, dtypes, the chain of layers and the bounds that make int32 accumulation and int64 products
    overflow-free."""
    cfg = a["cfg"]
    if cfg.dtype != np.int64 or cfg.shape != (len(Config._fields),):
        raise ValueError("cfg")
    c, k, r, amax, ls_min, ls_max, adapt, n_err, n_feat = (int(v) for v in cfg)
    if c not in (1, 3) or not 1 <= k <= 64 or not 1 <= r <= 15 or not 1 <= amax < 1 << 15 or not 0 <= adapt <= 12 \
            or not 0 <= n_err <= 16 or n_feat not in LMS_FEATURES:
        raise ValueError("cfg values")
    layers = a["layers"]
    if layers.dtype != np.int64 or layers.ndim != 2 or layers.shape[1] != 3 or not 1 <= len(layers) <= MAX_LAYERS:
        raise ValueError("layers")
    for key, dtype in (("weights", np.int32), ("bias", np.int32), ("mult", np.int64), ("shift", np.int64)):
        if a[key].dtype != dtype or a[key].ndim != 1:
            raise ValueError(f"{key}: {a[key].dtype}{a[key].shape}, expected flat {np.dtype(dtype)}")
    width, w_off, b_off = n_inputs(c, r), 0, 0
    for i, (kind, n_in, n_out) in enumerate(tuple(int(v) for v in row) for row in layers):
        last = i == len(layers) - 1
        if kind not in KIND_NAMES or (kind == HEAD) != last or (kind == RESIDUAL and (i == 0 or n_in != n_out)):
            raise ValueError(f"layer {i}: a {KIND_NAMES.get(kind, kind)} layer cannot be here")
        if n_in != width or not 1 <= n_out <= MAX_WIDTH:
            raise ValueError(f"layer {i}: {n_in} -> {n_out} after {width} outputs")
        if last and n_out != n_outputs(c, k):
            raise ValueError(f"head: {n_out} outputs, expected {n_outputs(c, k)}")
        w = a["weights"][w_off:w_off + n_in * n_out]
        b, m, s = (a[key][b_off:b_off + n_out] for key in ("bias", "mult", "shift"))
        if w.size != n_in * n_out or b.size != n_out or m.size != n_out or s.size != n_out:
            raise ValueError(f"layer {i}: buffers end early")
        if w.min() < -(1 << 15) or w.max() >= 1 << 15:
            raise ValueError(f"layer {i}: weights beyond int16")
        in_max = 128 if i == 0 else amax
        bound = n_in * int(np.abs(w.astype(np.int64)).max()) * in_max + int(np.abs(b.astype(np.int64)).max())
        if bound >= ACC_LIMIT:
            raise ValueError(f"layer {i}: accumulator bound {bound} >= 2**31")
        if m.min() < 0 or m.max() >= 1 << 31 or s.min() < 1 or s.max() > 62:
            raise ValueError(f"layer {i}: multipliers or shifts out of range")
        width, w_off, b_off = n_out, w_off + w.size, b_off + n_out
    if w_off != a["weights"].size or any(a[key].size != b_off for key in ("bias", "mult", "shift")):
        raise ValueError("buffers longer than the layers")
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
