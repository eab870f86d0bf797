"""Where the bits go: the model's cost −log2 q of every pixel as a heat map beside the image.

Costs are computed tile by tile exactly as the compressor codes the image (every tile starts from an empty
context), so the picture and its caption match what `lcodec encode` would spend on learned tiles (8-bit gray and
colour) or on the tiles the engine without the network codes (palette indices, 1-bit and deep planes), before the
container's fallbacks and header. Drawing uses Pillow and numpy only.
"""

import numpy as np

from lcodec.errors import InvalidInputError

GAP = 8  # pixels between the image and its heat map
MIN_WIDTH = 420  # room for the caption under small images
CAPTION_HEIGHT = 28
FONT_SIZE = 14
BAR_WIDTH = 100  # the colour scale drawn in the caption
MAX_BPSP = 8.0  # top of the colour scale: a pixel as costly as storing it raw (a plane's bits without a model)
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
    """(samples (h, w, C) of the first plane group as coded (signed ones offset), their storage bits, whether a model
    codes them) of a path, a Pillow image or an array of one frame: 8-bit gray or colour (the model's), palette
    indices, 1-bit or deep planes (the engine without the network)."""
    from lcodec import container, samples

    picture = samples.read_picture(image, metadata=False)
    frame = picture.frames[0]
    mode = container.mode_by_name(frame.mode)
    if len(picture.frames) != 1 or not mode.groups:
        what = f"{len(picture.frames)} frames" if len(picture.frames) != 1 else f"mode {frame.mode}"
        raise InvalidInputError(f"{what}: no cost map (only single images have one)")
    c, bits = mode.groups[0]
    pixels = samples.stored(frame, mode)
    return np.ascontiguousarray(pixels.reshape(pixels.shape[0], pixels.shape[1], -1)[:, :, :c]), bits, \
        mode.learned_group


def _net(channels, model):
    from lcodec.model import registry

    net = registry.load(model or registry.default_for(channels))
    if net.channels != channels:
        raise InvalidInputError(f"model {net.name} codes {net.channels}-channel images, not {channels}")
    return net


def tiled_bits(pixels, net, tile=None, effort=None, bits=8):
    """float64 (h, w, C) −log2 q of uint8 (h, w[, C]) pixels under net, coded in tiles of the given size, by the
    network alone (effort 1) or with the mixing stage (effort 2, the default, or 3); or (net None) of a plane group
    of `bits`-bit samples as the engine without the network codes it (at effort 1 too: the stage effort 2 chooses)."""
    from lcodec import api, stages
    from lcodec.container import tile_boxes

    effort = effort or api.DEFAULT_EFFORT
    planes = pixels.reshape(pixels.shape[0], pixels.shape[1], -1)
    out = np.empty(planes.shape, np.float64)
    for y0, y1, x0, x1 in tile_boxes(planes.shape[0], planes.shape[1],
                                     tile or (api.FALLBACK_TILE if net is None else api.LEARNED_TILE)):
        tile_pixels = np.ascontiguousarray(planes[y0:y1, x0:x1])
        stage, settings = stages.choose(net, tile_pixels, max(effort, 2) if net is None else effort, bits)
        out[y0:y1, x0:x1] = stage.bits_map(net, tile_pixels, **settings)
    return out


def heat_map(bits, top=MAX_BPSP):
    """RGB uint8 (h, w, 3) of bits (h, w, C): each pixel's bits over its channels, per sub-pixel, on the fixed
    scale 0 .. top (MAX_BPSP, or 16 for deep samples) so that heat maps of different images compare."""
    per_subpixel = bits.sum(axis=2) / bits.shape[2]
    index = np.clip(per_subpixel * (255 / top), 0, 255).round().astype(np.uint8)
    return LUT[index]


def _shown(pixels, learned):
    """8-bit RGB or gray of the samples: a model's as they are, others (deep samples, palette indices, 1-bit, more
    channels) stretched from their smallest to their largest, the first three channels at most."""
    if not learned:
        lo, hi = int(pixels.min()), int(pixels.max())
        pixels = ((pixels.astype(np.int64) - lo) * 255 // max(hi - lo, 1)).astype(np.uint8)
    return pixels[:, :, :3] if pixels.shape[2] >= 3 else pixels[:, :, 0]


def explain(image, out_path, *, model=None, effort=None):
    """Write the image and its heat map side by side to out_path (PNG); return the bits per sub-pixel.

    image: a path, Pillow image or array of one frame: 8-bit gray or colour (coded over the model), or palette
    indices, 1-bit or 9 to 16-bit samples (coded without it, on a scale of their bits; the picture shows them
    stretched to 8 bits); of the plane groups only the first is mapped (alpha and extra channels are left out).
    """
    from PIL import Image, ImageDraw, ImageFont

    from lcodec.api import DEFAULT_EFFORT
    from lcodec.files import write_atomic

    pixels, depth, learned = _pixels(image)
    net = _net(pixels.shape[2], model) if learned else None
    bits = tiled_bits(pixels, net, effort=effort, bits=depth)
    bpsp = float(bits.sum() / bits.size)
    top = MAX_BPSP if learned else float(depth)
    h, w = pixels.shape[:2]
    canvas = Image.new("RGB", (max(2 * w + GAP, MIN_WIDTH), h + CAPTION_HEIGHT), "white")
    canvas.paste(Image.fromarray(_shown(pixels, learned)).convert("RGB"), (0, 0))
    canvas.paste(Image.fromarray(heat_map(bits, top)), (w + GAP, 0))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=FONT_SIZE)
    text_y = h + (CAPTION_HEIGHT - FONT_SIZE) // 2 - 1
    coder = net.name if learned else "no model"
    draw.text((4, text_y), f"{bpsp:.3f} bits/sub-pixel, {coder}, effort {effort or DEFAULT_EFFORT}", fill="black",
              font=font)
    bar_x = max(w + GAP, MIN_WIDTH // 2)
    bar = np.broadcast_to(LUT[np.linspace(0, 255, BAR_WIDTH).round().astype(np.uint8)], (10, BAR_WIDTH, 3))
    canvas.paste(Image.fromarray(np.ascontiguousarray(bar)), (bar_x, h + (CAPTION_HEIGHT - 10) // 2))
    draw.text((bar_x - 12, text_y), "0", fill="black", font=font)
    draw.text((bar_x + BAR_WIDTH + 4, text_y), f"{top:g} bits/sub-pixel", fill="black", font=font)
    write_atomic(out_path, lambda f: canvas.save(f, format="PNG"), force=True)
    return bpsp
