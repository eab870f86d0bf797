"""TIFF, through tifffile: every page, 1- to 16-bit unsigned and 8/16-bit signed samples, any number of samples
per pixel (extra samples kept as channels, premultiplied alpha as stored), contiguous or planar, palette colour maps
at their 16 bits. Lossy compressions (JPEG and the like) are lossy sources; floating-point samples are refused."""

import io
import logging
import struct

import numpy as np

from lcodec import container
from lcodec.errors import InvalidInputError, LossyInputError
from lcodec.formats import Frame, Picture, check_size

LOSSLESS = {1, 2, 3, 4, 5, 8, 32773, 32946, 34925, 50000}  # none, CCITT, LZW, deflate, PackBits, LZMA, Zstandard
PHOTOMETRIC = {0: "L", 1: "L", 2: "RGB", 3: "P", 5: "CMYK"}  # miniswhite, minisblack, rgb, palette, separated
EXTRA = {0: "X", 1: "a", 2: "A"}  # ExtraSamples: unspecified, associated (premultiplied) alpha, unassociated alpha
TEXT_TAGS = {269: "DocumentName", 270: "ImageDescription", 271: "Make", 272: "Model", 285: "PageName",
             305: "Software", 306: "DateTime", 315: "Artist", 316: "HostComputer", 33432: "Copyright"}
# tifffile logs what it finds odd in a file; a failure is reported as one error line, so its warnings are not
# printed on their own (an application that configures logging still receives them)
logging.getLogger("tifffile").addHandler(logging.NullHandler())
_ARGUMENT_TAGS = {270: "description", 305: "software", 306: "datetime"}
MINISWHITE = 262  # a "tag" block of this code (one byte, 0) marks a gray image whose 0 is white
_TAG = struct.Struct(">H")


