"""The tile loop of the mixing stage: for each decision, predict (the components' inputs, mixed and refined),
code the bit, update every component that predicted it. One kernel serves the encoder and the decoder, so both
compute every probability the same way.

Each 8-bit sub-pixel is coded as 8 binary decisions, most significant bit first. The inputs of a decision are
the network's logit of the bit (from its integer CDF at the decision's interval), the counters of the active
contexts, the match model and a bias; the counters of a sample live in one bucket per context and nibble. Where
the network is sure (|logit| >= the set's `sure`), its probability is coded as it is and nothing learns."""

import numpy as np
from numba import njit

from lcodec.entropy.range_coder import dec_begin, dec_bit, enc_begin, enc_bit, enc_end, max_encoded_size
from lcodec.mixing import apm as apms, contexts, counters, hashing, match, mixer
from lcodec.mixing.logistic import P_BITS, ST_FRAC, ST_MAX, squash, stretch_ratio
from lcodec.model import adaptive
from lcodec.model.fixed_point import MU_FRAC, bit_length
from lcodec.model.mixture import PRECISION, cdf_at, mean, mixture, spread
from lcodec.model.network import forward, padded

N_CONF = 8  # weight sets of the first mixer per (channel, bit): octaves of the network's spread


@njit(cache=True, nogil=True)
def mix_kernel(decoding, img, data, bits, prm, tabs, net, work, adapt, slack):
    """Encode img -> (stream, 0) (bits, unless empty, gets each sub-pixel's -log2 p), or decode data into img ->
    (empty, bytes read), stopping once more than `slack` bytes past the end of data are read (slack >= 0)."""
    h, w, c = img.shape
    r = net.cfg.radius
    table_bits, limit, lr, lr_shift, apm_rate = prm.table_bits, prm.limit, prm.lr, prm.lr_shift, prm.apm_rate
    mask, apm_w, lr2, quiet, match_bits = prm.mask, prm.apm_w, prm.lr2, prm.quiet, prm.match_bits
    sure = prm.sure if prm.sure > 0 else ST_MAX + 1
    squash_t, stretch_t, log2_t, recip = tabs
    pad = np.zeros((h + r, w + 2 * r, c), np.int16) if decoding else padded(img, r)
    win, hid, acc, out, wts, mu, inv, scl = work
    sig_lut = net.sig_lut
    shift = net.cfg.adapt_shift
    act = contexts.active(mask)
    na = act.shape[0]
    n_in = na + 3  # the network, the contexts, the match model, a bias
    table, mcnt = match.new_state(c, match_bits)
    mpos = np.int64(-1)
    mlen = np.int64(0)
    slots = hashing.new_tables(na, table_bits)
    # first-layer weight sets: (channel, bit, network spread), (channel, bits so far), (channel, bit, match length)
    off1 = c * 8 * N_CONF
    off2 = off1 + c * 256
    weights = mixer.new_sets(off2 + c * 8 * 8, n_in)
    final = mixer.new_final(c * 8)
    apm = apms.new_maps(c * 256, squash_t)
    ctx = np.zeros(len(contexts.NAMES), np.int64)
    hashes = np.zeros(na, np.uint64)
    base = np.zeros(na, np.int64)
    st = np.zeros(n_in, np.int32)
    st[n_in - 1] = 1 << ST_FRAC  # the bias input
    sel, sm = np.zeros(mixer.SETS, np.int64), np.zeros(mixer.SETS, np.int64)  # the selected sets, their logits
    want_bits = bits.size > 0
    one = (1 << P_BITS)
    buf = np.empty(0 if decoding else max_encoded_size(h * w * c * 8, P_BITS), np.uint8)
    low, rng, cache, pending, carry, pos, started = enc_begin()
    dcode, drng, dpos, derr = dec_begin(data)
    for y in range(h):
        for x in range(w):
            forward(pad, y, x, net, win, hid, acc, out)
            if match_bits:
                mpos = match.find(table, pad, y, x, r, w, c, match_bits, mpos, mlen)
            my, mx = (mpos // w, mpos % w) if mpos >= 0 else (np.int64(0), np.int64(0))
            for ch in range(c):
                mixture(out, ch, pad[y + r, x + r, 0], pad[y + r, x + r, 1] if ch > 1 else 0, net, wts, mu, inv, scl)
                if shift:
                    adaptive.correct(adapt, y, x, ch, net.cfg, wts, mu, inv, scl)
                mm = mean(wts, mu)
                conf = min(max(bit_length(spread(wts, mu, scl, mm)) - 7, 0), N_CONF - 1)
                pv = min(max((mm + (1 << (MU_FRAC - 1))) >> MU_FRAC, 0), 255)
                contexts.compute(pad, adapt.errs, y, x, ch, r, pv, ctx)
                hashing.buckets(slots, ctx, act, ch, table_bits, hashes, base)
                v = np.int64(img[y, x, ch]) if not decoding else np.int64(0)
                pred = np.int64(img[my, mx, ch]) if mpos >= 0 else np.int64(-1)
                lo = np.int64(0)
                c_lo = np.int64(0)
                c_hi = np.int64(1) << PRECISION
                node = np.int64(1)
                for d in range(8):
                    if d == 4:  # the low nibble's buckets, keyed by the high nibble too
                        hashing.rebucket(slots, hashes, lo + 1, table_bits, base)
                        node = 1
                    mid = lo + (128 >> d)
                    c_mid = cdf_at(mid, wts, mu, inv, sig_lut)
                    st[0] = stretch_ratio(c_hi - c_mid, c_mid - c_lo, log2_t)
                    confident = abs(st[0]) >= sure  # the network is sure: its probability, nothing to learn
                    mk = -1
                    eb = 0
                    if confident:
                        p1 = min(max(squash(st[0], squash_t), 1), one - 1)
                        actx = fset = j = f = pm = 0
                    else:
                        counters.stretch_nodes(slots, base, node, stretch_t, st)
                        st[na + 1] = 0
                        if pred >= 0:
                            mk, eb, st[na + 1] = match.expect(pred, lo, d, ch, mlen, mcnt, stretch_t)
                        actx = ch * 256 + (1 << d) + (lo >> (8 - d))
                        sel[0] = (ch * 8 + d) * N_CONF + conf
                        sel[1] = off1 + actx
                        sel[2] = off2 + (ch * 8 + d) * 8 + (min(bit_length(mlen), 6) + 1 if mk >= 0 else 0)
                        mixer.dot(weights, sel, st, n_in, sm)
                        fset = ch * 8 + d
                        sf = mixer.final_dot(final, fset, sm)
                        pm = squash(sf, squash_t)
                        pa, j, f = apms.refine(apm, actx, sf)
                        p1 = min(max((pm * (4 - apm_w) + apm_w * pa) >> 2, 1), one - 1)
                    split = one - p1
                    if decoding:
                        bit, dcode, drng, dpos, derr = dec_bit(dcode, drng, dpos, derr, data, split, one, P_BITS)
                    else:
                        bit = (v >> (7 - d)) & 1
                        low, rng, cache, pending, carry, pos, started = enc_bit(
                            low, rng, cache, pending, carry, pos, started, buf, bit, split, one, P_BITS)
                        if want_bits:
                            bits[y, x, ch] += P_BITS - np.log2(p1 if bit else split)
                    if not confident:  # every component that predicted the bit learns from it
                        mixer.train(weights, sel, st, n_in, sm, bit, squash_t, lr, lr_shift, quiet)
                        mixer.final_train(final, fset, sm, (bit << P_BITS) - pm, lr2, lr_shift)
                        apms.update(apm, actx, j, f, bit, apm_rate)
                        if mk >= 0:
                            mcnt[mk] = counters.update(mcnt[mk], bit == eb, recip, limit)
                        counters.update_nodes(slots, base, node, bit, recip, limit)
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
            if match_bits:
                mpos, mlen = match.follow(img, my, mx, y, x, c, mpos, mlen)
    if decoding:
        return buf, np.int64(dpos)
    return enc_end(low, rng, cache, pending, carry, pos, started, buf), np.int64(0)
