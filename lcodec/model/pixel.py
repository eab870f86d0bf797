"""What every tile loop over the network needs: its work buffers, the adaptive stage's state and checked tiles.

Each loop runs the same per-pixel step: `network.forward` for the pixel, then per sub-pixel `mixture.mixture`,
`adaptive.correct` (when the stage is on), the coding, and `adaptive.learn`. The loops read the arrays out of
these tuples once, before their loops, and call the kernels directly: through one more inlined function, or with
the tuple's fields read inside the loop, the same step compiles to slower code (bench/results/NOTES.md)."""

from collections import namedtuple

import numpy as np

from lcodec.errors import FormatError, InvalidInputError
from lcodec.model import adaptive
from lcodec.model.network import buffer_sizes

# The network's work buffers (window, hidden activations, accumulators, head outputs) and the mixture of the
# current sub-pixel (weights, means, inverse scales, scales).
Work = namedtuple("Work", "win hid acc out wts mu inv scl")


def work_buffers(net):
    """Fresh buffers for one tile loop over net (a `weights.Net`)."""
    window, hidden, acc = buffer_sizes(net.kernel_net.plan)
    k = net.n_mix
    return Work(np.zeros(window, np.int16), np.zeros(hidden, np.int16), np.zeros(acc, np.int32),
                np.zeros(net.layers[-1][2], np.int64), *(np.zeros(k, np.int64) for _ in range(4)))


def state(net, w):
    """The adaptive stage's state for a tile w pixels wide."""
    return adaptive.adapt_state(net.config, w)


def check_tile(net, tile):
    """tile as a writable, contiguous uint8 (h, w, C) for net; InvalidInputError if it is not one."""
    tile = np.asarray(tile)
    if tile.ndim == 2 and net.channels == 1:
        tile = tile[:, :, None]
    if tile.dtype != np.uint8 or tile.ndim != 3 or tile.shape[2] != net.channels:
        raise InvalidInputError(f"tile must be uint8 (h, w, {net.channels}), got {tile.dtype} {tile.shape}")
    if tile.shape[0] < 1 or tile.shape[1] < 1:
        raise InvalidInputError(f"empty tile {tile.shape}")
    if not tile.flags.c_contiguous or not tile.flags.writeable:
        tile = tile.copy()  # one array type for the kernels: a read-only view would compile a second version
    return tile


def check_exhausted(read, size, slack):
    """FormatError if a decoder read more than slack bytes (slack >= 0) past the end of its stream of `size`."""
    if 0 <= slack < read - size:
        raise FormatError(f"tile stream exhausted: {size} bytes hold fewer samples than the tile has (corrupted file)")


def check_size(h, w):
    """(h, w) as ints; InvalidInputError unless both are positive."""
    h, w = int(h), int(w)
    if h < 1 or w < 1:
        raise InvalidInputError(f"tile size must be positive, got {h}x{w}")
    return h, w
