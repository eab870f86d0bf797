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
    groups = len(container.mode_by_name(fields["mode"]).groups)
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
        (lambda d: d[:8] + b"\x06" + d[9:], UnsupportedVersionError, "version 6"),
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


def test_named_modes():
    """Version 4's named modes: groups, storage and sample bits, signedness; the name after the fixed header."""
    m = container.mode_by_name("RGBXX;12S")
    assert (m.code, m.groups, m.sample_bits, m.signed, m.array_dtype) == (
        container.GENERIC, ((3, 16), (1, 16), (1, 16)), 12, True, np.dtype(np.int16))
    assert container.mode_by_name("RGB;8").name == "RGB" and container.mode_by_name("L;16").name == "I;16"
    assert container.mode_by_name("RGB;8").learned_group and container.mode_by_name("RGBX;8").learned_group
    assert not container.mode_by_name("RGB;16").learned_group and not container.mode_by_name("L;8S").learned_group
    for bad in ("RGB;17", "RGB;1", "RGB;08", ";8", "Y;8", "L" + "X" * 64 + ";8", "RGB16"):
        with pytest.raises(FormatError):
            container.mode_by_name(bad)
    data = _file(_header(mode="LA;16"))
    assert data[8:10] == b"\x04\x08" and data[22:28] == b"\x05LA;16"
    assert container.parse(data)[0].mode == "LA;16"
    for name in (b"L;8", b"RGB;17", b"\xff;8"):  # a mode with a code of its own, or none, named: refused
        bad = bytearray(data[:22]) + bytes([len(name)]) + name + data[28:]
        with pytest.raises(FormatError, match="mode"):
            container.parse(fix_header_crc(bytes(bad)))


def test_version_4_block_kinds_need_version_4():
    data = _file(_header(metadata=(("chunk", b"tIME" + bytes(7)),)))
    assert data[8] == 4 and container.parse(data)[0].metadata == (("chunk", b"tIME" + bytes(7)),)
    as_v3 = fix_header_crc(data[:8] + b"\x03" + data[9:])
    with pytest.raises(FormatError, match="unknown or oversized metadata block"):
        container.parse(as_v3)


def _sequence(n=3, **kw):
    frames = [_file(_header(pixel_sha256=f"{i:02x}" * 32)) for i in range(n)]
    seq = container.Sequence((), durations=(100, 200, 300)[:n], loop=2, format="PNG", **kw)
    return container.pack_sequence(seq, frames), frames


def test_sequence_layout_and_round_trip():
    data, frames = _sequence()
    assert container.is_sequence(data) and not container.is_sequence(frames[0])
    assert data[8:10] == b"\x04\x00" and struct.unpack_from(">IIBB", data, 10) == (3, 2, 0, 3) and data[20:23] == b"PNG"
    assert struct.unpack_from(">IBBQ", data, 23 + 14) == (200, 0, 0, len(frames[1]))
    seq, views = container.parse_sequence(data)
    assert [bytes(v) for v in views] == frames and seq.durations == (100, 200, 300) and seq.loop == 2
    assert [h.pixel_sha256[:2] for h in seq.frames] == ["00", "01", "02"] and seq.format == "PNG"
    assert not seq.still_first and container.parse_sequence(_sequence(still_first=True)[0])[0].still_first
    import io

    header = container.read_header(io.BytesIO(data))
    assert header.sequence == seq and header.file_size == len(data) and header.version == 4


def test_sequence_damage_and_limits():
    data, frames = _sequence()
    for damaged, match in (
        (data[:-1], "truncated or padded"),
        (data + b"\0", "truncated or padded"),
        (data[:30], "truncated lcodec sequence header"),
        (data[:15] + b"\xff" + data[16:], "CRC mismatch"),
        (data[:18] + b"\x02" + data[19:], "bad sequence header \\(3 frames, flags 2"),
        (data[:10] + struct.pack(">I", 0) + data[14:], "bad sequence header \\(0 frames"),
    ):
        with pytest.raises(FormatError, match=match):
            container.parse_sequence(damaged)
    for version in (5, 99):
        with pytest.raises(UnsupportedVersionError, match=f"sequence format version {version}"):
            container.parse_sequence(data[:8] + bytes([version]) + data[9:])
    with pytest.raises(LimitError, match="frames' 2400\\+ pixels exceed the limit of 2000"):
        container.parse_sequence(data, max_pixels=2000)
    container.parse_sequence(data, max_pixels=2400)
    nested = container.pack_sequence(container.Sequence(()), [data])
    with pytest.raises(FormatError, match="a sequence of frames where one image was expected"):
        container.parse_sequence(nested)
    with pytest.raises(FormatError, match="where one image was expected"):
        container.parse(data)
