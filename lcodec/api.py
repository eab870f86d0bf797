"""The Python API: `compress`, `decompress`, `read_header` and the reusable `Compressor`/`Decompressor`.

An image is cut into T x T tiles coded independently (FORMAT.md), so memory stays proportional to a tile per
worker thread and tiles run in parallel threads (`tiling`); `samples` reads what a caller passes into samples.

Tile size. A tile's first rows and columns lose the context outside it (and an adaptive model restarts its
state), so smaller tiles cost bits; LEARNED_TILE = 512 keeps that loss small and still gives a Kodak image two
tiles to code in parallel (measured: bench/results/NOTES.md). FALLBACK_TILE, for images no model codes, is
larger: the dictionary coders lose more at tile borders.

Memory. Per worker thread a tile costs O(T²), plus the LZMA encoder's state; besides that, encoding holds
the input and the payloads, decoding the output and the file (peak figures: bench/results/NOTES.md).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence, Union

import numpy as np

from lcodec import container, files, formats, samples, stages, tiling
from lcodec.container import DEFAULT_MAX_PIXELS
from lcodec.errors import ChecksumError, FormatError, InvalidInputError, LimitError, UnknownModelError
from lcodec.formats import pillow as _pillow
from lcodec.samples import image_samples, read_picture

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["Compressor", "Decompressor", "compress", "decompress", "decompress_frames", "decompress_image",
           "decompress_to_path", "image_format", "image_samples", "read_header", "read_picture", "Report"]

LEARNED_TILE = 512
FALLBACK_TILE = 1024
EFFORTS = {
    1: "the network alone (LEARNED)",
    2: "the network mixed with contexts learned from the image (MIXED)",
    3: "as 2 with every context and larger tables (slower, a little smaller)",
}
DEFAULT_EFFORT = 2

_ARRAY_COLOURS = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # an array's channels -> its mode's letters


def _default_threads():
    return os.cpu_count() or 1


def _load_net(name):
    from lcodec.model import registry

    return registry.load(name)


def _precision():
    from lcodec.model.mixture import PRECISION

    return PRECISION


Data = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]  # a .lcd file's bytes, or its path
ImageInput = Union[Data, "Image.Image", np.ndarray, Sequence[np.ndarray]]  # what read_picture reads


@dataclass(frozen=True)
class Report:
    """What Compressor.compress_report did: the file's size in bytes, the samples it codes, its frames, the model
    its tiles use (frames over several models: their names joined by ", "; None: the fallback coded every tile),
    and per method name (payloads, bytes)."""

    size: int
    samples: int
    frames: int
    model: str | None
    methods: dict[str, tuple[int, int]]

    @property
    def bpsp(self) -> float:
        """Bits per sub-pixel of the whole file, header included."""
        return 8 * self.size / self.samples


class Compressor:
    """Encodes images; build one and reuse it in a loop, it keeps the loaded model.

    model: a registered model name, or None for the default model of the image's channel count.
    learned=False codes with the fallback methods only (fast, no model needed); fallback=False codes every
    plane a model can code with the model, even where a fallback method would be smaller (to measure the
    model alone). effort: 1 codes with the network alone, 2 (the default) mixes it with statistics learned from
    the image while coding it (smaller, slower), 3 mixes more of them (`EFFORTS`). tile: tile size (default
    LEARNED_TILE, or FALLBACK_TILE when no model applies); threads: worker threads. metadata=False drops the file's
    ICC profile, EXIF, XMP, text and the like (kept by default). A JPEG is refused (LossyInputError) unless
    allow_lossy=True: its pixels are already an approximation, and coding them exactly makes the file larger.
    """

    def __init__(self, model: str | None = None, *, learned: bool = True, fallback: bool = True,
                 tile: int | None = None, threads: int | None = None, effort: int = DEFAULT_EFFORT,
                 metadata: bool = True, allow_lossy: bool = False) -> None:
        if tile is not None and not container.MIN_TILE <= tile <= container.MAX_TILE:
            raise InvalidInputError(f"tile size {tile} out of range {container.MIN_TILE}..{container.MAX_TILE}")
        if not (learned or fallback):
            raise InvalidInputError("learned=False and fallback=False leave no way to code an image")
        if isinstance(effort, bool) or effort not in EFFORTS:
            raise InvalidInputError(f"effort {effort!r} is not one of {', '.join(map(str, EFFORTS))}")
        self.model, self.learned, self.fallback, self.tile, self.effort = model, learned, fallback, tile, effort
        self.metadata, self.allow_lossy = metadata, allow_lossy
        self.threads = threads or _default_threads()
        self._nets = {}

    def _net_for(self, mode):
        """The model for the mode's first plane group, or None when the fallback codes everything."""
        if not (self.learned and mode.learned_group):
            return None
        channels = mode.groups[0][0]
        if self.model is None:
            from lcodec.model import registry

            name = registry.DEFAULT_MODELS.get("rgb" if channels == 3 else "gray")
            if name is None:
                return None
        else:
            name = self.model
        if name not in self._nets:
            self._nets[name] = _load_net(name)
        net = self._nets[name]
        if net.channels != channels:
            raise InvalidInputError(f"model {name!r} codes {net.channels}-channel images, not mode {mode.name}")
        return net

    def compress(self, image: ImageInput, *, mode: str | None = None) -> bytes:
        """The .lcd bytes of `image` (see read_picture: a path or file bytes, a PIL image, a numpy array or a list of
        them); an image of several frames is a sequence file of one image each (FORMAT.md section 8)."""
        return self.compress_report(image, mode=mode)[0]

    def compress_report(self, image: ImageInput, *, mode: str | None = None) -> tuple[bytes, Report]:
        """compress's bytes and a Report of what it did (no need to parse the header just written)."""
        picture = samples.read_picture(image, metadata=self.metadata, allow_lossy=self.allow_lossy, mode=mode)
        frames = [self._compress_frame(frame) for frame in picture.frames]
        if len(frames) == 1:
            data = frames[0][0]
        else:
            sequence = container.Sequence((), picture.durations, picture.disposals, picture.blends, picture.loop,
                                          picture.format or "", bool(picture.extra.get("default_image")))
            data = container.pack_sequence(sequence, [f for f, _, _ in frames])
        methods = {}
        for _, header, lengths in frames:
            for method, length in zip(header.methods, lengths):
                count, size = methods.get(container.METHOD_NAMES[method], (0, 0))
                methods[container.METHOD_NAMES[method]] = (count + 1, size + length)
        models = {h.model for _, h, _ in frames} - {None}
        return data, Report(len(data), sum(f.pixels.size for f in picture.frames), len(frames),
                            ", ".join(sorted(models)) or None, methods)

    def _compress_frame(self, frame):
        """(bytes of a file of one image, its Header, its payloads' lengths)."""
        mode = container.mode_by_name(frame.mode)
        height, width = frame.pixels.shape[:2]
        if height == 0 or width == 0:
            raise InvalidInputError(f"cannot compress an empty image ({width}x{height})")
        if max(height, width) > container.MAX_DIMENSION:
            raise LimitError(f"image of {width}x{height} exceeds the format's {container.MAX_DIMENSION} per side")
        pixels = samples.stored(frame, mode)
        net = self._net_for(mode)
        tile = self.tile or (LEARNED_TILE if net is not None else FALLBACK_TILE)
        effort = self.effort if self.learned else 0  # learned=False: the fallback methods only
        coded = tiling.encode(pixels.reshape(height, width, mode.channels), mode, net, tile, effort=effort,
                              use_fallback=self.fallback, threads=self.threads)
        methods = tuple(m for m, _, _ in coded)
        uses_model = any(stages.for_method(m).model for m in methods)
        header = container.Header(
            mode=mode.name, width=width, height=height, tile=tile,
            precision=_precision() if uses_model else 0,
            model=net.name if uses_model else None, model_sha256=net.sha256 if uses_model else None,
            palette_mode=frame.palette_mode, palette=frame.palette, transparency=frame.transparency,
            pixel_sha256=container.pixel_checksum(frame.pixels), methods=methods,
            metadata=frame.metadata, crcs=tuple(c for _, _, c in coded),
        )
        return container.pack(header, [p for _, p, _ in coded]), header, [len(p) for _, p, _ in coded]


