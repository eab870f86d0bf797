"""From what a caller hands lcodec to the samples it codes, and back: files, PIL images and arrays read into
`formats.Picture`s, samples offset into the unsigned range the container stores, and decoded frames stacked."""

import os

import numpy as np
from PIL import Image

from lcodec import container, formats
from lcodec.errors import FormatError, InvalidInputError
from lcodec.formats import pillow as _pillow

_ARRAY_COLOURS = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # an array's channels -> its mode's letters


def read_picture(image, *, metadata=True, allow_lossy=False, mode=None):
    """The formats.Picture lcodec codes for `image`: a path or an image file's bytes (every frame, every sample at
    its depth), a PIL image (as Pillow holds it, every frame), a numpy array ((H, W) or (H, W, C) of bool, uint8,
    uint16, int8 or int16; `mode` names another mode for its samples, e.g. "L;12" or "CMYK;8"), or a list of arrays
    (frames)."""
    if isinstance(image, formats.Picture):
        return image
    if isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview)):
        return formats.read(image, metadata=metadata, allow_lossy=allow_lossy)
    if isinstance(image, Image.Image):
        return _pillow.picture(image, metadata=metadata, allow_lossy=allow_lossy)
    if isinstance(image, (list, tuple)) and image and all(isinstance(a, np.ndarray) for a in image):
        return formats.Picture([_array_frame(a, mode) for a in image])
    if not isinstance(image, np.ndarray):
        raise InvalidInputError(f"cannot compress a {type(image).__name__}: pass a numpy array (or a list of them), "
                                "a PIL image, a path or an image file's bytes")
    return formats.Picture([_array_frame(image, mode)])


def _array_frame(image, mode=None):
    if image.dtype.byteorder == ">":  # big-endian samples: the same samples, native order
        image = image.astype(image.dtype.newbyteorder("="))
    if image.dtype == bool:  # canonical 0/1 whatever bytes the bool array holds
        image = image.view(np.uint8) != 0
    channels = 1 if image.ndim == 2 else (image.shape[2] if image.ndim == 3 else 0)
    if mode is None and image.ndim in (2, 3) and not (image.ndim == 3 and channels == 1):
        kind, bits = image.dtype.kind, image.dtype.itemsize * 8
        letters = _ARRAY_COLOURS.get(channels, "X" * channels)
        if image.dtype == bool:
            mode = "1" if channels == 1 else None
        elif kind in "ui" and bits <= 16:
            mode = f"{letters};{bits}{'S' if kind == 'i' else ''}"
    try:
        found = container.mode_by_name(mode) if mode is not None else None
    except FormatError as exc:
        raise InvalidInputError(str(exc)) from None
    if found is None or found.name == "P" or image.shape != found.shape(*image.shape[:2]) \
            or image.dtype != found.array_dtype:
        raise InvalidInputError(
            f"cannot compress an array of shape {image.shape} and dtype {image.dtype}"
            + (f" as mode {mode}" if mode else "") + ": expected (H, W) bool, or (H, W) / (H, W, C) of uint8, "
            "uint16, int8 or int16"
        )
    return formats.Frame(image, found.name)


def image_samples(image):
    """The samples lcodec codes for a numpy array, PIL image, path or image file's bytes: what decompress returns for
    its file."""
    return stack([f.pixels for f in read_picture(image, metadata=False, allow_lossy=True).frames])


def stored(frame, mode):
    """The frame's samples as the container codes them: unsigned, signed ones offset by 2^(depth - 1), each checked
    to fit the mode's bits."""
    pixels = frame.pixels
    depth = mode.sample_bits
    if mode.signed:  # x + 2^(depth-1): at full depth, the sign bit flipped in place of a wider copy
        pixels = pixels.view(mode.dtype) ^ mode.dtype.type(1 << (depth - 1)) if depth == mode.bits else \
            (pixels.astype(np.int32) + (1 << (depth - 1))).astype(mode.dtype)
        low, high = -(1 << (depth - 1)), (1 << (depth - 1)) - 1
    else:
        low, high = 0, (1 << depth) - 1
    if depth < mode.bits and frame.pixels.size and not low <= frame.pixels.min() <= frame.pixels.max() <= high:
        raise InvalidInputError(f"samples outside {low}..{high}, the range of mode {mode.name}")
    return pixels


def user(mode, pixels):
    """Decoded samples as the caller gets them: a signed mode's back from their offset."""
    if mode.sample_bits < mode.bits and pixels.size and int(pixels.max()) >> mode.sample_bits:
        raise FormatError(f"decoded samples exceed the {mode.sample_bits} bits of mode {mode.name} (corrupted file)")
    if mode.signed and mode.sample_bits == mode.bits:
        return (pixels ^ mode.dtype.type(1 << (mode.bits - 1))).view(mode.array_dtype)
    if mode.signed:
        return (pixels.astype(np.int32) - (1 << (mode.sample_bits - 1))).astype(mode.array_dtype)
    return pixels


def stack(frames):
    """One frame's array, or the frames stacked (N, H, W[, C]) where they agree in shape and dtype."""
    if len(frames) == 1:
        return frames[0]
    if len({(f.shape, f.dtype) for f in frames}) != 1:
        raise InvalidInputError(f"the {len(frames)} frames differ in shape or dtype: use decompress_frames")
    return np.stack(frames)
