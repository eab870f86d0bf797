"""The container (FORMAT.md): layout, validation order, limits, checksums; golden files pin the format."""

import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from lcd_images import fix_header_crc

from lcodec import container
from lcodec.container import CONSTANT, DEFLATE, SIGNATURE, Header
from lcodec.errors import FormatError, LimitError, UnsupportedVersionError

SHA = "ab" * 32


def _header(**kw):
    fields = dict(mode="RGB", width=40, height=20, tile=16, pixel_sha256=SHA)
    fields.update(kw)
    boxes = container.tile_boxes(fields["height"], fields["width"], fields["tile"])
    groups = len(container.MODE_BY_NAME[fields["mode"]].groups)
    fields.setdefault("methods", (CONSTANT,) * (len(boxes) * groups))
    return Header(**fields)


def _file(header, payload=b"\x01\x02\x03"):
    return container.pack(header, [payload] * len(header.methods))


def test_signature_is_png_style():
    assert len(SIGNATURE) == 8 and SIGNATURE[0] & 0x80
    assert SIGNATURE[4:] == b"\r\n\x1a\n"


def test_byte_layout_matches_format_md():
    h = _header(model="rgb-x", model_sha256="cd" * 32, precision=24, methods=(1,) * 6, crcs=tuple(range(6)))
    data = _file(h)
    assert data[:8] == SIGNATURE and data[8] == 3 and data[9] == 5  # this build writes version 3
    assert struct.unpack_from(">IIHBB", data, 10) == (40, 20, 16, 24, 5)
    assert data[22:27] == b"rgb-x" and data[27:59] == bytes.fromhex("cd" * 32)
    assert data[59:61] == b"\x00\x00"  # no palette or transparency
    assert data[61:93] == bytes.fromhex(SHA)
    assert data[93] == 0  # no metadata blocks
    assert struct.unpack_from(">I", data, 94)[0] == zlib.crc32(data[:94])
    assert struct.unpack_from(">I", data, 98)[0] == zlib.crc32(b"")  # the (empty) blocks' CRC
    assert data[102:111] == b"\x01\x00\x00\x00\x03\x00\x00\x00\x00"  # first entry: LEARNED, 3 bytes, CRC 0
    assert data[111:120] == b"\x01\x00\x00\x00\x03\x00\x00\x00\x01"
    assert len(data) == 102 + 6 * 9 + 4 + 6 * 3


def test_pack_parse_round_trip_with_metadata():
    h = _header(mode="P", palette_mode="RGBA", palette=bytes(range(40)), transparency=b"\x00\xff\x80",
                crcs=(7,) * 6, metadata=(("icc", b"abc"), ("text", b"\x00" + bytes(16))))
    parsed, payloads = container.parse(_file(h, b"\x07"))
    assert parsed == h.__class__(**{**h.__dict__, "lengths": (1,) * len(h.methods), "header_size": parsed.header_size})
    assert [bytes(p) for p in payloads] == [b"\x07"] * len(h.methods)
    for t in (7, None):
        assert container.parse(_file(_header(mode="L", transparency=t)))[0].transparency == t
    assert container.parse(_file(_header(transparency=(1, 2, 65535))))[0].transparency == (1, 2, 65535)


def test_tile_table_order_and_edge_tiles():
    boxes = container.tile_boxes(20, 40, 16)
    assert boxes == [(0, 16, 0, 16), (0, 16, 16, 32), (0, 16, 32, 40), (16, 20, 0, 16), (16, 20, 16, 32),
                     (16, 20, 32, 40)]


