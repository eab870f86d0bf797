"""Method RESIDUAL: planes of 16-bit samples (gray or colour, B = 1 to 16 bits used) without the network. Each
sample is predicted (`residual_predict`) and its residual r coded as binary decisions: r = 0?, then its sign, then
e = bl(|r| - 1) in unary, then the e - 1 bits below the top one of |r| - 1. A typical sample takes a few decisions
where the plane is smooth, about 2 bl(|r|) where it is noisy. Each decision mixes the counters of the contexts of
`residual_contexts` (a bucket per context and sample, another per exponent for the mantissa), refined by two APMs:
the parts of MIXED (FORMAT.md section 4.1). Parameter set 2 adds an online least-squares fit (`residual_ols`) to the
predictors, and codes the low mantissa bits, which are close to even, with one counter each instead of the mix."""

from collections import namedtuple

import numpy as np
from numba import njit

from lcodec import stages
from lcodec.container import RESIDUAL
from lcodec.entropy.range_coder import SLACK, dec_begin, dec_bit, enc_begin, enc_bit, enc_end, max_encoded_size
from lcodec.errors import FormatError
from lcodec.mixing import apm as apms, counters, hashing, mixer, residual_contexts as rctx, residual_ols as ols
from lcodec.mixing import residual_predict as rp
from lcodec.mixing.logistic import P_BITS, ST_FRAC, squash, tables
from lcodec.model import pixel
from lcodec.model.fixed_point import bit_length

DECISIONS = 78  # decision classes: 0 zero, 1 sign, 2 + j exponent, 18 + 4 (e - 2) + min(k, 3) mantissa bit k
ZERO, SIGN, EXPONENT, MANTISSA, DONE = 0, 1, 2, 3, 4


@njit(cache=True, nogil=True, inline="always")
def _mix(d, q, wsel, slots, base, node, st, weights, final, sel, sm, stretch_t):
    """The mixed logit of decision class d: node `node` of every context's bucket, through the three selected weight
    sets and the final mixer."""
    counters.stretch_nodes(slots, base, node, stretch_t, st)
    sel[0] = d * rctx.LEVELS + q
    sel[1] = DECISIONS * rctx.LEVELS + d * 16 + wsel
    sel[2] = DECISIONS * (rctx.LEVELS + 16) + d
    mixer.dot(weights, sel, st, base.shape[0] + 1, sm)
    return mixer.final_dot(final, d, sm)


