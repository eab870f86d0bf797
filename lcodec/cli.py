"""The `lcodec` command line: encode, decode, info, explain, sample.

Every failure is one line `lcodec: error: ...` on stderr, never a traceback: exit status 1 when a file failed (the
others are still done), 2 for a command line that cannot be carried out, 3 for a bug in lcodec, which its line calls
an internal error (EXIT_STATUS). Outputs are written atomically, so a failed run leaves no partial file, and --rm
deletes an input only once its output is in place and verified.
"""

import argparse
import os
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

import lcodec
from lcodec import api, container, files, formats, info, planning
from lcodec.progress import Bar
from lcodec.planning import STDIO
from lcodec.errors import INTERNAL_ERROR, is_user_error, one_line

EXIT_STATUS = ("exit status: 0 every file done, 1 a file failed (one error line each), 2 usage error, "
               "3 internal error (a bug in lcodec; LCODEC_DEBUG=1 prints its traceback), 130 interrupted")
INTERNAL = 3
RM_HELP = {
    "images": "delete each input once its .lcd is written and verified: decoded from disk, it must equal a second "
              "reading of the input file from disk (every frame; each frame's dtype, shape, every sample and palette "
              "colour), and that reading must agree with the frames, channels and bits per sample that the input's "
              "own header states (PNG, TIFF, PNM); never on an error",
    ".lcd": "delete each input once its image file is written and verified: the file is read back and compared "
            "with the decoded frames (dtype, shape, every sample and palette colour) before it takes its name, and "
            "decoding checked every tile's CRC and the pixel checksum; never on an error",
}


class UsageError(Exception):
    """A command line that cannot be carried out as given (exit status 2, as argparse's own errors)."""


