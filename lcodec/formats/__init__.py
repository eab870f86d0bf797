"""Image files in and out, every sample at its full depth: the input layer lcodec codes from and the output layer it
decodes to. A file is read into a `Picture` (its frames, each a `Frame`: samples, mode, palette, metadata) by the
reader of its format, recognised from its first bytes, not its name; what a reader cannot give exactly is refused
with an LcodecError naming why. Writing goes back through the same readers: a written file is read again and
compared sample by sample before it takes its name, so a format that cannot hold an image is refused, never lossy.

Readers: PNG (`png`), TIFF (`tiff`, tifffile), PNM (`pnm`), JPEG 2000 and AVIF (`codecs`, imagecodecs), and the
8-bit formats Pillow reads exactly (`pillow`: GIF, WebP, ICO, BMP, ...).
"""

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lcodec.errors import InvalidInputError, LimitError


@dataclass
class Frame:
    """One image: samples as the file holds them ((H, W) or (H, W, C); bool, uint8, uint16, int8 or int16), the
    container mode that stores them, and what a file carries beside them."""

    pixels: np.ndarray
    mode: str
    palette_mode: str | None = None  # "RGB" or "RGBA" for mode P
    palette: bytes | None = None
    transparency: int | tuple | bytes | None = None
    metadata: tuple = ()  # ((kind, bytes), ...): container metadata blocks


@dataclass
class Picture:
    """What a file holds: one frame, or several (pages, animation frames, icon sizes) with their timing."""

    frames: list
    format: str | None = None  # Pillow's name of the file's format: PNG, TIFF, PPM, GIF, WEBP, ICO...
    durations: tuple = ()      # ms per frame, where the format has them
    disposals: tuple = ()
    blends: tuple = ()
    loop: int = 0
    extra: dict = field(default_factory=dict)  # what one format's writer needs of its reader (APNG's hidden frame)


def check_size(width, height, frames=1):
    """LimitError before decoding an image over Pillow's decompression-bomb limit (twice Image.MAX_IMAGE_PIXELS, where
    Pillow itself refuses), so that no reader allocates for a hostile header."""
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    if limit and width * height * frames > 2 * limit:
        raise LimitError(f"an image of {frames} x {width}x{height} pixels exceeds the limit of {2 * limit} pixels "
                         "(PIL.Image.MAX_IMAGE_PIXELS, which raises it)")


def _readers():
    from lcodec.formats import jp2_avif, pillow, png, pnm, tiff

    return (png, tiff, pnm, jp2_avif, pillow)  # the first whose accepts() takes the file's first bytes; pillow: any


def read(source, name=None, *, metadata=True, allow_lossy=False):
    """The Picture of an image file: a path, bytes, or a binary file object (named `name` in messages)."""
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        data = Path(source).read_bytes()
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        data = source.read()
    where = f"{name}: " if name else ""
    for reader in _readers():
        if reader.accepts(data[:64]):
            try:
                return reader.read(data, metadata=metadata, allow_lossy=allow_lossy)
            except InvalidInputError as exc:
                raise type(exc)(f"{where}{exc}") from None
    raise AssertionError("the Pillow reader accepts any file")


WRITABLE = {".png": "PNG", ".apng": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".ppm": "PPM", ".pgm": "PPM",
            ".pbm": "PPM", ".pnm": "PPM", ".bmp": "BMP", ".gif": "GIF", ".webp": "WEBP", ".ico": "ICO"}


IMAGE_SUFFIXES = set(WRITABLE) | {".jp2", ".j2k", ".jpx", ".avif"}  # taken from directories, with Pillow's


def output_format(path):
    """The format a decoded image is written in, from the file name's extension; InvalidInputError for one lcodec
    does not write."""
    fmt = WRITABLE.get(Path(path).suffix.lower())
    if fmt is None:
        raise InvalidInputError(f"lcodec does not write {Path(path).suffix or 'extensionless'} files "
                                f"(use {', '.join(sorted(set(WRITABLE)))})")
    return fmt


