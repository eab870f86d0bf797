"""Where the bits go: the model's cost −log2 q of every pixel as a heat map beside the image.

Costs are computed tile by tile exactly as the compressor codes the image (every tile starts from an empty
context), so the picture and its caption match what `lcodec encode` would spend on learned tiles, before
the container's fallbacks and header. Drawing uses Pillow and numpy only.
"""

from pathlib import Path

import numpy as np

from lcodec.errors import InvalidInputError

GAP = 8  # pixels between the image and its heat map
MIN_WIDTH = 420  # room for the caption under small images
CAPTION_HEIGHT = 28
FONT_SIZE = 14
BAR_WIDTH = 100  # the colour scale drawn in the caption
MAX_BPSP = 8.0  # top of the colour scale: a pixel as costly as storing it raw
# Colour map stops (position, R, G, B), close to matplotlib's "inferno": dark = cheap, bright = costly.
_STOPS = np.array([
    (0.00, 0, 0, 4),
    (0.25, 87, 16, 110),
    (0.50, 188, 55, 84),
    (0.75, 249, 142, 9),
    (1.00, 252, 255, 164),
])
LUT = np.stack([np.interp(np.linspace(0, 1, 256), _STOPS[:, 0], _STOPS[:, i]) for i in (1, 2, 3)], 1).round()
LUT = LUT.astype(np.uint8)  # 256 x RGB


def _pixels(image):
    """uint8 (h, w) or (h, w, 3) from a path, a Pillow image or an array; only modes a model codes."""
    from PIL import Image

    if isinstance(image, (str, Path)):  # read at full depth: a deep or multi-frame file is refused, not cut
        from lcodec import formats

        picture = formats.read(image, metadata=False)
        frame = picture.frames[0]
        if len(picture.frames) != 1 or frame.mode not in ("L", "LA", "RGB", "RGBA"):
            what = f"{len(picture.frames)} frames" if len(picture.frames) != 1 else f"mode {frame.mode}"
            raise InvalidInputError(f"{what}: not coded by a model (only single L, LA, RGB, RGBA images are)")
        return {"LA": lambda p: p[:, :, 0], "RGBA": lambda p: p[:, :, :3]}.get(frame.mode, lambda p: p)(frame.pixels)
    if isinstance(image, Image.Image):
        if image.mode not in ("L", "LA", "RGB", "RGBA"):
            raise InvalidInputError(f"mode {image.mode} is not coded by a model (only L, LA, RGB, RGBA are)")
        image = np.asarray(image.convert(image.mode[:-1] if image.mode.endswith("A") else image.mode))
    array = np.asarray(image)
    if array.dtype != np.uint8 or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3))):
        raise InvalidInputError(f"expected a uint8 gray or RGB image, got {array.dtype} {array.shape}")
    return array[:, :, 0] if array.ndim == 3 and array.shape[2] == 1 else array


def _net(channels, model):
    from lcodec.model import registry

    net = registry.load(model or registry.default_for(channels))
    if net.channels != channels:
        raise InvalidInputError(f"model {net.name} codes {net.channels}-channel images, not {channels}")
    return net


def tiled_bits(pixels, net, tile=None, effort=None):
    """float64 (h, w, C) −log2 q of uint8 (h, w[, C]) pixels under net, coded in tiles of the given size, by the
    network alone (effort 1) or with the mixing stage (effort 2, the default, or 3)."""
    from lcodec import api, stages
    from lcodec.container import tile_boxes

    effort = effort or api.DEFAULT_EFFORT
    planes = pixels.reshape(pixels.shape[0], pixels.shape[1], -1)
    out = np.empty(planes.shape, np.float64)
    for y0, y1, x0, x1 in tile_boxes(planes.shape[0], planes.shape[1], tile or api.LEARNED_TILE):
        tile_pixels = np.ascontiguousarray(planes[y0:y1, x0:x1])
        stage, settings = stages.choose(net, tile_pixels, effort)
        out[y0:y1, x0:x1] = stage.bits_map(net, tile_pixels, **settings)
    return out


def heat_map(bits):
    """RGB uint8 (h, w, 3) of bits (h, w, C): each pixel's bits over its channels, per sub-pixel, on the fixed
    scale 0 .. MAX_BPSP so that heat maps of different images compare."""
    per_subpixel = bits.sum(axis=2) / bits.shape[2]
    index = np.clip(per_subpixel * (255 / MAX_BPSP), 0, 255).round().astype(np.uint8)
    return LUT[index]


def explain(image, out_path, *, model=None, effort=None):
    """Write the image and its heat map side by side to out_path (PNG); return the bits per sub-pixel.

    image: a path, Pillow image or uint8 array (gray or RGB; alpha is left out, as the model does not code it).
    """
    from PIL import Image, ImageDraw, ImageFont

    from lcodec.api import DEFAULT_EFFORT
    from lcodec.files import write_atomic

    pixels = _pixels(image)
    net = _net(1 if pixels.ndim == 2 else 3, model)
    bits = tiled_bits(pixels, net, effort=effort)
    bpsp = float(bits.sum() / bits.size)
    h, w = pixels.shape[:2]
    canvas = Image.new("RGB", (max(2 * w + GAP, MIN_WIDTH), h + CAPTION_HEIGHT), "white")
    canvas.paste(Image.fromarray(pixels).convert("RGB"), (0, 0))
    canvas.paste(Image.fromarray(heat_map(bits)), (w + GAP, 0))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=FONT_SIZE)
    text_y = h + (CAPTION_HEIGHT - FONT_SIZE) // 2 - 1
    draw.text((4, text_y), f"{bpsp:.3f} bits/sub-pixel, {net.name}, effort {effort or DEFAULT_EFFORT}", fill="black",
              font=font)
    bar_x = max(w + GAP, MIN_WIDTH // 2)
    bar = np.broadcast_to(LUT[np.linspace(0, 255, BAR_WIDTH).round().astype(np.uint8)], (10, BAR_WIDTH, 3))
    canvas.paste(Image.fromarray(np.ascontiguousarray(bar)), (bar_x, h + (CAPTION_HEIGHT - 10) // 2))
    draw.text((bar_x - 12, text_y), "0", fill="black", font=font)
    draw.text((bar_x + BAR_WIDTH + 4, text_y), f"{MAX_BPSP:g} bits/sub-pixel", fill="black", font=font)
    write_atomic(out_path, lambda f: canvas.save(f, format="PNG"), force=True)
    return bpsp
