"""Quantise a float PixelCNN to the integer weight file of WEIGHTS.md (FORMAT 5: layer records over flat buffers).

`python -m models.release NAME` is the command that uses this: it exports the checkpoint a config names, measures it
and registers it. Quantisation: per output row, weights are rounded to the largest integer range that keeps every
int32 accumulator bound below 2**31 (n_in * max|w| * max|input| <= 2**30, |bias| < 2**30); the hidden activations
share one scale calibrated on training crops (amax = 2**13 - 1 at 1.25x the largest activation seen, kept to four
digits; a config may pin it, as the default models' configs do with the value they were released with).
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import torch

from lcodec import learned
from lcodec.model import fixed_point as fp
from lcodec.model.weights import DENSE, FORMAT, HEAD, RESIDUAL, causal_offsets, n_outputs
from models.model import LOG_S_MAX, LOG_S_MIN, bits_per_subpixel, causal_mask

ACT_BITS = 13          # hidden activations in [0, 2**13 - 1]
ACT_HEADROOM = 1.25    # calibrated max activation maps to amax / 1.25
ACC_BUDGET = 1 << 30   # n_in * max|w| * max|input| and |bias| each stay below this: their sum is < 2**31
W_MAX = (1 << 15) - 1  # int16 weights at most
CALIB_CROPS = 64
CALIB_SIZE = 64
CALIB_SEED = 7
# The adaptive stage's settings when a config gives none: decay 1 - 2**-4, ten error-energy octaves per scale
# context, every LMS feature (chosen on the validation split; the model card has the sweeps).
EXPORT_DEFAULTS = {"adapt_shift": 4, "err_buckets": 10, "lms_features": fp.N_FEAT}


def quantize_layer(w, b, a_in, in_max, a_out):
    """Float layer y = x @ w + b (w: (n_in, n_out)) -> int32 weights/bias, int64 multipliers and shifts.

    The input is given as integers a_in * x (|.| <= in_max); the output comes out as integers a_out * y
    (a_out per output row). Rounding: numpy's round-half-even at export; the kernels then only do integer math.
    """
    w = np.asarray(w, np.float64)
    n_in, n_out = w.shape
    wmax = min(W_MAX, ACC_BUDGET // (n_in * in_max))
    col = np.abs(w).max(axis=0)
    ws = np.where(col > 0, wmax / np.where(col > 0, col, 1.0), 1.0)  # per output row
    # ...unless the bias would not fit that scale (small weights, a large bias: an early or unusual network)
    b = np.asarray(b, np.float64)
    bmax = np.abs(b) * a_in
    ws = np.where(bmax * ws > ACC_BUDGET - 1, (ACC_BUDGET - 1) / np.where(bmax > 0, bmax, 1.0), ws)
    wq = np.round(w * ws).astype(np.int32)
    bq = np.clip(np.round(b * ws * a_in), -(ACC_BUDGET - 1), ACC_BUDGET - 1)
    ratio = np.broadcast_to(np.asarray(a_out, np.float64), (n_out,)) / (ws * a_in)
    shift = np.clip(np.floor(29 - np.log2(ratio)), 1, 62).astype(np.int64)
    mult = np.round(ratio * np.exp2(shift)).astype(np.int64)
    if mult.max() >= 1 << 31:
        raise ValueError("output scale too large for a 31-bit multiplier")
    return wq, bq.astype(np.int32), mult, shift


@torch.no_grad()
def hidden_max(model, crops):
    """Largest hidden activation over crops (N, C, H, W): the inputs of every 1x1 layer and of the head (in a
    residual network the last is the largest, the stream only grows)."""
    seen = []
    modules = list(model.layers) + [model.out]
    hooks = [m.register_forward_hook(lambda _m, inputs, _out: seen.append(float(inputs[0].max()))) for m in modules]
    try:
        model(crops)
    finally:
        for hook in hooks:
            hook.remove()
    return max(seen)


def calibration_crops(images, channels):
    """Fixed random crops of the training images (not the validation split)."""
    rng = np.random.default_rng(CALIB_SEED)
    out = []
    for _ in range(CALIB_CROPS):
        im = images[rng.integers(len(images))]
        y = rng.integers(0, im.shape[0] - CALIB_SIZE + 1)
        x = rng.integers(0, im.shape[1] - CALIB_SIZE + 1)
        out.append(im[y:y + CALIB_SIZE, x:x + CALIB_SIZE])
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


def export_arrays(model, cfg, hmax, meta, settings=None):
    """The integer release of a float PixelCNN as a dict of FORMAT 5 arrays (the .npz contents): the causal
    convolution as a dense layer over the window, each 1x1 layer as a residual or dense layer, then the head.
    settings: the adaptive stage's (EXPORT_DEFAULTS' keys)."""
    settings = dict(EXPORT_DEFAULTS, **(settings or {}))
    sd = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
    C, K, k = cfg.channels, cfg.n_mix, cfg.kernel
    r = k // 2
    amax = (1 << ACT_BITS) - 1
    a_h = amax / (ACT_HEADROOM * hmax)
    mask = causal_mask(C, k)[0].double().numpy()
    w1 = sd["conv1.weight"] * mask  # (D, C, k, k)
    # the window's rows follow causal_offsets, channel-minor; the integer input is x - 128 = 128 xin
    rows = [w1[:, c, dy + r, dx + r] / 128.0 for dy, dx in causal_offsets(k) for c in range(C)]
    layers = [(DENSE, quantize_layer(np.stack(rows), sd["conv1.bias"], 1.0, 128, a_h))]
    for i, residual in enumerate(model.residual):
        q = quantize_layer(sd[f"layers.{i}.weight"][:, :, 0, 0].T, sd[f"layers.{i}.bias"], a_h, amax, a_h)
        layers.append((RESIDUAL if residual else DENSE, q))
    # head rows: logit (1/256 nat), mu (1/256 pixel, +128 folded into the bias), log_s (1/256 nat), coefficients
    n_out = n_outputs(C, K)
    a_out = np.empty(n_out)
    bias = sd["out.bias"].copy()
    for c in range(C):
        base = 3 * K * c
        a_out[base:base + K] = 1 << fp.LOGIT_FRAC
        a_out[base + K:base + 2 * K] = 128 << fp.MU_FRAC
        bias[base + K:base + 2 * K] += 1.0
        a_out[base + 2 * K:base + 3 * K] = 1 << fp.LOGS_FRAC
    a_out[3 * K * C:] = 1 << fp.COEF_FRAC
    layers.append((HEAD, quantize_layer(sd["out.weight"][:, :, 0, 0].T, bias, a_h, amax, a_out)))
    a = {"layers": np.array([(kind, *q[0].shape) for kind, q in layers], np.int64)}
    for j, (key, dtype) in enumerate((("weights", np.int32), ("bias", np.int32), ("mult", np.int64),
                                      ("shift", np.int64))):
        a[key] = np.concatenate([q[j].ravel() for _, q in layers]).astype(dtype)
    ls_min, ls_max = round(LOG_S_MIN * (1 << fp.LOGS_FRAC)), round(LOG_S_MAX * (1 << fp.LOGS_FRAC))
    a["cfg"] = np.array([C, K, r, amax, ls_min, ls_max, settings["adapt_shift"], settings["err_buckets"],
                         settings["lms_features"]], np.int64)
    a["sig_lut"], a["exp_lut"] = fp.sigmoid_lut(), fp.exp_lut()
    a["invs_lut"], a["scale_lut"] = fp.invs_lut(ls_min, ls_max), fp.scale_lut(ls_min, ls_max)
    a["format"] = np.array(FORMAT, np.int64)
    a["meta"] = np.array(json.dumps(meta, sort_keys=True))
    return a


def npz_bytes(arrays):
    """.npz bytes that depend on the arrays only (sorted members, fixed timestamps), so exports reproduce."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(arrays[key]), allow_pickle=False)
            z.writestr(info, member.getvalue())
    return buf.getvalue()


@torch.no_grad()
def float_bits(model, crops):
    """Float model bpsp over crops (N, C, H, W) uint8."""
    return sum(bits_per_subpixel(model, xb).item() * len(xb) for xb in crops.split(16)) / len(crops)


def integer_bits(net, crops):
    """Integer model bpsp over crops (N, C, H, W) uint8: the mean of learned.bits_map."""
    return float(np.mean([learned.bits_map(net, x.permute(1, 2, 0).numpy()).mean() for x in crops]))