def _count(text):
    """-j/-T: a whole number, 0 for 'chosen from the cores'."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (automatic) or more, not {n}")
    return n


def build_parser():
    parser = argparse.ArgumentParser(prog="lcodec", description="Learned lossless image codec.", epilog=EXIT_STATUS)
    parser.add_argument("-V", "--version", action="version", version=f"lcodec {lcodec.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, what):
        """The options encode and decode share; returns the group of options that choose the output."""
        p.add_argument("inputs", nargs="+", metavar="IN", help=f"{what}, directories of them, or - for stdin")
        out = p.add_mutually_exclusive_group()
        out.add_argument("-o", "--output", metavar="OUT",
                         help="output file, directory (several inputs, or a directory input), or - for stdout")
        out.add_argument("-c", "--stdout", dest="output", action="store_const", const=STDIO,
                         help="write to stdout (as -o -)")
        p.add_argument("-r", "--recursive", action="store_true",
                       help="take directories' subdirectories too; outputs under -o DIR keep the tree")
        p.add_argument("-j", "--jobs", type=_count, default=0, metavar="N",
                       help="files coded in parallel (default 0: the cores / --threads)")
        p.add_argument("-T", "--threads", type=_count, default=0, metavar="N",
                       help="threads per file (default 0: the cores / --jobs)")
        p.add_argument("-f", "--force", action="store_true", help="overwrite existing outputs")
        p.add_argument("--rm", action="store_true", help=RM_HELP[what.split()[0]])
        p.add_argument("-v", "--verbose", action="store_true",
                       help="one line per file on stderr: sizes, bits per sub-pixel, seconds")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
        p.add_argument("--dask", metavar="ADDRESS", help="code the files of one input (directory, glob or fsspec URL, "
                       "its whole tree) as tasks on Dask: 'local' for a local cluster of -j processes, or a "
                       "scheduler's address; reruns skip outputs that exist and match (needs lcodec[dask])")
        p.add_argument("--report", metavar="FILE", help="with --dask: per-file results as .json or .csv (rewritten)")
        return out

    enc = sub.add_parser("encode", help="compress images to .lcd: every frame, channel and sample at its depth",
                         epilog=EXIT_STATUS)
    common(enc, "images (PNG and APNG, TIFF, PNM, GIF, WebP, ICO, BMP, JPEG 2000, ...)")
    enc.add_argument("--model", help="registered model name (default: the model for the image's channels)")
    enc.add_argument("--no-learned", action="store_true", help="fallback methods only (fast, no model)")
    enc.add_argument("--learned-only", action="store_true",
                     help="code with the model even where a fallback method would be smaller")
    enc.add_argument("-e", "--effort", type=int, choices=sorted(api.EFFORTS), default=api.DEFAULT_EFFORT,
                     help="; ".join(f"{k}: {v}" for k, v in api.EFFORTS.items()) + f" (default {api.DEFAULT_EFFORT})")
    enc.add_argument("--strip", action="store_true",
                     help="drop the image's metadata (ICC profile, EXIF, XMP, text, DPI); kept by default")
    enc.add_argument("--allow-lossy-input", action="store_true",
                     help="encode JPEG, lossy WebP, JPEG-compressed TIFF, lossy JPEG 2000, AVIF (refused by "
                     "default: the .lcd keeps their artefacts at several times their size)")
    dec = sub.add_parser("decode", help="decompress .lcd files (format from the output extension: png, tiff, "
                         "ppm/pgm, gif, webp, ico, bmp, refused where it cannot hold the image exactly; - writes "
                         "raw samples, frame after frame, C order, 16-bit big-endian)", epilog=EXIT_STATUS)
    common(dec, ".lcd files").add_argument("-t", "--test", action="store_true",
                                           help="decode and verify each file, write nothing (exit status 1 if "
                                           "any is damaged)")
    dec.add_argument("--max-pixels", type=int, default=container.DEFAULT_MAX_PIXELS,
                     help="refuse larger images (decompression-bomb limit; 0 lifts it)")
    info = sub.add_parser("info", help="print a file's header without decoding it")
    info.add_argument("inputs", nargs="+", metavar="FILE")
    exp = sub.add_parser("explain", help="write a heat map of the bits each pixel costs")
    exp.add_argument("input", metavar="IN")
    exp.add_argument("-o", "--output", required=True, metavar="OUT", help="heat map image (.png)")
    exp.add_argument("--model", help="registered model name")
    exp.add_argument("-e", "--effort", type=int, choices=sorted(api.EFFORTS), default=api.DEFAULT_EFFORT,
                     help="the coding effort whose costs to draw (as for encode)")
    exp.add_argument("-f", "--force", action="store_true", help="overwrite an existing output")
    smp = sub.add_parser("sample", help="draw an image from a model (the decoder fed with random bits)")
    smp.add_argument("-o", "--output", required=True, metavar="OUT", help="image file (.png, .tiff, ...)")
    smp.add_argument("--size", default="256x256", metavar="WxH", help="width x height (default 256x256)")
    smp.add_argument("--model", help="registered model name (default: the default RGB model, or gray with --gray)")
    smp.add_argument("--gray", action="store_true", help="draw from the default gray model")
    smp.add_argument("--seed", type=int, default=0, help="the same seed draws the same image everywhere")
    smp.add_argument("-f", "--force", action="store_true", help="overwrite an existing output")
    return parser


def _check_stdio(pairs, args):
    """Refusals that concern the whole command line: --rm with stdin or stdout, binary data to a terminal."""
    if args.rm and any(STDIO in pair for pair in pairs):
        raise UsageError("--rm needs input and output files, not stdin (-) or stdout")
    if any(dst == STDIO for _, dst in pairs) and sys.stdout.isatty():
        raise UsageError("refusing to write binary data to a terminal (use -o FILE)")


def _read(src):
    return sys.stdin.buffer.read() if src == STDIO else Path(src).read_bytes()


def _write(dst, data, force, verify=None):
    if dst == STDIO:
        sys.stdout.buffer.write(data)
    else:
        files.write_atomic(dst, lambda f: f.write(data), force=force, verify=verify)


def _encode_one(compressor, verifier, src, dst, args):
    """Encode one file; with --rm, the written file is read back and decoded, and its pixels compared with the
    input's, before it takes its name and the input is deleted. The -v report."""
    if dst != STDIO and Path(dst).exists() and not args.force:
        raise FileExistsError(f"{dst} exists (use --force to overwrite)")
    if src == STDIO:
        raw = _read(src)
        size = len(raw)
        data, report = compressor.compress_report(raw)
    else:
        size = Path(src).stat().st_size
        data, report = compressor.compress_report(src)
    _write(dst, data, args.force, verify=(lambda tmp: _verify_encoded(verifier, src, tmp)) if args.rm else None)
    if args.rm:
        Path(src).unlink()
    return f"{size} -> {len(data)} bytes, {report.bpsp:.4f} bits per sub-pixel"


def _verify_encoded(decompressor, src, written):
    """--rm's check of a written .lcd (RM_HELP): decoded from disk, it equals a second reading of the input from
    disk, which agrees with what the input's own header states."""
    back = decompressor.decompress_picture(Path(written).read_bytes())
    raw = Path(src).read_bytes()
    original = formats.read(raw, src, metadata=False, allow_lossy=True)
    stated = formats.check_declared(raw, original)
    if stated is not None:
        raise lcodec.ChecksumError(f"the input cannot be verified: {stated} (input kept)")
    if not formats.same(back, original):
        raise lcodec.ChecksumError("the written file does not decode to the input's samples (input kept)")


