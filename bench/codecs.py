"""The codecs the benchmark compares: a small `Codec` interface, lcodec and the lossless anchors.

Every codec runs single-threaded so that bits and seconds compare like with like. A codec whose library is
missing is still listed; `unavailable()` says why, and the harness reports it instead of dropping it.
"""

import gzip
import hashlib
import io
import lzma
import struct

import numpy as np

RAW_HEADER = struct.Struct("<IIB")  # height, width, channels: what a raw-pixel stream needs to be decoded
ONE_THREAD = {"numthreads": 1}


class CodecUnavailable(Exception):
    """The codec cannot run here (library missing) or cannot code this kind of image."""


class Codec:
    """A lossless image codec: uint8 or uint16 array (h, w) or (h, w, C) -> bytes -> the same array."""

    name = "codec"
    key = "codec"  # the spelling --codecs accepts

    def unavailable(self):
        """None when the codec can run here, else the reason (a short string)."""
        return None

    def encode(self, image):
        raise NotImplementedError

    def decode(self, data):
        raise NotImplementedError

    def estimate(self, image, data):
        """For codecs with a model: what the model expected of `data` (see Lcodec.estimate); else None."""
        return None


def bits_used(image):
    """The bits the image's largest sample needs (at least 1)."""
    return max(int(image.max()).bit_length(), 1)


def _raw(image):
    h, w = image.shape[:2]
    c = 1 if image.ndim == 2 else image.shape[2]
    return RAW_HEADER.pack(h, w, c) + np.ascontiguousarray(image).tobytes()


def _unraw(raw):
    h, w, c = RAW_HEADER.unpack_from(raw)
    pixels = np.frombuffer(raw, np.uint8, offset=RAW_HEADER.size)
    return pixels.reshape((h, w) if c == 1 else (h, w, c))


class Png(Codec):
    name = "PNG"
    key = "png"

    def encode(self, image):
        from PIL import Image

        out = io.BytesIO()
        Image.fromarray(image).save(out, format="PNG", optimize=True)
        return out.getvalue()

    def decode(self, data):
        from PIL import Image

        return np.asarray(Image.open(io.BytesIO(data)))


class Gzip(Codec):
    """gzip -9 of the raw pixels, after a 9-byte shape header."""

    name = "gzip -9"
    key = "gzip"

    def encode(self, image):
        return gzip.compress(_raw(image), compresslevel=9, mtime=0)

    def decode(self, data):
        return _unraw(gzip.decompress(data))


class Zstd(Codec):
    """zstd -19 of the raw pixels, after a 9-byte shape header."""

    name = "zstd -19"
    key = "zstd"

    def unavailable(self):
        try:
            import zstandard  # noqa: F401
        except ImportError:
            return "zstandard is not installed"
        return None

    def encode(self, image):
        import zstandard

        return zstandard.ZstdCompressor(level=19, threads=0).compress(_raw(image))

    def decode(self, data):
        import zstandard

        return _unraw(zstandard.ZstdDecompressor().decompress(data))


class Xz(Codec):
    """xz -9e of the raw pixels, after a 9-byte shape header."""

    name = "xz -9e"
    key = "xz"

    def encode(self, image):
        return lzma.compress(_raw(image), preset=9 | lzma.PRESET_EXTREME)

    def decode(self, data):
        return _unraw(lzma.decompress(data))


