"""The mixing engine without the network, for planes of any depth (1 to 16 bits): palette indices, alpha, bilevel
and deep planes. Each sample is coded as `bits` binary decisions, most significant first; the inputs are the
counters of the plane contexts (`plane_contexts`), the match model, the predictor's bit while the bits so far agree
with it, and a bias, mixed and refined as in MIXED (FORMAT.md section 4.1's parts)."""

from collections import namedtuple

import numpy as np
from numba import njit

from lcodec import stages
from lcodec.container import CONTEXT

from lcodec.entropy.range_coder import SLACK, dec_begin, dec_bit, enc_begin, enc_bit, enc_end, max_encoded_size
from lcodec.mixing import apm as apms, counters, hashing, mixer, plane_contexts
from lcodec.errors import FormatError
from lcodec.mixing.logistic import P_BITS, ST_FRAC, squash, tables
from lcodec.model import pixel
from lcodec.model.fixed_point import bit_length

MAX_LENGTH = 15


@njit(cache=True, nogil=True, inline="always")
def _match_key(img, y, x, c):
    """The hash of the causal pixels W, WW, WWW and N, all channels."""
    hh = np.uint64(0)
    for ch in range(c):
        hh = hashing.hash64(hh, plane_contexts._at(img, y, x - 1, ch) << 16 | plane_contexts._at(img, y, x - 2, ch))
        hh = hashing.hash64(hh, plane_contexts._at(img, y, x - 3, ch) << 16 | plane_contexts._at(img, y - 1, x, ch))
    return hh


