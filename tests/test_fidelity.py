"""The fidelity suite: every kind of input file (fidelity_inputs.KINDS, written by others than lcodec, random and
smooth) through the real command line, `lcodec encode IN -o IN.lcd --rm`, then `lcodec decode IN.lcd -o BACK`.
Each comes out

  EXACT    encoded, the input deleted, and both lcodec.decompress(_frames) and BACK, read by an independent reader,
           give every frame and sample of the input with its dtype and shape (and its palette colours, PNM maxval);
  REFUSED  exit status 1 with one `lcodec: error:` line naming no temporary file, nothing written, the input kept
           byte for byte (or, for an output format lcodec must not write, the decoding refused that way);
  LOSS     exit status 0 with other samples, dtype, shape or frames;
  FAIL     anything else: another exit status, more on stderr, a partial or temporary file left, --rm deleting the
           input of a failure.

Only EXACT and REFUSED pass; EXPECT pins the outcome of most kinds. `python tests/test_fidelity.py` prints the table
of every kind.
"""

import contextlib
import io
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from fidelity_inputs import CONTENTS, KINDS, LEFT_OUT, READERS, UNWRITABLE, Content

import lcodec
from lcodec.cli import main

EXACT, REFUSED, LOSS, FAIL = "EXACT", "REFUSED", "LOSS", "FAIL"

# The outcome each kind must have; a kind not listed may be EXACT or REFUSED.
EXPECT = {
    "png16-rgb": EXACT,
    "png16-rgba": EXACT,
    "png16-l": EXACT,
    "png16-la": EXACT,
    "png8-rgb": EXACT,
    "png8-rgba": EXACT,
    "png8-l": EXACT,
    "png8-la": EXACT,
    "png8-p": EXACT,
    "png1": EXACT,
    "png4-l": EXACT,
    "png2-l": EXACT,
    "tiff16-rgb": EXACT,
    "tiff16-rgb-planar": EXACT,
    "tiff16-rgba": EXACT,
    "tiff16-l": EXACT,
    "tiff16-l-bigendian": EXACT,
    "tiff16-la": EXACT,
    "tiff8-l-extra": EXACT,
    "tiff8-rgb-2extra": EXACT,
    "tiff8-rgba-premultiplied": EXACT,
    "tiff8-l-signed": EXACT,
    "tiff16-l-signed": EXACT,
    "tiff-palette-colormap16": EXACT,
    "tiff16-l-12bit": EXACT,
    "tiff8-cmyk": EXACT,
    "tiff16-5ch-planar": EXACT,
    "tiff-float32": REFUSED,
    "ppm-1023": EXACT,
    "ppm-4095": EXACT,
    "ppm-65535": EXACT,
    "pgm-65535": EXACT,
    "pgm-4095": EXACT,
    "ppm-255": EXACT,
    "pgm-255": EXACT,
    "pgm-15": EXACT,
    "pgm-1000": REFUSED,
    # jp2-rgb16-lossless, avif-10bit-lossless, sgi-rgb16: either
    "apng8-rgba": EXACT,
    "apng16-rgb": EXACT,
    "tiff8-l-pages": EXACT,
    "tiff16-rgb-pages": EXACT,
    "gif-anim": EXACT,
    "webp-anim-lossless": EXACT,
    "ico-sizes": EXACT,
    "webp-lossy": REFUSED,
    "tiff-jpeg": REFUSED,
    "avif-lossy": REFUSED,
    "jpeg": REFUSED,
    "decode-rgba8-to-webp": EXACT,
    "decode-to-pdf": REFUSED,
}
PREFIX = "lcodec: error: "


