"""The .lcd container (FORMAT.md): header, tile table, payloads. Pure struct/zlib: no models, no numba.

Every size is checked against the data and the limits before anything in proportion to the image is
allocated, so that a corrupted or hostile file costs at most its own length in work.
"""

import functools
import hashlib
import re
import struct
import zlib
from dataclasses import dataclass, field, replace

import numpy as np

from lcodec.errors import FormatError, LimitError, UnsupportedVersionError

SIGNATURE = b"\x8bLCD\r\n\x1a\n"
VERSION = 3              # what this build writes for an image every version 3 reader can hold
VERSIONS = (1, 2, 3, 4)  # what it reads
SEQUENCE_VERSION = 4     # named modes (code GENERIC) and sequences of frames (code SEQUENCE)

MAX_DIMENSION = 1 << 20
DEFAULT_MAX_PIXELS = 1 << 28
MAX_TILES = 1 << 24
MIN_TILE = 16
MAX_TILE = 4096
MAX_NAME = 64
MAX_META = 2048
MAX_BLOCKS = 64          # metadata blocks (ICC profile, EXIF, XMP, text...) of version 3
MAX_BLOCK = 1 << 24      # bytes of one block
MAX_BLOCKS_TOTAL = 1 << 26
MAX_CHANNELS = 64        # of a named mode
MAX_FRAMES = 1 << 16     # of a sequence
MAX_FORMAT = 16          # bytes of a sequence's source format name
BLOCK_KINDS = {1: "icc", 2: "exif", 3: "xmp", 4: "text", 5: "dpi", 6: "gamma", 7: "chromaticity", 8: "srgb",
               9: "chunk", 10: "tag", 11: "colormap"}
BLOCK_CODES = {v: k for k, v in BLOCK_KINDS.items()}
FIRST_V4_BLOCK = 9       # kinds from this code on are version 4's
BLOCKS_VERSION = 3

LEARNED, CONSTANT, DEFLATE, LZMA, MIXED = 1, 2, 3, 4, 5
METHOD_NAMES = {LEARNED: "learned", CONSTANT: "constant", DEFLATE: "deflate", LZMA: "lzma", MIXED: "mixed"}
MODEL_METHODS = (LEARNED, MIXED)  # the methods that need the header's model
METHOD_VERSION = {MIXED: 2}       # methods that version 1 does not have

_FIXED = struct.Struct(">8sBBIIHBB")  # signature .. model name length
_ENTRY = struct.Struct(">BI")   # a tile table entry of versions 1 and 2, and a metadata block's (kind, length)
_ENTRY3 = struct.Struct(">BII")  # a tile table entry of version 3: method, length, CRC-32 of the decoded samples
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_SHA = 32
_NAME_RE = re.compile(rb"[a-z0-9._-]*\Z")


@dataclass(frozen=True)
class Mode:
    """How the container stores an image's samples: plane groups of (channels, storage bits per sample: 1, 8 or
    16), and the bits the samples use (`depth`) and whether they are signed (stored offset by 2^(depth-1))."""

    code: int
    name: str
    groups: tuple
    learned_group: bool  # whether group 0 may use the learned path
    depth: int = 0       # bits each sample uses, 1..16 (0: the storage bits)
    signed: bool = False

    @property
    def channels(self):
        return sum(c for c, _ in self.groups)

    @property
    def bits(self):
        return self.groups[0][1]

    @property
    def sample_bits(self):
        return self.depth or self.bits

    @property
    def dtype(self):
        """The dtype the samples are stored and coded in (unsigned)."""
        return {1: np.dtype(bool), 8: np.dtype(np.uint8), 16: np.dtype(np.uint16)}[self.bits]

    @property
    def array_dtype(self):
        """The dtype of the samples as decompress returns them (signed modes: int8 / int16)."""
        return np.dtype(f"i{self.bits // 8}") if self.signed else self.dtype

    def shape(self, height, width):
        return (height, width) if self.channels == 1 else (height, width, self.channels)


