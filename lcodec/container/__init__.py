"""The .lcd container (FORMAT.md): the file of one image (`image`), its modes (`modes`) and sequence files of
several frames (`sequence`). Pure struct/zlib: no models, no numba; every size is checked against the data and the
limits before anything in proportion to the image is allocated."""

from dataclasses import replace

from lcodec.container.image import (  # noqa: F401  (the container's names, for its users)
    BLOCK_CODES, BLOCK_KINDS, BLOCKS_VERSION, CONSTANT, CONTEXT, RESIDUAL, DEFAULT_MAX_PIXELS, DEFLATE, FIRST_V4_BLOCK, LEARNED, LZMA,
    MAX_BLOCK, MAX_BLOCKS, MAX_BLOCKS_TOTAL, MAX_DIMENSION, MAX_META, MAX_NAME, MAX_TILE, MAX_TILES, METHOD_NAMES,
    METHOD_VERSION, MIN_TILE, MIXED, MODEL_METHODS, SEQUENCE_VERSION, SIGNATURE, VERSION, VERSIONS, Header, _NeedBytes,
    _parse_header, file_version, pack, parse, pixel_checksum, samples_crc, tile_boxes,
)
from lcodec.container.modes import (  # noqa: F401
    COLOURS, GENERIC, MAX_CHANNELS, MODE_BY_NAME, MODES, SEQUENCE, Mode, mode_by_name,
)
from lcodec.container.sequence import (  # noqa: F401
    MAX_FORMAT, MAX_FRAMES, STILL_FIRST, Sequence, _parse_sequence, is_sequence, pack_sequence, parse_sequence,
)
from lcodec.errors import FormatError


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
