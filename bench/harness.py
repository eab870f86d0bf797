"""Run codecs over images: bits per sub-pixel, seconds, and an exactness check on every round trip.

`python -m bench [DIR...] [--quick] [--json FILE] [--plot FILE] [--codecs a,b,...]` prints a markdown table. Images
deeper than 8 bits are coded at full depth by the codecs that take them (deep_codecs), in a table per kind of image.
"""

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from bench.codecs import CodecUnavailable, all_codecs, bits_used, deep_codecs
from models.data import data_dir

REPO = Path(__file__).resolve().parents[1]
IMAGE_SUFFIXES = {".png", ".bmp", ".ppm", ".pgm", ".pnm", ".tif", ".tiff"}
QUICK_IMAGES = 3
QUICK_CROP = 128
WARMUP_CROP = 16  # a tiny first round trip per codec, untimed: pays for imports, JIT and model loading
TIMING_RUNS = 5  # a fast call is repeated (best of up to this many) so the timer's noise does not dominate
TIMING_BUDGET_S = 0.5  # ... as long as the repeats together stay under this
README_BEGIN = "<!-- BEGIN python -m bench table -->"
README_END = "<!-- END python -m bench table -->"
README_DEEP = ("<!-- BEGIN python -m bench deep table -->", "<!-- END python -m bench deep table -->")


def default_dir():
    return data_dir("kodak")