class Decompressor:
    """Decodes .lcd data; reuse one to keep loaded models. max_pixels=None lifts the decompression-bomb limit."""

    def __init__(self, *, max_pixels: int | None = DEFAULT_MAX_PIXELS, threads: int | None = None) -> None:
        self.max_pixels = max_pixels
        self.threads = threads or _default_threads()
        self._nets = {}

    def _net_for(self, header):
        """The header's model, checked against every file (a reused Decompressor sees many)."""
        name = header.model
        if header.precision != _precision():
            raise FormatError(f"coder precision {header.precision} is not supported ({_precision()} is)")
        if name not in self._nets:
            self._nets[name] = _load_net(name)
        net = self._nets[name]
        if net.sha256 != header.model_sha256:
            raise UnknownModelError(
                f"model {name!r} here has weights {net.sha256[:12]}..., the file needs {header.model_sha256[:12]}..."
            )
        return net

    def _decode(self, data):
        """[(Header, samples as decompress returns them)] of every frame, and the Sequence of a sequence file (None for
        a file of one image)."""
        data = files.as_bytes(data)
        if not container.is_sequence(data):
            return [self._decode_image(data, self.max_pixels)], None
        sequence, images = container.parse_sequence(data, max_pixels=self.max_pixels)
        return [self._decode_image(f, None) for f in images], sequence

    def _decode_image(self, data, max_pixels):
        header, payloads = container.parse(data, max_pixels=max_pixels)
        mode = container.mode_by_name(header.mode)
        net = self._net_for(header) if header.model else None
        stored = tiling.decode(header, payloads, mode, net, self.threads)
        pixels = samples.user(mode, stored)
        if container.pixel_checksum(pixels) != header.pixel_sha256:
            raise ChecksumError("decoded pixels do not match the file's checksum (corrupted file)")
        return header, pixels

    def decompress(self, data: Data) -> np.ndarray:
        """The image as a numpy array (shapes and dtypes in FORMAT.md's mode table); the frames of a sequence file
        stacked (N, H, W[, C]) where they agree in shape and dtype (else decompress_frames)."""
        return samples.stack([pixels for _, pixels in self._decode(data)[0]])

    def decompress_frames(self, data: Data) -> list[np.ndarray]:
        """Every frame's numpy array, in order (one for a file of one image)."""
        return [pixels for _, pixels in self._decode(data)[0]]

    def decompress_picture(self, data: Data) -> formats.Picture:
        """The formats.Picture coded in `data`: frames with their modes, palettes, metadata and timing."""
        decoded, seq = self._decode(data)
        frames = [formats.Frame(pixels, h.mode, h.palette_mode, h.palette, h.transparency, h.metadata)
                  for h, pixels in decoded]
        if seq is None:
            return formats.Picture(frames)
        return formats.Picture(frames, seq.format or None, seq.durations, seq.disposals, seq.blends, seq.loop,
                               extra={"default_image": seq.still_first})

    def decompress_image(self, data: Data) -> Image.Image:
        """The image as a PIL image, with its mode, palette and transparency (a file of one image of a mode Pillow
        has)."""
        picture = self.decompress_picture(data)
        if len(picture.frames) != 1:
            raise InvalidInputError(f"the file holds {len(picture.frames)} frames: use decompress_frames or "
                                    "decompress_to_path")
        return _pillow.image(picture.frames[0])

    def decompress_file(self, data: Data, fmt: str) -> bytes:
        """The bytes of an image file of Pillow format name `fmt` (PNG, TIFF, PPM, GIF, WEBP, ICO, BMP) holding
        every frame and sample of the file exactly (InvalidInputError where that format cannot, naming those that
        can)."""
        return formats.encode(self.decompress_picture(data), fmt)

    def decompress_to_path(self, data: Data, path: str | os.PathLike[str], *, force: bool = False) -> Path:
        """Decode to an image file, format from the extension; the file is read back and compared before it is
        written, and refused (no file left behind) where its format cannot hold the image exactly."""
        fmt = formats.output_format(path)
        if Path(path).exists() and not force:
            raise FileExistsError(f"{path} exists (use --force / force=True to overwrite)")
        encoded = self.decompress_file(data, fmt)
        return files.write_atomic(path, lambda f: f.write(encoded), force=force)


