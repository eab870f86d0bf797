"""The match model: where the pixels before this one were last seen, the pixel that followed them there predicts
this one; while its predictions come true it follows on, so a repeated stretch of a tile costs little.

The four causal pixels W, WW, WWW and N (all channels) are hashed to a table of positions (2**match_bits). The
model's input to the mixers is the stretch of an adaptive counter, per (channel, match length up to 15, bit
index), that the predicted bit is right, signed by the predicted bit; 0 once the bits coded so far differ from
the predicted value's."""

import numpy as np
from numba import njit

from lcodec.mixing import counters
from lcodec.mixing.hashing import hash64

MAX_LENGTH = 15  # match lengths the counters tell apart


@njit(cache=True, nogil=True, inline="always")
def new_state(channels, match_bits):
    """(position table, counters) of a fresh match model for a tile of `channels` channels."""
    table = np.zeros((np.int64(1) << match_bits) if match_bits else 1, np.int64)
    return table, np.zeros(channels * (MAX_LENGTH + 1) * 8, np.uint32)


@njit(cache=True, nogil=True, inline="always")
def find(table, pad, y, x, r, w, c, match_bits, mpos, mlen):
    """The position (raster index in the tile, -1 for none) predicting pixel (y, x): the current match's while it
    goes on, else the last position that followed the same four causal pixels (this one is recorded there)."""
    if mlen == 0:
        hh = np.uint64(0)
        for ch in range(c):
            hh = hash64(hh, ((np.int64(pad[y + r, x + r - 1, ch]) << 8 | (pad[y + r, x + r - 2, ch] + 128))
                             << 8 | (pad[y + r, x + r - 3, ch] + 128)) << 8 | (pad[y + r - 1, x + r, ch] + 128))
        slot = np.int64(hh >> np.uint64(64 - match_bits))
        mpos = table[slot] - 1
        table[slot] = y * w + x + 1
    return mpos


@njit(cache=True, nogil=True, inline="always")
def expect(pred, lo, d, ch, mlen, mcnt, stretch):
    """(counter index, expected bit, input) for decision d of a sample whose bits so far are lo, when the match
    predicts value pred; counter index -1 (input 0) where those bits already differ from pred's."""
    if (pred >> (8 - d)) != (lo >> (8 - d)):
        return -1, 0, 0
    eb = (pred >> (7 - d)) & 1
    mk = (ch * (MAX_LENGTH + 1) + min(mlen, MAX_LENGTH)) * 8 + d
    ms = counters.stretch_of(mcnt[mk], stretch)
    return mk, eb, ms if eb else -ms


@njit(cache=True, nogil=True, inline="always")
def follow(img, my, mx, y, x, c, mpos, mlen):
    """(position, length) after pixel (y, x): a match whose pixel came true moves on to the next, else it ends."""
    hit = mpos >= 0
    for ch in range(c):
        hit = hit and img[my, mx, ch] == img[y, x, ch]
    if hit:
        return mpos + 1, mlen + 1
    return np.int64(-1), np.int64(0)