def accepts(head):
    return head[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")


def read(data, *, metadata=True, allow_lossy=False):
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            pages = list(tif.pages)
            check_size(sum(p.imagewidth * p.imagelength * p.samplesperpixel for p in pages), 1)
            return Picture([_frame(page, metadata, allow_lossy) for page in pages], "TIFF")
    except (InvalidInputError, MemoryError):
        raise
    except Exception as exc:  # tifffile's errors on damaged or unusual files
        raise InvalidInputError(f"a TIFF file lcodec cannot read ({type(exc).__name__}: {exc})") from None


def _frame(page, metadata, allow_lossy):
    if 330 in page.tags:  # images of their own that hang off this page, outside the chain of pages
        raise InvalidInputError("a TIFF with SubIFDs (pyramid levels, thumbnails) is not supported yet")
    compression = int(page.compression)
    if compression not in LOSSLESS and not allow_lossy:
        raise LossyInputError(f"the input is a TIFF with {page.compression.name} compression: its pixels may "
                              "already be an approximation (allow it with --allow-lossy-input / allow_lossy=True)")
    sampleformat, bits = int(page.sampleformat), page.bitspersample
    if sampleformat not in (1, 2) or bits > 16 or (sampleformat == 2 and bits not in (8, 16)):
        raise InvalidInputError(f"TIFF samples of {bits} bits, {page.sampleformat.name.lower()}, are not supported "
                                "(lcodec stores 1- to 16-bit integers)")
    colour = PHOTOMETRIC.get(int(page.photometric))
    if colour is None:
        raise InvalidInputError(f"TIFF photometric {page.photometric.name} is not supported")
    if set(page.axes) - set("YXS"):
        raise InvalidInputError(f"a TIFF page of axes {page.axes} (volumes and tiled depths are not supported)")
    pixels = page.asarray()
    if page.axes.startswith("S"):  # planar: samples first
        pixels = np.moveaxis(pixels, 0, -1)
    pixels = np.ascontiguousarray(pixels)
    extras = "".join(EXTRA.get(int(e), "X") for e in page.extrasamples)
    samples = 1 if pixels.ndim == 2 else pixels.shape[2]
    if colour == "CMYK" and samples - len(extras) != 4:
        colour = ""
        extras = "X" * samples
    blocks = _blocks(page) if metadata else ()
    if int(page.photometric) == 0:
        blocks += (("tag", _TAG.pack(MINISWHITE) + b"\0"),)
    if colour == "P":
        return _palette(page, pixels, blocks)
    if bits == 1 and samples == 1:
        return Frame(pixels.astype(bool), "1", metadata=blocks)
    name = f"{colour}{extras};{bits}{'S' if sampleformat == 2 else ''}"
    try:
        mode = container.mode_by_name(name)
    except container.FormatError:
        raise InvalidInputError(f"a TIFF page of {samples} samples of {bits} bits is not supported") from None
    if mode.channels != samples:
        raise InvalidInputError(f"a TIFF page of {samples} samples where its photometric says {mode.channels}")
    return Frame(pixels, mode.name, metadata=blocks)


def _palette(page, pixels, blocks):
    colormap = np.asarray(page.colormap, np.uint16)
    if pixels.dtype != np.uint8 or colormap.ndim != 2 or colormap.shape[0] != 3:
        raise InvalidInputError("a palette TIFF of more than 8-bit indices is not supported")
    rgb = (colormap[:, :256].T >> 8).astype(np.uint8)
    if not np.array_equal(colormap[:, :256].T, rgb.astype(np.uint16) * 257):
        blocks += (("colormap", colormap.astype(">u2").tobytes()),)
    return Frame(pixels, "P", "RGB", rgb.tobytes(), metadata=blocks)


def _blocks(page):
    """The page's ICC profile, XMP, resolution and text tags as metadata blocks."""
    tags, blocks = page.tags, []
    for code, kind in ((34675, "icc"), (700, "xmp")):
        if code in tags and isinstance(tags[code].value, (bytes, bytearray)):
            blocks.append((kind, bytes(tags[code].value)))
    if 282 in tags and 283 in tags and int(tags.get(296).value if 296 in tags else 2) == 2:
        dpi = tuple(_rational(tags[c].value) for c in (282, 283))
        if all(v is not None for v in dpi):
            blocks.append(("dpi", struct.pack(">dd", *dpi)))
    for code in TEXT_TAGS:
        if code in tags and isinstance(tags[code].value, str):
            blocks.append(("tag", _TAG.pack(code) + tags[code].value.encode("utf-8")))
    return tuple(blocks)


def _rational(value):
    if isinstance(value, tuple) and len(value) == 2 and value[1]:
        return value[0] / value[1]
    return None


def declared(data):
    """(pages, samples per pixel, bits per sample) of a classic TIFF's first page and its chain of IFDs, walked
    here without tifffile (None for BigTIFF, or a chain that loops)."""
    order = "<" if data[:2] == b"II" else ">"
    if data[2:4] != struct.pack(order + "H", 42):
        return None
    offset, pages, seen, first = struct.unpack_from(order + "I", data, 4)[0], 0, set(), None
    while offset and offset not in seen and offset + 2 <= len(data):
        seen.add(offset)
        (n,) = struct.unpack_from(order + "H", data, offset)
        if offset + 2 + 12 * n + 4 > len(data):
            return None
        entries = {}
        for i in range(n):
            tag, kind, count, value = struct.unpack_from(order + "HHII", data, offset + 2 + 12 * i)
            if kind == 3 and count <= 2:  # SHORT values sit in the entry's first bytes
                value = struct.unpack_from(order + "H", data, offset + 2 + 12 * i + 8)[0]
            entries[tag] = (kind, count, value)
        if first is None:
            spp = entries.get(277, (3, 1, 1))[2]
            bps = entries.get(258, (3, 1, 1))
            if bps[1] > 2:  # one BitsPerSample per sample, stored elsewhere: the first
                bps = (bps[0], bps[1], struct.unpack_from(order + "H", data, bps[2])[0])
            first = (spp, bps[2])
        pages += 1
        offset = struct.unpack_from(order + "I", data, offset + 2 + 12 * n)[0]
    return (pages, *first) if first and offset == 0 else None


def write(picture, fmt):
    import tifffile

    buf = io.BytesIO()
    with tifffile.TiffWriter(buf) as tif:
        for frame in picture.frames:
            tif.write(frame.pixels, **_arguments(frame))
    return buf.getvalue()


def _arguments(frame):
    """tifffile's write arguments for a frame: photometric, extra samples, colour map, packing, metadata tags."""
    tags = {}
    for kind, data in frame.metadata:
        if kind == "tag" and len(data) >= 2:
            tags[_TAG.unpack_from(data)[0]] = data[2:]
    args = {"metadata": None, "software": None, "compression": "zlib", "planarconfig": "contig"}
    mode = container.mode_by_name(frame.mode)
    if frame.mode == "P":
        args["photometric"] = "palette"
        cmap = dict(frame.metadata).get("colormap")
        rgb = np.frombuffer(frame.palette, np.uint8).reshape(-1, 3)[:256].astype(np.uint16) * 257
        full = np.zeros((256, 3), np.uint16)
        full[: len(rgb)] = rgb
        args["colormap"] = np.frombuffer(cmap, ">u2").reshape(3, -1) if cmap else full.T
    else:
        colour = frame.mode.split(";")[0].rstrip("AaX") if ";" in frame.mode else frame.mode.rstrip("A")
        colour = {"1": "L", "I": "L"}.get(colour, colour)
        white = tags.get(MINISWHITE) == b"\0"
        args["photometric"] = {"L": "miniswhite" if white else "minisblack", "RGB": "rgb", "CMYK": "separated",
                               "": "minisblack"}[colour]
        letters = frame.mode.split(";")[0][len(colour):] if ";" in frame.mode else frame.mode[len(colour):]
        if letters:
            args["extrasamples"] = [{"X": 0, "a": 1, "A": 2}[c] for c in letters]
        if colour == "" and frame.pixels.ndim == 3:
            args["extrasamples"] = [0] * (frame.pixels.shape[2] - 1)
        depth = mode.sample_bits
        if depth not in (1, 8, 16):  # packed, which tifffile writes uncompressed
            args.update(bitspersample=depth, compression=None)
    info = dict(frame.metadata)
    if "icc" in info:
        args["iccprofile"] = info["icc"]
    if "dpi" in info:
        args["resolution"] = struct.unpack(">dd", info["dpi"])
        args["resolutionunit"] = "inch"
    extratags = [(700, "B", len(info["xmp"]), info["xmp"], True)] if "xmp" in info else []
    for code, value in tags.items():
        if code in _ARGUMENT_TAGS:  # tags tifffile writes itself, from its arguments
            args[_ARGUMENT_TAGS[code]] = value.decode("utf-8")
        elif code in TEXT_TAGS:
            extratags.append((code, "s", 0, value.decode("utf-8"), True))
    args["extratags"] = extratags
    return args