def _decoded_suffix(src):
    """The extension of a decoded file named after its .lcd: a sequence's source format where lcodec writes it, else
    .png where PNG holds every frame, else .tiff (a file that cannot be read gets .png, and fails when decoded)."""
    try:
        header = api.read_header(src)
    except (lcodec.LcodecError, OSError):
        return ".png"
    frames = header.sequence.frames if header.sequence else (header,)
    fmt = header.sequence.format if header.sequence else ""
    named = {"PNG": ".png", "TIFF": ".tiff", "GIF": ".gif", "WEBP": ".webp", "ICO": ".ico"}.get(fmt)
    holds = formats.can_hold(formats.Picture([formats.Frame(None, f.mode) for f in frames]))
    return named or holds.split(" or ")[0]


def _decode_one(decompressor, src, dst, args):
    """Decode one file (decompress checks the pixel checksum, decompress_to_path that the image file holds the
    pixels exactly); --rm deletes the input after that. The -v report."""
    data = _read(src)
    if dst == STDIO:
        size = 0
        for pixels in decompressor.decompress_frames(data):
            if pixels.dtype.itemsize == 2:
                pixels = pixels.astype(pixels.dtype.newbyteorder(">"))
            raw = np.ascontiguousarray(pixels).view("u1").tobytes()
            sys.stdout.buffer.write(raw)
            size += len(raw)
    else:
        decompressor.decompress_to_path(data, dst, force=args.force)
        size = Path(dst).stat().st_size
        if args.rm:
            Path(src).unlink()
    return f"{len(data)} -> {size} bytes, {api.read_header(data).bpsp:.4f} bits per sub-pixel"


def _test_one(decompressor, src, _dst):
    """-t: decode and discard; decompress raises on any damage (the pixel checksum covers every tile)."""
    data = _read(src)
    decompressor.decompress_frames(data)
    return f"ok, {len(data)} bytes, {api.read_header(data).bpsp:.4f} bits per sub-pixel"


def _fail(exc, name=None):
    """Print exc as one error line, after its file's name if given; its exit status: 2 a usage error, 1 a failure
    the input or the system caused, INTERNAL a bug in lcodec (whose traceback LCODEC_DEBUG=1 prints)."""
    if isinstance(exc, UsageError):
        _error(exc)
        return 2
    line = f"{name}: {one_line(exc)}" if name else one_line(exc)
    if is_user_error(exc):
        _error(line)
        return 1
    _error(f"{line} (a bug in lcodec; LCODEC_DEBUG=1 prints its traceback)")
    if os.environ.get("LCODEC_DEBUG") == "1":
        traceback.print_exception(exc)
    return INTERNAL


def _error(msg):
    print(f"lcodec: error: {msg}", file=sys.stderr)


def _run_jobs(worker, pairs, jobs, args, name_errors=False):
    """Run worker(src, dst) over the pairs, `jobs` at a time; in the pairs' order, one error line per failed
    file (named when several run, or always with name_errors) and with -v the report of each other; exit status."""
    bar = Bar(len(pairs), not (args.quiet or args.verbose))
    status = 0

    def one(pair):
        start = time.perf_counter()
        try:
            report = worker(*pair)
        except Exception as exc:  # reported in the pairs' order, one line each
            return None, exc
        return f"{pair[0]}: {report}, {time.perf_counter() - start:.2f} s", None

    with ThreadPoolExecutor(jobs) as pool:
        for pair, (report, exc) in zip(pairs, pool.map(one, pairs)):
            bar.step()
            if exc is not None:
                status = max(status, _fail(exc, pair[0] if name_errors or len(pairs) > 1 else None))
            elif args.verbose:
                print(report, file=sys.stderr)
    return status


def _cmd_encode(args):
    if args.dask:
        return _dask("encode", args, model=args.model, learned=not args.no_learned, fallback=not args.learned_only,
                     effort=args.effort, metadata=not args.strip, allow_lossy=args.allow_lossy_input)
    found = planning.expand(args.inputs, formats.IMAGE_SUFFIXES | {e for e, f in Image.registered_extensions().items()
                                                   if f in Image.OPEN}, args.recursive, UsageError)
    pairs = planning.plan(found, args.output, ".lcd", UsageError)
    _check_stdio(pairs, args)
    jobs, threads = planning.parallelism(args.jobs, args.threads, len(pairs), os.cpu_count() or 1)
    comp = api.Compressor(args.model, learned=not args.no_learned, fallback=not args.learned_only, threads=threads,
                          effort=args.effort, metadata=not args.strip, allow_lossy=args.allow_lossy_input)
    verifier = api.Decompressor(max_pixels=None, threads=threads) if args.rm else None
    return _run_jobs(lambda s, d: _encode_one(comp, verifier, s, d, args), pairs, jobs, args)


