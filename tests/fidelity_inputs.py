"""The inputs of the fidelity suite (test_fidelity.py): one writer per input kind, none of them lcodec (imagecodecs,
tifffile, Pillow, or bytes by hand for PNM and SGI), and the readers, as independent of lcodec, that say what a file
holds. A reading is a list of frames, each (samples, meaning): the samples as the reader gives them, (H, W) or
(H, W, C) (planar TIFFs turned channels-last, as lcodec hands them over), and what gives them their colour beyond
their values (a palette image's colours, a PNM's maxval), or None."""

import re
import struct
import zlib
from dataclasses import dataclass

import imagecodecs
import numpy as np
import tifffile
from PIL import Image, ImageSequence

H, W, FRAMES = 29, 37, 3
CONTENTS = ("random", "smooth")
ICO_SIZES = ((16, 16), (32, 32), (48, 48))
DURATIONS = [100, 200, 300]
UNWRITABLE = {".pdf"}  # output formats lcodec must refuse to decode to
_PNM_FIELD = re.compile(rb"(?:\s|#[^\n]*\n)*(\d+)")


class Content:
    """Samples for one input file, from a generator seeded by its kind and content, so every run writes the same
    files. random: every value of the range equally likely; smooth: a ramp across the image and its channels plus
    noise of a few levels, which is what a predictor meets in photographs and scans."""

    def __init__(self, name, seed_text):
        self.name, self.rng = name, np.random.default_rng(zlib.crc32(seed_text.encode()))

    def samples(self, shape, dtype, top=None):
        info = np.iinfo(dtype)
        low, high = info.min, info.max if top is None else top
        if self.name == "random":
            return self.rng.integers(low, high, shape, endpoint=True).astype(dtype)
        y, x = np.indices(shape[:2])
        ramp = x / shape[1] * 0.6 + y / shape[0] * 0.3
        if len(shape) == 3:
            ramp = ramp[..., None] + np.arange(shape[2]) * 0.03
        noise = self.rng.integers(-2, 3, shape) * max(1, (high - low) // 1000)
        return np.clip(low + ramp * (high - low) + noise, low, high).astype(dtype)


def shape(channels, size=(H, W)):
    return size if channels == 1 else (*size, channels)


def single(pixels, meaning=None):
    return [(pixels, meaning)]


# Readers ------------------------------------------------------------------------------------------------------------

def read_png(path):
    """imagecodecs for APNG (every frame) and 16-bit PNG; Pillow for 8-bit PNG (it keeps palettes and 1-bit)."""
    data = path.read_bytes()
    if b"acTL" in data[: data.find(b"IDAT")]:
        return [(f, None) for f in imagecodecs.apng_decode(data)]
    if data[24] == 16:  # the IHDR's bit depth
        return single(imagecodecs.png_decode(data))
    if data[24] in (2, 4) and data[25] == 0:  # gray of 2 or 4 bits, which readers scale to 8: the file's levels
        return [(pixels // (255 // ((1 << data[24]) - 1)), m) for pixels, m in read_pillow(path)]
    return read_pillow(path)


def _pillow_frame(im):
    im.load()
    return np.asarray(im), np.asarray(im.convert("RGBA")) if im.mode == "P" else None


def read_pillow(path):
    """Every frame as Pillow gives it, in the mode it reports; every size of an icon, smallest first."""
    with Image.open(path) as im:
        if im.format != "ICO":
            return [_pillow_frame(frame) for frame in ImageSequence.Iterator(im)]
        frames = []
        for size in sorted(im.info["sizes"]):
            im.size = size
            frames.append(_pillow_frame(im))
        return frames


def read_tiff(path):
    with tifffile.TiffFile(path) as tif:
        frames = []
        for page in tif.pages:
            pixels = page.asarray()
            if page.axes.startswith("S"):  # planar: samples first
                pixels = np.moveaxis(pixels, 0, -1)
            palette = page.photometric == tifffile.PHOTOMETRIC.PALETTE
            frames.append((pixels, page.colormap.T[pixels] if palette else None))
        return frames


def read_pnm(path):
    """Binary PGM/PPM, 8 or 16 bits (big-endian); the maxval is the samples' meaning."""
    data, pos, fields = path.read_bytes(), 2, []
    for _ in range(3):  # width, height, maxval, each after whitespace and comments
        match = _PNM_FIELD.match(data, pos)
        fields.append(int(match.group(1)))
        pos = match.end()
    width, height, maxval = fields
    pixels = np.frombuffer(data, ">u2" if maxval > 255 else "u1", offset=pos + 1)  # one whitespace, then samples
    pixels = pixels.reshape(shape(3 if data[:2] == b"P6" else 1, (height, width)))
    return single(pixels.astype(pixels.dtype.newbyteorder("=")), np.array(maxval))


def read_sgi(path):
    """An uncompressed 16-bit SGI image: planes of big-endian rows, the bottom row first."""
    data = path.read_bytes()
    xsize, ysize, zsize = struct.unpack_from(">3H", data, 6)
    planes = np.frombuffer(data, ">u2", zsize * ysize * xsize, 512).reshape(zsize, ysize, xsize)
    return single(np.moveaxis(planes[:, ::-1], 0, -1).astype(np.uint16))


READERS = {".png": read_png, ".tiff": read_tiff, ".ppm": read_pnm, ".pgm": read_pnm, ".gif": read_pillow,
           ".webp": read_pillow, ".ico": read_pillow, ".jpg": read_pillow, ".sgi": read_sgi,
           ".jp2": lambda path: single(imagecodecs.jpeg2k_decode(path.read_bytes())),
           ".avif": lambda path: single(imagecodecs.avif_decode(path.read_bytes()))}


# Writers: write(content, path) -> the reading the decoded file must equal --------------------------------------------

def png16(channels):
    def write(content, path):
        pixels = content.samples(shape(channels), np.uint16)
        path.write_bytes(imagecodecs.png_encode(pixels))
        return single(pixels)
    return write


def _pillow_image(content, mode, size=(H, W)):
    """An 8-bit image of a Pillow mode and its samples; alpha 0 on some pixels, whose colours must survive too."""
    pixels = content.samples(shape(len(mode) if mode not in ("1", "P") else 1, size), np.uint8)
    if mode.endswith("A"):
        pixels[::4, ::3, -1] = 0
    if mode == "1":
        pixels = pixels >= 128
    im = Image.fromarray(pixels)
    if mode == "P":
        im.putpalette(content.samples((256, 3), np.uint8).tobytes())
    assert im.mode == mode, (im.mode, mode)
    return im, pixels


def png8(mode):
    def write(content, path):
        im, pixels = _pillow_image(content, mode)
        im.save(path)
        return single(pixels, np.asarray(im.convert("RGBA")) if mode == "P" else None)
    return write


def tiff(dtype, channels, top=None, planar=False, **args):
    """tifffile.imwrite of one page; planar pages are written samples first."""
    def write(content, path):
        pixels = content.samples(shape(channels), dtype, top)
        tifffile.imwrite(path, np.moveaxis(pixels, -1, 0) if planar else pixels, metadata=None,
                         planarconfig="separate" if planar else "contig", **args)
        return single(pixels)
    return write


def tiff_palette(content, path):
    """8-bit indices into a 16-bit colour map none of whose values is a multiple of 257, which 8 bits cannot hold."""
    pixels = content.samples((H, W), np.uint8)
    colormap = content.samples((3, 256), np.uint16)
    colormap[colormap % 257 == 0] ^= 1
    tifffile.imwrite(path, pixels, photometric="palette", colormap=colormap, metadata=None)
    return single(pixels, colormap.T[pixels])


def tiff_float(content, path):
    pixels = content.samples((H, W), np.uint16).astype(np.float32) / 65535
    tifffile.imwrite(path, pixels, photometric="minisblack", metadata=None)
    return single(pixels)


def tiff_pages(dtype, channels, photometric):
    def write(content, path):
        frames = [content.samples(shape(channels), dtype) for _ in range(FRAMES)]
        with tifffile.TiffWriter(path) as tif:
            for pixels in frames:
                tif.write(pixels, photometric=photometric, metadata=None)
        return [(f, None) for f in frames]
    return write


def pnm(channels, maxval):
    """Binary PGM (P5) or PPM (P6), written by hand: 16-bit samples are big-endian."""
    def write(content, path):
        pixels = content.samples(shape(channels), np.uint16 if maxval > 255 else np.uint8, maxval)
        header = f"P{6 if channels == 3 else 5}\n{W} {H}\n{maxval}\n".encode()
        path.write_bytes(header + pixels.astype(">u2" if maxval > 255 else "u1").tobytes())
        return single(pixels, np.array(maxval))
    return write


def png_gray_packed(depth):
    """A 2- or 4-bit gray PNG, written by hand (Pillow and imagecodecs write 8 bits at least)."""
    def write(content, path):
        levels = content.samples((H, W), np.uint8, (1 << depth) - 1)
        per_byte = 8 // depth
        padded = np.zeros((H, -(-W // per_byte) * per_byte), np.uint8)
        padded[:, :W] = levels
        packed = np.zeros((H, padded.shape[1] // per_byte), np.uint8)
        for i in range(per_byte):
            packed |= padded[:, i::per_byte] << (8 - depth * (i + 1))
        rows = b"".join(b"\0" + row.tobytes() for row in packed)

        def chunk(kind, body):
            return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

        path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, depth, 0, 0, 0, 0))
                         + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
        return single(levels)
    return write


def sgi16(content, path):
    """An uncompressed 16-bit RGB SGI image, written by hand (read_sgi)."""
    pixels = content.samples((H, W, 3), np.uint16)
    header = struct.pack(">hbbHHHHii4s80si404s", 474, 0, 2, 3, W, H, 3, 0, 65535, b"", b"fidelity", 0, b"")
    path.write_bytes(header + np.moveaxis(pixels[::-1], -1, 0).astype(">u2").tobytes())
    return single(pixels)


def jp2_lossless(content, path):
    pixels = content.samples((H, W, 3), np.uint16)
    path.write_bytes(imagecodecs.jpeg2k_encode(pixels, level=0, reversible=True))
    return single(pixels)


def avif_lossless10(content, path):
    pixels = content.samples((H, W, 3), np.uint16, 1023)
    path.write_bytes(imagecodecs.avif_encode(pixels, level=100, bitspersample=10, pixelformat="444"))
    return single(pixels)


def apng16(content, path):
    frames = np.stack([content.samples((H, W, 3), np.uint16) for _ in range(FRAMES)])
    path.write_bytes(imagecodecs.apng_encode(frames, delay=100))
    return [(f, None) for f in frames]


def pillow_frames(mode, fmt, **args):
    """Frames Pillow writes itself (APNG, GIF, animated WebP): the truth is what Pillow or imagecodecs reads back,
    after the writer's own choices (cropped frames, palettes it reorders)."""
    def write(content, path):
        images = [_pillow_image(content, mode)[0] for _ in range(FRAMES)]
        images[0].save(path, format=fmt, save_all=True, append_images=images[1:], duration=DURATIONS, loop=0,
                       **args)
        return READERS[path.suffix](path)
    return write


def ico(content, path):
    images = [_pillow_image(content, "RGBA", size)[0] for size in ICO_SIZES]
    images[-1].save(path, sizes=ICO_SIZES, append_images=images[:-1])
    return read_pillow(path)


def lossy(save):
    """A lossy source: the truth is what its decoder gives."""
    def write(content, path):
        save(content.samples((H, W, 3), np.uint8), path)
        return READERS[path.suffix](path)
    return write


@dataclass
class Kind:
    suffix: str  # the input file's
    write: object
    back: str = None  # the decoded file's suffix: the input's where lcodec writes that format

    def __post_init__(self):
        self.back = self.back or self.suffix


KINDS = {
    # 16-bit PNG (imagecodecs), and the 8-bit modes (Pillow): the baseline that must stay exact
    "png16-rgb": Kind(".png", png16(3)),
    "png16-rgba": Kind(".png", png16(4)),
    "png16-l": Kind(".png", png16(1)),
    "png16-la": Kind(".png", png16(2)),
    "png8-rgb": Kind(".png", png8("RGB")),
    "png8-rgba": Kind(".png", png8("RGBA")),
    "png8-l": Kind(".png", png8("L")),
    "png8-la": Kind(".png", png8("LA")),
    "png8-p": Kind(".png", png8("P")),
    "png1": Kind(".png", png8("1")),
    "png4-l": Kind(".png", png_gray_packed(4)),
    "png2-l": Kind(".png", png_gray_packed(2)),
    # TIFF (tifffile)
    "tiff16-rgb": Kind(".tiff", tiff(np.uint16, 3, photometric="rgb")),
    "tiff16-rgb-planar": Kind(".tiff", tiff(np.uint16, 3, photometric="rgb", planar=True)),
    "tiff16-rgba": Kind(".tiff", tiff(np.uint16, 4, photometric="rgb", extrasamples=[2])),
    "tiff16-l": Kind(".tiff", tiff(np.uint16, 1, photometric="minisblack")),
    "tiff16-l-bigendian": Kind(".tiff", tiff(np.uint16, 1, photometric="minisblack", byteorder=">")),
    "tiff16-la": Kind(".tiff", tiff(np.uint16, 2, photometric="minisblack", extrasamples=[2])),
    "tiff8-l-extra": Kind(".tiff", tiff(np.uint8, 2, photometric="minisblack", extrasamples=[0])),
    "tiff8-rgb-2extra": Kind(".tiff", tiff(np.uint8, 5, photometric="rgb", extrasamples=[0, 0])),
    "tiff8-rgba-premultiplied": Kind(".tiff", tiff(np.uint8, 4, photometric="rgb", extrasamples=[1])),
    "tiff8-l-signed": Kind(".tiff", tiff(np.int8, 1, photometric="minisblack")),
    "tiff16-l-signed": Kind(".tiff", tiff(np.int16, 1, photometric="minisblack")),
    "tiff-palette-colormap16": Kind(".tiff", tiff_palette),
    "tiff16-l-12bit": Kind(".tiff", tiff(np.uint16, 1, 4095, photometric="minisblack")),
    "tiff8-cmyk": Kind(".tiff", tiff(np.uint8, 4, photometric="separated")),
    "tiff16-5ch-planar": Kind(".tiff", tiff(np.uint16, 5, photometric="minisblack", planar=True)),
    "tiff-float32": Kind(".tiff", tiff_float),
    # PNM (by hand)
    "ppm-1023": Kind(".ppm", pnm(3, 1023)),
    "ppm-4095": Kind(".ppm", pnm(3, 4095)),
    "ppm-65535": Kind(".ppm", pnm(3, 65535)),
    "pgm-65535": Kind(".pgm", pnm(1, 65535)),
    "pgm-4095": Kind(".pgm", pnm(1, 4095)),
    "ppm-255": Kind(".ppm", pnm(3, 255)),
    "pgm-255": Kind(".pgm", pnm(1, 255)),
    "pgm-15": Kind(".pgm", pnm(1, 15)),
    "pgm-1000": Kind(".pgm", pnm(1, 1000)),
    # other deep formats; lcodec writes none of them, so they decode to TIFF
    "jp2-rgb16-lossless": Kind(".jp2", jp2_lossless, ".tiff"),
    "avif-10bit-lossless": Kind(".avif", avif_lossless10, ".tiff"),
    "sgi-rgb16": Kind(".sgi", sgi16, ".tiff"),
    # frames
    "apng8-rgba": Kind(".png", pillow_frames("RGBA", "PNG")),
    "apng16-rgb": Kind(".png", apng16),
    "tiff8-l-pages": Kind(".tiff", tiff_pages(np.uint8, 1, "minisblack")),
    "tiff16-rgb-pages": Kind(".tiff", tiff_pages(np.uint16, 3, "rgb")),
    "gif-anim": Kind(".gif", pillow_frames("P", "GIF")),
    "webp-anim-lossless": Kind(".webp", pillow_frames("RGB", "WEBP", lossless=True)),
    "ico-sizes": Kind(".ico", ico),
    # lossy sources (decoded to PNG, should one be accepted)
    "webp-lossy": Kind(".webp", lossy(lambda px, path: Image.fromarray(px).save(path, quality=80)), ".png"),
    "tiff-jpeg": Kind(".tiff", lossy(lambda px, path: tifffile.imwrite(path, px, photometric="rgb",
                                                                        compression="jpeg")), ".png"),
    "avif-lossy": Kind(".avif", lossy(lambda px, path: path.write_bytes(imagecodecs.avif_encode(px, level=60))),
                       ".png"),
    "jpeg": Kind(".jpg", lossy(lambda px, path: Image.fromarray(px).save(path, quality=90)), ".png"),
    # the output side: an 8-bit RGBA PNG decoded to WebP (colours under alpha 0 kept), and to a format lcodec does
    # not write
    "decode-rgba8-to-webp": Kind(".png", png8("RGBA"), ".webp"),
    "decode-to-pdf": Kind(".png", png8("RGBA"), ".pdf"),
}
NEEDS = {"jp2-rgb16-lossless": imagecodecs.JPEG2K, "avif-10bit-lossless": imagecodecs.AVIF,
         "avif-lossy": imagecodecs.AVIF}
LEFT_OUT = {name for name, codec in NEEDS.items() if not codec.available}  # left out, never skipped
for name in LEFT_OUT:
    del KINDS[name]