def encode(picture, fmt):
    """The bytes of `picture` as a file of format `fmt`, checked by reading them back: InvalidInputError naming the
    formats that can hold it where `fmt` cannot hold every sample, frame and palette entry."""
    from lcodec.formats import pillow, png, pnm, tiff

    writer = {"PNG": png, "TIFF": tiff, "PPM": pnm}.get(fmt, pillow)
    try:
        data = writer.write(picture, fmt)
        back = read(data, allow_lossy=True, metadata=False)
    except MemoryError:
        raise
    except Exception:  # the writers' (Pillow's, tifffile's, libpng's) refusals of what their format cannot hold
        data = back = None
    if back is None or not same(picture, back):
        raise InvalidInputError(f"{fmt} cannot hold {describe(picture)} exactly (use {can_hold(picture)})")
    return data


def describe(picture):
    """'this RGB;16 image' / 'these 3 frames of mode P' in messages."""
    modes = sorted({f.mode for f in picture.frames})
    if len(picture.frames) == 1:
        return f"this {modes[0]} image"
    return f"these {len(picture.frames)} frames of mode {', '.join(modes)}"


def can_hold(picture):
    """The writable formats that hold every sample of every frame of the picture, as extensions."""
    modes = {f.mode for f in picture.frames}
    png = all(m in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16") or re.fullmatch(r"(L|RGB)A?;\d+", m) for m in modes)
    return " or ".join([".png"] * png + [".tiff"])


def same(a, b):
    """Whether two pictures hold the same frames: count, shape, dtype, every sample, and the colours of palette
    indices."""
    if len(a.frames) != len(b.frames):
        return False
    return all(_same_frame(x, y) for x, y in zip(a.frames, b.frames))


def _same_frame(x, y):
    if x.pixels.dtype != y.pixels.dtype or x.pixels.shape != y.pixels.shape:
        return False
    if not np.array_equal(x.pixels, y.pixels):
        return False
    if (x.mode == "P") != (y.mode == "P"):
        return False
    return x.mode != "P" or _rgba_palette(x) == _rgba_palette(y)


def _rgba_palette(frame):
    """The palette's used entries as RGBA, transparency applied: what a viewer shows for each index."""
    p = np.frombuffer(frame.palette or b"", np.uint8).reshape(-1, len(frame.palette_mode or "RGB"))
    used = int(frame.pixels.max()) + 1 if frame.pixels.size else 0
    rgba = np.full((used, 4), 255, np.uint8)
    rgba[: min(used, len(p)), : p.shape[1]] = p[:used]
    if rgba.shape[0] and p.shape[1] == 3:
        rgba[min(used, len(p)):, :3] = 0
    t = frame.transparency
    if isinstance(t, bytes):
        rgba[: min(used, len(t)), 3] = np.frombuffer(t, np.uint8)[:used]
    elif isinstance(t, int) and t < used:
        rgba[t, 3] = 0
    return rgba.tobytes()


def check_declared(data, picture):
    """Whether the picture has the frames, channels and bits per sample that the file's own header states, read
    independently of the reader that made the picture (PNG, TIFF and PNM; of GIF, WebP and ICO the count of images;
    other formats pass): a message, else None."""
    from lcodec.formats import pillow, png, pnm, tiff

    module = next((m for m in (png, tiff, pnm) if m.accepts(data[:64])), pillow)
    stated = module.declared(data)
    if stated is None:
        return None if module is pillow else "its header could not be read independently"
    frames, channels, bits = stated
    first = picture.frames[0].pixels
    got = (len(picture.frames), 1 if first.ndim == 2 else first.shape[2], first.dtype.itemsize * 8)
    if channels is None:  # a count of images alone (GIF, WebP, ICO)
        if got[0] != frames:
            return f"its header states {frames} image(s), the reading gave {got[0]}"
        return None
    want_bits = 16 if bits > 8 else 8
    if got != (frames, channels, want_bits) and not (bits == 1 and got == (frames, channels, 8)):
        return (f"its header states {frames} frame(s) of {channels} channel(s) at {bits} bits, the reading gave "
                f"{got[0]} of {got[1]} at {got[2]}")
    return None
