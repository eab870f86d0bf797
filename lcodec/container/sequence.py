"""Sequence files (FORMAT.md section 8): several frames, each a complete file of one image, under a checksummed
directory of their timing and source format."""

import re
import struct
import zlib
from dataclasses import dataclass

from lcodec.container.image import DEFAULT_MAX_PIXELS, SEQUENCE_VERSION, SIGNATURE, _U32, _need, _parse_header
from lcodec.container.modes import SEQUENCE
from lcodec.errors import FormatError, LimitError, UnsupportedVersionError

MAX_FRAMES = 1 << 16     # of a sequence
MAX_FORMAT = 16          # bytes of a sequence's source format name


@dataclass(frozen=True)
class Sequence:
    """A sequence file's frames (section 8): each an image with its own Header, shown for `durations` ms each."""

    frames: tuple              # Header of each frame
    durations: tuple = ()      # ms per frame
    disposals: tuple = ()      # per frame, as the source format numbers them (APNG/GIF/WebP), 0 when it has none
    blends: tuple = ()         # per frame, APNG's blend operation, 0 when the format has none
    loop: int = 0              # times to play, 0 forever
    format: str = ""           # the source file's format (Pillow's name: PNG, GIF, WEBP, TIFF, ICO...)
    still_first: bool = False  # frame 0 is a still image outside the animation (APNG's default image)


_SEQ = struct.Struct(">8sBBIIBB")  # signature, version, SEQUENCE, frame count, loop count, flags, format name length
STILL_FIRST = 1  # sequence flag: the first frame is a still image outside the animation (APNG's hidden default image)
_FRAME = struct.Struct(">IBBQ")   # a frame's duration (ms), disposal, blend, file length


def is_sequence(data):
    """Whether the bytes (at least 10 of them) begin a sequence file."""
    return bytes(data[:8]) == SIGNATURE and len(data) >= 10 and data[8] >= SEQUENCE_VERSION and data[9] == SEQUENCE


def pack_sequence(sequence, frames):
    """The bytes of a sequence file: `sequence`'s timing and format, and the bytes of each frame's image file."""
    n, name = len(frames), sequence.format.encode("ascii")
    if not 1 <= n <= MAX_FRAMES or len(name) > MAX_FORMAT or not re.fullmatch(rb"[A-Z0-9]*", name):
        raise FormatError(f"a sequence of {n} frames from format {sequence.format!r} cannot be stored")
    flags = STILL_FIRST if sequence.still_first else 0
    head = bytearray(_SEQ.pack(SIGNATURE, SEQUENCE_VERSION, SEQUENCE, n, sequence.loop, flags, len(name)) + name)
    for i, frame in enumerate(frames):
        head += _FRAME.pack(*(min(max(int(v[i]) if i < len(v) else 0, 0), m) for v, m in (
            (sequence.durations, 0xFFFFFFFF), (sequence.disposals, 255), (sequence.blends, 255))), len(frame))
    head += _U32.pack(zlib.crc32(head))
    return b"".join([bytes(head), *frames])


def _parse_sequence(data, size, max_pixels, frame_header):
    """(Sequence, [(offset, length) of each frame's file]) of a sequence file of `size` bytes whose first len(data)
    bytes are `data`; frame_header(offset, length, max_pixels) gives a frame's Header. The pixels of all frames
    together are held to max_pixels before any frame is decoded."""
    _need(data, _SEQ.size, size, "truncated lcodec sequence header")
    _, version, _, n, loop, flags, k = _SEQ.unpack_from(data)
    if version != SEQUENCE_VERSION:
        raise UnsupportedVersionError(f"lcodec sequence format version {version} is not supported (this build reads "
                                      f"{SEQUENCE_VERSION})")
    if not 1 <= n <= MAX_FRAMES or k > MAX_FORMAT or flags & ~STILL_FIRST:
        raise FormatError(f"bad sequence header ({n} frames, flags {flags}, format name of {k} bytes)")
    end = _SEQ.size + k + _FRAME.size * n
    _need(data, end + 4, size, "truncated lcodec sequence header")
    if zlib.crc32(data[:end]) != _U32.unpack_from(data, end)[0]:
        raise FormatError("lcodec sequence header CRC mismatch (corrupted file)")
    name = bytes(data[_SEQ.size : _SEQ.size + k])
    if not re.fullmatch(rb"[A-Z0-9]*", name):
        raise FormatError("bad sequence format name")
    entries = list(_FRAME.iter_unpack(data[_SEQ.size + k : end]))
    spans, offset = [], end + 4
    for *_, length in entries:
        spans.append((offset, length))
        offset += length
    if offset != size:
        raise FormatError(f"file is {size} bytes, its sequence header describes {offset} (truncated or padded)")
    frames, pixels = [], 0
    for offset, length in spans:
        header = frame_header(offset, length, None)
        pixels += header.width * header.height
        if max_pixels is not None and pixels > max_pixels:
            raise LimitError(f"the frames' {pixels}+ pixels exceed the limit of {max_pixels} pixels (raise "
                             "max_pixels to allow it)")
        frames.append(header)
    durations, disposals, blends = (tuple(e[i] for e in entries) for i in range(3))
    return Sequence(tuple(frames), durations, disposals, blends, loop, name.decode("ascii"),
                    bool(flags & STILL_FIRST)), spans


def parse_sequence(data, *, max_pixels=DEFAULT_MAX_PIXELS):
    """(Sequence, [each frame's file as a memoryview]) of a whole sequence file; checked as parse checks a file."""
    data = memoryview(data).cast("B")
    sequence, spans = _parse_sequence(
        data, len(data), max_pixels, lambda o, n, limit: _parse_header(data[o : o + n], n, limit))
    return sequence, [data[o : o + n] for o, n in spans]
