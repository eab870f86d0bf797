"""The .lcd file of one image (FORMAT.md sections 1-7): header, metadata, tile table, payloads. Pure struct/zlib: no
models, no numba.

Every size is checked against the data and the limits before anything in proportion to the image is allocated, so
that a corrupted or hostile file costs at most its own length in work.
"""

import hashlib
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from lcodec.container.modes import GENERIC, MODES, SEQUENCE, mode_by_name, named_mode
from lcodec.errors import FormatError, LimitError, UnsupportedVersionError

if TYPE_CHECKING:
    from lcodec.container.sequence import Sequence

SIGNATURE = b"\x8bLCD\r\n\x1a\n"
VERSION = 3              # what this build writes for an image every version 3 reader can hold
VERSIONS = (1, 2, 3, 4, 5)  # what it reads
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
BLOCK_KINDS = {1: "icc", 2: "exif", 3: "xmp", 4: "text", 5: "dpi", 6: "gamma", 7: "chromaticity", 8: "srgb",
               9: "chunk", 10: "tag", 11: "colormap"}
BLOCK_CODES = {v: k for k, v in BLOCK_KINDS.items()}
FIRST_V4_BLOCK = 9       # kinds from this code on are version 4's
BLOCKS_VERSION = 3

LEARNED, CONSTANT, DEFLATE, LZMA, MIXED, CONTEXT, RESIDUAL = 1, 2, 3, 4, 5, 6, 7
METHOD_NAMES = {LEARNED: "learned", CONSTANT: "constant", DEFLATE: "deflate", LZMA: "lzma", MIXED: "mixed",
                CONTEXT: "context", RESIDUAL: "residual"}
MODEL_METHODS = (LEARNED, MIXED)  # the methods that need the header's model
METHOD_VERSION = {MIXED: 2, CONTEXT: 5, RESIDUAL: 5}  # methods that the first versions do not have

_FIXED = struct.Struct(">8sBBIIHBB")  # signature .. model name length
_ENTRY = struct.Struct(">BI")   # a tile table entry of versions 1 and 2, and a metadata block's (kind, length)
_ENTRY3 = struct.Struct(">BII")  # a tile table entry of version 3: method, length, CRC-32 of the decoded samples
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_SHA = 32
_NAME_RE = re.compile(rb"[a-z0-9._-]*\Z")


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
    version = max(SEQUENCE_VERSION if mode.code == GENERIC or new_blocks else VERSION, file_version(header.methods))
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
    mode = MODES.get(mode_code) if mode_name is None else named_mode(mode_name)
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
