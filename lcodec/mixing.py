"""Online context mixing over the network (method MIXED): the image is learned while it is coded.

A fixed network knows photos in general; this stage learns the one being coded, as the best lossless coders do.
Each 8-bit sub-pixel is coded as 8 binary decisions, most significant bit first. Every decision gets a
probability from online logistic mixers whose inputs, in the stretch domain, are the network's probability of
the decision (from its integer CDF at the decision's interval), a match model's, and adaptive probabilities kept
per context of the image itself (neighbour values, the pixel's earlier channels, cross-channel gradients, the
network's predicted value). The mixers' weights, the context statistics and an adaptive probability map (APM)
after the mixers all learn from each coded bit, identically in the decoder. Everything is integer arithmetic;
the lookup tables are computed with Python's decimal module, which rounds the same everywhere. FORMAT.md
section 4 specifies the stage; its parameters are the `Params` named by the payload's first byte.
"""

import functools
from collections import namedtuple
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import numpy as np
from numba import njit

from lcodec.entropy.range_coder import (
    DEC_STATE_SIZE, ENC_STATE_SIZE, dec_init, dec_load, dec_step, enc_finish, enc_init, enc_load, enc_step,
    enc_store, max_encoded_size,
)
from lcodec.errors import FormatError, InvalidInputError
from lcodec.model import adaptive, pixel
from lcodec.model.pixel import SLACK, TRIM
from lcodec.model.fixed_point import MU_FRAC, bit_length
from lcodec.model.mixture import PRECISION, cdf_at, mean, mixture, spread
from lcodec.model.network import forward, padded

P_BITS = 16          # coded probabilities: P(bit = 1) in [1, 2**16 - 1] / 2**16
ST_FRAC = 8          # stretch domain: logits in 1/256 nat...
ST_MAX = 4095        # ...clamped to +-16 nats
CTR_BITS = 22        # context counters: probability in the top 22 bits of a uint32, count in the low 10
CTR_COUNT_MASK = (1 << (32 - CTR_BITS)) - 1
CTR_HALF = 1 << (CTR_BITS - 1)
BUCKET = 16          # slots per hashed bucket: a check word and the 15 nodes of one nibble (64 bytes)
APM_STEP_BITS = 8    # APM interpolation knots every 256 stretch units
APM_KNOTS = 2 * (ST_MAX + 1) // (1 << APM_STEP_BITS) + 1
LOG_BITS = 10        # mantissa bits of the log2 table
N_CONTEXTS = 19      # counter inputs (a parameter set's mask picks some); the mixers also see the network,
                     # the match model and a bias
N_CONF = 8           # mixer weight sets per (channel, bit): octaves of the network's spread
WEIGHT_ONE = 1 << 16
W_CLAMP = 1 << 24    # mixer weights stay within +-256

Params = namedtuple("Params", "table_bits limit lr lr_shift apm_rate mask apm_w lr2 sure quiet match_bits")
# The payload's first byte selects one of these; a new set is a new byte value, never an edit.
PARAMS = {
    # photos: the contexts that pay on them, and the network's sure bits (|logit| >= 6) coded as it says
    1: Params(table_bits=16, limit=127, lr=48, lr_shift=22, apm_rate=7, mask=0b1111111001101000110, apm_w=1,
              lr2=64, sure=1536, quiet=2048, match_bits=18),
    # every context, larger tables, never sure (effort 3)
    2: Params(table_bits=17, limit=127, lr=48, lr_shift=22, apm_rate=7, mask=0b1111111111111111111, apm_w=1,
              lr2=64, sure=0, quiet=2048, match_bits=18),
    # synthetic images (screenshots, charts): every context, never sure (the network is confidently wrong there)
    3: Params(table_bits=16, limit=127, lr=48, lr_shift=22, apm_rate=7, mask=0b1111111111111111111, apm_w=1,
              lr2=64, sure=0, quiet=2048, match_bits=18),
}
DEFAULT_PARAMS = 1
SYNTHETIC = 3
SYNTHETIC_REPEATS = 0.4  # tiles where more pixels than this equal their left neighbour are synthetic


