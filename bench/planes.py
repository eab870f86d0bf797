"""The planes the network does not code (palette indices, alpha, bilevel and deep planes): the CONTEXT stage against
the fallback's best, per plane, with seconds and an exactness check on every round trip.

`python -m bench.planes [DIR...] [--json FILE]` (default: ../shared/data/graphics and ../shared/data/deep) prints a
markdown table per kind and the totals. Images are read by lcodec's own input layer (16-bit colour at full depth).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from bench.harness import IMAGE_SUFFIXES, git_commit, machine  # noqa: E402
from lcodec import container, fallback, formats  # noqa: E402
from lcodec.mixing import planes  # noqa: E402
from models.data import data_dir  # noqa: E402


def non_model_planes(frame):
    """[(kind, plane (h, w, c), storage bits)] of a frame's plane groups that no network codes."""
    mode = container.mode_by_name(frame.mode)
    pixels = frame.pixels.reshape(frame.pixels.shape[0], frame.pixels.shape[1], -1)
    out, c0 = [], 0
    for g, (c, bits) in enumerate(mode.groups):
        plane = np.ascontiguousarray(pixels[:, :, c0:c0 + c])
        c0 += c
        if g == 0 and mode.learned_group:
            continue
        kind = ("deep" if bits > 8 else "bilevel" if bits == 1 else "palette" if frame.mode == "P"
                else "alpha" if g > 0 else "other")
        if kind == "alpha" and (plane == plane.flat[0]).all():
            continue  # a constant plane costs a few bytes either way
        out.append((kind, plane, bits))
    return out


def measure(plane, bits):
    """Bytes of the fallback's best and of CONTEXT, and CONTEXT's encode and decode seconds (checked exact)."""
    other = len(fallback.encode(plane, bits)[1])
    t = time.perf_counter()
    _, payload = planes.encode_tile(plane, bits)
    enc = time.perf_counter() - t
    t = time.perf_counter()
    back = planes.decode_tile(payload, *plane.shape, bits, True)
    dec = time.perf_counter() - t
    if not np.array_equal(back.astype(np.uint16), plane.astype(np.uint16)):
        raise SystemExit("bench.planes: a CONTEXT round trip is not exact")
    return other, len(payload), enc, dec


def table(rows):
    lines = ["| kind | image | samples | fallback B | context B | ratio | enc s | dec s |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['kind']} | {r['image']} | {r['samples']} | {r['fallback']} | {r['context']} | "
                     f"{r['context'] / r['fallback']:.3f} | {r['enc_s']:.2f} | {r['dec_s']:.2f} |")
    lines += ["", "| kind | planes | context smaller | fallback bits/sample | context bits/sample | ratio | ns/decision |",
              "|---|---|---|---|---|---|---|"]
    for kind in sorted({r["kind"] for r in rows}):
        rs = [r for r in rows if r["kind"] == kind]
        n = sum(r["samples"] for r in rs)
        fb, cx = sum(r["fallback"] for r in rs), sum(r["context"] for r in rs)
        decisions = sum(r["samples"] * r["bits_coded"] for r in rs)
        lines.append(f"| {kind} | {len(rs)} | {sum(r['context'] < r['fallback'] for r in rs)} | {8 * fb / n:.3f} | "
                     f"{8 * cx / n:.3f} | {cx / fb:.3f} | {1e9 * sum(r['dec_s'] for r in rs) / decisions:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.planes", description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*", metavar="DIR")
    parser.add_argument("--json", metavar="FILE", help="write the rows, machine and commit as JSON")
    args = parser.parse_args(argv)
    dirs = [Path(d) for d in args.dirs] or [data_dir("graphics"), data_dir("deep")]
    planes.encode_tile(np.zeros((4, 4, 1), np.uint8), 8)  # compile before timing
    rows = []
    for path in sorted(p for d in dirs for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        for kind, plane, bits in non_model_planes(formats.read(path, metadata=False).frames[0]):
            other, ours, enc, dec = measure(plane, bits)
            rows.append({"kind": kind, "image": path.name, "samples": plane.size, "bits_coded": planes.used_bits(plane),
                         "fallback": other, "context": ours, "enc_s": enc, "dec_s": dec})
            print(f"{kind} {path.name}: {ours / other:.3f}", file=sys.stderr, flush=True)
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "commit": git_commit(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
