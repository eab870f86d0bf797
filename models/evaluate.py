"""Measure a released model on a folder of images: float vs integer bits, actual coded size, coding time.

    python -m models.evaluate --model rgb-v1 --ckpt runs/rgb/ckpt.pt [DIR]     (DIR: ../shared/data/kodak)

Per image and in total (bits per sub-pixel): the float checkpoint's cross-entropy (torch; --ckpt), the integer
network alone (adaptive stage off: the quantisation cost), the released integer model's estimate (sum of
lcodec.learned.bits_map), and the actual stream size of lcodec.learned.encode_tile over the whole image; encode and decode seconds (CPU time of this process and wall clock), and a round-trip check.
A gray model codes Pillow's convert("L") of each image. Run with NUMBA_NUM_THREADS=1 for one-core timings.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from lcodec import learned
from lcodec.model import registry
from models.data import data_dir

KODAK = data_dir("kodak")


def float_bpsp(model, img):
    import torch

    from models.model import bits_per_subpixel

    with torch.no_grad():
        x = torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()
        return bits_per_subpixel(model, x).item()


def timed(fn, *args):
    """(result, cpu seconds, wall seconds)"""
    c0, w0 = time.process_time(), time.perf_counter()
    res = fn(*args)
    return res, time.process_time() - c0, time.perf_counter() - w0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir", nargs="?", type=Path, default=KODAK)
    p.add_argument("--model", required=True, help="registered model name")
    p.add_argument("--ckpt", type=Path, help="float checkpoint the model was exported from (float column)")
    p.add_argument("--limit", type=int, help="only the first N images")
    args = p.parse_args(argv)
    net = registry.load(args.model)
    plain = net.replace(adapt_shift=0)
    model = None
    if args.ckpt:
        import torch

        from models.model import load_checkpoint

        torch.set_num_threads(1)
        model, _ = load_checkpoint(args.ckpt)
    files = sorted(f for f in args.dir.iterdir() if f.suffix.lower() in (".png", ".ppm", ".bmp", ".tif", ".tiff"))
    files = files[: args.limit] if args.limit else files
    if not files:
        raise SystemExit(f"no images in {args.dir}")
    learned.encode_tile(net, np.zeros((2, 2, net.channels), np.uint8))  # compile (or load the cache) first
    print(f"{net!r}, {len(files)} images from {args.dir}")
    print(f"{'image':<14}{'size':>10}{'float':>9}{'int':>9}{'int est':>9}{'coded':>9}{'enc cpu':>9}{'dec cpu':>9}"
          f"{'enc wall':>9}{'dec wall':>9}  ok")
    tot = dict(n=0, fbits=0.0, pbits=0.0, ibits=0.0, cbits=0, ecpu=0.0, dcpu=0.0, ewall=0.0, dwall=0.0)
    all_ok = True
    for f in files:
        with Image.open(f) as im:
            img = np.array(im.convert("RGB" if net.channels == 3 else "L"))
        img = np.ascontiguousarray(img.reshape(img.shape[0], img.shape[1], net.channels))
        n = img.size
        fb = float_bpsp(model, img) if model is not None else float("nan")
        pb = learned.bits_map(plain, img).sum() / n
        ib = learned.bits_map(net, img).sum() / n
        data, ecpu, ewall = timed(learned.encode_tile, net, img)
        back, dcpu, dwall = timed(learned.decode_tile, net, data, img.shape[0], img.shape[1])
        ok = np.array_equal(back, img)
        all_ok &= ok
        cb = 8 * len(data) / n
        print(f"{f.name:<14}{img.shape[1]:>5}x{img.shape[0]:<4}{fb:>9.4f}{pb:>9.4f}{ib:>9.4f}{cb:>9.4f}{ecpu:>9.2f}{dcpu:>9.2f}"
              f"{ewall:>9.2f}{dwall:>9.2f}  {'yes' if ok else 'NO'}", flush=True)
        for key, val in (("n", n), ("fbits", fb * n), ("pbits", pb * n), ("ibits", ib * n), ("cbits", 8 * len(data)), ("ecpu", ecpu),
                         ("dcpu", dcpu), ("ewall", ewall), ("dwall", dwall)):
            tot[key] += val
    k = len(files)
    n = tot["n"]
    print(f"{'total':<14}{'':>10}{tot['fbits'] / n:>9.4f}{tot['pbits'] / n:>9.4f}{tot['ibits'] / n:>9.4f}{tot['cbits'] / n:>9.4f}"
          f"{tot['ecpu'] / k:>9.2f}{tot['dcpu'] / k:>9.2f}{tot['ewall'] / k:>9.2f}{tot['dwall'] / k:>9.2f}  "
          f"{'all' if all_ok else 'FAILED'}   (bpsp over all sub-pixels; seconds per image)")
    if model is not None:
        print(f"integer network vs float: {100 * (tot['pbits'] / tot['fbits'] - 1):+.3f} %; adaptive stage: "
              f"{100 * (tot['ibits'] / tot['pbits'] - 1):+.2f} %; coded vs estimate: "
              f"{100 * (tot['cbits'] / tot['ibits'] - 1):+.4f} %")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
