"""An image file's metadata beyond its pixels: ICC profile, EXIF, XMP, text, resolution, gamma, chromaticities and
sRGB intent. Read from Pillow's view of a PNG, TIFF or WebP file into the container's typed blocks (FORMAT.md
section 3), and back into Pillow's `info` and into the arguments that write them to PNG, TIFF or WebP. A PNG file's
other ancillary chunks (bKGD, sBIT, tIME, zTXt, compressed iTXt, the iCCP chunk with its profile's name...) are kept
as they are, as "chunk" blocks (the PNG writer puts them back); a TIFF's text tags as "tag" blocks."""

import struct
import zlib

from PIL import PngImagePlugin

from lcodec.errors import InvalidInputError

XMP_KEY = "XML:com.adobe.xmp"  # PNG carries XMP in an iTXt chunk of this keyword
_TEXT_FORMATS = (None, "PNG")  # images whose str entries of `info` are text chunks (Pillow's own, or the caller's)
_NOT_TEXT = {XMP_KEY, "icc_profile", "exif", "xmp", "dpi", "gamma", "chromaticity", "srgb", "transparency"}
_DPI = struct.Struct(">dd")
_U32 = struct.Struct(">I")
_CHRM = struct.Struct(">8I")
_SCALE = 100000  # gAMA and cHRM store their values times 100000


def _str_block(*parts):
    return b"".join(_U32.pack(len(b)) + b for b in (p.encode("utf-8") for p in parts))


def _str_parts(data, n):
    parts, pos = [], 0
    for _ in range(n):
        (length,) = _U32.unpack_from(data, pos)
        parts.append(bytes(data[pos + 4:pos + 4 + length]).decode("utf-8"))
        pos += 4 + length
    if pos != len(data):
        raise ValueError("text block has trailing bytes")
    return parts


# PNG chunks the typed blocks (or the pixels, palette and frames) hold; any other ancillary chunk is kept whole
TYPED_CHUNKS = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"acTL", b"fcTL", b"fdAT", b"gAMA", b"cHRM", b"sRGB",
                b"eXIf", b"tEXt"}


def from_image(image, chunks=None):
    """((kind, bytes), ...) of a Pillow image's metadata, in a fixed order; of a PNG file whose chunks ((type, data),
    ...) are given, its other ancillary chunks as "chunk" blocks in their order. InvalidInputError for an entry the
    blocks cannot hold (a gamma or chromaticity out of range, a resolution that is not a number)."""
    try:
        if chunks is None:
            return _blocks(image)
        kept = [(kind, bytes(data)) for kind, data in chunks if kind[:1].islower() and not _typed(kind, data)]
        typed = _blocks(image, skip_icc=any(kind == b"iCCP" for kind, _ in kept),
                        skip_text={_keyword(data) for kind, data in kept if kind in (b"zTXt", b"iTXt")})
        return typed + tuple(("chunk", kind + data) for kind, data in kept)
    except (struct.error, ValueError, TypeError, OverflowError) as exc:
        raise InvalidInputError(f"the image's metadata cannot be stored ({exc}); metadata=False / --strip drops "
                                "it") from None


def _typed(kind, data):
    """Whether a PNG chunk is held by a typed block: those of TYPED_CHUNKS, uncompressed iTXt, pHYs in inches."""
    if kind in TYPED_CHUNKS:
        return True
    if kind == b"iTXt":
        return data[data.find(b"\0") + 1 : data.find(b"\0") + 2] == b"\0"
    return kind == b"pHYs" and data[8:9] == b"\1"


def _keyword(data):
    return bytes(data[: data.find(b"\0")]).decode("latin-1")


def _blocks(image, skip_icc=False, skip_text=()):
    info = image.info
    blocks = []
    for kind, key in (("icc", "icc_profile"), ("exif", "exif"), ("xmp", "xmp")):
        if kind == "icc" and skip_icc:
            continue
        value = info.get(key)
        if isinstance(value, str):
            value = value.encode("utf-8")
        if isinstance(value, (bytes, bytearray)) and value:
            blocks.append((kind, bytes(value)))
    if "xmp" not in info and isinstance(info.get(XMP_KEY), str) and XMP_KEY not in skip_text:
        blocks.append(("xmp", info[XMP_KEY].encode("utf-8")))
    text = getattr(image, "text", None) if image.format == "PNG" else None
    if text is None and image.format in _TEXT_FORMATS:
        text = {k: v for k, v in info.items() if isinstance(v, str) and isinstance(k, str)}
    for key, value in (text or {}).items():
        if key in _NOT_TEXT or key in skip_text:
            continue
        if isinstance(value, PngImagePlugin.iTXt):
            blocks.append(("text", b"\x01" + _str_block(key, value.lang or "", value.tkey or "", str(value))))
        else:
            blocks.append(("text", b"\x00" + _str_block(key, "", "", str(value))))
    dpi = info.get("dpi")
    if isinstance(dpi, tuple) and len(dpi) == 2:
        blocks.append(("dpi", _DPI.pack(*(float(v) for v in dpi))))
    if isinstance(info.get("gamma"), (int, float)):
        blocks.append(("gamma", _U32.pack(round(info["gamma"] * _SCALE))))
    chrm = info.get("chromaticity")
    if isinstance(chrm, tuple) and len(chrm) == 8:
        blocks.append(("chromaticity", _CHRM.pack(*(round(v * _SCALE) for v in chrm))))
    if isinstance(info.get("srgb"), int) and 0 <= info["srgb"] <= 255:
        blocks.append(("srgb", bytes([info["srgb"]])))
    return tuple(blocks)


