"""Metadata kept byte for byte: ICC profile, EXIF, XMP, text chunks, resolution, gamma, chromaticities and sRGB intent
from real PNG, TIFF and WebP files, through the API, the Pillow plugin and decoding to files; dropped on request;
hostile metadata blocks; lossy inputs refused unless allowed."""

import struct
import zlib

import numpy as np
import pytest
from lcd_images import fix_header_crc, photo
from PIL import Image, ImageCms, PngImagePlugin

import lcodec
from lcodec import api, container, metadata
from lcodec.formats import png
from lcodec.errors import FormatError, LossyInputError

XMP = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:format="image/png"/></rdf:RDF></x:xmpmeta>')


ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()  # once: it holds its creation time


def exif():
    e = Image.Exif()
    e[0x0112] = 6  # orientation: rotate 90 CW to display
    e[0x0132] = "2026:12:01 10:00:00"
    e[0x010F] = "lcodec test camera"
    return e.tobytes()


@pytest.fixture
def png_with_everything(shared_data, tmp_path):
    """A real photo crop written by Pillow as PNG with every kind of metadata."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Title", "Kodak crop")
    info.add_text("Comment", "a zTXt chunk " * 20, zip=True)
    info.add_itxt("Description", "une photo ✓", lang="fr", tkey="Beschreibung")
    info.add_itxt("XML:com.adobe.xmp", XMP)
    info.add(b"gAMA", struct.pack(">I", 45455))
    info.add(b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000))
    path = tmp_path / "meta.png"
    photo(shared_data, 40, 56).save(path, icc_profile=ICC, exif=exif(), pnginfo=info, dpi=(300, 300))
    return path


def opened(path):
    im = Image.open(path)
    im.load()
    return im


PNG_KEYS = ("icc_profile", "exif", "xmp", "dpi", "gamma", "chromaticity", "Title", "Comment", "Description")


def test_png_metadata_survives_byte_for_byte(png_with_everything, tmp_path):
    src = opened(png_with_everything)
    data = lcodec.compress(png_with_everything)
    header = lcodec.read_header(data)
    assert header.version == 4  # its kept iCCP and zTXt chunks are version 4's blocks
    assert [k for k, _ in header.metadata] == ["exif", "xmp", "text", "text", "dpi", "gamma", "chromaticity",
                                              "chunk", "chunk"]
    kept = metadata.chunks(header.metadata)  # the iCCP chunk with its profile's name, zTXt still compressed
    assert kept == [(k, bytes(d)) for k, d in png.chunks(png_with_everything.read_bytes()) if k in (b"iCCP", b"zTXt")]
    assert dict(header.metadata)["exif"] == src.info["exif"]
    back = api.decompress_image(data)
    for key in PNG_KEYS:
        assert back.info[key] == src.info[key], key
    assert back.info["Description"].lang == "fr" and back.info["Description"].tkey == "Beschreibung"
    api.decompress_to_path(data, tmp_path / "out.png")
    out = opened(tmp_path / "out.png")
    for key in PNG_KEYS:
        assert out.info[key] == src.info[key], key
    assert out.text == src.text
    assert metadata.chunks(lcodec.read_header(lcodec.compress(tmp_path / "out.png")).metadata) == kept
    assert np.array_equal(np.asarray(out), np.asarray(src))
    assert lcodec.compress(tmp_path / "out.png") == data  # the decoded file codes to the same bytes: nothing lost or added


def test_tiff_and_webp_inputs_keep_theirs(shared_data, tmp_path):
    rgb = photo(shared_data, 24, 32)
    rgb.save(tmp_path / "in.tif", icc_profile=ICC, dpi=(300, 300), tiffinfo={700: XMP.encode()})
    rgb.save(tmp_path / "in.webp", icc_profile=ICC, exif=exif(), xmp=XMP.encode(), lossless=True)
    for name, keys in (("in.tif", ("icc_profile", "xmp", "dpi")), ("in.webp", ("icc_profile", "exif", "xmp"))):
        src = opened(tmp_path / name)
        data = lcodec.compress(tmp_path / name)
        out = tmp_path / ("out" + name[2:])
        api.decompress_to_path(data, out)
        back = opened(out)
        for key in keys:
            assert back.info[key] == src.info[key], (name, key)
        assert np.array_equal(np.asarray(back), np.asarray(src))
    tif = lcodec.compress(tmp_path / "in.tif")
    api.decompress_to_path(tif, tmp_path / "tif.png")  # into PNG: ICC, XMP and (as PNG stores it) resolution
    png = opened(tmp_path / "tif.png")
    assert png.info["icc_profile"] == ICC and png.info["xmp"] == XMP.encode()
    assert png.info["dpi"] == pytest.approx((300, 300), abs=0.01)


def test_metadata_false_drops_it_and_arrays_have_none(png_with_everything, shared_data):
    stripped = lcodec.compress(png_with_everything, metadata=False)
    assert lcodec.read_header(stripped).metadata == () and lcodec.read_header(stripped).version == 3
    assert not set(PNG_KEYS) & set(api.decompress_image(stripped).info)
    pixels = np.asarray(opened(png_with_everything))
    assert lcodec.compress(pixels) == stripped  # the same pixels, no metadata: the same bytes


def test_pillow_plugin_reads_and_writes_metadata(png_with_everything, tmp_path):
    import lcodec.pil_plugin  # noqa: F401

    src = opened(png_with_everything)
    src.save(tmp_path / "a.lcd")
    with Image.open(tmp_path / "a.lcd") as im:
        for key in PNG_KEYS:
            assert im.info[key] == src.info[key], key
    other = ICC[:-4] + b"test"
    src.save(tmp_path / "b.lcd", icc_profile=other, exif=b"MM\x00*\x00\x00\x00\x08\x00\x00")
    meta = dict(lcodec.read_header(tmp_path / "b.lcd").metadata)
    assert meta["icc"] == other and meta["exif"] == b"MM\x00*\x00\x00\x00\x08\x00\x00"
    src.save(tmp_path / "c.lcd", metadata=False)
    assert lcodec.read_header(tmp_path / "c.lcd").metadata == ()


def test_a_jpeg_needs_allow_lossy(shared_data, tmp_path):
    photo(shared_data, 64, 64).save(tmp_path / "in.jpg", quality=90)
    with pytest.raises(LossyInputError, match="JPEG.*allow"):
        lcodec.compress(tmp_path / "in.jpg")
    data = lcodec.compress(tmp_path / "in.jpg", allow_lossy=True)
    assert np.array_equal(lcodec.decompress(data), np.asarray(opened(tmp_path / "in.jpg")))


def _with_blocks(shared_data):
    image = photo(shared_data, 16, 16)
    image.info["icc_profile"] = b"\x01" * 300
    return api.Compressor(learned=False).compress(image)


def test_hostile_metadata_blocks_are_format_errors(shared_data):
    data = _with_blocks(shared_data)
    header = lcodec.read_header(data)
    dir_pos = 22 + 32 + 2 + 0 + 32  # no model, no palette: the block directory follows the pixel checksum
    assert data[dir_pos] == 1 and data[dir_pos + 1] == container.BLOCK_CODES["icc"]
    crc_pos = dir_pos + 1 + 5
    start = crc_pos + 4

    def damaged(change):
        d = bytearray(data)
        change(d)
        return fix_header_crc(bytes(d))

    def length(n):
        return lambda d: struct.pack_into(">I", d, dir_pos + 2, n)

    with pytest.raises(FormatError, match="metadata CRC"):  # a flipped byte in a block
        container.parse(data[:start + 5] + bytes([data[start + 5] ^ 1]) + data[start + 6:])
    with pytest.raises(FormatError, match="truncated lcodec metadata"):  # a block longer than the file: no copy
        container.parse(damaged(length(container.MAX_BLOCK)))
    with pytest.raises(FormatError, match="oversized"):
        container.parse(damaged(length(container.MAX_BLOCK + 1)))
    with pytest.raises(FormatError, match="unknown"):
        container.parse(damaged(lambda d: d.__setitem__(dir_pos + 1, 99)))
    with pytest.raises(FormatError, match="at most"):
        container.parse(damaged(lambda d: d.__setitem__(dir_pos, container.MAX_BLOCKS + 1)))
    assert header.metadata == (("icc", b"\x01" * 300),)
    assert zlib.crc32(data[start:start + 300]) == struct.unpack_from(">I", data, start + 300)[0]


def test_files_without_metadata_have_an_empty_directory(shared_data):
    image = photo(shared_data, 16, 16)
    plain = api.Compressor(learned=False).compress(image)
    assert lcodec.read_header(plain).version == 3 and lcodec.read_header(plain).metadata == ()
    assert plain[22 + 32 + 2 + 32] == 0  # no blocks: the count, and an empty block section (its CRC) after the header
    assert api.Compressor(learned=False).compress(np.asarray(image)) == plain


@pytest.mark.parametrize("entry", [{"gamma": 1e9}, {"chromaticity": (-1.0,) * 8}, {"dpi": ("x", "y")}])
def test_metadata_that_cannot_be_stored_is_a_clean_error(shared_data, entry):
    image = photo(shared_data, 8, 8)
    image.info.update(entry)
    with pytest.raises(lcodec.InvalidInputError, match="metadata cannot be stored.*strip"):
        lcodec.compress(image)
    assert lcodec.decompress(lcodec.compress(image, metadata=False)).shape == (8, 8, 3)


def _chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_ancillary_chunks_come_back_as_they_were(tmp_path, dtype):
    """bKGD, sBIT, tIME, zTXt, a named iCCP, pHYs of unknown unit and a private chunk: the same chunks, byte for byte,
    in a decoded PNG of 8 or 16 bits (written by Pillow or libpng)."""
    import imagecodecs

    pixels = np.random.default_rng(9).integers(0, np.iinfo(dtype).max, (12, 15, 3)).astype(dtype)
    bits = np.iinfo(dtype).bits
    early = [(b"iCCP", b"My profile\0\0" + zlib.compress(ICC)), (b"sBIT", bytes([bits - 2] * 3))]
    late = [(b"bKGD", struct.pack(">3H", 1, 2, 3)), (b"tIME", struct.pack(">HBBBBB", 2026, 12, 3, 10, 0, 0)),
            (b"zTXt", b"Comment\0\0" + zlib.compress(b"kept " * 20)), (b"pHYs", struct.pack(">IIB", 3, 4, 0)),
            (b"prVt", b"private")]
    base = imagecodecs.png_encode(pixels)
    idat = base.index(b"IDAT") - 4
    src = base[:33] + b"".join(_chunk(*c) for c in early) + base[33:idat] + b"".join(_chunk(*c) for c in late) \
        + base[idat:]
    (tmp_path / "in.png").write_bytes(src)
    data = lcodec.compress(tmp_path / "in.png", effort=1)
    api.decompress_to_path(data, tmp_path / "out.png")
    out = (tmp_path / "out.png").read_bytes()

    def ancillary(png_bytes):
        return sorted((k, bytes(d)) for k, d in png.chunks(png_bytes) if k not in (b"IHDR", b"IDAT", b"IEND"))

    assert ancillary(out) == ancillary(src)
    assert np.array_equal(imagecodecs.png_decode(out), pixels)
    assert metadata.to_info(lcodec.read_header(data).metadata)["icc_profile"] == ICC  # the kept iCCP's profile


def test_tiff_text_tags_come_back(tmp_path):
    import tifffile

    tags = {"description": "a description", "software": "a program", "datetime": "2026:12:03 10:00:00"}
    tifffile.imwrite(tmp_path / "in.tif", np.arange(60, dtype=np.uint16).reshape(6, 10), metadata=None,
                     extratags=[(315, "s", 0, "an artist", True), (33432, "s", 0, "(c) nobody", True)], **tags)
    api.decompress_to_path(lcodec.compress(tmp_path / "in.tif"), tmp_path / "out.tif")

    def text(path):
        with tifffile.TiffFile(path) as tif:
            return {code: tif.pages[0].tags[code].value for code in (270, 305, 306, 315, 33432)}

    assert text(tmp_path / "out.tif") == text(tmp_path / "in.tif") == {
        270: "a description", 305: "a program", 306: "2026:12:03 10:00:00", 315: "an artist", 33432: "(c) nobody"}
