"""PNG and APNG. 16-bit colour (RGB, RGBA, gray+alpha), which Pillow cuts to 8 bits, is read and written with
libpng (imagecodecs); every other PNG through Pillow, which reads those exactly. The file's chunks are walked here
for what neither says: the depth and colour type, APNG's frame timing."""

import io
import struct
import zlib

from dataclasses import replace

import numpy as np
from PIL import Image

from lcodec import container
from lcodec import metadata as _metadata
from lcodec.errors import InvalidInputError
from lcodec.formats import Frame, Picture, check_size, pillow

SIGNATURE = b"\x89PNG\r\n\x1a\n"
PACKED = {"L;2", "L;4"}  # gray of fewer than 8 bits that PNG packs several to a byte (1-bit gray is mode 1)
DEEP_MODES = {2: "RGB;16", 4: "LA;16", 6: "RGBA;16", 0: "I;16"}  # colour type -> mode of 16-bit samples
_FCTL = struct.Struct(">IIIIIHHBB")


def accepts(head):
    return head.startswith(SIGNATURE)


def chunks(data):
    """(type, data) of every chunk, in order; a PNG cut short ends the walk (its decoder reports the damage)."""
    pos = len(SIGNATURE)
    while pos + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        yield kind, data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IEND":
            return


def read(data, *, metadata=True, allow_lossy=False):
    found = list(chunks(data))
    if not found or found[0][0] != b"IHDR" or len(found[0][1]) != 13:
        raise InvalidInputError("a damaged PNG file (no IHDR chunk)")
    depth, colour = found[0][1][8], found[0][1][9]
    animated = any(kind == b"acTL" for kind, _ in found)
    if depth in (2, 4) and colour == 0:  # Pillow scales 2- and 4-bit gray to 8 bits: back to the file's levels
        picture = pillow.read(data, metadata=metadata, allow_lossy=allow_lossy, chunks=found)
        step = 255 // ((1 << depth) - 1)
        frames = [replace(f, pixels=f.pixels // step, mode=f"L;{depth}") for f in picture.frames]
        return replace(picture, frames=frames)
    if depth != 16 or (colour == 0 and not animated):
        return pillow.read(data, metadata=metadata, allow_lossy=allow_lossy, chunks=found)
    if colour not in DEEP_MODES:
        raise InvalidInputError(f"a damaged PNG file (colour type {colour} at 16 bits)")
    width, height = struct.unpack(">II", found[0][1][:8])
    stated = declared(data)
    check_size(width, height, stated[0] if stated else 1)
    import imagecodecs

    try:
        pixels = imagecodecs.apng_decode(data) if animated else imagecodecs.png_decode(data)[None]
    except Exception as exc:  # libpng's errors on damaged data
        raise InvalidInputError(f"a damaged PNG file ({type(exc).__name__}: {exc})") from None
    mode = DEEP_MODES[colour]
    if pixels.dtype != np.uint16:
        raise InvalidInputError(f"a damaged PNG file (16-bit samples decoded as {pixels.dtype})")
    pixels = pixels.reshape(pixels.shape[:3] + ((mode.count("A") + (3 if "RGB" in mode else 1)),))
    if pixels.shape[3] == 1:
        pixels = pixels[..., 0]
    blocks, transparency = (), None
    with Image.open(io.BytesIO(data)) as im:  # Pillow's 8-bit view of it: only its metadata is used
        if metadata:
            blocks = _metadata.from_image(im, found)
        t = im.info.get("transparency")
        if colour in (0, 2) and isinstance(t, (int, tuple)):
            transparency = t
    fctl = [_FCTL.unpack(body) for kind, body in found if kind == b"fcTL" and len(body) == _FCTL.size]
    plays = next((struct.unpack(">II", body)[1] for kind, body in found if kind == b"acTL" and len(body) == 8), 0)
    frames = [Frame(np.ascontiguousarray(p), mode, transparency=transparency, metadata=blocks if i == 0 else ())
              for i, p in enumerate(pixels)]
    hidden = animated and len(frames) == len(fctl) + 1  # the IDAT image is not part of the animation
    timing = [(0, 0, 0)] * hidden + [(_ms(f[5], f[6]), f[7], f[8]) for f in fctl]
    return Picture(frames, "PNG", *(tuple(t[i] for t in timing[: len(frames)]) for i in range(3)), loop=plays,
                   extra={"default_image": hidden})


def declared(data):
    """(frames, channels, bits per sample) as the PNG's own chunks state them, read without decoding."""
    found = list(chunks(data))
    if not found or found[0][0] != b"IHDR" or len(found[0][1]) != 13:
        return None
    depth, colour = found[0][1][8], found[0][1][9]
    kinds = [kind for kind, _ in found]
    frames = 1
    if b"acTL" in kinds and len(found[kinds.index(b"acTL")][1]) == 8:
        frames = struct.unpack(">I", found[kinds.index(b"acTL")][1][:4])[0]
        first_fctl = kinds.index(b"fcTL") if b"fcTL" in kinds else len(kinds)
        frames += b"IDAT" in kinds and kinds.index(b"IDAT") < first_fctl  # the IDAT image, not part of it
    return frames, {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour), depth


def _ms(num, den):
    return round(1000 * num / (den or 100))


def write(picture, fmt):
    kept = _metadata.chunks(picture.frames[0].metadata)
    mode = container.mode_by_name(picture.frames[0].mode)
    packed = len(picture.frames) == 1 and picture.frames[0].mode in PACKED
    if mode.sample_bits < mode.bits and not packed and mode.code == container.GENERIC \
            and not any(k == b"sBIT" for k, _ in kept):
        kept.insert(0, (b"sBIT", bytes([mode.sample_bits]) * mode.channels))  # L;12 as 16-bit PNG: its 12 bits
    return _restore(_pixels(picture if packed else _at_storage_depth(picture)), kept)


def _at_storage_depth(picture):
    """The picture with gray and colour modes of fewer bits (L;12, RGB;10, LA;4...) named at the 8 or 16 bits PNG
    stores them in (the samples are the same)."""
    frames = []
    for f in picture.frames:
        mode = container.mode_by_name(f.mode)
        name = f"{f.mode.split(';')[0]};{mode.bits}" if mode.code == container.GENERIC and not mode.signed else f.mode
        frames.append(replace(f, mode=container.mode_by_name(name).name if name != f.mode else f.mode))
    return replace(picture, frames=frames)


def _pixels(picture):
    """The PNG of the picture's frames and typed metadata."""
    modes = {f.mode for f in picture.frames}
    if modes <= set(pillow.MODES):
        return pillow.write(picture, "PNG")
    if len(picture.frames) == 1 and modes <= PACKED:
        return _splice(_packed_gray(picture.frames[0]), _ancillary(picture.frames[0]))
    if len(modes) != 1 or next(iter(modes)) not in DEEP_MODES.values():
        raise InvalidInputError(f"PNG cannot hold mode {', '.join(sorted(modes))}")
    import imagecodecs

    stack = np.stack([f.pixels for f in picture.frames])
    if len(picture.frames) == 1:
        data = imagecodecs.png_encode(stack[0], level=6)
    else:
        data = _timed(imagecodecs.apng_encode(stack, level=6), picture)
    return _splice(data, _ancillary(picture.frames[0]))


def _packed_gray(frame):
    """A PNG of 2- or 4-bit gray (which neither Pillow nor libpng's wrapper writes): rows of packed levels."""
    depth = container.mode_by_name(frame.mode).sample_bits
    h, w = frame.pixels.shape
    per_byte = 8 // depth
    padded = np.zeros((h, -(-w // per_byte) * per_byte), np.uint8)
    padded[:, :w] = frame.pixels
    levels = padded.reshape(h, -1, per_byte)
    rows = sum(levels[:, :, i] << (8 - depth * (i + 1)) for i in range(per_byte)).astype(np.uint8)
    raw = np.hstack([np.zeros((h, 1), np.uint8), rows]).tobytes()  # filter type 0 on every row
    ihdr = struct.pack(">IIBBBBB", w, h, depth, 0, 0, 0, 0)
    trns = [_chunk(b"tRNS", struct.pack(">H", frame.transparency))] if isinstance(frame.transparency, int) else []
    return SIGNATURE + _chunk(b"IHDR", ihdr) + b"".join(trns) + _chunk(b"IDAT", zlib.compress(raw, 9)) \
        + _chunk(b"IEND", b"")


def _timed(data, picture):
    """The APNG with each frame's duration, disposal and blend and the loop count of the picture."""
    out, frame = bytearray(data[: len(SIGNATURE)]), 0
    for kind, body in chunks(data):
        if kind == b"acTL":
            body = struct.pack(">II", len(picture.frames), picture.loop)
        elif kind == b"fcTL":
            f = list(_FCTL.unpack(body))
            get = lambda values, default: values[frame] if frame < len(values) else default  # noqa: E731
            ms = min(get(picture.durations, 0), 0xFFFF)
            f[5:9] = ms, 1000, get(picture.disposals, 0), get(picture.blends, 0)
            body, frame = _FCTL.pack(*f), frame + 1
        out += _chunk(kind, body)
    return bytes(out)


def _chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _ancillary(frame):
    """The chunks Pillow writes for the frame's metadata and transparency key (taken from a 1 x 1 PNG it writes)."""
    im = Image.new("RGB" if frame.mode.startswith("RGB") else "L", (1, 1))
    buf = io.BytesIO()
    extra = _metadata.save_arguments(frame.metadata, "PNG")
    im.save(buf, "PNG", **extra)
    kept = [(k, b) for k, b in chunks(buf.getvalue()) if k not in (b"IHDR", b"IDAT", b"IEND", b"PLTE", b"tRNS")]
    t = frame.transparency
    if isinstance(t, tuple) and frame.mode == "RGB;16":
        kept.append((b"tRNS", struct.pack(">3H", *t)))
    elif isinstance(t, int) and frame.mode == "I;16":
        kept.append((b"tRNS", struct.pack(">H", t)))
    return kept


def _splice(data, extra):
    """The PNG with the chunks `extra` inserted after its IHDR (before any PLTE)."""
    first = len(SIGNATURE) + 25
    return data[:first] + b"".join(_chunk(k, b) for k, b in extra) + data[first:]


_BEFORE_PLTE = {b"iCCP", b"sBIT", b"gAMA", b"cHRM", b"sRGB", b"cICP", b"mDCV", b"cLLI"}


def _restore(data, kept):
    """The PNG with the kept chunks put back as the source had them: those that must precede PLTE after IHDR, the
    others just before the image data (after PLTE); a kept iCCP replaces the one the writer made."""
    if not kept:
        return data
    found = list(chunks(data))
    drop = {b"iCCP"} & {kind for kind, _ in kept}
    out = bytearray(data[: len(SIGNATURE)])
    late_done = False
    for kind, body in found:
        if kind in (b"acTL", b"fcTL", b"IDAT") and not late_done:
            out += b"".join(_chunk(k, b) for k, b in kept if k not in _BEFORE_PLTE)
            late_done = True
        if kind not in drop:
            out += _chunk(kind, body)
        if kind == b"IHDR":
            out += b"".join(_chunk(k, b) for k, b in kept if k in _BEFORE_PLTE)
    return bytes(out)
