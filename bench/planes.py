"""The planes the network does not code (palette indices, alpha, bilevel and deep planes): every stage without a
model against the fallback's best (and deep planes against JPEG-XL e9), per plane, with seconds and an exactness
check on every round trip.

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
from lcodec import container, fallback, formats, stages  # noqa: E402
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


def model_free_stages(plane, bits):
    """The stages without a model that code such a plane, by name."""
    return {s.name: s for s in stages.all_stages() if not s.model and s.efforts and s.supports(None, plane.shape[2], bits)}


def measure(plane, bits):
    """{codec: bytes} and {stage: (encode s, decode s)} of a plane: the fallback's best, every stage without a model
    that codes it (each round trip checked exact) and, for deep planes, JPEG-XL e9 told the bits used."""
    sizes, times = {"fallback": len(fallback.encode(plane, bits)[1])}, {}
    for name, stage in model_free_stages(plane, bits).items():
        t = time.perf_counter()
        method, payload = stage.encode(None, plane, **stage.settings(None, plane, 3, bits))
        enc = time.perf_counter() - t
        t = time.perf_counter()
        back = stage.decode(None, method, payload, *plane.shape, bits, True)
        times[name] = (enc, time.perf_counter() - t)
        if not np.array_equal(back.astype(np.uint16), plane.astype(np.uint16)):
            raise SystemExit(f"bench.planes: a {name} round trip is not exact")
        sizes[name] = len(payload)
    if bits > 8:
        import imagecodecs

        used = max(int(plane.max()).bit_length(), 1)
        sizes["jpegxl"] = len(imagecodecs.jpegxl_encode(plane if plane.shape[2] > 1 else plane[:, :, 0], effort=9,
                                                        lossless=True, bitspersample=used, numthreads=1))
    return sizes, times


def _best(row, effort=3):
    """What lcodec keeps of a plane at an effort: the smallest of the fallback's payload and its first stage's (2) or
    every stage's (3)."""
    coded = [k for k in row["bytes"] if k not in ("fallback", "jpegxl")]
    return min([row["bytes"]["fallback"]] + [row["bytes"][k] for k in coded[: 1 if effort == 2 else None]])


def table(rows):
    names = sorted({k for r in rows for k in r["bytes"]}, key=lambda k: (k == "jpegxl", k != "fallback", k))
    lines = [f"| kind | image | samples | {' | '.join(n + ' B' for n in names)} | effort 3 / fallback | "
             "vs JPEG-XL | decode s |", "|---" * (len(names) + 6) + "|"]
    for r in rows:
        b = r["bytes"]
        jxl = f"{_best(r) / b['jpegxl']:.3f}" if "jpegxl" in b else ""
        dec = " ".join(f"{k} {v[1]:.2f}" for k, v in r["seconds"].items())
        lines.append(f"| {r['kind']} | {r['image']} | {r['samples']} | {' | '.join(str(b.get(n, '')) for n in names)} | "
                     f"{_best(r) / b['fallback']:.3f} | {jxl} | {dec} |")
    lines += ["", f"| kind | planes | {' | '.join(n + ' bits/sample' for n in names)} | lcodec effort 2 | effort 3 | "
              "effort 3 / fallback | effort 2 / JPEG-XL | effort 3 / JPEG-XL |", "|---" * (len(names) + 7) + "|"]
    for kind in sorted({r["kind"] for r in rows}):
        rs = [r for r in rows if r["kind"] == kind]
        n = sum(r["samples"] for r in rs)
        tot = {k: sum(r["bytes"][k] for r in rs) for k in names if all(k in r["bytes"] for r in rs)}
        best2, best = sum(_best(r, 2) for r in rs), sum(_best(r) for r in rs)
        jxl = f"{best2 / tot['jpegxl']:.3f} | {best / tot['jpegxl']:.3f}" if "jpegxl" in tot else " | "
        lines.append(f"| {kind} | {len(rs)} | {' | '.join(f'{8 * tot[k] / n:.3f}' if k in tot else '' for k in names)} | "
                     f"{8 * best2 / n:.3f} | {8 * best / n:.3f} | {best / tot['fallback']:.3f} | {jxl} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.planes", description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*", metavar="DIR")
    parser.add_argument("--json", metavar="FILE", help="write the rows, machine and commit as JSON")
    args = parser.parse_args(argv)
    dirs = [Path(d) for d in args.dirs] or [data_dir("graphics"), data_dir("deep")]
    for bits in (8, 16):  # compile before timing
        measure((np.arange(64).reshape(8, 8, 1) * (bits - 7)).astype(np.uint8 if bits == 8 else np.uint16), bits)
    rows = []
    for path in sorted(p for d in dirs for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        for kind, plane, bits in non_model_planes(formats.read(path, metadata=False).frames[0]):
            sizes, times = measure(plane, bits)
            rows.append({"kind": kind, "image": path.name, "samples": plane.size, "bytes": sizes, "seconds": times})
            print(f"{kind} {path.name}: {sizes}", file=sys.stderr, flush=True)
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "commit": git_commit(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