MODES = {
    m.code: m
    for m in (
        Mode(1, "1", ((1, 1),), False),
        Mode(2, "L", ((1, 8),), True),
        Mode(3, "LA", ((1, 8), (1, 8)), True),
        Mode(4, "P", ((1, 8),), False),
        Mode(5, "RGB", ((3, 8),), True),
        Mode(6, "RGBA", ((3, 8), (1, 8)), True),
        Mode(7, "I;16", ((1, 16),), False),
    )
}
MODE_BY_NAME = {m.name: m for m in MODES.values()}
GENERIC, SEQUENCE = 8, 0  # version 4: a mode named in the header (mode_by_name), a sequence of frames (section 8)
COLOURS = {"": 0, "L": 1, "RGB": 3, "CMYK": 4}  # a named mode's colour channels, before its extra channels
_NAMED = re.compile(r"(L|RGB|CMYK|)([AaX]*);([0-9]{1,2})(S?)\Z")


@functools.lru_cache(maxsize=256)
def mode_by_name(name):
    """The Mode of a name: one of MODE_BY_NAME, or a named mode COLOUR EXTRAS ';' BITS ['S'] (FORMAT.md section 1):
    COLOUR is L, RGB, CMYK or nothing, EXTRAS one letter per further channel (A alpha, a premultiplied alpha, X any
    other), BITS 2..16 the bits each sample uses, S signed. A named mode equal to a mode of MODE_BY_NAME is that
    mode (L;8 is L, RGBA;8 is RGBA, L;16 is I;16). FormatError for any other name."""
    if name in MODE_BY_NAME:
        return MODE_BY_NAME[name]
    m = _NAMED.match(name) if isinstance(name, str) else None
    if m is None:
        raise FormatError(f"unknown mode {name!r}")
    colour, extras, depth, signed = m.group(1), m.group(2), int(m.group(3)), bool(m.group(4))
    channels = COLOURS[colour] + len(extras)
    if not 2 <= depth <= 16 or not 1 <= channels <= MAX_CHANNELS or str(depth) != m.group(3):
        raise FormatError(f"bad mode {name!r} (bits 2..16, 1..{MAX_CHANNELS} channels)")
    legacy = {("L", "", 8): "L", ("L", "A", 8): "LA", ("RGB", "", 8): "RGB", ("RGB", "A", 8): "RGBA",
              ("L", "", 16): "I;16"}.get((colour, extras, depth))
    if legacy and not signed:
        return MODE_BY_NAME[legacy]
    bits = 8 if depth <= 8 else 16
    groups = ((COLOURS[colour], bits),) if colour else ()
    groups += ((1, bits),) * len(extras)
    learned = colour in ("L", "RGB") and depth == 8 and not signed
    return Mode(GENERIC, name, groups, learned, depth, signed)


