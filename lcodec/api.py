"""The Python API: `compress`, `decompress`, `read_header` and the reusable `Compressor`/`Decompressor`.

An image is cut into T x T tiles coded independently (FORMAT.md), so memory stays proportional to a tile per
worker thread and tiles run in parallel threads (the Numba kernels release the GIL). For each plane group of
each tile the encoder keeps the smallest of the learned payload and the fallback payloads (LZMA, the slow one,
only where a quick DEFLATE came within `fallback.REACH` of the learned payload and, on photo-like data, where the
entropy of the filtered bytes leaves LZMA a chance), so a file is never much larger than its best path.

Tile size. A tile's first rows and columns lose the context outside it (and an adaptive model restarts its
state), so smaller tiles cost bits; LEARNED_TILE = 512 keeps that loss small and still gives a Kodak image two
tiles to code in parallel (measured: bench/results/NOTES.md). FALLBACK_TILE, for images no model codes, is
larger: the dictionary coders lose more at tile borders.

Memory. Per worker thread a tile costs O(T²), plus the LZMA encoder's state; besides that, encoding holds
the input and the payloads, decoding the output and the file (peak figures: bench/results/NOTES.md).
"""

import functools
import io
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from lcodec import container, formats, stages
from lcodec import fallback as _fallback
from lcodec.container import DEFAULT_MAX_PIXELS, MODEL_METHODS
from lcodec.formats import pillow as _pillow
from lcodec.errors import (
    ChecksumError, FormatError, InvalidInputError, LimitError, UnknownModelError,
)

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
    return _as_array([f.pixels for f in read_picture(image, metadata=False, allow_lossy=True).frames])


def _stored(frame, mode):
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


def _user(mode, pixels):
    """Decoded samples as the caller gets them: a signed mode's back from their offset."""
    if mode.sample_bits < mode.bits and pixels.size and int(pixels.max()) >> mode.sample_bits:
        raise FormatError(f"decoded samples exceed the {mode.sample_bits} bits of mode {mode.name} (corrupted file)")
    if mode.signed and mode.sample_bits == mode.bits:
        return (pixels ^ mode.dtype.type(1 << (mode.bits - 1))).view(mode.array_dtype)
    if mode.signed:
        return (pixels.astype(np.int32) - (1 << (mode.sample_bits - 1))).astype(mode.array_dtype)
    return pixels


def _as_array(frames):
    """One frame's array, or the frames stacked (N, H, W[, C]) where they agree in shape and dtype."""
    if len(frames) == 1:
        return frames[0]
    if len({(f.shape, f.dtype) for f in frames}) != 1:
        raise InvalidInputError(f"the {len(frames)} frames differ in shape or dtype: use decompress_frames")
    return np.stack(frames)


def _load_net(name):
    from lcodec.model import registry

    return registry.load(name)


def _precision():
    from lcodec.model.mixture import PRECISION

    return PRECISION


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

    def __init__(self, model=None, *, learned=True, fallback=True, tile=None, threads=None, effort=DEFAULT_EFFORT,
                 metadata=True, allow_lossy=False):
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

    def compress(self, image, *, mode=None):
        """The .lcd bytes of `image` (see read_picture: a path or file bytes, a PIL image, a numpy array or a list of
        them); an image of several frames is a sequence file of one image each (FORMAT.md section 8)."""
        picture = read_picture(image, metadata=self.metadata, allow_lossy=self.allow_lossy, mode=mode)
        files = [self._compress_frame(frame) for frame in picture.frames]
        if len(files) == 1:
            return files[0]
        sequence = container.Sequence((), picture.durations, picture.disposals, picture.blends, picture.loop,
                                      picture.format or "", bool(picture.extra.get("default_image")))
        return container.pack_sequence(sequence, files)

    def _compress_frame(self, frame):
        """The bytes of a file of one image."""
        mode = container.mode_by_name(frame.mode)
        height, width = frame.pixels.shape[:2]
        if height == 0 or width == 0:
            raise InvalidInputError(f"cannot compress an empty image ({width}x{height})")
        if max(height, width) > container.MAX_DIMENSION:
            raise LimitError(f"image of {width}x{height} exceeds the format's {container.MAX_DIMENSION} per side")
        pixels = _stored(frame, mode)
        net = self._net_for(mode)
        tile = self.tile or (LEARNED_TILE if net is not None else FALLBACK_TILE)
        planes = pixels.reshape(height, width, mode.channels)

        def code_tile(box):
            y0, y1, x0, x1 = box
            out, c0 = [], 0
            for g, (c, bits) in enumerate(mode.groups):
                plane = planes[y0:y1, x0:x1, c0 : c0 + c]
                c0 += c
                use_model = g == 0 and net is not None
                best = _fallback.constant(plane, bits) if self.fallback or not use_model else None
                if best is None and use_model:
                    plane = np.ascontiguousarray(plane)
                    method, stage, settings = stages.choose(net, plane, self.effort)
                    best = (method, stage.encode_tile(net, plane, **settings))
                    payload = best[1]
                    if self.fallback:
                        other = _fallback.encode(plane, bits, target=len(payload))
                        if len(other[1]) < len(payload):
                            best = other
                elif best is None:
                    best = _fallback.encode(plane, bits)
                out.append((*best, container.samples_crc(plane)))
            return out

        with ThreadPoolExecutor(self.threads) as pool:
            coded = [mp for tile_coded in pool.map(code_tile, container.tile_boxes(height, width, tile))
                     for mp in tile_coded]
        methods = tuple(m for m, _, _ in coded)
        uses_model = any(m in MODEL_METHODS for m in methods)
        header = container.Header(
            mode=mode.name, width=width, height=height, tile=tile,
            precision=_precision() if uses_model else 0,
            model=net.name if uses_model else None, model_sha256=net.sha256 if uses_model else None,
            palette_mode=frame.palette_mode, palette=frame.palette, transparency=frame.transparency,
            pixel_sha256=container.pixel_checksum(frame.pixels), methods=methods,
            metadata=frame.metadata, crcs=tuple(c for _, _, c in coded),
        )
        return container.pack(header, [p for _, p, _ in coded])


