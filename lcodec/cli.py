"""The `lcodec` command line: encode, decode, info, explain.

Every failure a user can cause ends with exit status 1 and one line `lcodec: error: ...` on stderr, never a
traceback; outputs are written atomically, so a failed run leaves no partial file.
"""

import argparse
import io
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

import lcodec
from lcodec import api, container

STDIO = "-"


class UsageError(Exception):
    """A command line that cannot be carried out as given."""


def build_parser():
    parser = argparse.ArgumentParser(prog="lcodec", description="Learned lossless image codec.")
    parser.add_argument("--version", action="version", version=f"lcodec {lcodec.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p, what):
        p.add_argument("inputs", nargs="+", metavar="IN", help=f"{what}, directories of them, or - for stdin")
        p.add_argument("-o", "--output", metavar="OUT",
                       help="output file, directory (several inputs), or - for stdout")
        p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, help="parallel jobs (default: cores)")
        p.add_argument("-f", "--force", action="store_true", help="overwrite existing outputs")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    enc = sub.add_parser("encode", help="compress images to .lcd")
    common(enc, "images (PNG, PPM, TIFF, BMP, ...)")
    enc.add_argument("--model", help="registered model name (default: the model for the image's channels)")
    enc.add_argument("--no-learned", action="store_true", help="fallback methods only (fast, no model)")
    enc.add_argument("--learned-only", action="store_true",
                     help="code with the model even where a fallback method would be smaller")
    enc.add_argument("-e", "--effort", type=int, choices=sorted(api.EFFORTS), default=api.DEFAULT_EFFORT,
                     help="; ".join(f"{k}: {v}" for k, v in api.EFFORTS.items()) + f" (default {api.DEFAULT_EFFORT})")
    dec = sub.add_parser("decode", help="decompress .lcd files (format from the output extension: png, ppm, "
                         "tiff, bmp; - writes raw samples, C order, 16-bit big-endian)")
    common(dec, ".lcd files")
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
    return parser


def _expand(inputs, suffixes):
    """Input files: files as given, directories expanded to their files with one of `suffixes`."""
    files = []
    for name in inputs:
        path = Path(name)
        if name != STDIO and path.is_dir():
            files += sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        else:
            files.append(name if name == STDIO else path)
    if STDIO in files and len(files) > 1:
        raise UsageError("stdin (-) can only be the single input")
    if not files:
        raise UsageError("no input files found")
    return files


def _plan(files, output, suffix):
    """(input, output) pairs: one output file, or outputs named after the inputs in a directory."""
    to_dir = output is not None and (Path(output).is_dir() or output.endswith(("/", os.sep)))
    if files == [STDIO]:
        if to_dir:
            raise UsageError("stdin (-) needs an output file, or - for stdout")
        return [(STDIO, output or STDIO)]
    if len(files) == 1 and output is not None and not to_dir:
        return [(files[0], output)]
    if output == STDIO:
        raise UsageError("several inputs cannot all go to stdout")
    outdir = Path(output) if output is not None else None
    if outdir is not None:
        outdir.mkdir(parents=True, exist_ok=True)
    return [(f, (outdir or f.parent) / (f.stem + suffix)) for f in files]


def _read(src):
    return sys.stdin.buffer.read() if src == STDIO else Path(src).read_bytes()


def _write(dst, data, force):
    if dst == STDIO:
        _stdout_binary().write(data)
    else:
        api.write_atomic(dst, lambda f: f.write(data), force=force)


def _stdout_binary():
    if sys.stdout.isatty():
        raise UsageError("refusing to write binary data to a terminal (use -o FILE)")
    return sys.stdout.buffer


def _encode_one(compressor, src, dst, force):
    if dst != STDIO and Path(dst).exists() and not force:
        raise FileExistsError(f"{dst} exists (use --force to overwrite)")
    if src == STDIO:
        with Image.open(io.BytesIO(_read(src))) as im:
            im.load()
            data = compressor.compress(im)
    else:
        data = compressor.compress(src)
    _write(dst, data, force)


def _decode_one(decompressor, src, dst, force):
    if dst != STDIO:
        decompressor.decompress_to_path(_read(src), dst, force=force)
        return
    pixels = decompressor.decompress(_read(src))
    if pixels.dtype.itemsize == 2:
        pixels = pixels.astype(">u2")
    _stdout_binary().write(pixels.view("u1").tobytes())