@njit(cache=True, nogil=True)
def residual_kernel(decoding, img, bits, data, prm, tabs, slack, fit, cost):
    """Encode img (uint16 (h, w, c), samples < 2**bits) -> (stream, 0), cost (unless empty) getting each sample's
    -log2 p; or decode data into img -> (empty, bytes read), stopping once more than `slack` bytes past the end of
    data are read (slack >= 0)."""
    h, w, c = img.shape
    squash_t, stretch_t, _, recip = tabs
    table_bits, limit, lr, lr_shift, quiet, lr2, apm_rate, fit_shift, fit_every, fit_weight, light_from = prm
    n_pred = rp.N_PREDICTORS if fit_shift else rp.N_PREDICTORS - 1
    na = len(rctx.NAMES) if fit_shift else len(rctx.NAMES) - 1
    fit_a, fit_b, fit_w, fit_f = fit
    fit_n, fit_ref = 0, np.int64(0)
    maxv = (np.int64(1) << bits) - 1
    slots = hashing.new_tables(na, table_bits)
    act, hashes, base = np.arange(na), np.zeros(na, np.uint64), np.zeros(na, np.int64)
    st = np.zeros(na + 1, np.int32)
    st[0] = 1 << ST_FRAC  # the bias input
    weights = np.zeros((DECISIONS * (rctx.LEVELS + 17), na + 1), np.int32)
    final = mixer.new_final(DECISIONS)
    apm = apms.new_maps(DECISIONS * rctx.LEVELS, squash_t)
    apm2 = apms.new_maps(DECISIONS * 32, squash_t)
    sel, sm = np.zeros(mixer.SETS, np.int64), np.zeros(mixer.SETS, np.int64)
    err = np.zeros((3, w + 2, c, n_pred), np.int64)
    res = np.zeros((3, w + 2, c), np.int64)
    bsum, bcnt = np.zeros((c, rp.BIAS_CONTEXTS), np.int64), np.zeros((c, rp.BIAS_CONTEXTS), np.int64)
    nb, p, esum = np.zeros(7, np.int64), np.zeros(rp.N_PREDICTORS, np.int64), np.zeros(rp.N_PREDICTORS, np.int64)
    ctx = np.zeros(len(rctx.NAMES), np.int64)
    light = np.zeros((17 * 16 if light_from < 16 else 0, rctx.LEVELS), np.uint32)  # per exponent, bit, activity
    one = 1 << P_BITS
    buf = np.empty(0 if decoding else max_encoded_size(h * w * c * (2 * bits + 1), P_BITS), np.uint8)
    low, rng, cache, pending, carry, pos, started = enc_begin()
    dcode, drng, dpos, derr = dec_begin(data)
    for y in range(h):
        cur, up, up2 = y % 3, (y + 2) % 3, (y + 1) % 3
        for x in range(w):
            for ch in range(c):
                rp.neighbours(img, y, x, ch, nb)
                rp.predictions(img, y, x, ch, nb, p)
                if fit_shift:
                    fit_n, fit_ref = ols.features(img, y, x, ch, fit_f)
                    p[8] = ols.predict(fit_w, fit_f, fit_n, ch, fit_ref)
                pb, emin = rp.blend(err, esum, cur, up, y, x, ch, p, n_pred, fit_weight)
                q, sg, e = rctx.activity(res, cur, up, x, ch)
                bc = q * 27 + sg
                big_p = min(max((pb + rp.bias(bsum, bcnt, ch, bc) + 8) >> 4, 0), maxv)
                rctx.compute(res, cur, up, up2, y, x, ch, bits, nb, p, n_pred, big_p, emin, e, q, sg, ctx)
                hashing.buckets(slots, ctx, act, ch, table_bits, hashes, base)
                r = np.int64(img[y, x, ch]) - big_p if not decoding else np.int64(0)
                m = abs(r) - 1
                ex = bit_length(m) if r != 0 else np.int64(0)
                stage, j, zero, neg, part = ZERO, np.int64(0), np.int64(0), np.int64(0), np.int64(1)
                while stage != DONE:
                    if stage == ZERO:  # nodes of the sample's bucket: 1 zero, 2 sign, 3 + j exponent
                        d, bit, node = 0, np.int64(r == 0), 1
                    elif stage == SIGN:
                        d, bit, node = 1, np.int64(r < 0), 2
                    elif stage == EXPONENT:
                        d, bit, node = 2 + j, np.int64(ex > j), 3 + min(j, 12)
                    else:  # of the exponent's bucket: 1 the first mantissa bit, 2 + it the second, 4 + k - 2 the rest
                        d, bit = 18 + (ex - 2) * 4 + min(j, 3), (m >> (ex - 2 - j)) & 1
                        node = 1 if j == 0 else (part if j == 1 else 2 + min(j, 13))
                    lit = stage == MANTISSA and j >= light_from
                    if lit:
                        li = ex * 16 + j
                        p1 = counters.probability(light[li, q], P_BITS)
                    else:
                        sf = _mix(d, q, ctx[7], slots, base, node, st, weights, final, sel, sm, stretch_t)
                        pm = squash(sf, squash_t)
                        a1, a2 = d * rctx.LEVELS + q, d * 32 + min(bit_length(emin), 31)
                        pa, ja, fa = apms.refine(apm, a1, sf)
                        pa2, ja2, fa2 = apms.refine(apm2, a2, sf)
                        p1 = min(max((pm * 2 + pa + pa2) >> 2, 1), one - 1)
                    if decoding:
                        bit, dcode, drng, dpos, derr = dec_bit(dcode, drng, dpos, derr, data, one - p1, one, P_BITS)
                    else:
                        low, rng, cache, pending, carry, pos, started = enc_bit(
                            low, rng, cache, pending, carry, pos, started, buf, bit, one - p1, one, P_BITS)
                        if cost.size:
                            cost[y, x, ch] += P_BITS - np.log2(p1 if bit else one - p1)
                    if lit:
                        light[li, q] = counters.update(light[li, q], bit, recip, limit)
                    else:
                        mixer.train(weights, sel, st, na + 1, sm, bit, squash_t, lr, lr_shift, quiet)
                        mixer.final_train(final, d, sm, (bit << P_BITS) - pm, lr2, lr_shift)
                        apms.update(apm, a1, ja, fa, bit, apm_rate)
                        apms.update(apm2, a2, ja2, fa2, bit, apm_rate)
                        counters.update_nodes(slots, base, node, bit, recip, limit)
                    if stage == ZERO:
                        zero, stage = bit, (DONE if bit else SIGN)
                    elif stage == SIGN:
                        neg, stage = bit, EXPONENT
                    elif stage == EXPONENT:
                        j += bit
                        if not bit or j == bits:  # e = j (the encoder's ex already)
                            ex, stage, j = j, (MANTISSA if j >= 2 else DONE), np.int64(0)
                            if ex >= 2:
                                hashing.rebucket(slots, hashes, 16 + ex, table_bits, base)
                    else:
                        part = part * 2 + bit
                        j += 1
                        stage = DONE if j == ex - 1 else MANTISSA
                if decoding:
                    mag = (part if ex >= 2 else ex) + 1
                    v = min(max(big_p + (0 if zero else (-mag if neg else mag)), 0), maxv)
                    img[y, x, ch] = v
                else:
                    v = np.int64(img[y, x, ch])
                rp.learn(err, cur, x, ch, p, n_pred, v)
                if fit_shift and x % fit_every == 0:
                    ols.learn(fit_a, fit_b, fit_w, fit_f, fit_n, ch, v - fit_ref, fit_shift)
                res[cur, x + 1, ch] = v - big_p
                if y or x:  # the tile's first pixel has no neighbours: its error says nothing of the blend
                    rp.learn_bias(bsum, bcnt, ch, bc, v, pb)
            if decoding and 0 <= slack < np.int64(dpos) - data.shape[0]:
                return buf, np.int64(dpos)
    if decoding:
        return buf, np.int64(dpos)
    return enc_end(low, rng, cache, pending, carry, pos, started, buf), np.int64(0)


