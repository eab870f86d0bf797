"""Samples from a model: the decoder fed with random bits draws each sub-pixel from the model's own distribution, in
raster order, so an image drawn this way shows what the network has learned of images (and what it has not)."""

import numpy as np

from lcodec import learned
from lcodec.errors import InvalidInputError
from lcodec.model import registry

MAX_SIDE = 4096


def sample(width, height, *, model=None, channels=3, seed=0):
    """A uint8 image (height, width[, 3]) drawn from the model (default: the default model for `channels`), network
    and adaptive stage, as one tile. The same seed draws the same image on every machine. (The mixing stage is left
    out: fed with random bits it learns its own noise, and its draws say nothing of the model.)"""
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise InvalidInputError(f"sample size {width}x{height} out of range 1..{MAX_SIDE}")
    net = registry.load(model or registry.default_for(channels))
    bits = np.random.default_rng(seed).bytes(width * height * net.channels * 2 + 64)  # more than a draw reads
    img = learned.decode_tile(net, bits, height, width)
    return img[:, :, 0] if net.channels == 1 else img
