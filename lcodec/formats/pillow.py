"""The formats Pillow reads exactly: 8-bit PNG and the 8-bit formats (GIF, WebP, ICO, BMP, TGA, PCX, QOI...), every
frame of them; JPEG and lossy WebP are lossy sources. A format Pillow is not known to read exactly, or a mode it
gives that lcodec cannot store, is refused."""

import io
import struct

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from lcodec import metadata as _metadata
from lcodec.errors import InvalidInputError, LimitError, LossyInputError
from lcodec.formats import Frame, Picture, check_size

MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "I;16")  # Pillow modes lcodec stores as they are
NAMED = {"CMYK": "CMYK;8", "RGBa": "RGBa;8", "La": "La;8", "I;16B": "I;16", "I;16L": "I;16"}  # and as named modes
EXACT = {"PNG", "GIF", "WEBP", "ICO", "BMP", "DIB", "TGA", "PCX", "QOI", "SGI", "PPM", "IM", "XBM", "JPEG",
         "MPO"}  # formats whose samples Pillow gives as the file holds them (PNG and PPM: those lcodec sends it)
LOSSY = {"JPEG", "MPO"}


def accepts(head):
    return True


def read(data, *, metadata=True, allow_lossy=False, chunks=None):
    """The Picture of a file Pillow reads; `chunks`, a PNG's (type, data), keep its other ancillary chunks."""
    try:
        im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise LimitError(str(exc)) from None
    except UnidentifiedImageError:
        raise InvalidInputError("not an image file that lcodec can read") from None
    except MemoryError:
        raise
    except Exception as exc:  # a plugin that recognised the file failed on its header (the file is in memory)
        raise InvalidInputError(f"a damaged image file ({type(exc).__name__}: {exc})") from None
    with im:
        if im.format not in EXACT:
            raise InvalidInputError(f"lcodec does not read {im.format} files exactly (convert to PNG or TIFF)")
        if _lossy_webp(im.format, data) and not allow_lossy:
            raise _lossy(im.format)
        if im.format == "SGI" and data[3] != 1:
            raise InvalidInputError("lcodec does not read 16-bit SGI files exactly (convert to PNG or TIFF)")
        return picture(im, metadata=metadata, allow_lossy=allow_lossy, chunks=chunks)


def _lossy(fmt):
    return LossyInputError(f"the input is a lossy {fmt}: its pixels are already an approximation, and coding them "
                           "exactly makes the file several times larger (allow it with --allow-lossy-input / "
                           "allow_lossy=True)")


def picture(im, *, metadata=True, allow_lossy=False, chunks=None):
    """The Picture of an open Pillow image: every frame (every size of an icon), with its timing."""
    if im.format in LOSSY and not allow_lossy:
        raise _lossy(im.format)
    if im.format == "ICO":
        sizes = sorted(im.info.get("sizes", {im.size}))
        if len(im.ico.entry) != len(sizes):  # Pillow gives one image per size: the others would be lost
            raise InvalidInputError(f"an ICO with {len(im.ico.entry)} images of {len(sizes)} sizes (several images "
                                    "of one size are not supported)")
        return Picture([frame(_loaded(im.ico.getimage(size)), metadata) for size in sizes], "ICO")
    frames, timing, hidden = [], [], bool(im.info.get("default_image"))  # APNG: frame 0 is not animated
    for i, page in enumerate(ImageSequence.Iterator(im)):
        check_size(page.size[0], page.size[1], i + 1)  # all frames so far, before this one is decoded
        frames.append(frame(_loaded(page), metadata and i == 0, chunks))
        info = page.info
        timing.append((round(info.get("duration", 0) or 0), info.get("disposal", 0) or 0, info.get("blend", 0) or 0))
    if len(frames) > 1:
        im.seek(0)  # a caller's image is left at its first frame, as it was opened
    durations, disposals, blends = (tuple(t[k] for t in timing) for k in range(3))
    return Picture(frames, im.format, durations, disposals, blends, loop=int(im.info.get("loop", 0) or 0),
                   extra={"default_image": hidden})


def _loaded(im):
    try:
        im.load()
    except MemoryError:
        raise
    except Exception as exc:  # Pillow's decoders raise many types on damaged data
        raise InvalidInputError(f"a damaged {im.format} file ({type(exc).__name__}: {exc})") from None
    return im


def declared(data):
    """(frames, None, None) as a GIF, WebP or ICO file states its count of images, walked here without Pillow (None
    for another format, or a file this walk cannot follow)."""
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return _gif_images(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return (max(1, sum(1 for kind in _riff_kinds(data) if kind == b"ANMF")), None, None)
    if data[:4] == b"\0\0\1\0" and len(data) >= 6:
        return (struct.unpack_from("<H", data, 4)[0], None, None)
    return None


def _gif_images(data):
    pos = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)  # after the global colour table
    images = 0
    while pos < len(data):
        kind = data[pos]
        if kind == 0x3B:  # trailer
            return (images, None, None)
        if kind == 0x2C:  # an image: descriptor, local colour table, LZW code size, then data sub-blocks
            flags = data[pos + 9] if pos + 9 < len(data) else 0
            pos += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0) + 1
            images += 1
        elif kind == 0x21:  # an extension: its label, then sub-blocks
            pos += 2
        else:
            return None
        while pos < len(data) and data[pos]:
            pos += data[pos] + 1
        pos += 1
    return None