class Decompressor:
    """Decodes .lcd data; reuse one to keep loaded models. max_pixels=None lifts the decompression-bomb limit."""

    def __init__(self, *, max_pixels=DEFAULT_MAX_PIXELS, threads=None):
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
        data = _as_bytes(data)
        if not container.is_sequence(data):
            return [self._decode_image(data, self.max_pixels)], None
        sequence, files = container.parse_sequence(data, max_pixels=self.max_pixels)
        return [self._decode_image(f, None) for f in files], sequence

    def _decode_image(self, data, max_pixels):
        header, payloads = container.parse(data, max_pixels=max_pixels)
        mode = container.mode_by_name(header.mode)
        net = self._net_for(header) if header.model else None
        boxes = container.tile_boxes(header.height, header.width, header.tile)
        groups = len(mode.groups)
        strict = header.version >= 3  # per-tile CRCs, and streams that must not run past their end

        def decode_tile(i):
            """The planes of tile i, each checked against its CRC (version 3) as soon as it is decoded."""
            y0, y1, x0, x1 = boxes[i]
            planes = []
            for g, (c, bits) in enumerate(mode.groups):
                k = i * groups + g
                method, payload = header.methods[k], payloads[k]
                if method in MODEL_METHODS:
                    if g != 0 or not mode.learned_group or net.channels != c:
                        raise FormatError(f"learned tile for a plane group the model cannot code (mode {mode.name})")
                    try:
                        plane = stages.by_method()[method].decode_tile(net, payload, y1 - y0, x1 - x0, strict=strict)
                    except FormatError:
                        raise
                    except Exception as e:  # garbage payloads must surface as format errors
                        raise FormatError(f"corrupted learned tile ({type(e).__name__})") from e
                else:
                    plane = _fallback.decode(method, payload, y1 - y0, x1 - x0, c, bits)
                if strict and container.samples_crc(plane) != header.crcs[k]:
                    raise ChecksumError(f"tile {i} (rows {y0}-{y1 - 1}, columns {x0}-{x1 - 1}) does not match its "
                                        "checksum (corrupted file)")
                planes.append(plane)
            return planes

        def place(i, planes):
            y0, y1, x0, x1 = boxes[i]
            c0 = 0
            for plane in planes:
                out[y0:y1, x0:x1, c0:c0 + plane.shape[2]] = plane
                c0 += plane.shape[2]

        first = decode_tile(0)  # the image is allocated once a tile has shown the file is what it claims
        stored = np.empty(mode.shape(header.height, header.width), mode.dtype)
        out = stored.reshape(header.height, header.width, mode.channels)
        place(0, first)
        _run_tiles(lambda i: place(i, decode_tile(i)), range(1, len(boxes)), self.threads)
        pixels = _user(mode, stored)
        if container.pixel_checksum(pixels) != header.pixel_sha256:
            raise ChecksumError("decoded pixels do not match the file's checksum (corrupted file)")
        return header, pixels

    def decompress(self, data):
        """The image as a numpy array (shapes and dtypes in FORMAT.md's mode table); the frames of a sequence file
        stacked (N, H, W[, C]) where they agree in shape and dtype (else decompress_frames)."""
        return _as_array([pixels for _, pixels in self._decode(data)[0]])

    def decompress_frames(self, data):
        """Every frame's numpy array, in order (one for a file of one image)."""
        return [pixels for _, pixels in self._decode(data)[0]]

    def decompress_picture(self, data):
        """The formats.Picture coded in `data`: frames with their modes, palettes, metadata and timing."""
        decoded, seq = self._decode(data)
        frames = [formats.Frame(pixels, h.mode, h.palette_mode, h.palette, h.transparency, h.metadata)
                  for h, pixels in decoded]
        if seq is None:
            return formats.Picture(frames)
        return formats.Picture(frames, seq.format or None, seq.durations, seq.disposals, seq.blends, seq.loop,
                               extra={"default_image": seq.still_first})

    def decompress_image(self, data):
        """The image as a PIL image, with its mode, palette and transparency (a file of one image of a mode Pillow
        has)."""
        picture = self.decompress_picture(data)
        if len(picture.frames) != 1:
            raise InvalidInputError(f"the file holds {len(picture.frames)} frames: use decompress_frames or "
                                    "decompress_to_path")
        return _pillow.image(picture.frames[0])

    def decompress_file(self, data, fmt):
        """The bytes of an image file of Pillow format name `fmt` (PNG, TIFF, PPM, GIF, WEBP, ICO, BMP) holding
        every frame and sample of the file exactly (InvalidInputError where that format cannot, naming those that
        can)."""
        return formats.encode(self.decompress_picture(data), fmt)

    def decompress_to_path(self, data, path, *, force=False):
        """Decode to an image file, format from the extension; the file is read back and compared before it is
        written, and refused (no file left behind) where its format cannot hold the image exactly."""
        fmt = formats.output_format(path)
        if Path(path).exists() and not force:
            raise FileExistsError(f"{path} exists (use --force / force=True to overwrite)")
        encoded = self.decompress_file(data, fmt)
        return write_atomic(path, lambda f: f.write(encoded), force=force)


