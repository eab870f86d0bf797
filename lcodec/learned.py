"""Method LEARNED: a tile coded with the network alone, one range-coded symbol per sub-pixel.

One kernel walks the tile in raster order for the encoder, the decoder and the CDF table (a small mode), so all
three compute identical integer CDFs; the decoder finds each symbol by searching C(v) outwards from the predicted
mean (`mixture.search`, ~4 evaluations) instead of building the 257-entry CDF.
"""

import math

import numpy as np
from numba import njit

from lcodec import stages
from lcodec.container import LEARNED
from lcodec.entropy.range_coder import (
    SLACK, dec_begin, dec_step, dec_target_of, enc_begin, enc_end, enc_step, max_encoded_size,
)
from lcodec.model import adaptive, pixel
from lcodec.model.mixture import PRECISION, cdf_at, mixture, search
from lcodec.model.network import forward, padded

ENCODE, DECODE, TABLE = 0, 1, 2


@njit(cache=True, nogil=True, inline="always")
def _loop(mode, img, data, bits, table, net, work, st, slack):
    """ENCODE img -> (stream, 0) (and -log2 q into bits when it has img's shape), DECODE data into img -> (empty,
    bytes read), or TABLE: every CDF of img into table. A decoder that has read more than `slack` bytes past the end
    of data (slack >= 0) stops there: the stream was not this tile's. Each mode compiles on its own (`_KERNELS`), so
    the others' branches cost nothing."""
    h, w, c = img.shape
    r = net.cfg.radius
    pad = np.zeros((h + r, w + 2 * r, c), np.int16) if mode == DECODE else padded(img, r)
    win, hid, acc, out, wts, mu, inv, scl = work
    sig = net.sig_lut
    shift = net.cfg.adapt_shift
    buf = np.empty(max_encoded_size(h * w * c, PRECISION) if mode == ENCODE else 0, np.uint8)
    low, rng, cache, pending, carry, pos, started = enc_begin()
    code, drng, dpos, error = dec_begin(data)
    want_bits = bits.size > 0
    for y in range(h):
        for x in range(w):
            forward(pad, y, x, net, win, hid, acc, out)
            for ch in range(c):
                mixture(out, ch, pad[y + r, x + r, 0], pad[y + r, x + r, 1] if ch > 1 else 0, net, wts, mu, inv, scl)
                if shift:
                    adaptive.correct(st, y, x, ch, net.cfg, wts, mu, inv, scl)
                if mode == DECODE:
                    v, c_lo, c_hi = search(dec_target_of(code, drng, PRECISION), wts, mu, inv, sig)
                    code, drng, dpos, error = dec_step(code, drng, dpos, error, data, c_lo, c_hi, PRECISION)
                    pad[y + r, x + r, ch] = v - 128
                    img[y, x, ch] = v
                else:
                    v = np.int64(img[y, x, ch])
                    if mode == TABLE:
                        for s in range(257):
                            table[y, x, ch, s] = cdf_at(s, wts, mu, inv, sig)
                    else:
                        c_lo = cdf_at(v, wts, mu, inv, sig)
                        c_hi = cdf_at(v + 1, wts, mu, inv, sig)
                        low, rng, cache, pending, carry, pos, started = enc_step(
                            low, rng, cache, pending, carry, pos, started, buf, c_lo, c_hi, PRECISION)
                        if want_bits:
                            bits[y, x, ch] = PRECISION - math.log2(c_hi - c_lo)
                if shift:
                    adaptive.learn(st, y, x, ch, v, shift)
            if mode == DECODE and 0 <= slack < np.int64(dpos) - data.shape[0]:
                return buf, np.int64(dpos)
    if mode != ENCODE:
        return buf, np.int64(dpos)
    return enc_end(low, rng, cache, pending, carry, pos, started, buf), np.int64(0)


@njit(cache=True, nogil=True)
def _encode(img, data, bits, table, net, work, st, slack):
    return _loop(ENCODE, img, data, bits, table, net, work, st, slack)


@njit(cache=True, nogil=True)
def _decode(img, data, bits, table, net, work, st, slack):
    return _loop(DECODE, img, data, bits, table, net, work, st, slack)


@njit(cache=True, nogil=True)
def _table(img, data, bits, table, net, work, st, slack):
    return _loop(TABLE, img, data, bits, table, net, work, st, slack)


_KERNELS = {ENCODE: _encode, DECODE: _decode, TABLE: _table}
_NO_DATA = np.frombuffer(b"", np.uint8)  # read-only, as a decoded payload is: one compiled kernel
_NO_BITS = np.zeros((0, 0, 0))
_NO_TABLE = np.zeros((0, 0, 0, 0), np.int64)


def _run(mode, net, img, data=_NO_DATA, bits=_NO_BITS, table=_NO_TABLE, slack=-1):
    return _KERNELS[mode](img, data, bits, table, net.kernel_net, pixel.work_buffers(net),
                          pixel.state(net, img.shape[1]), slack)


def encode_tile(net, tile):
    """Code a uint8 tile (h, w, C) -> stream bytes. Releases the GIL while coding."""
    return _run(ENCODE, net, pixel.check_tile(net, tile))[0].tobytes()


def decode_tile(net, data, h, w, *, strict=False):
    """Decode h x w pixels from a stream of encode_tile. Any bytes decode to some pixels, never crash or hang: the
    container's checksums are what detect corrupt data. strict (version 3 files): a stream that runs more than SLACK
    bytes past its end is a FormatError, found as soon as it happens."""
    h, w = pixel.check_size(h, w)
    img = np.zeros((h, w, net.channels), np.uint8)
    stream = np.frombuffer(bytes(data), np.uint8)
    _, read = _run(DECODE, net, img, data=stream, slack=SLACK if strict else -1)
    pixel.check_exhausted(read, len(stream), SLACK if strict else -1)
    return img


def bits_map(net, tile):
    """-log2 q (float64, (h, w, C)) of every sub-pixel under the integer model: what an ideal coder spends."""
    tile = pixel.check_tile(net, tile)
    bits = np.empty(tile.shape, np.float64)
    _run(ENCODE, net, tile, bits=bits)
    return bits


def cdf_table(net, tile):
    """CDFs (h, w, C, 257) int64 computed pixel by pixel in decode order (for tests against the reference)."""
    tile = pixel.check_tile(net, tile)
    table = np.zeros(tile.shape + (257,), np.int64)
    _run(TABLE, net, tile, table=table)
    return table


def _supports(net, channels, bits):
    return net is not None and net.channels == channels and bits == 8


def _decode_plane(net, method, payload, h, w, channels, bits, strict):
    stages.require_model(net, channels, bits, "learned")
    return decode_tile(net, payload, h, w, strict=strict)


STAGE = stages.Stage(
    "learned", (LEARNED,), (1,), _supports, lambda net, tile, effort, bits: {},
    lambda net, tile: (LEARNED, encode_tile(net, tile)), _decode_plane, bits_map,
)