class Imagecodecs(Codec):
    """An image codec from the imagecodecs library (`<codec>_encode` / `<codec>_decode`), single-threaded."""

    def __init__(self, name, key, codec, encode_args=None, decode_args=None, colour_only=False, tell_bits=False):
        """tell_bits: pass the bits the image uses (bits_used) as `bitspersample`, so that a 12-bit image in a
        uint16 array is coded as 12-bit, not 16."""
        self.name, self.key, self.codec = name, key, codec
        self.encode_args, self.decode_args = encode_args or {}, decode_args or {}
        self.colour_only, self.tell_bits = colour_only, tell_bits

    def unavailable(self):
        try:
            import imagecodecs
        except ImportError:
            return "imagecodecs is not installed"
        if not getattr(getattr(imagecodecs, self.codec.upper(), None), "available", False):
            return f"imagecodecs {imagecodecs.__version__} was built without {self.codec}"
        return None

    def encode(self, image):
        import imagecodecs

        if self.colour_only and (image.ndim != 3 or image.shape[2] not in (3, 4)):
            raise CodecUnavailable(f"{self.name} codes RGB/RGBA only, got shape {image.shape}")
        bits = {}
        if self.tell_bits:  # at least 9 for a uint16 array: libjxl refuses fewer
            bits["bitspersample"] = bits_used(image) if image.dtype == np.uint8 else max(bits_used(image), 9)
        return getattr(imagecodecs, f"{self.codec}_encode")(image, **self.encode_args, **bits)

    def decode(self, data):
        import imagecodecs

        return getattr(imagecodecs, f"{self.codec}_decode")(data, **self.decode_args)


class Lcodec(Codec):
    """lcodec through its API, one thread, with the model's estimate Σ −log2 q beside the actual size.

    Compressor and Decompressor are built once and reused, as the API advises for loops: model loading is
    not part of the per-image times.
    """

    def __init__(self, model=None, *, fallback=True, effort=None):
        """fallback=False: every tile coded with the model, as in "lcodec (model only)", which shows the
        model and the range coder alone; the default keeps the smaller of model and fallback per tile.
        effort=1: the network without the mixing stage ("lcodec (network only)"), to show what mixing gains;
        effort=3: every context of the mixing stage ("lcodec effort 3")."""
        from lcodec.api import DEFAULT_EFFORT

        self.model, self.fallback, self.effort = model, fallback, effort or DEFAULT_EFFORT
        if self.effort == 1:
            self.name, self.key = "lcodec (network only)", "lcodec-network"
        elif not fallback:
            self.name, self.key = "lcodec (model only)", "lcodec-model"
        elif self.effort == DEFAULT_EFFORT:
            self.name, self.key = "lcodec", "lcodec"
        else:
            self.name, self.key = f"lcodec effort {self.effort}", f"lcodec-e{self.effort}"
        self._compressor = self._decompressor = None

    _tile_bits = {}  # (model, effort, tile, shape, pixel hash) -> Σ −log2 q per tile: the lcodec rows share it

    def unavailable(self):
        try:
            from lcodec import api, explain, stages  # noqa: F401
            from lcodec.model import registry  # noqa: F401

            stages.all_stages()
        except ImportError as exc:
            return f"lcodec is incomplete here ({exc})"
        return None

    def encode(self, image):
        if self._compressor is None:
            from lcodec.api import Compressor

            self._compressor = Compressor(self.model, fallback=self.fallback, threads=1, effort=self.effort)
        return self._compressor.compress(image)

    def decode(self, data):
        if self._decompressor is None:
            from lcodec.api import Decompressor

            self._decompressor = Decompressor(threads=1)
        return self._decompressor.decompress(data)

    def estimate(self, image, data):
        """Bits: est (Σ −log2 q over the image, tiled as in `data`), and over the tiles coded with the model
        their estimate (learned_est) and their actual payload (learned): the range coder's overhead. None for deep
        images, which no network codes."""
        if image.dtype != np.uint8:
            return None
        from lcodec.model import registry
        from lcodec.api import read_header
        from lcodec.container import tile_boxes
        from lcodec.stages import for_method
        from lcodec.explain import tiled_bits

        header = read_header(data)
        name = header.model or self.model or registry.default_for(1 if image.ndim == 2 else image.shape[2])
        boxes = tile_boxes(header.height, header.width, header.tile)
        key = (name, self.effort, header.tile, image.shape, hashlib.sha256(np.ascontiguousarray(image)).hexdigest())
        if key not in Lcodec._tile_bits:
            bits = tiled_bits(image, registry.load(name), header.tile, self.effort)
            Lcodec._tile_bits[key] = [float(bits[y0:y1, x0:x1].sum()) for y0, y1, x0, x1 in boxes]
        per_tile = Lcodec._tile_bits[key]
        groups = len(header.methods) // len(boxes)
        learned = [i for i in range(len(boxes)) if for_method(header.methods[i * groups]).model]
        return {
            "est": sum(per_tile),
            "learned_est": sum(per_tile[i] for i in learned),
            "learned": 8 * sum(header.lengths[i * groups] for i in learned),
        }


