"""The integer network of one pixel, as a Numba kernel: gather its causal window, then run the layer records of
the weight file (`weights.KernelNet`) over it. Any depth and any widths of the layer kinds run here unchanged."""

import numpy as np
from numba import njit

from lcodec.model.fixed_point import OUT_CLAMP, PAIR_LANES, requant
from lcodec.model.simd import madd_rows
from lcodec.model.weights import HEAD, P_KIND, P_OUT, P_PAIRS, P_WIDTH, P_WOFF, RESIDUAL


def buffer_sizes(plan):
    """(window, hidden, accumulator) lengths of the work buffers for a layer plan: every layer's input pairs, its
    outputs, its outputs rounded up to whole groups of lanes."""
    window = 2 * int(plan[0, P_PAIRS])
    hidden = max([2 * int(p) for p in plan[1:, P_PAIRS]] + [int(n) for n in plan[:-1, P_OUT]] + [2])
    return window, hidden, int(plan[:, P_WIDTH].max()) // 2


@njit(cache=True, nogil=True, inline="always")
def _affine(net, layer, x, acc):
    """acc = b + x @ W of one layer, up to 64 outputs at a time. x holds the layer's input pairs (what sits in the
    odd place of an odd count does not matter: its weights are 0); acc entries past n_out stay 0 (weights 0)."""
    plan = net.plan
    for j in range(plan[layer, P_OUT]):
        acc[j] = net.bias[layer, j]
    n_out8 = plan[layer, P_WIDTH] >> 1
    w_off, width, n_pairs = plan[layer, P_WOFF], plan[layer, P_WIDTH], plan[layer, P_PAIRS]
    for j in range(0, n_out8, 8 * PAIR_LANES):
        madd_rows(acc, net.weights, w_off, width, n_pairs, x, j, min(8, (n_out8 - j) // PAIR_LANES))


@njit(cache=True, nogil=True, inline="always")
def forward(pad, y, x, net, win, hid, acc, out):
    """Head outputs of pixel (y, x) into out (int64).

    pad: int16 (h + r, w + 2r, C) holding x - 128 of the pixels known so far, zero elsewhere; pixel (y, x) sits at
    pad[y + r, x + r]. The causal window is gathered into win (contiguous runs of pad); hidden layers work in place
    in hid (each layer's outputs are all in acc before hid is written)."""
    c = net.cfg.channels
    r = net.cfg.radius
    amax = net.cfg.amax
    plan = net.plan
    n = 0
    for dy in range(r + 1):
        width = 2 * r + 1 if dy < r else r  # the current row stops left of the pixel
        for dx in range(width):
            for ch in range(c):
                win[n] = pad[y + dy, x + dx, ch]
                n += 1
    for layer in range(plan.shape[0]):
        kind = plan[layer, P_KIND]
        _affine(net, layer, win if layer == 0 else hid, acc)
        if kind == HEAD:
            for j in range(plan[layer, P_OUT]):
                out[j] = min(max(requant(acc[j], net.mult[layer, j], net.shift[layer, j]), -OUT_CLAMP), OUT_CLAMP)
        elif kind == RESIDUAL:
            for j in range(plan[layer, P_OUT]):
                hid[j] = min(hid[j] + min(max(requant(acc[j], net.mult[layer, j], net.shift[layer, j]), 0), amax),
                             amax)
        else:
            for j in range(plan[layer, P_OUT]):
                hid[j] = min(max(requant(acc[j], net.mult[layer, j], net.shift[layer, j]), 0), amax)


def head_width(plan):
    """Outputs of the head (the last layer)."""
    return int(plan[-1, P_OUT])


@njit(cache=True, nogil=True)
def padded(tile, r):
    """int16 (h + r, w + 2r, C) with tile - 128 at [r:, r:r+w] and zeros around it."""
    h, w, c = tile.shape
    pad = np.zeros((h + r, w + 2 * r, c), np.int16)
    for y in range(h):
        for x in range(w):
            for ch in range(c):
                pad[y + r, x + r, ch] = np.int16(tile[y, x, ch]) - 128
    return pad