def cli(*argv):
    """(exit status, stderr) of lcodec's main(argv) run in-process; an exception it lets out is reported as stderr
    with status None."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main([str(a) for a in argv])
        except (Exception, SystemExit) as exc:
            return None, f"{err.getvalue()}raised {exc!r}"
    return status, err.getvalue()


def files(folder):
    return {p.name for p in folder.iterdir()}


def unclean(status, err, folder, kept, target):
    """Why a failed command is not a clean refusal ("" if it is): its exit status, stderr beyond one error line, a
    temporary file named, the folder holding other files than `kept` (partial outputs, temporary files)."""
    lines = err.splitlines()
    if status != 1:
        return f"exit status {status}: {err.strip()}"
    if len(lines) != 1 or not lines[0].startswith(PREFIX):
        return f"stderr is not one error line: {err!r}"
    if ".tmp" in lines[0] or f".{target.name}" in lines[0]:
        return f"the error names a temporary file: {lines[0]}"
    if files(folder) != kept:
        return f"{lines[0]}, and the folder holds {sorted(files(folder))}, not {sorted(kept)}"
    return ""


def difference(got, truth, meanings=True):
    """How the frames `got` differ from `truth` ("" if they do not): the number of frames, then each frame's dtype,
    shape, samples and, with `meanings`, what gives the samples their colour (palette colours, PNM maxval)."""
    if len(got) != len(truth):
        return f"{len(got)} frame(s), not {len(truth)}"
    for i, ((a, m), (b, n)) in enumerate(zip(got, truth)):
        where = f"frame {i}: " if len(truth) > 1 else ""
        if a.dtype != b.dtype or a.shape != b.shape:
            return f"{where}{a.dtype} {a.shape}, not {b.dtype} {b.shape}"
        if not np.array_equal(a, b):
            return f"{where}{(a != b).sum()} of {a.size} samples differ"
        if meanings and not (m is None and n is None or m is not None and n is not None and np.array_equal(m, n)):
            return f"{where}the samples' colours (palette or maxval) differ"
    return ""


def run_kind(kind, content, tmp_path):
    """(outcome, detail) of one input kind and content (random or smooth), in the empty folder tmp_path: encoded
    with --rm (at the default effort or -e 1, chosen by a hash of the two), checked through the API, decoded to
    BACK and read back independently. The module docstring defines the outcomes."""
    spec = KINDS[kind]
    src, lcd, back = tmp_path / f"in{spec.suffix}", tmp_path / "in.lcd", tmp_path / f"back{spec.back}"
    truth = spec.write(Content(content, f"{kind}/{content}"), src)
    assert not difference(READERS[spec.suffix](src), truth), f"{kind}: the writer and its reader disagree"
    original = src.read_bytes()
    effort = ["-e", "1"] if zlib.crc32(f"{kind}/{content}".encode()) % 2 else []

    status, err = cli("encode", src, "-o", lcd, "--rm", *effort)
    if status != 0:
        why = unclean(status, err, tmp_path, {src.name}, lcd) or (src.read_bytes() != original and "input changed")
        return (FAIL, f"encode: {why}") if why else (REFUSED, message(err, tmp_path))
    if err or files(tmp_path) != {lcd.name}:
        return FAIL, f"encode exited 0 leaving {sorted(files(tmp_path))}, stderr {err!r}"

    data = lcd.read_bytes()
    try:
        decoded = lcodec.decompress_frames(data) if len(truth) > 1 else [lcodec.decompress(data)]
    except Exception as exc:
        return FAIL, f"the API: {exc!r}"
    why = difference([(f, None) for f in decoded], truth, meanings=False)
    if why:
        return LOSS, f"the API: {why}"

    status, err = cli("decode", lcd, "-o", back)
    if status != 0:
        why = unclean(status, err, tmp_path, {lcd.name}, back) or (lcd.read_bytes() != data and ".lcd changed")
        if why or spec.back not in UNWRITABLE:
            return FAIL, f"decode to {spec.back}: {why or message(err, tmp_path)}"
        return REFUSED, f"decode to {spec.back}: {message(err, tmp_path)}"
    if err or files(tmp_path) != {lcd.name, back.name} or spec.back in UNWRITABLE:
        return FAIL, f"decode to {spec.back} exited 0 leaving {sorted(files(tmp_path))}, stderr {err!r}"
    try:
        why = difference(READERS[spec.back](back), truth)
    except Exception as exc:
        return FAIL, f"{back.name} does not read back: {exc!r}"
    return (LOSS, f"decoded to {spec.back}: {why}") if why else (EXACT, "")


def message(err, folder):
    """The error line without its prefix and the folder's path."""
    return err.strip().removeprefix(PREFIX).replace(f"{folder}/", "")


def test_expect_names_kinds():
    assert set(EXPECT) <= set(KINDS) | LEFT_OUT


@pytest.mark.parametrize("content", CONTENTS)
@pytest.mark.parametrize("kind", KINDS)
def test_fidelity(kind, content, tmp_path):
    outcome, detail = run_kind(kind, content, tmp_path)
    allowed = {EXPECT[kind]} if kind in EXPECT else {EXACT, REFUSED}
    assert outcome in allowed, f"{outcome}: {detail}"


def table():
    """Every kind's outcomes as a Markdown table."""
    rows = ["| kind | expected | random | smooth | detail |", "|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as top:
        for kind in KINDS:
            results = []
            for content in CONTENTS:
                folder = Path(top, kind, content)
                folder.mkdir(parents=True)
                results.append(run_kind(kind, content, folder))
            detail = "; ".join(dict.fromkeys(d for _, d in results if d)).replace("|", "\\|")
            rows.append(f"| {kind} | {EXPECT.get(kind, 'either')} | {results[0][0]} | {results[1][0]} | {detail} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
    if LEFT_OUT:
        print(f"\nleft out (no writer in this imagecodecs): {', '.join(sorted(LEFT_OUT))}", file=sys.stderr)
