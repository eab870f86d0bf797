"""lcodec for chunked arrays: `Lcodec`, a numcodecs codec (id "lcodec"), and `LcodecSerializer`, its zarr v3
array-to-bytes codec (name "numcodecs.lcodec"), so that zarr arrays and xarray datasets of images are stored
losslessly with lcodec. Needs numcodecs (and zarr for the serializer): `pip install "lcodec[zarr]"`.

A chunk is coded as one .lcd file (FORMAT.md), nothing added: `lcodec info` and `lcodec decode` read a stored chunk.
What a chunk may be, by its layout:

- (H, W) and (H, W, C): one image of bool (no channels), uint8, int8, uint16 or int16 samples, C = 2 to 64
  channels (2: gray and alpha, 3: RGB, 4: RGBA, more: extra channels), as `lcodec.compress` codes an array;
- (N, H, W) and (N, H, W, C): a stack of N such images, coded as a sequence file of N frames (section 8), even
  N = 1, so that the decoded array has its N axis.

A 3-D chunk is (H, W, C) where its last axis is 1 to 4 long (gray, gray and alpha, RGB, RGBA; bool: 1 only), else
a stack (N, H, W); `layout` ("HW", "HWC", "NHW" or "NHWC") says which whatever the sizes (either way the chunk
decodes to the array coded: the layout only chooses how its samples are modelled). Anything else is refused with an
`InvalidInputError` (`LimitError` past the format's limits) naming what was expected: other dtypes (floats, 32-bit,
complex), 1-D or 5-D chunks, an empty chunk, big-endian samples, bool with channels, and a channel axis of 1 (which
the numcodecs codec alone could not give back; the zarr serializer takes it).

Why a serializer in zarr v3. zarr 3 hands a bytes-to-bytes codec (`compressors=`) the chunk's bytes without its
shape or dtype, and refuses a plain numcodecs codec there; lcodec must see the image's height, width, channels and
sample type to model it, so in zarr v3 it is the array-to-bytes codec (`serializer=`), which gets the chunk as an
array and its spec; `compressors=None` then, since nothing compresses an .lcd file further. The serializer knows
each chunk's shape and dtype from the array's metadata, so it also takes a channel axis of 1 (coded without it)
and refuses an unsupported dtype or chunk shape when the array is created. In the zarr v2 format a numcodecs
compressor gets the chunk as an array: there `compressors=Lcodec()` works as it is.

Both are found by name: numcodecs' registry on import of this module and through the entry point
`numcodecs.codecs`, zarr's through the entry point `zarr.codecs` (and on import here).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

try:
    from numcodecs.abc import Codec
    from numcodecs.compat import ensure_bytes, ensure_ndarray_like, ndarray_copy
    from numcodecs.registry import register_codec
except ImportError as exc:  # pragma: no cover - lcodec itself needs no numcodecs
    raise ImportError('lcodec.numcodecs needs numcodecs (and zarr for zarr v3): pip install "lcodec[zarr]"') from exc

from lcodec import container
from lcodec.api import DEFAULT_EFFORT, EFFORTS, Compressor, Decompressor
from lcodec.errors import FormatError, InvalidInputError, LimitError

__all__ = ["LAYOUTS", "ZARR_NAME", "Lcodec"]  # and LcodecSerializer where zarr is installed

LAYOUTS = ("HW", "HWC", "NHW", "NHWC")
ZARR_NAME = "numcodecs.lcodec"  # zarr v3's name for a numcodecs codec: "numcodecs." and its id
_DTYPES = tuple(np.dtype(t) for t in (bool, np.uint8, np.int8, np.uint16, np.int16))
_EXPECTED = ("expected a chunk (H, W), (H, W, C), (N, H, W) or (N, H, W, C) of bool (no C), uint8, int8, uint16 or "
             f"int16, C = 2..{container.MAX_CHANNELS}")


def _layout(shape, dtype, layout):
    """The layout of a chunk of `shape` and `dtype`: `layout` where given, else by its dimensions."""
    if layout is None:
        if len(shape) == 3:
            return "HWC" if shape[2] == 1 or (dtype.kind != "b" and shape[2] <= 4) else "NHW"
        layout = {2: "HW", 4: "NHWC"}.get(len(shape))
    if layout is None or len(layout) != len(shape):
        raise InvalidInputError(f"cannot code a chunk of shape {shape}" + (f" as layout {layout}" if layout else "")
                                + f": {_EXPECTED}")
    return layout


def _check(shape, dtype, layout, *, channel_axis_of_1=False):
    """(layout, whether a channel axis of 1 is dropped) of a chunk of `shape` and `dtype`; InvalidInputError for one
    lcodec does not code as it is (`channel_axis_of_1`: one of (..., 1) is coded without its last axis)."""
    dtype = np.dtype(dtype)
    if dtype.newbyteorder("=") not in _DTYPES:
        raise InvalidInputError(f"cannot code a chunk of dtype {dtype}: {_EXPECTED}")
    if not dtype.isnative:
        raise InvalidInputError(f"cannot code big-endian samples ({dtype.str}): pass them in native byte order "
                                f"({dtype.newbyteorder('=').str})")
    layout = _layout(tuple(shape), dtype, layout)
    if math.prod(shape) == 0:
        raise InvalidInputError(f"cannot code an empty chunk of shape {tuple(shape)}")
    squeeze = layout.endswith("C") and shape[-1] == 1
    if layout.endswith("C") and not squeeze and (dtype.kind == "b" or not 2 <= shape[-1] <= container.MAX_CHANNELS):
        raise InvalidInputError(f"cannot code a chunk of shape {tuple(shape)} and dtype {dtype} as layout {layout}: "
                                f"{_EXPECTED}")
    if squeeze and not channel_axis_of_1:
        raise InvalidInputError(f"cannot code a chunk of shape {tuple(shape)} (a channel axis of 1): drop the axis, "
                                "or store it through zarr's LcodecSerializer, which knows the chunk's shape")
    if layout.startswith("N") and shape[0] > container.MAX_FRAMES:
        raise LimitError(f"a stack of {shape[0]} images exceeds the format's {container.MAX_FRAMES} frames")
    height, width = shape[1:3] if layout.startswith("N") else shape[:2]
    if max(height, width) > container.MAX_DIMENSION:
        raise LimitError(f"image of {width}x{height} exceeds the format's {container.MAX_DIMENSION} per side")
    return layout, squeeze


class Lcodec(Codec):
    """lcodec as a numcodecs codec: `encode` codes a chunk of images (module docstring: the shapes and dtypes) as
    the bytes of an .lcd file, `decode` gives back the array, same dtype and shape, into `out` where given.

    effort: as `lcodec.Compressor`'s (1 fastest, 2 the default, 3 smallest); threads: tile threads per chunk (None:
    one per core; a chunk of at most 512x512 is one tile); layout: "HW", "HWC", "NHW" or "NHWC", else by the
    chunk's dimensions (a 3-D chunk is (H, W, C) where its last axis is 1 to 4 long). Decoding needs none of them.
    """

    codec_id = "lcodec"

    def __init__(self, effort: int = DEFAULT_EFFORT, threads: int | None = None, layout: str | None = None) -> None:
        if isinstance(effort, bool) or effort not in EFFORTS:
            raise InvalidInputError(f"effort {effort!r} is not one of {', '.join(map(str, EFFORTS))}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise InvalidInputError(f"threads {threads!r} is not a positive integer (or None: one per core)")
        if layout is not None and layout not in LAYOUTS:
            raise InvalidInputError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)} (or None: by the chunk)")
        self.effort, self.threads, self.layout = effort, threads, layout
        self._compressor = Compressor(effort=effort, threads=threads, metadata=False)  # loads its models once used
        self._decompressor = Decompressor(threads=threads)

    def encode(self, buf: Any) -> bytes:
        return self.encode_array(ensure_ndarray_like(buf))

    def encode_array(self, chunk: np.ndarray, *, channel_axis_of_1: bool = False) -> bytes:
        """The .lcd bytes of `chunk`; channel_axis_of_1=True codes (..., 1) without its last axis (for a caller that
        knows the shape to give back, as zarr does)."""
        chunk = np.asarray(chunk)
        layout, squeeze = _check(chunk.shape, chunk.dtype, self.layout, channel_axis_of_1=channel_axis_of_1)
        if squeeze:
            chunk = chunk[..., 0]
        if not layout.startswith("N"):
            return self._compressor.compress(np.ascontiguousarray(chunk))
        # A stack: a sequence of N frames, each the file of one image (what compress gives a list of them), also
        # for N = 1, which compress would write as a file of one image and decode without the N axis.
        frames = [self._compressor.compress(np.ascontiguousarray(frame)) for frame in chunk]
        return container.pack_sequence(container.Sequence(()), frames)

    def decode(self, buf: Any, out: Any = None) -> np.ndarray:
        data = ensure_bytes(buf)
        frames = self._decompressor.decompress_frames(data)
        if container.is_sequence(data):
            if len({(f.shape, f.dtype) for f in frames}) != 1:
                raise FormatError(f"the {len(frames)} frames differ in shape or dtype: not a chunk lcodec.numcodecs "
                                  "wrote (lcodec.decompress_frames reads it)")
            array = np.stack(frames)
        else:
            array = frames[0]
        if out is None:
            return array
        out = ensure_ndarray_like(out)
        if out.nbytes != array.nbytes:
            raise InvalidInputError(f"out holds {out.nbytes} bytes, the chunk {array.nbytes} "
                                    f"(shape {array.shape}, dtype {array.dtype})")
        if out.dtype != array.dtype and out.dtype.newbyteorder("=") == array.dtype:
            array = array.astype(out.dtype)  # the same samples in out's byte order (ndarray_copy would reinterpret)
        return ndarray_copy(array, out)


register_codec(Lcodec)

try:
    from zarr.abc.codec import ArrayBytesCodec
    from zarr.core.common import parse_named_configuration
    from zarr.registry import register_codec as _register_zarr_codec
except ImportError:  # the numcodecs codec works without zarr
    ArrayBytesCodec = None

if ArrayBytesCodec is not None:

    @dataclass(frozen=True)
    class LcodecSerializer(ArrayBytesCodec):
        """lcodec as zarr v3's array-to-bytes codec: `zarr.create_array(..., serializer=LcodecSerializer(),
        compressors=None)`. Parameters as Lcodec's; stored in the array's metadata as {"name": "numcodecs.lcodec",
        "configuration": Lcodec's config}. Takes a channel axis of 1 (coded without it); refuses an unsupported
        dtype or chunk shape when the array is created."""

        is_fixed_size = False

        effort: int = DEFAULT_EFFORT
        threads: int | None = None
        layout: str | None = None

        def __init__(self, *, effort: int = DEFAULT_EFFORT, threads: int | None = None,
                     layout: str | None = None) -> None:
            codec = Lcodec(effort=effort, threads=threads, layout=layout)  # checks them
            for name, value in (("effort", effort), ("threads", threads), ("layout", layout), ("_codec", codec)):
                object.__setattr__(self, name, value)

        @classmethod
        def from_dict(cls, data: dict[str, Any]) -> LcodecSerializer:
            _, configuration = parse_named_configuration(data, ZARR_NAME, require_configuration=False)
            return cls(**(configuration or {}))

        def to_dict(self) -> dict[str, Any]:
            config = self._codec.get_config()
            del config["id"]
            return {"name": ZARR_NAME, "configuration": config}

        def validate(self, *, shape, dtype, chunk_grid) -> None:
            chunk_shape = getattr(chunk_grid, "chunk_shape", None)
            if chunk_shape is not None:
                _check(chunk_shape, dtype.to_native_dtype(), self.layout, channel_axis_of_1=True)

        def compute_encoded_size(self, input_byte_length, chunk_spec):
            raise NotImplementedError  # variable: as coded

        async def _encode_single(self, chunk_array, chunk_spec):
            chunk = chunk_array.as_numpy_array()
            data = await asyncio.to_thread(self._codec.encode_array, chunk, channel_axis_of_1=True)
            return chunk_spec.prototype.buffer.from_bytes(data)

        async def _decode_single(self, chunk_bytes, chunk_spec):
            array = await asyncio.to_thread(self._codec.decode, chunk_bytes.to_bytes())
            shape, dtype = tuple(chunk_spec.shape), chunk_spec.dtype.to_native_dtype()
            coded = shape[:-1] if shape[-1:] == (1,) and len(shape) > 2 else shape  # a channel axis of 1 dropped
            if array.shape not in (shape, coded) or array.dtype != dtype.newbyteorder("="):
                raise FormatError(f"a stored chunk decodes to shape {array.shape} and dtype {array.dtype}, the array's "
                                  f"chunks are {shape} of {dtype}")
            array = array.reshape(shape).astype(dtype, copy=False)
            return chunk_spec.prototype.nd_buffer.from_numpy_array(array)

    _register_zarr_codec(ZARR_NAME, LcodecSerializer)
    __all__.append("LcodecSerializer")