def choose_params(tile, effort=2):
    """The parameter set the encoder uses for a tile: at effort 2, SYNTHETIC where pixels often repeat their left
    neighbour (screenshots, charts: the network's sure bits are not to be trusted there), else the photo set."""
    if effort >= 3:
        return 2
    tile = np.asarray(tile)
    if tile.shape[1] < 2:
        return DEFAULT_PARAMS
    repeats = np.all(tile[:, 1:] == tile[:, :-1], axis=-1).mean()
    return SYNTHETIC if repeats > SYNTHETIC_REPEATS else DEFAULT_PARAMS


Tables = namedtuple("Tables", "squash stretch log2 recip")


@functools.cache
def tables(limit):
    """squash (2 ST_MAX + 1 entries, 16-bit probability of stretch s - ST_MAX), stretch (4096 entries, of 12-bit
    probabilities j + 1/2), log2 (mantissa table, 16 fraction bits), recip (65536 / (n + 1.5) for counters)."""
    with localcontext() as context:  # the caller's decimal settings must not change the tables
        context.prec = 40
        context.rounding = ROUND_HALF_EVEN
        one = Decimal(1)
        squash = np.empty(2 * ST_MAX + 1, np.int64)
        for i in range(ST_MAX + 1):
            p = int((Decimal(1 << P_BITS) / (one + (Decimal(-i) / (1 << ST_FRAC)).exp())).to_integral_value())
            p = min(max(p, 1), (1 << P_BITS) - 1)
            squash[ST_MAX + i] = p
            squash[ST_MAX - i] = (1 << P_BITS) - p
        stretch = np.empty(4096, np.int64)
        for j in range(2048):
            p = (Decimal(j) + Decimal("0.5")) / 4096
            s = int(((p / (one - p)).ln() * (1 << ST_FRAC)).to_integral_value())
            stretch[j], stretch[4095 - j] = s, -s
        log2 = np.array([int(((one + Decimal(m) / (1 << LOG_BITS)).ln() / Decimal(2).ln() * (1 << 16))
                             .to_integral_value()) for m in range(1 << LOG_BITS)], np.int64)
        recip = np.array([int((Decimal(1 << 16) / (Decimal(n) + Decimal("1.5"))).to_integral_value())
                          for n in range(limit + 1)], np.int64)
    return Tables(squash, stretch, log2, recip)


@njit(cache=True, nogil=True, inline="always")
def _log2(v, lut):
    """log2(v) in 1/65536 for 1 <= v < 2**32."""
    b = bit_length(v) - 1
    m = ((v << LOG_BITS) >> b) - (1 << LOG_BITS)
    return (np.int64(b) << 16) + lut[m]


@njit(cache=True, nogil=True, inline="always")
def _stretch_ratio(n1, n0, lut):
    """ln(n1 / n0) in 1/256 nat, clamped to +-ST_MAX (256 ln 2 = 11629 / 2**22 per 1/65536 of log2)."""
    s = ((_log2(n1, lut) - _log2(n0, lut)) * 11629) >> 22
    return min(max(s, -ST_MAX), ST_MAX)


@njit(cache=True, nogil=True, inline="always")
def _hash(a, b):
    """64-bit mix of two integers (wrapping uint64 arithmetic)."""
    h = (np.uint64(a) * np.uint64(0x9E3779B97F4A7C15)) ^ np.uint64(b)
    h ^= h >> np.uint64(29)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(32)
    return h


@njit(cache=True, nogil=True, inline="always")
def _bucket(slots, i, h, table_bits):
    """Start of the bucket of hash h in input i's table; a bucket whose check word differs is reset."""
    b = np.int64(h >> np.uint64(64 - table_bits)) * BUCKET
    check = np.uint32(h & np.uint64(0xFFFFFFFF)) | np.uint32(1)
    if slots[i, b] != check:
        slots[i, b] = check
        for k in range(1, BUCKET):
            slots[i, b + k] = np.uint32(0)
    return b