def _riff_kinds(data):
    """The kinds of a WebP's chunks, those inside animation frames (ANMF) too."""
    pos = 12
    while pos + 8 <= len(data):
        kind, size = struct.unpack_from("<4sI", data, pos)
        yield kind
        pos += 8 + 16 if kind == b"ANMF" else 8 + size + (size & 1)  # a frame: its header, then its chunks


def _lossy_webp(fmt, data):
    """Whether a WebP holds a lossy (VP8) bitstream, in any frame."""
    return fmt == "WEBP" and b"VP8 " in _riff_kinds(data)


def frame(im, metadata=True, chunks=None):
    """The Frame of a loaded Pillow image; InvalidInputError for a mode lcodec cannot store."""
    mode = im.mode if im.mode in MODES else NAMED.get(im.mode)
    if mode is None:
        raise InvalidInputError(f"image mode {im.mode!r} is not supported (supported: {', '.join(MODES)})")
    palette_mode = palette = None
    if im.mode == "P":
        palette_mode = im.palette.mode if im.palette and im.palette.mode == "RGBA" else "RGB"
        palette = bytes(im.getpalette(palette_mode) or [])
    pixels = np.asarray(im)
    if im.mode == "1":  # Pillow's bool arrays hold 255 for True
        pixels = pixels.view(np.uint8) != 0
    elif pixels.dtype.byteorder == ">":
        pixels = pixels.astype(pixels.dtype.newbyteorder("="))
    blocks = _metadata.from_image(im, chunks) if metadata else ()
    return Frame(pixels, mode, palette_mode, palette, _transparency(im), blocks)


def _transparency(image):
    """The PIL image's transparency if the format can store it for this mode, else None (ancillary)."""
    t = image.info.get("transparency")
    if image.mode == "P" and isinstance(t, bytes) and len(t) <= 256:
        return t
    if image.mode == "RGB" and isinstance(t, tuple) and len(t) == 3 and all(0 <= v < 65536 for v in t):
        return tuple(int(v) for v in t)
    if image.mode in ("1", "L", "P", "I;16") and isinstance(t, int) and 0 <= t < 65536:
        return int(t)
    return None


def image(frame):
    """The Pillow image of a frame of a Pillow mode, palette, transparency and metadata in its info."""
    h, w = frame.pixels.shape[:2]
    if frame.mode == "1":
        im = Image.frombytes("1", (w, h), np.packbits(frame.pixels, axis=1).tobytes())
    elif frame.mode == "I;16":
        im = Image.frombytes("I;16", (w, h), frame.pixels.astype("<u2").tobytes())
    elif frame.mode in MODES:
        im = Image.frombytes(frame.mode, (w, h), np.ascontiguousarray(frame.pixels).tobytes())
    else:
        pil = {v: k for k, v in NAMED.items() if not k.startswith("I;")}.get(frame.mode)
        if pil is None:
            raise InvalidInputError(f"mode {frame.mode} has no Pillow mode (use decompress for its samples)")
        im = Image.frombytes(pil, (w, h), np.ascontiguousarray(frame.pixels).tobytes())
    if frame.palette is not None:
        im.putpalette(frame.palette, rawmode=frame.palette_mode)
    if frame.transparency is not None:
        im.info["transparency"] = frame.transparency
    im.info.update(_metadata.to_info(frame.metadata))
    return im


def write(picture, fmt):
    """The picture as Pillow writes it in `fmt`, every frame (the caller checks it by reading it back)."""
    images = [image(f) for f in picture.frames]
    extra = _metadata.save_arguments(picture.frames[0].metadata, fmt)
    if fmt == "WEBP":
        extra["exact"] = True  # keep the colour of transparent pixels
    if len(images) > 1 and fmt == "ICO":
        extra.update(sizes=[im.size for im in images], append_images=images[:-1])
        images = images[-1:]
    elif len(images) > 1:
        extra.update(save_all=True, append_images=images[1:], loop=picture.loop)
        still = fmt == "PNG" and picture.extra.get("default_image", False)
        kept = {"PNG": ("duration", "disposal", "blend"), "GIF": ("duration", "disposal")}.get(fmt, ("duration",))
        for key, values in (("duration", picture.durations), ("disposal", picture.disposals),
                            ("blend", picture.blends)):
            if values and key in kept:
                extra[key] = list(values[still:])  # Pillow's lists are of the animated frames
        if fmt == "PNG":
            extra["default_image"] = still
    buf = io.BytesIO()
    try:
        images[0].save(buf, format=fmt, **extra)
    except (OSError, ValueError, KeyError, TypeError) as exc:  # Pillow refuses modes a format cannot hold
        raise InvalidInputError(f"{fmt}: {exc}") from None
    return buf.getvalue()