@pytest.mark.parametrize(
    "edit, error, match",
    [
        (lambda d: d[:5], FormatError, "truncated"),
        (lambda d: b"GIF89a" + d[6:], FormatError, "not an lcodec file"),
        (lambda d: d.replace(b"\r\n", b"\n", 1), FormatError, "text-mode"),
        (lambda d: d[:8] + b"\x05" + d[9:], UnsupportedVersionError, "version 5"),
        (lambda d: d[:12] + bytes([d[12] ^ 1]) + d[13:], FormatError, "header CRC"),
        (lambda d: d[:-1], FormatError, "truncated or padded"),
        (lambda d: d + b"\x00", FormatError, "truncated or padded"),
        (lambda d: d[:100], FormatError, "truncated lcodec tile table"),
        (lambda d: d[:-30] + bytes([d[-30] ^ 4]) + d[-29:], FormatError, "tile table CRC"),
    ],
)
def test_damage_is_a_format_error(edit, error, match):
    with pytest.raises(error, match=match):
        container.parse(edit(_file(_header())))


@pytest.mark.parametrize(
    "offset, value, match",
    [
        (9, b"\x09", "unknown mode"),
        (10, b"\x00\x00\x00\x00", "width 0"),
        (14, struct.pack(">I", container.MAX_DIMENSION + 1), "height"),
        (18, b"\x00\x08", "tile size 8"),
        (20, b"\x07", "precision"),  # a precision without a model
    ],
)
def test_hostile_fields_are_refused(offset, value, match):
    data = _file(_header())
    data = fix_header_crc(data[:offset] + value + data[offset + len(value):])
    with pytest.raises(FormatError, match=match):
        container.parse(data)


def test_bomb_header_refused_before_allocation():
    """A valid-CRC header claiming 10^6 x 10^6 pixels: LimitError, without allocating anything large."""
    data = bytearray(_file(_header()))
    struct.pack_into(">IIH", data, 10, 10**6, 10**6, 4096)
    data = fix_header_crc(data)
    tracemalloc.start()
    with pytest.raises(LimitError, match="exceeds the limit"):
        container.parse(data)
    assert tracemalloc.get_traced_memory()[1] < 1 << 20
    tracemalloc.stop()
    # The opt-in override gets past the limit, to the (missing) tile table.
    with pytest.raises(FormatError, match="truncated"):
        container.parse(data, max_pixels=None)
    with pytest.raises(LimitError):
        container.parse(_file(_header(width=100, height=100)), max_pixels=100 * 99)


def test_tile_count_limit():
    data = bytearray(_file(_header()))
    struct.pack_into(">IIH", data, 10, 2**20, 2**20, 16)  # 2^32 tiles
    with pytest.raises(LimitError, match="tiles"):
        container.parse(fix_header_crc(data), max_pixels=None)


def test_learned_tiles_need_a_model_and_methods_are_known():
    with pytest.raises(FormatError, match="no model"):
        container.parse(_file(_header(methods=(1,) * 6)))
    with pytest.raises(FormatError, match="unknown coding method"):
        container.parse(_file(_header(methods=(9,) * 6)))


def test_palette_rules():
    with pytest.raises(FormatError, match="needs a palette"):
        container.parse(_file(_header(mode="P")))
    with pytest.raises(FormatError, match="cannot have a palette"):
        container.parse(_file(_header(mode="L", palette_mode="RGB", palette=b"\x00\x00\x00")))
    with pytest.raises(FormatError, match="transparency"):
        container.pack(_header(mode="RGB", transparency=5), [b""] * 6)


def test_pixel_checksum_is_canonical():
    bits = np.array([[True, False, True]])
    pillow_style = np.array([[255, 0, 255]], np.uint8).view(bool)  # Pillow's mode-1 arrays hold 255
    assert container.pixel_checksum(bits) == container.pixel_checksum(pillow_style)
    wide = np.array([[1, 256]], np.uint16)
    assert container.pixel_checksum(wide) == container.pixel_checksum(wide.astype(">u2"))
    assert container.pixel_checksum(wide) != container.pixel_checksum(wide.byteswap())


def test_header_properties():
    h, _ = container.parse(_file(_header(methods=(CONSTANT, DEFLATE) * 3)))
    assert h.tiles == (2, 3) and h.channels == 3
    assert h.method_counts == {"constant": 3, "deflate": 3}
    assert h.bpsp == pytest.approx(8 * h.file_size / (40 * 20 * 3))