@njit(cache=True, nogil=True, inline="always")
def _count(s, bit, recip, limit):
    """A counter slot after coding bit: its probability moves 1/(n + 1.5) of the way, its count n goes up."""
    p = np.int64((s >> (32 - CTR_BITS)) ^ CTR_HALF)
    n = np.int64(s & CTR_COUNT_MASK)
    p += ((((1 << CTR_BITS) - 1) if bit else 0) - p) * recip[n] >> 16
    return np.uint32(((p ^ CTR_HALF) << (32 - CTR_BITS)) | min(n + 1, limit))


@njit(cache=True, nogil=True, inline="always")
def _errq(e):
    """An error of the adaptive stage (1/256 pixel) quantised to 16 levels, finer near zero."""
    a = abs(e) >> 7
    q = min(bit_length(a), 7)
    return q + 8 if e < 0 else q


@njit(cache=True, nogil=True, inline="always")
def _contexts(pad, errs, y, x, ch, r, pv, ctx):
    """The counter contexts of sub-pixel (y, x, ch) from the pixels coded before it (128 outside the tile)."""
    yy = y + r
    xx = x + r
    w_ = np.int64(pad[yy, xx - 1, ch]) + 128
    n_ = np.int64(pad[yy - 1, xx, ch]) + 128
    nw = np.int64(pad[yy - 1, xx - 1, ch]) + 128
    ne = np.int64(pad[yy - 1, xx + 1, ch]) + 128
    ww = np.int64(pad[yy, xx - 2, ch]) + 128
    nn = np.int64(pad[yy - 2, xx, ch]) + 128
    cur = y & 1
    up = cur ^ 1
    if ch > 0:
        p = ch - 1
        xp = np.int64(pad[yy, xx, p]) + 128
        wp = np.int64(pad[yy, xx - 1, p]) + 128
        np_ = np.int64(pad[yy - 1, xx, p]) + 128
        nep = np.int64(pad[yy - 1, xx + 1, p]) + 128
        x0 = np.int64(pad[yy, xx, 0]) + 128
        x1 = np.int64(pad[yy, xx, 1]) + 128 if ch > 1 else 256
        cw = min(max(w_ + xp - wp, 0), 255)
        cn = min(max(n_ + xp - np_, 0), 255)
        cne = min(max(ne + xp - nep, 0), 255)
        near = (x0 << 9) | x1
        eq = _errq(errs[cur, x + 1, p]) << 4 | _errq(errs[cur, x + 1, 0])
        if ch > 1:
            w0 = np.int64(pad[yy, xx - 1, 0]) + 128
            n0 = np.int64(pad[yy - 1, xx, 0]) + 128
            c2 = min(max(w_ + (xp - wp + x0 - w0) // 2, 0), 255) + min(max(n_ + (xp - np_ + x0 - n0) // 2, 0), 255)
        else:
            c2 = cw + cn
    else:
        x0 = 256
        cw = min(max(w_ + n_ - nw, 0), 255)
        cn = min(max((w_ + ne + 1) >> 1, 0), 255)
        cne = min(max(ne + n_ - np.int64(pad[yy - 2, xx + 1, ch]) - 128, 0), 255)
        near = ((n_ >> 2) << 6) | (ne >> 2)
        eq = _errq(errs[cur, x, ch]) << 4 | _errq(errs[up, x + 1, ch])
        c2 = cw + cn
    grad = bit_length(abs(w_ - nw) + abs(n_ - nw) + abs(ne - n_))
    ctx[0] = (w_ << 8) | n_
    ctx[1] = (near << 6) | (w_ >> 2)
    ctx[2] = pv
    ctx[3] = (((x & 7) << 3 | (y & 7)) << 5) | (pv >> 3)
    ctx[4] = (((w_ << 8 | n_) << 8 | nw) << 8) | ne
    ctx[5] = ((grad << 10 | (pv - w_ + 512)) << 10) | (pv - n_ + 512)
    ctx[6] = (min(max(w_ + n_ - nw, -256), 511) + 256) << 9 | (x0 >> 3)
    ctx[7] = (((ww << 8 | nn) << 8 | w_) << 8) | n_
    ctx[8] = cw
    ctx[9] = cn
    ctx[10] = ((((cw + cn) >> 1) << 6 | (pv >> 2)) << 3) | (x & 7)
    ctx[11] = (pv << 8) | eq
    ctx[12] = (cne << 6) | (pv >> 2)
    ctx[13] = c2
    ctx[14] = ((cw >> 1) << 7) | (cn >> 1)
    ctx[15] = ((near << 6) | (n_ >> 2))
    ctx[16] = ((near << 6) | (ne >> 2))
    ctx[17] = ((near << 7) | (pv >> 1))
    ctx[18] = ((near << 7) | (cw >> 1))


@njit(cache=True, nogil=True)
def _mix_kernel(decoding, img, data, bits, prm, tabs, net, work, adapt, slack):
    """Encode img (decoding = False) -> (stream, 0), or decode data into img -> (empty, bytes read): one loop, so the
    encoder and the decoder compute every probability the same way. A decoder that has read more than `slack` bytes
    past the end of data (slack >= 0) stops there."""
    h, w, c = img.shape
    r = net.cfg.radius
    table_bits, limit, lr, lr_shift, apm_rate = prm.table_bits, prm.limit, prm.lr, prm.lr_shift, prm.apm_rate
    mask, apm_w, lr2, sure, quiet, match_bits = prm.mask, prm.apm_w, prm.lr2, prm.sure, prm.quiet, prm.match_bits
    if sure <= 0:
        sure = ST_MAX + 1
    squash, stretch, log2, recip = tabs
    pad = np.zeros((h + r, w + 2 * r, c), np.int16) if decoding else padded(img, r)
    win, hid, acc, out, wts, mu, inv, scl = work
    sig_lut = net.sig_lut
    shift = net.cfg.adapt_shift
    na = 0
    for i in range(N_CONTEXTS):
        na += (mask >> i) & 1
    act = np.zeros(na, np.int64)
    na = 0
    for i in range(N_CONTEXTS):
        if (mask >> i) & 1:
            act[na] = i
            na += 1
    n_in = na + 3  # the network, the contexts, the match model, a bias
    # match model: the last position of each hashed run of 4 causal pixels, and the match it predicts from
    table = np.zeros((np.int64(1) << match_bits) if match_bits else 1, np.int64)
    mcnt = np.zeros(c * 16 * 8, np.uint32)
    mpos = np.int64(-1)
    mlen = np.int64(0)
    slots = np.zeros((na, (np.int64(1) << table_bits) * BUCKET), np.uint32)
    # first-layer weight sets: (channel, bit, network spread), (channel, bits so far), (channel, bit, match length)
    off1 = c * 8 * N_CONF
    off2 = off1 + c * 256
    weights = np.zeros((off2 + c * 8 * 8, n_in), np.int32)
    for s in range(weights.shape[0]):
        weights[s, 0] = WEIGHT_ONE
    final = np.full((c * 8, 3), WEIGHT_ONE // 3, np.int64)
    apm = np.empty((c * 256, APM_KNOTS), np.int64)
    for j in range(APM_KNOTS):
        v = min(max((j << APM_STEP_BITS) - (ST_MAX + 1), -ST_MAX), ST_MAX)
        for s in range(apm.shape[0]):
            apm[s, j] = squash[v + ST_MAX]
    ctx = np.zeros(N_CONTEXTS, np.int64)
    hashes = np.zeros(na, np.uint64)
    base = np.zeros(na, np.int64)
    st = np.zeros(n_in, np.int32)
    st[n_in - 1] = 1 << ST_FRAC  # the bias input
    sel = np.zeros(3, np.int64)
    sm = np.zeros(3, np.int64)
    want_bits = bits.size > 0
    one = (1 << P_BITS)
    buf = np.empty(0 if decoding else max_encoded_size(h * w * c * 8, P_BITS), np.uint8)
    estate = np.zeros(ENC_STATE_SIZE, np.uint64)
    enc_init(estate)
    low, rng, cache, pending, carry, pos, started = enc_load(estate)
    dstate = np.zeros(DEC_STATE_SIZE, np.uint64)
    dec_init(dstate, data)
    dcode, drng, dpos, derr = dec_load(dstate)
    for y in range(h):
        for x in range(w):
            forward(pad, y, x, net, win, hid, acc, out)
            my = mx = np.int64(0)
            if match_bits:
                here = y * w + x
                if mlen == 0:
                    hh = np.uint64(0)
                    for ch in range(c):
                        hh = _hash(hh, ((np.int64(pad[y + r, x + r - 1, ch]) << 8 | (pad[y + r, x + r - 2, ch] + 128))
                                        << 8 | (pad[y + r, x + r - 3, ch] + 128)) << 8 | (pad[y + r - 1, x + r, ch] + 128))
                    slot = np.int64(hh >> np.uint64(64 - match_bits))
                    mpos = table[slot] - 1
                    table[slot] = here + 1
                if mpos >= 0:
                    my = mpos // w
                    mx = mpos - my * w
            for ch in range(c):
                mixture(out, ch, pad[y + r, x + r, 0], pad[y + r, x + r, 1] if ch > 1 else 0, net, wts, mu, inv, scl)
                if shift:
                    adaptive.correct(adapt, y, x, ch, net.cfg, wts, mu, inv, scl)
                mm = mean(wts, mu)
                mad = spread(wts, mu, scl, mm)
                conf = min(max(bit_length(mad) - 7, 0), N_CONF - 1)
                pv = min(max((mm + (1 << (MU_FRAC - 1))) >> MU_FRAC, 0), 255)
                _contexts(pad, adapt.errs, y, x, ch, r, pv, ctx)
                for a in range(na):
                    hashes[a] = _hash(ctx[act[a]], act[a] * 4 + ch)
                    base[a] = _bucket(slots, a, hashes[a], table_bits)
                v = np.int64(img[y, x, ch]) if not decoding else np.int64(0)
                lo = np.int64(0)
                c_lo = np.int64(0)
                c_hi = np.int64(1) << PRECISION
                node = np.int64(1)
                for d in range(8):
                    if d == 4:  # the low nibble's buckets, keyed by the high nibble too
                        for a in range(na):
                            base[a] = _bucket(slots, a, _hash(hashes[a], lo + 1), table_bits)
                        node = 1
                    mid = lo + (128 >> d)
                    c_mid = cdf_at(mid, wts, mu, inv, sig_lut)
                    st[0] = _stretch_ratio(c_hi - c_mid, c_mid - c_lo, log2)
                    confident = abs(st[0]) >= sure  # the network is sure: its probability, nothing to learn
                    mk = -1
                    eb = 0
                    if confident:
                        p1 = min(max(squash[st[0] + ST_MAX], 1), one - 1)
                        actx = fset = sf = j = f = pm = 0
                    else:
                        for a in range(na):
                            st[a + 1] = stretch[(((slots[a, base[a] + node] >> (32 - CTR_BITS)) ^ CTR_HALF)
                                                 >> (CTR_BITS - 12))]
                        st[na + 1] = 0
                        if mpos >= 0:
                            pred = np.int64(img[my, mx, ch])
                            if (pred >> (8 - d)) == (lo >> (8 - d)):  # the match's value is still possible
                                eb = (pred >> (7 - d)) & 1
                                mk = (ch * 16 + min(mlen, 15)) * 8 + d
                                ms = stretch[(((mcnt[mk] >> (32 - CTR_BITS)) ^ CTR_HALF) >> (CTR_BITS - 12))]
                                st[na + 1] = ms if eb else -ms
                        actx = ch * 256 + (1 << d) + (lo >> (8 - d))
                        sel[0] = (ch * 8 + d) * N_CONF + conf
                        sel[1] = off1 + actx
                        sel[2] = off2 + (ch * 8 + d) * 8 + (min(bit_length(mlen), 6) + 1 if mk >= 0 else 0)
                        r0 = weights[sel[0]]
                        r1 = weights[sel[1]]
                        r2 = weights[sel[2]]
                        d0 = d1 = d2 = np.int64(0)
                        for i in range(n_in):
                            xi = np.int64(st[i])
                            d0 += r0[i] * xi
                            d1 += r1[i] * xi
                            d2 += r2[i] * xi
                        sm[0] = min(max(d0 >> 16, -ST_MAX), ST_MAX)
                        sm[1] = min(max(d1 >> 16, -ST_MAX), ST_MAX)
                        sm[2] = min(max(d2 >> 16, -ST_MAX), ST_MAX)
                        fset = ch * 8 + d
                        dot = np.int64(0)
                        for m in range(3):
                            dot += final[fset, m] * sm[m]
                        sf = min(max(dot >> 16, -ST_MAX), ST_MAX)
                        pm = squash[sf + ST_MAX]
                        ap = sf + ST_MAX + 1
                        j = ap >> APM_STEP_BITS
                        f = ap & ((1 << APM_STEP_BITS) - 1)
                        pa = (apm[actx, j] * ((1 << APM_STEP_BITS) - f) + apm[actx, j + 1] * f) >> APM_STEP_BITS
                        p1 = min(max((pm * (4 - apm_w) + apm_w * pa) >> 2, 1), one - 1)
                    split = one - p1
                    if decoding:
                        bit = 1 if dcode >= (drng >> np.uint64(P_BITS)) * np.uint64(split) else 0
                        if bit:
                            dcode, drng, dpos, derr = dec_step(dcode, drng, dpos, derr, data, split, one, P_BITS)
                        else:
                            dcode, drng, dpos, derr = dec_step(dcode, drng, dpos, derr, data, 0, split, P_BITS)
                    else:
                        bit = (v >> (7 - d)) & 1
                        if bit:
                            low, rng, cache, pending, carry, pos, started = enc_step(
                                low, rng, cache, pending, carry, pos, started, buf, split, one, P_BITS)
                        else:
                            low, rng, cache, pending, carry, pos, started = enc_step(
                                low, rng, cache, pending, carry, pos, started, buf, 0, split, P_BITS)
                        if want_bits:
                            bits[y, x, ch] += P_BITS - np.log2(p1 if bit else split)
                    if not confident:  # learn from the bit
                        for m in range(3):
                            err = (bit << P_BITS) - squash[sm[m] + ST_MAX]
                            if abs(err) > quiet:
                                row = weights[sel[m]]
                                ek = np.int32((err * lr) >> 10)
                                for i in range(n_in):
                                    row[i] = min(max(row[i] + ((st[i] * ek) >> np.int32(lr_shift - 10)), -W_CLAMP), W_CLAMP)
                        err = (bit << P_BITS) - pm
                        for m in range(3):
                            final[fset, m] += (sm[m] * err * lr2) >> lr_shift
                        target = ((1 << P_BITS) - 1) if bit else 0
                        apm[actx, j] += ((target - apm[actx, j]) * ((1 << APM_STEP_BITS) - f)) >> (
                            apm_rate + APM_STEP_BITS)
                        apm[actx, j + 1] += ((target - apm[actx, j + 1]) * f) >> (apm_rate + APM_STEP_BITS)
                        if mk >= 0:
                            mcnt[mk] = _count(mcnt[mk], bit == eb, recip, limit)
                        for a in range(na):
                            slots[a, base[a] + node] = _count(slots[a, base[a] + node], bit, recip, limit)
                    if bit:
                        lo = mid
                        c_lo = c_mid
                    else:
                        c_hi = c_mid
                    node = 2 * node + bit
                if decoding:
                    img[y, x, ch] = lo
                    pad[y + r, x + r, ch] = lo - 128
                if shift:
                    adaptive.learn(adapt, y, x, ch, lo, shift)
            if decoding and 0 <= slack < np.int64(dpos) - data.shape[0]:
                return buf, np.int64(dpos)
            if match_bits:  # a match that predicted this pixel goes on to the next one
                hit = mpos >= 0
                for ch in range(c):
                    hit = hit and img[my, mx, ch] == img[y, x, ch]
                if hit:
                    mpos += 1
                    mlen += 1
                else:
                    mpos = -1
                    mlen = 0
    if decoding:
        return buf, np.int64(dpos)
    enc_store(estate, low, rng, cache, pending, carry, pos, started)
    n = enc_finish(estate, buf, TRIM)
    return buf[:n].copy(), np.int64(0)


MIN_RADIUS = 3  # the contexts and the match model read up to three pixels left and two rows up


def supports(net):
    """Whether the stage can run over this network: its padding must hold every context's neighbours."""
    return net.config.radius >= MIN_RADIUS


def _params(config):
    p = PARAMS.get(config)
    if p is None:
        raise FormatError(f"unknown mixing parameter set {config}")
    return p


_NO_DATA = np.frombuffer(b"", np.uint8)  # read-only, as a decoded payload is: one compiled kernel


def _run(decoding, net, img, data, bits, p, slack=-1):
    return _mix_kernel(decoding, img, data, bits, p, tables(p.limit), net.kernel_net, pixel.work_buffers(net),
                       pixel.state(net, img.shape[1]), slack)


def _encode(net, tile, config, bits):
    if not supports(net):
        raise InvalidInputError(f"model {net.name} has a context radius under {MIN_RADIUS}: no mixing stage over it")
    tile = pixel.check_tile(net, tile)
    p = _params(config)
    out = np.zeros(tile.shape) if bits else np.zeros((0, 0, 0))
    stream, _ = _run(False, net, tile, _NO_DATA, out, p)
    return bytes([config]) + stream.tobytes(), out


def encode_tile(net, tile, *, config=DEFAULT_PARAMS):
    """Code a uint8 tile (h, w, C) -> payload bytes (the parameter byte, then the stream). Releases the GIL."""
    return _encode(net, tile, config, False)[0]


def bits_map(net, tile, *, config=DEFAULT_PARAMS):
    """-log2 p (float64, (h, w, C)) of every sub-pixel as this stage codes it: the sum over its 8 decisions."""
    return _encode(net, tile, config, True)[1]


def decode_tile(net, payload, h, w, *, strict=False):
    """Decode h x w pixels from a payload of encode_tile; any bytes decode to some pixels, never crash or hang.
    strict (version 3 files): a stream that runs more than SLACK bytes past its end is a FormatError."""
    h, w = pixel.check_size(h, w)
    if not supports(net):
        raise FormatError(f"mixed tile over model {net.name}, whose context radius is under {MIN_RADIUS}")
    payload = bytes(payload)
    if not payload:
        raise FormatError("empty mixing payload")
    p = _params(payload[0])
    img = np.zeros((h, w, net.channels), np.uint8)
    stream = np.frombuffer(payload, np.uint8)[1:]
    _, read = _run(True, net, img, stream, np.zeros((0, 0, 0)), p, SLACK if strict else -1)
    pixel.check_exhausted(read, len(stream), SLACK if strict else -1)
    return img
