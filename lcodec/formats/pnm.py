"""PNM: gray (PGM) and colour (PPM) at any maxval 2^n - 1 up to 65535, binary or ASCII, read and written here;
bitmaps (PBM) through Pillow. A maxval that is not 2^n - 1 (samples of a range no bit depth names) is refused."""

import re

import numpy as np

from lcodec import container
from lcodec.errors import InvalidInputError
from lcodec.formats import Frame, Picture, check_size, pillow

_TOKEN = re.compile(rb"(?:\s|#[^\n]*\n?)*(\S+)")
_ASCII_SAMPLES = re.compile(rb"[0-9\s]*\Z")
_CHANNELS = {b"P2": 1, b"P3": 3, b"P5": 1, b"P6": 3}


def accepts(head):
    return len(head) >= 3 and head[:1] == b"P" and head[1:2] in b"1234567" and head[2:3].isspace()


def read(data, *, metadata=True, allow_lossy=False):
    magic = data[:2]
    if magic in (b"P1", b"P4"):
        return pillow.read(data, metadata=metadata, allow_lossy=allow_lossy)
    if magic not in _CHANNELS:
        raise InvalidInputError(f"PNM files of type {magic.decode('ascii', 'replace')} are not supported")
    pos, fields = 2, []
    for _ in range(3):
        m = _TOKEN.match(data, pos)
        if m is None or not m.group(1).isdigit():
            raise InvalidInputError("a damaged PNM header")
        fields.append(int(m.group(1)))
        pos = m.end()
    width, height, maxval = fields
    depth = maxval.bit_length()
    if maxval != (1 << depth) - 1 or depth < 2 or depth > 16:
        raise InvalidInputError(f"a PNM maxval of {maxval} is not supported (lcodec stores maxvals 3, 7, ..., 65535)")
    c = _CHANNELS[magic]
    count = width * height * c
    if width < 1 or height < 1:
        raise InvalidInputError(f"a PNM image of {width}x{height}")
    check_size(width, height)
    if magic in (b"P5", b"P6"):
        dtype = np.dtype(">u2" if depth > 8 else "u1")
        body = data[pos + 1 : pos + 1 + count * dtype.itemsize]
        if len(body) < count * dtype.itemsize:
            raise InvalidInputError("a truncated PNM file")
        samples = np.frombuffer(body, dtype).astype(dtype.newbyteorder("="))
    else:
        if not _ASCII_SAMPLES.match(data, pos):
            raise InvalidInputError("a damaged PNM file (a sample that is not a number)")
        tokens = data[pos:].split()[:count]  # split and converted in C, not sample by sample in Python
        if len(tokens) < count:
            raise InvalidInputError("a truncated PNM file")
        samples = np.array(tokens, np.int64)
    if samples.size and int(samples.max()) > maxval:
        raise InvalidInputError(f"a damaged PNM file (a sample over its maxval {maxval})")
    samples = samples.astype(np.uint16 if depth > 8 else np.uint8)
    pixels = samples.reshape((height, width, c) if c == 3 else (height, width))
    mode = container.mode_by_name(f"{'RGB' if c == 3 else 'L'};{depth}").name
    return Picture([Frame(pixels, mode)], "PPM")


def declared(data):
    """(frames, channels, bits per sample) as the header states them."""
    m = re.match(rb"P([2356])(?:\s|#[^\n]*\n)+\d+(?:\s|#[^\n]*\n)+\d+(?:\s|#[^\n]*\n)+(\d+)", data)
    return (1, 3 if m.group(1) in b"36" else 1, int(m.group(2)).bit_length()) if m else None


def write(picture, fmt):
    if len(picture.frames) != 1:
        raise InvalidInputError("PNM holds one image")
    frame = picture.frames[0]
    if frame.mode == "1":
        return pillow.write(picture, "PPM")
    mode = container.mode_by_name(frame.mode)
    if frame.mode not in ("L", "RGB", "I;16") and not re.fullmatch(r"(L|RGB);\d+", frame.mode):
        raise InvalidInputError(f"PNM cannot hold mode {frame.mode}")
    magic = b"P6" if mode.channels == 3 else b"P5"
    maxval = (1 << mode.sample_bits) - 1
    h, w = frame.pixels.shape[:2]
    body = frame.pixels.astype(">u2" if maxval > 255 else "u1").tobytes()
    return magic + f"\n{w} {h}\n{maxval}\n".encode("ascii") + body