@njit(cache=True, nogil=True)
def plane_kernel(decoding, img, bits, data, prm, tabs, slack, cost):
    """Encode img (uint16 (h, w, c), samples < 2**bits) -> (stream, 0), cost (unless empty) getting each sample's
    -log2 p; or decode data into img -> (empty, bytes read), stopping once more than `slack` bytes past the end of
    data are read (slack >= 0)."""
    h, w, c = img.shape
    squash_t, stretch_t, _, recip = tabs
    table_bits, limit, lr, lr_shift, quiet, lr2, apm_rate, match_bits = prm
    na = len(plane_contexts.NAMES)
    n_in = na + 3  # a bias, the contexts, the match model, the predictor
    slots = hashing.new_tables(na, table_bits)
    mtable = np.zeros(np.int64(1) << match_bits, np.int64)
    mcnt = np.zeros(c * (MAX_LENGTH + 1) * 16, np.uint32)
    pcnt = np.zeros(c * 16 * 16, np.uint32)
    mpos, mlen = np.int64(-1), np.int64(0)
    pre = min(bits, 8)  # the bits so far that select weight sets and APMs
    off1 = c * 16 * 16
    off2 = off1 + c * (2 << pre)
    weights = np.zeros((off2 + c * 16 * 8, n_in), np.int32)
    final = mixer.new_final(c * 16)
    apm = apms.new_maps(c * (2 << pre), squash_t)
    ctx = np.zeros(na, np.int64)
    act = np.arange(na)
    hashes, base = np.zeros(na, np.uint64), np.zeros(na, np.int64)
    st = np.zeros(n_in, np.int32)
    st[0] = 1 << ST_FRAC
    sel, sm = np.zeros(mixer.SETS, np.int64), np.zeros(mixer.SETS, np.int64)
    one = 1 << P_BITS
    buf = np.empty(0 if decoding else max_encoded_size(h * w * c * bits, P_BITS), np.uint8)
    low, rng, cache, pending, carry, pos, started = enc_begin()
    dcode, drng, dpos, derr = dec_begin(data)
    for y in range(h):
        for x in range(w):
            if mlen == 0:
                slot = np.int64(_match_key(img, y, x, c) >> np.uint64(64 - match_bits))
                mpos = mtable[slot] - 1
                mtable[slot] = y * w + x + 1
            for ch in range(c):
                pv = plane_contexts.compute(img, y, x, ch, bits, ctx)
                flat = bit_length(abs(plane_contexts._at(img, y, x - 1, ch) - plane_contexts._at(img, y - 1, x, ch)))
                hashing.buckets(slots, ctx, act, ch, table_bits, hashes, base)
                v = np.int64(img[y, x, ch]) if not decoding else np.int64(0)
                pred = np.int64(img[mpos // w, mpos % w, ch]) if mpos >= 0 else np.int64(-1)
                lo = np.int64(0)
                node = np.int64(1)
                for d in range(bits):
                    if d > 0 and d % 4 == 0:  # the next nibble's buckets, keyed by the bits so far
                        hashing.rebucket(slots, hashes, (lo >> (bits - d)) + (np.int64(1) << d), table_bits, base)
                        node = 1
                    counters.stretch_nodes(slots, base, node, stretch_t, st)
                    shift = bits - d
                    mk = pk = -1
                    st[na + 1] = st[na + 2] = 0
                    if pred >= 0 and (pred >> shift) == (lo >> shift):
                        mk = (ch * (MAX_LENGTH + 1) + min(mlen, MAX_LENGTH)) * 16 + d
                        ms = counters.stretch_of(mcnt[mk], stretch_t)
                        st[na + 1] = ms if (pred >> (shift - 1)) & 1 else -ms
                    if (pv >> shift) == (lo >> shift):
                        pk = (ch * 16 + min(flat, 15)) * 16 + d
                        ps = counters.stretch_of(pcnt[pk], stretch_t)
                        st[na + 2] = ps if (pv >> (shift - 1)) & 1 else -ps
                    dd = min(d, pre)
                    actx = ch * (2 << pre) + (np.int64(1) << dd) + ((lo >> (bits - dd)) & ((np.int64(1) << dd) - 1))
                    sel[0] = (ch * 16 + d) * 16 + min(flat, 15)
                    sel[1] = off1 + actx
                    sel[2] = off2 + (ch * 16 + d) * 8 + (min(bit_length(mlen), 6) + 1 if mk >= 0 else 0)
                    mixer.dot(weights, sel, st, n_in, sm)
                    sf = mixer.final_dot(final, ch * 16 + d, sm)
                    pm = squash(sf, squash_t)
                    pa, j, f = apms.refine(apm, actx, sf)
                    p1 = min(max((pm * 3 + pa) >> 2, 1), one - 1)
                    split = one - p1
                    if decoding:
                        bit, dcode, drng, dpos, derr = dec_bit(dcode, drng, dpos, derr, data, split, one, P_BITS)
                    else:
                        bit = (v >> (shift - 1)) & 1
                        low, rng, cache, pending, carry, pos, started = enc_bit(
                            low, rng, cache, pending, carry, pos, started, buf, bit, split, one, P_BITS)
                        if cost.size:
                            cost[y, x, ch] += P_BITS - np.log2(p1 if bit else split)
                    mixer.train(weights, sel, st, n_in, sm, bit, squash_t, lr, lr_shift, quiet)
                    mixer.final_train(final, ch * 16 + d, sm, (bit << P_BITS) - pm, lr2, lr_shift)
                    apms.update(apm, actx, j, f, bit, apm_rate)
                    if mk >= 0:
                        mcnt[mk] = counters.update(mcnt[mk], bit == ((pred >> (shift - 1)) & 1), recip, limit)
                    if pk >= 0:
                        pcnt[pk] = counters.update(pcnt[pk], bit == ((pv >> (shift - 1)) & 1), recip, limit)
                    counters.update_nodes(slots, base, node, bit, recip, limit)
                    lo |= bit << (shift - 1)
                    node = 2 * node + bit
                if decoding:
                    img[y, x, ch] = lo
            if decoding and 0 <= slack < np.int64(dpos) - data.shape[0]:
                return buf, np.int64(dpos)
            hit = mpos >= 0
            for ch in range(c):
                hit = hit and img[mpos // w, mpos % w, ch] == img[y, x, ch]
            mpos, mlen = (mpos + 1, mlen + 1) if hit else (np.int64(-1), np.int64(0))
    if decoding:
        return buf, np.int64(dpos)
    return enc_end(low, rng, cache, pending, carry, pos, started, buf), np.int64(0)


PlaneParams = namedtuple("PlaneParams", "table_bits limit lr lr_shift quiet lr2 apm_rate match_bits")
# The payload's first byte names a set; a set is never edited, a new one gets a new byte (FORMAT.md section 4.2).
PARAMS = {1: PlaneParams(table_bits=16, limit=127, lr=48, lr_shift=22, quiet=2048, lr2=64, apm_rate=7, match_bits=18)}
DEFAULT_PARAMS = 1
_NO_DATA = np.frombuffer(b"", np.uint8)
_NO_COST = np.zeros((0, 0, 0))


def used_bits(tile):
    """The fewest bits that hold every sample of the tile (at least 1)."""
    return max(int(tile.max()).bit_length(), 1)


def _encode(tile, config, want_cost):
    """(payload, cost map or empty) of a plane group (h, w, c): the parameter byte, the bits coded, then the
    stream."""
    bits = used_bits(tile)
    img = np.array(tile, dtype=np.uint16, order="C")  # writable: one compiled kernel for both directions
    p = PARAMS[config]
    cost = np.zeros(img.shape if want_cost else (0, 0, 0))
    stream, _ = plane_kernel(False, img, bits, _NO_DATA, p, tables(p.limit), -1, cost)
    return bytes([config, bits]) + stream.tobytes(), cost


def encode_tile(tile, storage_bits, config=DEFAULT_PARAMS):
    """(CONTEXT, payload) of a plane group (h, w, c) of `storage_bits` samples (see `_encode`)."""
    return CONTEXT, _encode(tile, config, False)[0]


def bits_map(tile, config=DEFAULT_PARAMS):
    """-log2 p (float64, (h, w, c)) of every sample as this stage codes it: the sum over its decisions."""
    return _encode(tile, config, True)[1]


def decode_tile(payload, h, w, c, storage_bits, strict):
    """The (h, w, c) plane group of a CONTEXT payload, in the dtype of `storage_bits` samples; any bytes decode to
    some samples, never crash or hang; strict: a stream that runs more than SLACK bytes past its end is a
    FormatError."""
    payload = bytes(payload)
    if len(payload) < 2 or payload[0] not in PARAMS or not 1 <= payload[1] <= storage_bits:
        raise FormatError(f"bad context-mixing payload header for {storage_bits}-bit samples")
    p = PARAMS[payload[0]]
    img = np.zeros((h, w, c), np.uint16)
    stream = np.frombuffer(payload, np.uint8)[2:]
    _, read = plane_kernel(True, img, payload[1], stream, p, tables(p.limit), SLACK if strict else -1, _NO_COST)
    pixel.check_exhausted(read, len(stream), SLACK if strict else -1)
    return img.astype(bool if storage_bits == 1 else (np.uint8 if storage_bits == 8 else np.uint16))


STAGE = stages.Stage(
    "context", (CONTEXT,), (2, 3), lambda net, channels, bits: True, lambda net, tile, effort, bits: {"bits": bits},
    lambda net, tile, bits: encode_tile(tile, bits),
    lambda net, method, payload, h, w, c, bits, strict: decode_tile(payload, h, w, c, bits, strict),
    lambda net, tile, bits: bits_map(tile), model=False,
)