def _message(exc):
    """One line for the user: lcodec's own messages as they are, anything else with its type."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, (lcodec.LcodecError, UsageError, OSError)):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _error(msg):
    print(f"lcodec: error: {msg}", file=sys.stderr)


class _Progress:
    """A one-line progress bar on stderr, shown when several files are processed."""

    def __init__(self, total, enabled):
        self.total, self.done, self.enabled = total, 0, enabled and total > 1
        self._draw()

    def step(self):
        self.done += 1
        self._draw()
        if self.enabled and self.done == self.total:
            sys.stderr.write("\n")

    def _draw(self):
        if self.enabled:
            filled = 30 * self.done // self.total
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}")
            sys.stderr.flush()


def _run_jobs(worker, pairs, jobs, quiet):
    """Run worker(src, dst) over the pairs in parallel; one error line per failed file; exit status."""
    progress = _Progress(len(pairs), not quiet)
    failed = 0

    def one(pair):
        try:
            worker(*pair)
            return None
        except Exception as exc:  # every input-caused failure becomes a one-line message
            return f"{pair[0]}: {_message(exc)}" if len(pairs) > 1 else _message(exc)

    with ThreadPoolExecutor(max(1, min(jobs, len(pairs)))) as pool:
        for msg in pool.map(one, pairs):
            progress.step()
            if msg is not None:
                failed += 1
                _error(msg)
    return 1 if failed else 0


def _threads(args, pairs):
    """Tile threads per file: all jobs for one file, one each when files run in parallel."""
    return max(1, args.jobs) if len(pairs) == 1 else 1


def _cmd_encode(args):
    files = _expand(args.inputs, {e for e, f in Image.registered_extensions().items() if f in Image.OPEN})
    pairs = _plan(files, args.output, ".lcd")
    comp = api.Compressor(args.model, learned=not args.no_learned, fallback=not args.learned_only,
                          threads=_threads(args, pairs), effort=args.effort)
    return _run_jobs(lambda s, d: _encode_one(comp, s, d, args.force), pairs, args.jobs, args.quiet)


def _cmd_decode(args):
    files = _expand(args.inputs, {".lcd"})
    pairs = _plan(files, args.output, ".png")
    dec = api.Decompressor(max_pixels=args.max_pixels or None, threads=_threads(args, pairs))
    return _run_jobs(lambda s, d: _decode_one(dec, s, d, args.force), pairs, args.jobs, args.quiet)


def _cmd_info(args):
    status = 0
    for name in args.inputs:
        try:
            print(_describe(name, api.read_header(_read(name))))
        except Exception as exc:
            _error(f"{name}: {_message(exc)}")
            status = 1
    return status


def _describe(name, h):
    methods = ", ".join(f"{k} {v}" for k, v in sorted(h.method_counts.items()))
    ty, tx = h.tiles
    lines = [
        f"file: {name}",
        f"format: lcodec version {h.version}",
        f"image: {h.width}x{h.height}, mode {h.mode}, {h.channels} channel(s)",
        f"tiles: {h.tile}x{h.tile}, {tx}x{ty} tiles; methods: {methods}",
        f"model: {h.model} (sha256 {h.model_sha256}), coder precision {h.precision}" if h.model
        else "model: none (fallback methods only)",
    ]
    if h.palette is not None:
        lines.append(f"palette: {len(h.palette) // len(h.palette_mode)} {h.palette_mode} entries")
    if h.transparency is not None:
        lines.append(f"transparency: {h.transparency!r}")
    lines += [
        f"size: {h.file_size} bytes (header and tile table {h.header_size}), {h.bpsp:.4f} bits per sub-pixel",
        f"pixel sha256: {h.pixel_sha256}",
    ]
    return "\n".join(lines)


def _cmd_explain(args):
    try:
        from lcodec.explain import explain
    except ImportError as exc:
        raise UsageError(f"explain is not available in this build ({exc})") from None
    out = Path(args.output)
    if out.exists() and not args.force:
        raise FileExistsError(f"{out} exists (use --force to overwrite)")
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=out.suffix)
    os.close(fd)
    try:
        bpsp = explain(args.input, tmp, model=args.model, effort=args.effort)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print(f"{args.input}: {bpsp:.4f} bits per sub-pixel; heat map in {out}")
    return 0


_COMMANDS = {"encode": _cmd_encode, "decode": _cmd_decode, "info": _cmd_info, "explain": _cmd_explain}


def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as exc:  # lcodec's errors, OSError, and any input-caused failure: one line, no traceback
        _error(_message(exc))
        return 1