@dataclass(frozen=True)
class Header:
    """Everything a file says about itself; `read_header` returns it without decoding any pixel."""

    mode: str
    width: int
    height: int
    tile: int
    precision: int = 0
    model: str | None = None
    model_sha256: str | None = None
    palette_mode: str | None = None  # "RGB" or "RGBA" for mode P
    palette: bytes | None = None
    transparency: int | tuple | bytes | None = None
    pixel_sha256: str = ""
    methods: tuple = ()
    lengths: tuple = ()
    metadata: tuple = ()  # ((kind, bytes), ...): the image file's ICC profile, EXIF, XMP, text... (section 3)
    crcs: tuple = ()  # per table entry, the CRC-32 of its decoded samples (version 3; empty before)
    header_size: int = 0
    version: int | None = field(default=None, compare=False)  # as read; pack writes VERSION
    file_size: int = field(default=0, compare=False)
    sequence: "Sequence | None" = field(default=None, compare=False)  # of a sequence file, read as its first frame

    @property
    def channels(self):
        return mode_by_name(self.mode).channels

    @property
    def tiles(self):
        """(tiles down, tiles across)."""
        return -(-self.height // self.tile), -(-self.width // self.tile)

    @property
    def bpsp(self):
        """Bits per sub-pixel of the whole file, header included (of a sequence, over every frame)."""
        frames = self.sequence.frames if self.sequence else (self,)
        return 8 * self.file_size / sum(f.width * f.height * f.channels for f in frames)

    @property
    def method_counts(self):
        counts = {}
        for m in self.methods:
            counts[METHOD_NAMES[m]] = counts.get(METHOD_NAMES[m], 0) + 1
        return counts


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


def tile_boxes(height, width, tile):
    """(y0, y1, x0, x1) of every tile in raster order."""
    return [
        (y, min(y + tile, height), x, min(x + tile, width))
        for y in range(0, height, tile)
        for x in range(0, width, tile)
    ]


def pixel_checksum(pixels):
    """SHA-256 of the canonical pixel bytes (FORMAT.md section 5)."""
    return hashlib.sha256(_canonical(pixels).data).hexdigest()


def samples_crc(samples):
    """CRC-32 of the canonical bytes of one tile's plane group (section 2): what version 3 checks tile by tile."""
    return zlib.crc32(_canonical(samples).data)


def _canonical(pixels):
    """The samples as FORMAT.md section 5 orders them: C order, 0/1 bytes for 1-bit, big-endian 16-bit."""
    if pixels.dtype.itemsize == 2:  # uint16, int16: big-endian (int16 two's complement)
        pixels = pixels.astype(pixels.dtype.newbyteorder(">"))
    elif pixels.dtype == bool:  # canonical 0/1 even for bool arrays holding other bytes (Pillow's mode 1)
        pixels = (pixels.view(np.uint8) != 0).view(np.uint8)
    return np.ascontiguousarray(pixels)


def _encode_meta(header):
    mode = mode_by_name(header.mode)
    out = bytearray()
    if header.palette is None:
        out += b"\x00" + _U16.pack(0)
    else:
        p = len(header.palette_mode)
        out += bytes([p]) + _U16.pack(len(header.palette) // p) + header.palette
    t = header.transparency
    if t is None:
        out += b"\x00"
    elif isinstance(t, bytes):
        out += b"\x02" + _U16.pack(len(t)) + t
    else:
        values = t if isinstance(t, tuple) else (t,)
        if len(values) != _key_values(mode):
            raise FormatError(f"transparency {t!r} does not fit mode {mode.name}")
        out += b"\x01" + b"".join(_U16.pack(v) for v in values)
    return b"" if bytes(out) == b"\x00\x00\x00\x00" else bytes(out)


def _key_values(mode):
    """Values of a transparency key: one per colour channel of RGB modes, else one."""
    return 3 if mode.name == "RGB" or mode.name.startswith("RGB;") else 1


def _decode_meta(meta, mode):
    """(palette_mode, palette, transparency) from the metadata block; exact consumption required."""
    if not meta:
        palette_mode = palette = transparency = None
    else:
        pos = 3
        if len(meta) < pos:
            raise FormatError("metadata truncated")
        p, k = meta[0], _U16.unpack_from(meta, 1)[0]
        if p not in (0, 3, 4) or k > 256 or (p == 0 and k != 0):
            raise FormatError(f"bad palette description ({p} bytes x {k} entries)")
        palette_mode = {0: None, 3: "RGB", 4: "RGBA"}[p]
        palette = bytes(meta[pos : pos + p * k]) if p else None
        pos += p * k
        if len(meta) < pos + 1:
            raise FormatError("metadata truncated")
        kind = meta[pos]
        pos += 1
        if kind == 0:
            transparency = None
        elif kind == 1:
            c = _key_values(mode)
            if len(meta) < pos + 2 * c:
                raise FormatError("metadata truncated")
            values = struct.unpack_from(f">{c}H", meta, pos)
            transparency = values if c == 3 else values[0]
            pos += 2 * c
        elif kind == 2 and mode.name == "P":
            if len(meta) < pos + 2:
                raise FormatError("metadata truncated")
            a = _U16.unpack_from(meta, pos)[0]
            if a > 256 or len(meta) < pos + 2 + a:
                raise FormatError("bad transparency table")
            transparency = bytes(meta[pos + 2 : pos + 2 + a])
            pos += 2 + a
        else:
            raise FormatError(f"bad transparency kind {kind} for mode {mode.name}")
        if pos != len(meta):
            raise FormatError("metadata has trailing bytes")
    if (mode.name == "P") != (palette is not None):
        raise FormatError(f"mode {mode.name} {'needs' if mode.name == 'P' else 'cannot have'} a palette")
    return palette_mode, palette, transparency


def file_version(methods):
    """The lowest format version that has every one of these methods."""
    return max([1] + [METHOD_VERSION.get(m, 1) for m in methods])


def _encode_blocks(metadata):
    """(directory inside the header, the blocks' bytes) of version 3."""
    if len(metadata) > MAX_BLOCKS:
        raise FormatError(f"{len(metadata)} metadata blocks, at most {MAX_BLOCKS}")
    directory, body = bytearray([len(metadata)]), bytearray()
    for kind, data in metadata:
        if kind not in BLOCK_CODES or len(data) > MAX_BLOCK:
            raise FormatError(f"metadata block {kind!r} of {len(data)} bytes cannot be stored")
        directory += _ENTRY.pack(BLOCK_CODES[kind], len(data))
        body += data
    if len(body) > MAX_BLOCKS_TOTAL:
        raise FormatError(f"{len(body)} bytes of metadata, at most {MAX_BLOCKS_TOTAL}")
    return bytes(directory), bytes(body) + _U32.pack(zlib.crc32(body))


def pack(header, payloads):
    """The bytes of a file: `header` (methods filled in) and one payload per table entry."""
    mode = mode_by_name(header.mode)
    name = (header.model or "").encode("ascii")
    if len(name) > MAX_NAME or not _NAME_RE.match(name):
        raise FormatError(f"model name {header.model!r} cannot be stored")
    sha = bytes.fromhex(header.model_sha256) if header.model else bytes(_SHA)
    meta = _encode_meta(header)
    new_blocks = any(BLOCK_CODES.get(kind, 0) >= FIRST_V4_BLOCK for kind, _ in header.metadata)
    version = SEQUENCE_VERSION if mode.code == GENERIC or new_blocks else VERSION
    head = bytearray(
        _FIXED.pack(SIGNATURE, version, mode.code, header.width, header.height, header.tile,
                    header.precision if name else 0, len(name))
    )
    if mode.code == GENERIC:
        head += bytes([len(mode.name)]) + mode.name.encode("ascii")
    head += name + sha + _U16.pack(len(meta)) + meta + bytes.fromhex(header.pixel_sha256)
    directory, blocks = _encode_blocks(header.metadata)
    head += directory
    head += _U32.pack(zlib.crc32(head))
    crcs = header.crcs or (0,) * len(header.methods)  # none given (a file made by hand): zeros, which fail to match
    table = b"".join(_ENTRY3.pack(m, len(p), c) for m, p, c in zip(header.methods, payloads, crcs, strict=True))
    return b"".join([bytes(head), blocks, table, _U32.pack(zlib.crc32(table)), *payloads])


def _decode_blocks(data, dir_pos, crc_pos, size, version):
    """(((kind, bytes), ...), where the tile table starts) of version 3 or 4; sizes checked before any copy."""
    k = data[dir_pos]
    if k > MAX_BLOCKS:
        raise FormatError(f"{k} metadata blocks, at most {MAX_BLOCKS}")
    entries = list(_ENTRY.iter_unpack(data[dir_pos + 1 : crc_pos]))
    known = BLOCK_KINDS if version >= SEQUENCE_VERSION else range(1, FIRST_V4_BLOCK)
    if any(kind not in known or length > MAX_BLOCK for kind, length in entries):
        raise FormatError("unknown or oversized metadata block")
    total = sum(length for _, length in entries)
    if total > MAX_BLOCKS_TOTAL:
        raise FormatError(f"{total} bytes of metadata, at most {MAX_BLOCKS_TOTAL}")
    start = crc_pos + 4
    _need(data, start + total + 4, size, "truncated lcodec metadata")
    if zlib.crc32(data[start : start + total]) != _U32.unpack_from(data, start + total)[0]:
        raise FormatError("lcodec metadata CRC mismatch (corrupted file)")
    blocks, pos = [], start
    for kind, length in entries:
        blocks.append((BLOCK_KINDS[kind], bytes(data[pos : pos + length])))
        pos += length
    return tuple(blocks), start + total + 4


def _named_mode(name):
    """The Mode a version-4 header names; a name of a mode with its own code is a FormatError (one way to say it)."""
    try:
        mode = mode_by_name(name.decode("ascii"))
    except UnicodeDecodeError:
        mode = None
    if mode is None or mode.code != GENERIC:
        raise FormatError(f"bad mode name {bytes(name)!r}")
    return mode


def _check_signature(data):
    if len(data) >= 8 and bytes(data[:8]) == SIGNATURE:
        return
    if len(data) < 8 and SIGNATURE.startswith(bytes(data)):
        raise FormatError(f"truncated lcodec file ({len(data)} bytes)")
    if len(data) >= 4 and bytes(data[1:4]) == b"LCD":
        raise FormatError("damaged lcodec signature (file mangled by a text-mode or 7-bit transfer?)")
    raise FormatError("not an lcodec file (bad signature)")


class _NeedBytes(Exception):
    """The header runs past the bytes read so far (but not past the file): read up to `end` and parse again."""

    def __init__(self, end):
        super().__init__(end)
        self.end = end


def _need(data, end, size, message):
    """Check that bytes [.., end) exist: FormatError past the file's size, _NeedBytes past what was read."""
    if end > size:
        raise FormatError(message)
    if end > len(data):
        raise _NeedBytes(end)


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
    _, _, _, n, loop, flags, k = _SEQ.unpack_from(data)
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


def parse(data, *, max_pixels=DEFAULT_MAX_PIXELS):
    """(Header, [payload memoryviews]) of a whole file of one image; raises FormatError/LimitError before
    allocating."""
    data = memoryview(data).cast("B")
    header = _parse_header(data, len(data), max_pixels)
    payloads, offset = [], header.header_size
    for length in header.lengths:
        payloads.append(data[offset : offset + length])
        offset += length
    return header, payloads


def read_header(fp, *, max_pixels=None):
    """The Header of a file open for binary reading, from the bytes of its header, metadata and tile table only
    (what Image.open of a large file must not read whole); the file's size is checked against the table."""
    size = fp.seek(0, 2)
    fp.seek(0)
    head = fp.read(min(size, 10))
    if is_sequence(head):
        sequence, _ = _read_parsed(fp, 0, size, lambda data, n: _parse_sequence(
            data, n, max_pixels, lambda o, length, limit: _read_parsed(
                fp, o, length, lambda d, m: _parse_header(d, m, limit))))
        return replace(sequence.frames[0], sequence=sequence, file_size=size, version=SEQUENCE_VERSION)
    return _read_parsed(fp, 0, size, lambda data, n: _parse_header(data, n, max_pixels))


def _read_parsed(fp, offset, size, parse_bytes):
    """parse_bytes(data, size) over the `size` bytes of fp from `offset`, reading only as many as it asks for."""
    fp.seek(offset)
    data = bytearray(fp.read(min(size, 1 << 16)))
    while True:
        try:
            return parse_bytes(memoryview(data), size)
        except _NeedBytes as more:
            fp.seek(offset + len(data))
            data += fp.read(more.end - len(data))
            if len(data) < more.end:
                raise FormatError("file shorter than its size (changed while read?)") from None


def _parse_header(data, size, max_pixels):
    """The Header of a file of `size` bytes whose first len(data) bytes are `data` (_NeedBytes if more are
    needed); every length is checked against `size` and the limits before anything is allocated."""
    if size < 8:
        _check_signature(bytes(data[:size]))
    _need(data, 8, size, "truncated lcodec file")
    _check_signature(data)
    if size < _FIXED.size:
        raise FormatError(f"truncated lcodec header ({size} bytes)")
    _need(data, _FIXED.size, size, "truncated lcodec header")
    _, version, mode_code, width, height, tile, precision, n = _FIXED.unpack_from(data)
    if version not in VERSIONS:
        raise UnsupportedVersionError(
            f"lcodec format version {version} is not supported (this build reads {', '.join(map(str, VERSIONS))})")
    if mode_code == SEQUENCE:
        raise FormatError("a sequence of frames where one image was expected")
    pos = _FIXED.size
    mode_name = None
    if mode_code == GENERIC and version >= SEQUENCE_VERSION:  # the mode's name, before the model's
        _need(data, pos + 1, size, "truncated lcodec header")
        _need(data, pos + 1 + data[pos], size, "truncated lcodec header")
        mode_name = bytes(data[pos + 1 : pos + 1 + data[pos]])
        pos += 1 + data[pos]
    _need(data, pos + n + _SHA + 2, size, "truncated lcodec header")
    meta_len = _U16.unpack_from(data, pos + n + _SHA)[0]
    sum_pos = pos + n + _SHA + 2 + meta_len  # the pixel checksum
    crc_pos = sum_pos + _SHA
    if version >= BLOCKS_VERSION:  # the metadata blocks' directory: a count, then (kind, length) each
        _need(data, crc_pos + 1, size, "truncated lcodec header")
        crc_pos += 1 + _ENTRY.size * data[crc_pos]
    _need(data, crc_pos + 4, size, "truncated lcodec header")
    if zlib.crc32(data[:crc_pos]) != _U32.unpack_from(data, crc_pos)[0]:
        raise FormatError("lcodec header CRC mismatch (corrupted file)")
    mode = MODES.get(mode_code) if mode_name is None else _named_mode(mode_name)
    if mode is None:
        raise FormatError(f"unknown mode code {mode_code}")
    for what, v in (("width", width), ("height", height)):
        if not 1 <= v <= MAX_DIMENSION:
            raise FormatError(f"{what} {v} out of range 1..{MAX_DIMENSION}")
    if not MIN_TILE <= tile <= MAX_TILE:
        raise FormatError(f"tile size {tile} out of range {MIN_TILE}..{MAX_TILE}")
    if n > MAX_NAME or meta_len > MAX_META:
        raise FormatError("model name or metadata too long")
    name = bytes(data[pos : pos + n])
    precision_ok = 1 <= precision <= 32 if n else precision == 0
    if not _NAME_RE.match(name) or not precision_ok:
        raise FormatError("bad model name or coder precision")
    sha = bytes(data[pos + n : pos + n + _SHA])
    meta = data[pos + n + _SHA + 2 : pos + n + _SHA + 2 + meta_len]
    palette_mode, palette, transparency = _decode_meta(meta, mode)
    if max_pixels is not None and width * height > max_pixels:
        raise LimitError(
            f"image of {width}x{height} pixels exceeds the limit of {max_pixels} pixels (raise max_pixels to allow it)"
        )
    entries = -(-width // tile) * -(-height // tile) * len(mode.groups)
    if entries > MAX_TILES:
        raise LimitError(f"{entries} tiles exceed the limit of {MAX_TILES}")
    metadata, table_pos = (), crc_pos + 4
    if version >= BLOCKS_VERSION:
        metadata, table_pos = _decode_blocks(data, sum_pos + _SHA, crc_pos, size, version)
    entry = _ENTRY3 if version >= 3 else _ENTRY
    payload_pos = table_pos + entry.size * entries + 4
    _need(data, payload_pos, size, "truncated lcodec tile table")
    table = data[table_pos : payload_pos - 4]
    if zlib.crc32(table) != _U32.unpack_from(data, payload_pos - 4)[0]:
        raise FormatError("lcodec tile table CRC mismatch (corrupted file)")
    fields = list(zip(*entry.iter_unpack(table)))
    methods, lengths, crcs = fields[0], fields[1], tuple(fields[2]) if version >= 3 else ()
    if any(m not in METHOD_NAMES for m in methods):
        raise FormatError("unknown coding method in tile table")
    if file_version(methods) > version:
        raise FormatError(f"tile table holds methods that format version {version} does not have")
    if any(m in MODEL_METHODS for m in methods) and not n:
        raise FormatError("learned tiles but no model named")
    if payload_pos + sum(lengths) != size:
        raise FormatError(
            f"file is {size} bytes, its tile table describes {payload_pos + sum(lengths)} (truncated or padded)"
        )
    return Header(
        mode=mode.name, width=width, height=height, tile=tile, precision=precision if n else 0,
        model=name.decode("ascii") if n else None, model_sha256=sha.hex() if n else None,
        palette_mode=palette_mode, palette=palette, transparency=transparency,
        pixel_sha256=bytes(data[sum_pos : sum_pos + _SHA]).hex(), methods=methods, lengths=lengths,
        metadata=metadata, crcs=crcs, header_size=payload_pos, version=version, file_size=size,
    )
