"""Export a float checkpoint as a released integer model inside the package.

    python -m models.export runs/rgb/ckpt.pt --name rgb-v1 --default

writes lcodec/weights/<name>-<sha256[:8]>.npz (integer weights, requantisation multipliers and shifts, lookup
tables, config; see lcodec/nn.py for the fixed-point format), registers it in lcodec/registry.py, and prints
float vs integer bits per sub-pixel on the validation crops of models.train (never Kodak). A name that is
already registered is refused: released files are never replaced.

Quantisation: per output row, weights are rounded to the largest integer range that keeps every int32
accumulator bound below 2**31 (n_in * max|w| * max|input| <= 2**30, |bias| < 2**30); the hidden activations
share one scale calibrated on training crops (amax = 2**13 - 1 at 1.25x the largest activation seen).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
import time
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from lcodec import codec, nn, registry
from models.model import LOG_S_MAX, LOG_S_MIN, bits_per_subpixel, causal_mask, load_checkpoint
from models.train import VAL_CROP, data_dir, load_split, val_crops

ACT_BITS = 13          # hidden activations in [0, 2**13 - 1]
ACT_HEADROOM = 1.25    # calibrated max activation maps to amax / 1.25
ACC_BUDGET = 1 << 30   # n_in * max|w| * max|input| and |bias| each stay below this: their sum is < 2**31
W_MAX = (1 << 15) - 1  # int16 weights at most
ADAPT_SHIFT = 4       # adaptive stage decay 1 - 2**-4 (0 turns it off); chosen on the validation split
ERR_BUCKETS = 10      # error-energy octaves per scale context (0: FORMAT 2 behaviour); chosen likewise
LMS_FEATURES = nn.N_FEAT  # features of the adaptive stage's LMS (6: FORMAT 3 behaviour); chosen likewise
CALIB_CROPS = 64
CALIB_SIZE = 64
CALIB_SEED = 7


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
    wq = np.round(w * ws).astype(np.int32)
    bq = np.clip(np.round(np.asarray(b, np.float64) * ws * a_in), -(ACC_BUDGET - 1), ACC_BUDGET - 1)
    ratio = np.broadcast_to(np.asarray(a_out, np.float64), (n_out,)) / (ws * a_in)
    shift = np.clip(np.floor(29 - np.log2(ratio)), 1, 62).astype(np.int64)
    mult = np.round(ratio * np.exp2(shift)).astype(np.int64)
    if mult.max() >= 1 << 31:
        raise ValueError("output scale too large for a 31-bit multiplier")
    return wq, bq.astype(np.int32), mult, shift


@torch.no_grad()
def hidden_max(model, crops):
    """Largest hidden activation (the input of the head, after the last residual layer) over crops (N, C, H, W)."""
    seen = []
    hook = model.out.register_forward_hook(lambda _m, inputs, _out: seen.append(float(inputs[0].max())))
    try:
        model(crops)
    finally:
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


def export_arrays(model, cfg, hmax, meta, adapt_shift=ADAPT_SHIFT, err_buckets=ERR_BUCKETS,
                  lms_features=LMS_FEATURES):
    """The integer release of a float PixelCNN as a dict of arrays (the .npz contents)."""
    sd = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
    C, K, k = cfg.channels, cfg.n_mix, cfg.kernel
    r = k // 2
    amax = (1 << ACT_BITS) - 1
    a_h = amax / (ACT_HEADROOM * hmax)
    mask = causal_mask(C, k)[0].double().numpy()
    w1 = sd["conv1.weight"] * mask  # (D, C, k, k)
    # rows of w1 follow nn.causal_offsets, channel-minor; the integer input is x - 128 = 128 xin
    rows = [w1[:, c, dy + r, dx + r] / 128.0 for dy, dx in nn.causal_offsets(k) for c in range(C)]
    a = {}
    a["w1"], a["b1"], a["m1"], a["s1"] = quantize_layer(np.stack(rows), sd["conv1.bias"], 1.0, 128, a_h)
    layers = [quantize_layer(sd[f"layers.{i}.weight"][:, :, 0, 0].T, sd[f"layers.{i}.bias"], a_h, amax, a_h)
              for i in range(cfg.n_layers)]
    D = cfg.hidden
    for key, i, dtype in (("wl", 0, np.int32), ("bl", 1, np.int32), ("ml", 2, np.int64), ("sl", 3, np.int64)):
        shape = (0, D, D) if key == "wl" else (0, D)
        a[key] = np.stack([q[i] for q in layers]).astype(dtype) if layers else np.zeros(shape, dtype)
    # head rows: logit (1/256 nat), mu (1/256 pixel, +128 folded into the bias), log_s (1/256 nat), coefficients
    n_out = nn.n_outputs(C, K)
    a_out = np.empty(n_out)
    bias = sd["out.bias"].copy()
    for c in range(C):
        base = 3 * K * c
        a_out[base:base + K] = 1 << nn.LOGIT_FRAC
        a_out[base + K:base + 2 * K] = 128 << nn.MU_FRAC
        bias[base + K:base + 2 * K] += 1.0
        a_out[base + 2 * K:base + 3 * K] = 1 << nn.LOGS_FRAC
    a_out[3 * K * C:] = 1 << nn.COEF_FRAC
    a["wo"], a["bo"], a["mo"], a["so"] = quantize_layer(sd["out.weight"][:, :, 0, 0].T, bias, a_h, amax, a_out)
    ls_min, ls_max = round(LOG_S_MIN * (1 << nn.LOGS_FRAC)), round(LOG_S_MAX * (1 << nn.LOGS_FRAC))
    a["cfg"] = np.array([C, K, r, amax, ls_min, ls_max, adapt_shift, err_buckets, lms_features], np.int64)
    a["sig_lut"], a["exp_lut"] = nn.sigmoid_lut(), nn.exp_lut()
    a["invs_lut"], a["scale_lut"] = nn.invs_lut(ls_min, ls_max), nn.scale_lut(ls_min, ls_max)
    a["format"] = np.array(nn.FORMAT, np.int64)
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
    """Integer model bpsp over crops (N, C, H, W) uint8: the mean of codec.bits_map."""
    return float(np.mean([codec.bits_map(net, x.permute(1, 2, 0).numpy()).mean() for x in crops]))


def with_adapt_shift(arrays, shift):
    """The same arrays with the adaptive stage's decay shift replaced (0 = off)."""
    cfg = arrays["cfg"].copy()
    cfg[nn.CFG_ADAPT] = shift
    return dict(arrays, cfg=cfg)