class JpegLs(Imagecodecs):
    """CharLS, lossless, with the HP1 colour transform on RGB (R - G, G, B - G modulo 256, or 2^16 for uint16).

    CharLS offers HP1 but imagecodecs does not expose it, so it is applied here: without it JPEG-LS codes the
    three planes independently, over 1 bit per sub-pixel worse on Kodak, which is not how it is used. imagecodecs
    has no way to tell it the bits used either: a uint16 array is coded as 16-bit.
    """

    def __init__(self):
        super().__init__("JPEG-LS HP1", "jpegls", "jpegls")

    def encode(self, image):
        if image.ndim == 3 and image.shape[2] == 3:
            image = image.copy()
            image[..., 0] -= image[..., 1]
            image[..., 2] -= image[..., 1]
        return super().encode(image)

    def decode(self, data):
        image = super().decode(data)
        if image.ndim == 3 and image.shape[2] == 3:
            image = image.copy()
            image[..., 0] += image[..., 1]
            image[..., 2] += image[..., 1]
        return image


def all_codecs():
    """Every codec in table order: lcodec first, then the anchors from general-purpose to image-specific."""
    return [
        Lcodec(),
        Lcodec(fallback=False),
        Lcodec(fallback=False, effort=1),
        Png(),
        Gzip(),
        Zstd(),
        Xz(),
        Imagecodecs("QOI", "qoi", "qoi", colour_only=True),
        JpegLs(),
        # OpenJPEG, reversible 5/3 wavelet with the reversible colour transform.
        Imagecodecs("JPEG 2000", "jpeg2000", "jpeg2k", {"level": 0, "reversible": True, **ONE_THREAD}, ONE_THREAD),
        # libwebp lossless at its strongest setting: method 6, quality 100.
        Imagecodecs("WebP-LL m6", "webp", "webp", {"level": 100, "lossless": True, "method": 6, **ONE_THREAD},
                    colour_only=True),
        # libjxl lossless (modular mode).
        *(Imagecodecs(f"JPEG-XL e{effort}", f"jxl{effort}", "jpegxl",
                      {"lossless": True, "effort": effort, **ONE_THREAD}, ONE_THREAD) for effort in (7, 9)),
    ]


def deep_codecs():
    """The codecs for images deeper than 8 bits, in table order: lcodec at its default effort and at effort 3, then
    the anchors that code 16-bit samples, JPEG-XL and JPEG 2000 told the bits each image uses."""
    return [
        Lcodec(),
        Lcodec(effort=3),
        *(Imagecodecs(f"JPEG-XL e{effort}", f"jxl{effort}", "jpegxl",
                      {"lossless": True, "effort": effort, **ONE_THREAD}, ONE_THREAD, tell_bits=True)
          for effort in (9, 7)),
        JpegLs(),
        Imagecodecs("JPEG 2000", "jpeg2000", "jpeg2k", {"level": 0, "reversible": True, **ONE_THREAD}, ONE_THREAD,
                    tell_bits=True),
        # Pillow writes no 16-bit RGB PNG: libpng through imagecodecs, at its strongest zlib level.
        Imagecodecs("PNG", "png", "png", {"level": 9}),
    ]