Params = namedtuple("Params", "table_bits limit lr lr_shift quiet lr2 apm_rate fit_shift fit_every fit_weight "
                               "light_from")
# The payload's first byte names a set; a set is never edited, a new one gets a new byte. fit_shift 0: no
# least-squares fit; light_from: the first mantissa bit (0-based) coded by one counter (16: none).
PARAMS = {1: Params(table_bits=16, limit=127, lr=48, lr_shift=22, quiet=2048, lr2=64, apm_rate=7, fit_shift=0,
                    fit_every=1, fit_weight=16, light_from=16),
          2: Params(table_bits=16, limit=255, lr=48, lr_shift=22, quiet=2048, lr2=64, apm_rate=7, fit_shift=10,
                    fit_every=4, fit_weight=4, light_from=3)}
DEFAULT_PARAMS = 2
_NO_DATA = np.frombuffer(b"", np.uint8)
_NO_COST = np.zeros((0, 0, 0))


def _encode(tile, config, want_cost):
    """(payload, cost map or empty) of a plane group (h, w, c) of 16-bit samples. The payload: the parameter byte, the bits B coded, from
    set 2 a 16-bit offset (big-endian), then the stream. Set 1 codes the samples (B: the widest's bits); set 2 codes
    them less the offset, their smallest (or less, so that offset + 2^B - 1 stays within 16 bits; B: the widest
    difference's bits), so data stored with an offset (signed samples, a camera's black level) costs no more."""
    img = np.array(tile, dtype=np.uint16, order="C")
    lo, hi = (int(img.min()), int(img.max())) if img.size else (0, 0)
    if config == 1:
        lo = 0
    bits = max((hi - lo).bit_length(), 1)
    offset = min(lo, 65536 - (1 << bits))
    head = bytes([config, bits]) + (offset.to_bytes(2, "big") if config > 1 else b"")
    p = PARAMS[config]
    cost = np.zeros(img.shape if want_cost else (0, 0, 0))
    stream, _ = residual_kernel(False, img - np.uint16(offset), bits, _NO_DATA, p, tables(p.limit), -1,
                                ols.new_state(img.shape[2] if p.fit_shift else 0), cost)
    return head + stream.tobytes(), cost


def encode_tile(tile, config=DEFAULT_PARAMS):
    """(RESIDUAL, payload) of a plane group (h, w, c) of 16-bit samples: see `_encode`."""
    return RESIDUAL, _encode(tile, config, False)[0]


def bits_map(tile, config=DEFAULT_PARAMS):
    """-log2 p (float64, (h, w, c)) of every sample as this stage codes it: the sum over its decisions."""
    return _encode(tile, config, True)[1]


def decode_tile(payload, h, w, c, storage_bits, strict):
    """The (h, w, c) uint16 plane group of a RESIDUAL payload; any bytes decode to some samples, never crash or
    hang; strict: a stream that runs more than SLACK bytes past its end is a FormatError."""
    payload = bytes(payload)
    if storage_bits != 16:
        raise FormatError(f"residual tile in a group of {storage_bits}-bit samples (only 16-bit groups have them)")
    head = 2 if payload[:1] == b"\x01" else 4
    if len(payload) < head or payload[0] not in PARAMS or not 1 <= payload[1] <= 16:
        raise FormatError("bad residual payload header")
    bits, offset = payload[1], int.from_bytes(payload[2:head], "big")
    if offset + (1 << bits) > 65536:
        raise FormatError("bad residual payload header: offset and bits exceed 16-bit samples")
    p = PARAMS[payload[0]]
    img = np.zeros((h, w, c), np.uint16)
    stream = np.frombuffer(payload, np.uint8)[head:]
    _, read = residual_kernel(True, img, bits, stream, p, tables(p.limit), SLACK if strict else -1,
                              ols.new_state(c if p.fit_shift else 0), _NO_COST)
    pixel.check_exhausted(read, len(stream), SLACK if strict else -1)
    return img + np.uint16(offset) if offset else img


STAGE = stages.Stage(
    "residual", (RESIDUAL,), (2, 3), lambda net, channels, bits: bits > 8, lambda net, tile, effort, bits: {},
    lambda net, tile: encode_tile(tile),
    lambda net, method, payload, h, w, c, bits, strict: decode_tile(payload, h, w, c, bits, strict),
    lambda net, tile: bits_map(tile), model=False,
)