def to_info(blocks):
    """Pillow `info` entries of the blocks, as Pillow names them when it reads a PNG (text by its keyword, that of
    kept zTXt and iTXt chunks too; the profile of a kept iCCP chunk as icc_profile)."""
    info = _typed_info(blocks)
    for kind, data in blocks:
        if kind != "chunk":
            continue
        try:
            info.update(_chunk_info(data[:4], data[4:]))
        except (ValueError, IndexError, UnicodeDecodeError, zlib.error):
            continue  # a chunk this build cannot read stays out of info; it is still written back
    return info


def _chunk_info(kind, data):
    """The info entries Pillow gives for a kept chunk: iCCP's profile, zTXt's and compressed iTXt's text."""
    key, rest = data.split(b"\0", 1)
    if kind == b"iCCP":
        return {"icc_profile": zlib.decompress(rest[1:])}
    if kind == b"zTXt":
        return {key.decode("latin-1"): zlib.decompress(rest[1:]).decode("latin-1")}
    if kind == b"iTXt":
        lang, tkey, text = rest[2:].split(b"\0", 2)
        return {key.decode("latin-1"): PngImagePlugin.iTXt(zlib.decompress(text).decode("utf-8"),
                                                           lang.decode("latin-1"), tkey.decode("utf-8"))}
    return {}


def chunks(blocks):
    """The (type, data) of the kept PNG chunks among the blocks, in order."""
    return [(data[:4], data[4:]) for kind, data in blocks if kind == "chunk" and len(data) >= 4]


def _typed_info(blocks):
    info = {}
    for kind, data in blocks:
        try:
            if kind in ("icc", "exif", "xmp"):
                info[{"icc": "icc_profile"}.get(kind, kind)] = data
            elif kind == "text":
                key, lang, tkey, value = _str_parts(data[1:], 4)
                info[key] = PngImagePlugin.iTXt(value, lang, tkey) if data[:1] == b"\x01" else value
            elif kind == "dpi":
                info["dpi"] = _DPI.unpack(data)
            elif kind == "gamma":
                info["gamma"] = _U32.unpack(data)[0] / _SCALE
            elif kind == "chromaticity":
                info["chromaticity"] = tuple(v / _SCALE for v in _CHRM.unpack(data))
            elif kind == "srgb":
                info["srgb"] = data[0]
        except (struct.error, ValueError, IndexError, UnicodeDecodeError):
            continue  # a block this build cannot read is left out of info; the pixels are not affected
    return info


def save_arguments(blocks, fmt):
    """Keyword arguments of Image.save that write the blocks into a file of Pillow format `fmt` (PNG: all of them;
    TIFF: ICC, EXIF, XMP, resolution; WebP: ICC, EXIF, XMP; other formats hold none). The kept PNG chunks are not
    among them: the PNG writer puts them back itself (formats.png), other formats get a kept iCCP's profile."""
    info = _typed_info(blocks)
    if fmt != "PNG" and "icc_profile" in (kept := to_info(blocks)):
        info["icc_profile"] = kept["icc_profile"]
    args = {k: info[k] for k in ("icc_profile", "exif") if k in info and fmt in ("PNG", "TIFF", "WEBP")}
    if fmt == "WEBP":
        args["lossless"] = True  # Pillow's WebP default is lossy
    if "dpi" in info and fmt in ("PNG", "TIFF"):
        args["dpi"] = info["dpi"]
    if fmt == "TIFF" and "xmp" in info:
        args["tiffinfo"] = {700: info["xmp"]}
    elif fmt == "WEBP" and "xmp" in info:
        args["xmp"] = info["xmp"]
    elif fmt == "PNG":
        png = PngImagePlugin.PngInfo()
        if "xmp" in info:
            png.add_itxt(XMP_KEY, info["xmp"].decode("utf-8", "replace"))
        for kind, data in blocks:
            if kind == "gamma":
                png.add(b"gAMA", data)
            elif kind == "chromaticity":
                png.add(b"cHRM", data)
            elif kind == "srgb":
                png.add(b"sRGB", data)
        for key, value in info.items():
            if isinstance(value, PngImagePlugin.iTXt):
                png.add_itxt(key, str(value), value.lang, value.tkey)
            elif isinstance(value, str):
                try:
                    png.add_text(key, value.encode("latin-1").decode("latin-1"))
                except UnicodeEncodeError:  # tEXt is Latin-1: other text goes as iTXt
                    png.add_itxt(key, value)
        args["pnginfo"] = png
    return args