def _cmd_decode(args):
    if args.dask:
        return _dask("decode", args, test=args.test, max_pixels=args.max_pixels or None)
    found = planning.expand(args.inputs, {".lcd"}, args.recursive, UsageError)
    if args.test:
        if args.rm:
            raise UsageError("-t/--test deletes nothing (drop --rm)")
        pairs = [(f, None) for f, _ in found]
    else:
        pairs = planning.plan(found, args.output, _decoded_suffix, UsageError)
        _check_stdio(pairs, args)
    jobs, threads = planning.parallelism(args.jobs, args.threads, len(pairs), os.cpu_count() or 1)
    dec = api.Decompressor(max_pixels=args.max_pixels or None, threads=threads)
    if args.test:
        return _run_jobs(lambda s, d: _test_one(dec, s, d), pairs, jobs, args, name_errors=True)
    return _run_jobs(lambda s, d: _decode_one(dec, s, d, args), pairs, jobs, args)


def _dask(command, args, **settings):
    """--dask: the batch over lcodec.batch, a summary table on stdout, one error line per failed file, --report."""
    if len(args.inputs) != 1 or args.inputs[0] == STDIO:
        raise UsageError("--dask takes one input: a directory, glob or URL")
    test = settings.get("test", False)
    if not test and args.output in (None, STDIO):
        raise UsageError("--dask needs -o DIR (a directory or URL)")
    if args.rm:
        raise UsageError("--rm is not available with --dask")
    if args.report and Path(args.report).suffix.lower() not in (".json", ".csv"):
        raise UsageError(f"--report {args.report}: use a .json or .csv file name")
    from lcodec import batch  # its dask and fsspec only when the batch starts

    client = None if args.dask == "local" else args.dask
    bar = []

    def progress(result, total):
        if not bar:
            bar.append(Bar(total, not (args.quiet or args.verbose)))
        bar[0].step()
        if result["error"] is not None:
            _error(f"{result['input']}: {result['error']}")
        elif args.verbose:
            what = "skipped (exists and matches)" if result["skipped"] else \
                f"{result['input_bytes']} -> {result['output_bytes']} bytes"
            print(f"{result['input']}: {what}, {result['bpsp']:.4f} bits per sub-pixel, {result['seconds']:.2f} s",
                  file=sys.stderr)

    start = time.perf_counter()
    run = batch.encode if command == "encode" else batch.decode
    results = run(args.inputs[0], None if test else args.output, client=client, workers=args.jobs or None,
                  force=args.force, threads=args.threads or None, progress=progress, **settings)
    totals = batch.summary(results, time.perf_counter() - start)
    print(batch.table(totals))
    if args.report:
        batch.write_report(args.report, results)
    if any(r["error"] and r["error"].startswith(INTERNAL_ERROR) for r in results):
        return INTERNAL
    return 1 if totals["failed"] else 0


def _cmd_info(args):
    status = 0
    for name in args.inputs:
        try:
            print(info.describe(name, api.read_header(_read(name))))
        except Exception as exc:
            status = max(status, _fail(exc, name))
    return status


def _cmd_explain(args):
    try:
        from lcodec.explain import explain
    except ImportError as exc:
        raise UsageError(f"explain is not available in this build ({exc})") from None
    out = Path(args.output)
    if out.exists() and not args.force:
        raise FileExistsError(f"{out} exists (use --force to overwrite)")
    bpsp = explain(args.input, out, model=args.model, effort=args.effort)  # written atomically
    print(f"{args.input}: {bpsp:.4f} bits per sub-pixel; heat map in {out}")
    return 0


def _cmd_sample(args):
    from lcodec.sample import sample

    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size {args.size!r}: expected WxH, e.g. 256x256") from None
    fmt = api.image_format(args.output)
    if Path(args.output).exists() and not args.force:  # before the drawing, which can take minutes
        raise FileExistsError(f"{args.output} exists (use --force to overwrite)")
    pixels = sample(width, height, model=args.model, channels=1 if args.gray else 3, seed=args.seed)
    image = Image.fromarray(pixels)
    files.write_atomic(args.output, lambda f: image.save(f, format=fmt), force=args.force)
    print(f"{args.output}: {width}x{height} drawn from the model, seed {args.seed}")
    return 0


_COMMANDS = {"encode": _cmd_encode, "decode": _cmd_decode, "info": _cmd_info, "explain": _cmd_explain,
             "sample": _cmd_sample}


def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as exc:  # one line, never a traceback
        return _fail(exc)