def compress(image: ImageInput, *, model: str | None = None, effort: int = DEFAULT_EFFORT, metadata: bool = True,
             allow_lossy: bool = False, mode: str | None = None) -> bytes:
    """The .lcd bytes of `image`: a path or an image file's bytes, a PIL image, a numpy array ((H, W) / (H, W, C) of
    bool, uint8, uint16, int8 or int16; `mode` names its mode where the dtype does not, e.g. "L;12"), or a list of
    them as frames; a file or PIL image keeps its metadata unless metadata=False."""
    return Compressor(model, effort=effort, metadata=metadata, allow_lossy=allow_lossy).compress(image, mode=mode)


def decompress(data: Data, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The numpy array coded in `data` (bytes or a path); ChecksumError if it is not the original."""
    return Decompressor(max_pixels=max_pixels).decompress(data)


def decompress_frames(data: Data, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> list[np.ndarray]:
    """Every frame coded in `data` (bytes or a path) as a numpy array, in order."""
    return Decompressor(max_pixels=max_pixels).decompress_frames(data)


def decompress_image(data: Data, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The PIL image coded in `data` (bytes or a path), mode, palette and transparency included."""
    return Decompressor(max_pixels=max_pixels).decompress_image(data)


def read_header(data: Data) -> container.Header:
    """The file's Header (geometry, mode, model, methods, metadata, sizes) without decoding any pixel or loading a
    model; of a path, only the header's bytes are read."""
    if isinstance(data, (str, os.PathLike)):
        with open(data, "rb") as f:
            return container.read_header(f)
    return container.read_header(io.BytesIO(files.as_bytes(data)))


def decompress_to_path(data: Data, path: str | os.PathLike[str], *, force: bool = False,
                       max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Path:
    """Decode `data` (bytes or a path) to an image file, format from the extension (.png, .tiff, .ppm, .gif, .webp,
    .ico, .bmp), refused where that format cannot hold the image exactly."""
    return Decompressor(max_pixels=max_pixels).decompress_to_path(data, path, force=force)


def image_format(path: str | os.PathLike[str]) -> str:
    """The format lcodec writes for a file name's extension; InvalidInputError for one it does not write."""
    return formats.output_format(path)