def _run_tiles(work, indices, threads):
    """work(i) for every index on `threads` threads; the first error stops every thread before its next tile and is
    raised (a corrupted file costs about one tile per thread, not the whole image)."""
    todo, lock, failed, errors = iter(indices), threading.Lock(), threading.Event(), []

    def worker():
        while not failed.is_set():
            with lock:
                i = next(todo, None)
            if i is None:
                return
            try:
                work(i)
            except BaseException as exc:
                errors.append(exc)
                failed.set()

    with ThreadPoolExecutor(threads) as pool:
        for _ in range(threads):
            pool.submit(worker)
    if errors:
        raise errors[0]


def _as_bytes(data):
    if isinstance(data, (str, os.PathLike)):
        return Path(data).read_bytes()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidInputError(f"cannot decompress a {type(data).__name__}: pass bytes or a path")
    return data


def compress(image, *, model=None, effort=DEFAULT_EFFORT, metadata=True, allow_lossy=False, mode=None):
    """The .lcd bytes of `image`: a path or an image file's bytes, a PIL image, a numpy array ((H, W) / (H, W, C) of
    bool, uint8, uint16, int8 or int16; `mode` names its mode where the dtype does not, e.g. "L;12"), or a list of
    them as frames; a file or PIL image keeps its metadata unless metadata=False."""
    return Compressor(model, effort=effort, metadata=metadata, allow_lossy=allow_lossy).compress(image, mode=mode)


def decompress(data, *, max_pixels=DEFAULT_MAX_PIXELS):
    """The numpy array coded in `data` (bytes or a path); ChecksumError if it is not the original."""
    return Decompressor(max_pixels=max_pixels).decompress(data)


def decompress_frames(data, *, max_pixels=DEFAULT_MAX_PIXELS):
    """Every frame coded in `data` (bytes or a path) as a numpy array, in order."""
    return Decompressor(max_pixels=max_pixels).decompress_frames(data)


def decompress_image(data, *, max_pixels=DEFAULT_MAX_PIXELS):
    """The PIL image coded in `data` (bytes or a path), mode, palette and transparency included."""
    return Decompressor(max_pixels=max_pixels).decompress_image(data)


def read_header(data):
    """The file's Header (geometry, mode, model, methods, metadata, sizes) without decoding any pixel or loading a
    model; of a path, only the header's bytes are read."""
    if isinstance(data, (str, os.PathLike)):
        with open(data, "rb") as f:
            return container.read_header(f)
    return container.read_header(io.BytesIO(_as_bytes(data)))


def decompress_to_path(data, path, *, force=False, max_pixels=DEFAULT_MAX_PIXELS):
    """Decode `data` (bytes or a path) to an image file, format from the extension (.png, .tiff, .ppm, .gif, .webp,
    .ico, .bmp), refused where that format cannot hold the image exactly."""
    return Decompressor(max_pixels=max_pixels).decompress_to_path(data, path, force=force)


def image_format(path):
    """The format lcodec writes for a file name's extension; InvalidInputError for one it does not write."""
    return formats.output_format(path)


@functools.cache
def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path, write, *, force=False, verify=None):
    """Call write(file) on a temporary file beside `path`, then verify(temporary path) if given, then rename
    it over `path`: an error never leaves a partial file."""
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists (use --force / force=True to overwrite)")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        if verify is not None:
            verify(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would make outputs private
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path