def register(name, data, *, default):
    """Write the weight file and add name -> (file, sha256) to lcodec/registry.py's MODELS block."""
    if name in registry.MODELS:
        raise SystemExit(f"model {name!r} is already registered; released files are never replaced")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", name):
        raise SystemExit(f"bad model name {name!r}")
    sha = hashlib.sha256(data).hexdigest()
    filename = f"{name}-{sha[:8]}.npz"
    (registry.WEIGHTS_DIR / filename).write_bytes(data)
    models = dict(registry.MODELS, **{name: (filename, sha)})
    defaults = dict(registry.DEFAULT_MODELS, **({default: name} if default else {}))
    block = ("# BEGIN MODELS (written by models/export.py)\nMODELS = {\n"
             + "".join(f"    {n!r}: ({f!r}, {s!r}),\n" for n, (f, s) in sorted(models.items()))
             + "}\nDEFAULT_MODELS = {\n"
             + "".join(f"    {k!r}: {v!r},\n" for k, v in sorted(defaults.items()))
             + "}\n# END MODELS")
    path = Path(registry.__file__)
    src = path.read_text()
    new = re.sub(r"# BEGIN MODELS.*?# END MODELS", lambda _: block, src, count=1, flags=re.S)
    if new == src:
        raise SystemExit(f"MODELS markers not found in {path}")
    path.write_text(new)
    return filename, sha


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("ckpt", type=Path)
    p.add_argument("--name", required=True, help="registry name, e.g. rgb-v1 (never reused)")
    p.add_argument("--default", action="store_true", help="make it the default model for its channel count")
    p.add_argument("--adapt-shift", type=int, default=ADAPT_SHIFT, help="adaptive stage decay shift, 0 = off")
    p.add_argument("--err-buckets", type=int, default=ERR_BUCKETS,
                   help="error-energy octaves of the scale contexts, 0 = off")
    p.add_argument("--lms-features", type=int, default=LMS_FEATURES, choices=nn.LMS_FEATURES,
                   help="error features of the adaptive stage's LMS (6: as FORMAT 3)")
    p.add_argument("--sweep", action="store_true", help="also report integer bits for adapt shifts 0, 3..7")
    p.add_argument("--dry-run", action="store_true", help="measure only; write and register nothing")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    model, cfg = load_checkpoint(args.ckpt)
    state = torch.load(args.ckpt, map_location="cpu", weights_only=False)
    train, val = load_split(data_dir(), cfg.channels)
    hmax = hidden_max(model, calibration_crops(train, cfg.channels))
    meta = {"name": args.name, "config": asdict(cfg), "step": state.get("step"), "calibrated_hidden_max": hmax}
    arrays = export_arrays(model, cfg, hmax, meta, args.adapt_shift, args.err_buckets, args.lms_features)
    data = npz_bytes(arrays)
    net = nn.Net.from_bytes(data, name=args.name)
    crops = torch.cat(list(val_crops(val, VAL_CROP).values()))
    t0 = time.perf_counter()
    fbits = float_bits(model, crops)
    plain = integer_bits(nn.Net(with_adapt_shift(arrays, 0), name=args.name, sha256=""), crops)
    print(f"{args.name}: {len(crops)} validation crops {VAL_CROP}x{VAL_CROP}: float {fbits:.4f} bpsp, "
          f"integer {plain:.4f} bpsp ({100 * (plain / fbits - 1):+.3f} %)")
    for shift in sorted({args.adapt_shift} | ({3, 4, 5, 6, 7} if args.sweep else set()) - {0}):
        ibits = integer_bits(net if shift == args.adapt_shift else
                             nn.Net(with_adapt_shift(arrays, shift), name=args.name, sha256=""), crops)
        print(f"  integer + adaptive stage (shift {shift}): {ibits:.4f} bpsp ({100 * (ibits / fbits - 1):+.2f} %)")
    print(f"  {len(data)} bytes [{time.perf_counter() - t0:.1f} s]")
    if not args.dry_run:
        filename, sha = register(args.name, data, default=("rgb" if cfg.channels == 3 else "gray")
                                 if args.default else None)
        print(f"registered {args.name} -> lcodec/weights/{filename} sha256 {sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