def load_images(dirs, quick=False, gray=False, every=1):
    """[(name, array)] from every image file in the folders, gray or RGB (alpha and palettes dropped): uint8, or
    uint16 at full depth where the file holds more than 8 bits a sample (read by lcodec's input layer, as Pillow cuts
    16-bit RGB to 8 bits).

    quick: the first few images only, each cut to a centred square crop. gray: Pillow's 8-bit luminance
    (convert("L")) of every image, deep ones too: the input the gray model is measured on. every: every n-th file of
    each folder (sorted by name, from the first): 10 gives the training script's validation split.
    """
    from PIL import Image

    paths = []
    for folder in dirs:
        folder = Path(folder)
        if not folder.is_dir():
            raise SystemExit(f"bench: not a folder: {folder}")
        paths += sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[::every]
    if not paths:
        raise SystemExit(f"bench: no images in {', '.join(map(str, dirs))}")
    if quick:
        paths = paths[:QUICK_IMAGES]
    images = []
    for path in paths:
        array = None if gray else _deep(path)
        if array is None:
            with Image.open(path) as im:
                if gray:
                    im = im.convert("L")
                elif im.mode not in ("L", "RGB"):
                    im = im.convert("L" if im.mode in ("1", "LA", "I", "I;16", "F") else "RGB")
                array = np.asarray(im)
        if quick:
            h, w = array.shape[:2]
            top, left = max(0, (h - QUICK_CROP) // 2), max(0, (w - QUICK_CROP) // 2)
            array = np.ascontiguousarray(array[top : top + QUICK_CROP, left : left + QUICK_CROP])
        images.append((path.name, array))
    return images


def _deep(path):
    """The file's gray or RGB samples (its first channel where not RGB; extra channels dropped) when it holds more
    than 8 bits a sample, else None."""
    from lcodec import formats

    frame = formats.read(path, metadata=False, allow_lossy=True).frames[0]
    if frame.pixels.dtype != np.uint16:
        return None
    pixels = frame.pixels.reshape(*frame.pixels.shape[:2], -1)
    return np.ascontiguousarray(pixels[..., :3] if frame.mode.startswith("RGB") else pixels[..., 0])


def image_kinds(dirs):
    """{file name: kind} from the `| file | kind |` table of each folder's MANIFEST.md, the kind without its note in
    brackets ("microscopy (RGB)" is microscopy)."""
    kinds = {}
    for folder in dirs:
        manifest = Path(folder) / "MANIFEST.md"
        if manifest.is_file():
            for line in manifest.read_text(encoding="utf-8").splitlines():
                cells = [c.strip() for c in line.split("|")[1:3]] if line.startswith("| ") else []
                if len(cells) == 2 and cells != ["file", "kind"]:
                    kinds[cells[0]] = cells[1].split(" (")[0]
    return kinds


def _timed(fn, arg):
    """(fn(arg), CPU seconds, wall seconds) of the fastest of up to TIMING_RUNS calls, repeated while calls are fast.

    CPU time of the process (every codec runs on one thread) is what a call costs on an idle core: on a shared
    machine the wall clock also measures the neighbours. The wall time is kept beside it.
    """
    best, spent = (float("inf"), float("inf")), 0.0
    for _ in range(TIMING_RUNS):
        cpu, wall = time.process_time(), time.perf_counter()
        out = fn(arg)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        best, spent = min(best, (cpu, wall)), spent + wall
        if spent + wall > TIMING_BUDGET_S:
            break
    return (out, *best)


def _exact(image, decoded):
    decoded = np.asarray(decoded)
    return decoded.dtype == image.dtype and decoded.shape == image.shape and np.array_equal(decoded, image)


def _failure(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def run_codec(codec, images, log=None):
    """One table row for one codec over all images.

    For a codec with a model, est_bpsp is its estimate Σ −log2 q over the whole image set and coder_overhead
    how much larger the tiles it coded came out than that estimate (the range coder's cost). per_image has each
    image's bytes, seconds and exactness, or its error: what the deep tables sum per kind.
    """
    row = {"codec": codec.name, "key": codec.key, "bpsp": None, "encode_s": None, "decode_s": None,
           "encode_wall_s": None, "decode_wall_s": None, "encode_mbps": None, "decode_mbps": None,
           "lossless": False, "images": len(images), "exact": 0,
           "bits": None, "subpixels": int(sum(a.size for _, a in images)), "est_bpsp": None,
           "coder_overhead": None, "estimate": None, "error": None, "per_image": []}
    reason = codec.unavailable()
    if reason:
        row["error"] = f"unavailable: {reason}"
        return row
    try:
        tiny = images[0][1][:WARMUP_CROP, :WARMUP_CROP]
        codec.decode(codec.encode(np.ascontiguousarray(tiny)))
    except Exception:  # the same failure shows again, per image, below
        pass
    bits, coded, estimate, errors = 0, 0, {}, []
    times = dict.fromkeys(("encode_s", "decode_s", "encode_wall_s", "decode_wall_s"), 0.0)
    for name, image in images:
        try:
            data, enc_cpu, enc_wall = _timed(codec.encode, image)
            decoded, dec_cpu, dec_wall = _timed(codec.decode, data)
            est = codec.estimate(image, data)
        except CodecUnavailable as exc:
            errors.append(f"{name}: unsupported: {exc}")
            row["per_image"].append({"image": name, "error": f"unsupported: {exc}"})
            continue
        except Exception as exc:  # a codec that crashes is a result to report, not a reason to stop
            errors.append(f"{name}: {_failure(exc)}")
            row["per_image"].append({"image": name, "error": _failure(exc)})
            continue
        coded, bits = coded + 1, bits + 8 * len(data)
        for k, v in zip(times, (enc_cpu, dec_cpu, enc_wall, dec_wall)):
            times[k] += v
        for k, v in (est or {}).items():
            estimate[k] = estimate.get(k, 0) + v
        exact = _exact(image, decoded)
        row["exact"] += exact
        if not exact:
            errors.append(f"{name}: round trip differs")
        row["per_image"].append({"image": name, "bytes": len(data), "exact": exact,
                                 "error": None if exact else "round trip differs",
                                 **dict(zip(times, (enc_cpu, dec_cpu, enc_wall, dec_wall)))})
        if log:
            log(f"  {codec.name:12s} {name:16s} {8 * len(data) / image.size:6.3f} bpsp  "
                f"enc {enc_cpu:7.3f} s  dec {dec_cpu:7.3f} s CPU  (wall {enc_wall:7.3f} s, {dec_wall:7.3f} s)")
    row["lossless"] = row["exact"] == len(images)
    if errors:
        row["error"] = f"{len(errors)} of {len(images)} images failed; first: {errors[0]}"
    if coded == len(images):  # sizes and times are comparable only over the full image set
        raw_mb = row["subpixels"] / 1e6
        row.update({k: v / len(images) for k, v in times.items()}, bits=bits, bpsp=bits / row["subpixels"])
        for k in ("encode", "decode"):
            row[f"{k}_mbps"] = raw_mb / times[f"{k}_s"] if times[f"{k}_s"] else None
        if estimate:
            row.update(estimate=estimate, est_bpsp=estimate["est"] / row["subpixels"])
            if estimate["learned_est"]:
                row["coder_overhead"] = estimate["learned"] / estimate["learned_est"] - 1
    return row


def run(codecs, images, log=None):
    rows = []
    for codec in codecs:
        start = time.perf_counter()
        rows.append(run_codec(codec, images, log))
        if log:
            log(f"{codec.name}: {time.perf_counter() - start:.1f} s")
    return rows


def _num(value, fmt):
    return "—" if value is None else format(value, fmt)


def format_table(rows):
    lines = [
        "| codec | bits/sub-pixel | model estimate (coder overhead) | encode CPU s/image | decode CPU s/image "
        "| encode MB/s | decode MB/s | lossless |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        est = _num(r["est_bpsp"], ".4f")
        if r["coder_overhead"] is not None:
            est += f" ({100 * r['coder_overhead']:+.3f} %)"
        if r["lossless"]:
            status = "yes"
        elif r["error"] and r["error"].startswith("unavailable"):
            status = r["error"]
        else:
            status = f"**NO** ({r['exact']}/{r['images']} exact): {r['error']}"
        lines.append(
            f"| {r['codec']} | {_num(r['bpsp'], '.4f')} | {est} | {_num(r['encode_s'], '.3g')} "
            f"| {_num(r['decode_s'], '.3g')} | {_num(r['encode_mbps'], '.3g')} | {_num(r['decode_mbps'], '.3g')} "
            f"| {status} |"
        )
    return "\n".join(lines)


def _coded(row, names):
    """(bits per sample or None, the cell) of a codec over some images: None and a marked cell unless it coded every
    one of them exactly."""
    done = {r["image"]: r for r in row["per_image"]}
    coded = [done[n] for n in names if done.get(n, {}).get("bytes") is not None]
    if len(coded) < len(names):
        return None, f"— ({len(coded)}/{len(names)} coded)"
    bpsp = 8 * sum(r["bytes"] for r in coded) / sum(names.values())
    exact = sum(r["exact"] for r in coded)
    if exact < len(names):
        return None, f"{bpsp:.3f} (**NO**: {exact}/{len(names)} exact)"
    return bpsp, f"{bpsp:.3f}"


def _seconds(row, names, key):
    times = [r[key] for r in row["per_image"] if r["image"] in names and r.get("bytes") is not None]
    return sum(times) if len(times) == len(names) else None


def _status(row):
    if row["lossless"]:
        return "yes"
    if row["error"] and row["error"].startswith("unavailable"):
        return "unavailable"
    return f"**NO** ({row['exact']}/{row['images']} exact)"


def kind_table(report):
    """Bits per sample per kind of image and in total for each codec, lcodec's ratio to JPEG-XL e9, and each codec's
    CPU seconds summed over all images (lcodec's decode beside JPEG-XL e9's encode)."""
    rows, images = report["rows"], report["images"]
    counts = {}
    for i in images:
        counts[i["kind"]] = counts.get(i["kind"], 0) + 1
    groups = [(kind, {i["name"]: math.prod(i["shape"]) for i in images if i["kind"] == kind})
              for kind in sorted(counts, key=lambda k: (k == "other", -counts[k], k))]
    groups.append(("total", {i["name"]: math.prod(i["shape"]) for i in images}))
    jxl = next((r for r in rows if r["key"] == "jxl9"), None)
    ratios = [r for r in rows if r["key"].startswith("lcodec")] if jxl else []
    lines = ["| kind (bits per sample) | images | samples | " + " | ".join(r["codec"] for r in rows)
             + "".join(f" | {r['codec']} / {jxl['codec']}" for r in ratios) + " |",
             "|---|" + "---:|" * (2 + len(rows) + len(ratios))]
    for kind, names in groups:
        cells = {r["key"]: _coded(r, names) for r in rows}
        jxl_bpsp = cells["jxl9"][0] if jxl else None
        ratio = [f"{cells[r['key']][0] / jxl_bpsp:.3f}" if jxl_bpsp and cells[r["key"]][0] else "—" for r in ratios]
        lines.append(f"| {kind} | {len(names)} | {sum(names.values())} | " + " | ".join(c for _, c in cells.values())
                     + "".join(f" | {x}" for x in ratio) + " |")
    everything = groups[-1][1]
    for what in ("encode", "decode"):
        lines.append(f"| {what} CPU s, all images | | | "
                     + " | ".join(_num(_seconds(r, everything, f"{what}_s"), ".4g") for r in rows)
                     + " |" * len(ratios) + " |")
    lines.append("| lossless | | | " + " | ".join(_status(r) for r in rows) + " |" * len(ratios) + " |")
    return "\n".join(lines)


def image_table(report):
    """Bits per sample of each image for each codec; unsupported, failed and inexact round trips marked."""
    lines = ["| image | kind | shape | bits used | " + " | ".join(r["codec"] for r in report["rows"]) + " |",
             "|---|---|---|---:|" + "---:|" * len(report["rows"])]
    for i in report["images"]:
        cells = []
        for r in report["rows"]:
            done = next((x for x in r["per_image"] if x["image"] == i["name"]), None)
            if done is None:
                cells.append("unavailable")
            elif done.get("bytes") is None:
                cells.append("unsupported" if done["error"].startswith("unsupported") else "failed")
            else:
                cells.append(f"{8 * done['bytes'] / math.prod(i['shape']):.3f}" + ("" if done["exact"] else " **NO**"))
        lines.append(f"| {i['name']} | {i['kind']} | {'x'.join(map(str, i['shape']))} | {i['bits']} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform()}


def versions():
    out = {"python": platform.python_version()}
    for dist in ("numpy", "pillow", "imagecodecs", "numba", "zstandard", "lcodec"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    try:
        import imagecodecs

        libs = imagecodecs.version(dict)
        out.update({lib: libs.get(lib) for lib in ("libjxl", "libwebp", "openjpeg", "charls", "qoi")})
    except (ImportError, AttributeError, TypeError):
        pass
    return out


def default_models():
    """lcodec's default model per kind ({"rgb": name, ...}), which the lcodec rows measured."""
    try:
        from lcodec.model import registry
    except ImportError:
        return None
    return dict(registry.DEFAULT_MODELS)


def git_commit():
    """HEAD, with "-dirty" when lcodec/ or bench/ differ from it (what the numbers were measured with; the results
    folder, which runs write, is not)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
        status = subprocess.run(["git", "status", "--porcelain", "--", "lcodec", "bench", ":!bench/results"], cwd=REPO,
                                capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("-dirty" if status.stdout.strip() else "")


def plot(rows, path, title):
    """Bits per sub-pixel against decode time (log scale), one labelled point per codec."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    shown = [r for r in rows if r["bpsp"] is not None and r["decode_s"]]
    span = max([r["bpsp"] for r in shown], default=1) - min([r["bpsp"] for r in shown], default=0) or 1
    for i, r in enumerate(shown):
        colour = "tab:red" if not r["lossless"] else ("tab:blue" if r["key"].startswith("lcodec") else "tab:gray")
        label = r["codec"] + ("" if r["lossless"] else " (NOT lossless)")
        # A point just below a close neighbour gets its label underneath, so the two labels do not collide.
        crowded = any(abs(math.log10(o["decode_s"] / r["decode_s"])) < 0.4
                      and (0 < o["bpsp"] - r["bpsp"] < span / 15 or (o["bpsp"] == r["bpsp"] and j < i))
                      for j, o in enumerate(shown))
        ax.scatter(r["decode_s"], r["bpsp"], s=40, color=colour, zorder=3)
        ax.annotate(label, (r["decode_s"], r["bpsp"]), xytext=(6, -13 if crowded else 4), textcoords="offset points",
                    fontsize=9, color="tab:blue" if colour == "tab:blue" else "black")
    missing = [r["codec"] for r in rows if r["bpsp"] is None or not r["decode_s"]]
    if missing:
        ax.text(0.01, 0.01, "not shown (failed or unavailable): " + ", ".join(missing), transform=ax.transAxes,
                fontsize=8, color="tab:red", va="bottom")
    ax.set_xscale("log")
    ax.margins(x=0.2, y=0.08)
    ax.set_xlabel("decode CPU seconds per image (log scale, one thread)")
    ax.set_ylabel("bits per sub-pixel (lower is better)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def _shown(folder):
    """A folder as the README's command spells it: relative to the repository when it can be."""
    try:
        return os.path.relpath(Path(folder).resolve(), REPO)
    except ValueError:  # another drive on Windows
        return str(folder)


def _load_average():
    """The 1-minute load average: other work on the machine slows the codecs down."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return float("nan")


def update_readme(path, text, markers=(README_BEGIN, README_END)):
    """Replace what stands between the README's bench markers with text (the table and its summary)."""
    path = Path(path)
    src = path.read_text(encoding="utf-8")
    begin, end = src.find(markers[0]), src.find(markers[1])
    if begin < 0 or end < begin:
        raise SystemExit(f"bench: {path} has no '{markers[0]}' ... '{markers[1]}' block")
    path.write_text(f"{src[:begin + len(markers[0])]}\n{text}\n{src[end:]}", encoding="utf-8")


def select(codecs, spec):
    if not spec:
        return codecs
    by_key = {c.key: c for c in codecs}
    wanted = [k.strip().lower() for k in spec.split(",") if k.strip()]
    unknown = [k for k in wanted if k not in by_key]
    if unknown:
        raise SystemExit(f"bench: unknown codec {', '.join(unknown)}; choose from {', '.join(by_key)}")
    return [by_key[k] for k in wanted]


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*", metavar="DIR", help="image folders (default: ../shared/data/kodak)")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_IMAGES} images, {QUICK_CROP}x{QUICK_CROP} centre crops (a smoke test)")
    parser.add_argument("--json", metavar="FILE", help="write rows, machine, versions and commit as JSON")
    parser.add_argument("--plot", metavar="FILE", help="write a PNG plot of bits/sub-pixel vs decode time")
    parser.add_argument("--codecs", metavar="A,B", help="run only these (default: all)")
    parser.add_argument("--readme", metavar="FILE",
                        help="also write the table into FILE between its bench markers (README.md)")
    parser.add_argument("--every", type=int, default=1, metavar="N",
                        help="every N-th image of each folder (10: the training photos' validation split)")
    parser.add_argument("--gray", action="store_true", help="code the luminance (convert(\"L\")) of every image")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every image to stderr")
    return parser


def render(report):
    """The markdown table and the line under it that says what was measured, where and how."""
    what = f"{len(report['images'])} images{' (quick crops)' if report['quick'] else ''}{' (luminance)' if report.get('gray') else ''} from {', '.join(report['dirs'])}"
    subpixels = sum(math.prod(i["shape"]) for i in report["images"])
    return f"{format_table(report['rows'])}\n\n{what}, {subpixels} sub-pixels. {_where(report)}"


def render_deep(report):
    """The per-kind table and what it measured: what the README shows of a run over images deeper than 8 bits."""
    rows = {r["key"]: r for r in report["rows"]}
    images = report["images"]
    deep = sum(i["dtype"] == "uint16" for i in images)
    what = (f"{len(images)} images{' (quick crops)' if report['quick'] else ''} from {', '.join(report['dirs'])} "
            f"({deep} deeper than 8 bits, coded at full depth), {sum(math.prod(i['shape']) for i in images)} samples; "
            "bits per sample = 8 × bytes / samples. JPEG-XL and JPEG 2000 are told the bits each image uses; JPEG-LS "
            "and PNG code a 16-bit array as 16-bit.")
    if "lcodec" in rows and "jxl9" in rows:
        names = {i["name"] for i in images}
        what += (f" lcodec decodes them in {_num(_seconds(rows['lcodec'], names, 'decode_s'), '.4g')} CPU s, JPEG-XL "
                 f"e9 encodes them in {_num(_seconds(rows['jxl9'], names, 'encode_s'), '.4g')} CPU s.")
    failures = [f"- {r['codec']}: {r['error']}" for r in report["rows"] if r["error"]]
    return "\n".join([kind_table(report), "", f"{what} {_where(report)}", *failures])


def _where(report):
    """Where the run was measured, with which models and commit, and how long it took: the end of both captions."""
    host, load = report["machine"], report["load_average"]
    models = ", ".join(sorted((report["lcodec_models"] or {}).values())) or "none"
    return (f"One thread per codec on {host['cpu']} ({host['cores']} cores, 1-minute load average {load[0]:.1f} before "
            f"and {load[1]:.1f} after); lcodec models {models}; commit {_short(report['commit'])}; "
            f"whole run {report['wall_s']:.0f} s.")


def _short(commit):
    if commit is None:
        return "unknown"
    return commit[:12] + ("-dirty" if commit.endswith("-dirty") else "")


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.every < 1:
        parser.error("--every must be at least 1")
    dirs = args.dirs or [default_dir()]
    images = load_images(dirs, quick=args.quick, gray=args.gray, every=args.every)
    deep = any(a.dtype != np.uint8 for _, a in images)
    codecs = select(deep_codecs() if deep else all_codecs(), args.codecs)
    kinds = image_kinds(dirs)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    load_before = _load_average()
    start = time.perf_counter()
    rows = run(codecs, images, log=log if args.verbose else None)
    report = {
        "rows": rows,
        "images": [{"name": n, "shape": list(a.shape), "dtype": str(a.dtype), "bits": bits_used(a),
                    "kind": kinds.get(n, "other")} for n, a in images],
        "dirs": [_shown(d) for d in dirs],
        "quick": args.quick,
        "gray": args.gray,
        "deep": deep,
        "argv": list(sys.argv[1:] if argv is None else argv),
        "wall_s": time.perf_counter() - start,
        "load_average": [load_before, _load_average()],
        "machine": machine(),
        "lcodec_models": default_models(),
        "versions": versions(),
        "commit": git_commit(),
    }
    text = render_deep(report) if deep else render(report)
    print(f"{text}\n\n{image_table(report)}" if deep else text)
    if args.readme:
        update_readme(args.readme, text, README_DEEP if deep else (README_BEGIN, README_END))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    if args.plot:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        plot(rows, args.plot, f"Lossless codecs on {len(images)} images{' (quick crops)' if args.quick else ''}"
                              f" from {', '.join(report['dirs'])}, one thread")
    return 0
