"""An independent reference of coding method MIXED, written from FORMAT.md section 4.1 (and, for the network and
its adaptive stage, WEIGHTS.md sections 4 and 5 through `lcodec.model.reference`), without reading the kernels of
`lcodec.mixing`. The tests hold the kernels to it bit for bit, so a kernel and the spec cannot drift apart unseen.

Plain Python integers, one decision at a time, every state a dict or a list: slow by design (some thousands of
decisions a second), for small tiles. Where the spec fixes a width (hashes uint64, slots uint32, coder registers
uint64) the wrapping is written out; everything else is exact, as the spec says it is.
"""

from collections import Counter, namedtuple
from decimal import ROUND_HALF_EVEN, Context, Decimal

import numpy as np

from lcodec.errors import FormatError
from lcodec.mixing.reference_coder import TRIM, Decoder, Encoder
from lcodec.model import reference as netref

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
SLACK = 7 + TRIM  # bytes a strict decoder may read past the end (section 4.1.16)
MIN_RADIUS = 3  # the contexts and the match model read three columns left, two rows up (section 4.1.1)
PRECISION = 24  # the network's CDF C(v), WEIGHTS.md section 4.8

# Section 4.1.17: a set is never edited, so these are spelled out rather than imported from the kernels.
Params = namedtuple("Params", "table_bits limit lr lr_shift apm_rate apm_w lr2 sure quiet match_bits mask")
SETS = {
    1: Params(16, 127, 48, 22, 7, 1, 64, 1536, 2048, 18, 0x7F346),
    2: Params(17, 127, 48, 22, 7, 1, 64, 0, 2048, 18, 0x7FFFF),
    3: Params(16, 127, 48, 22, 7, 1, 64, 0, 2048, 18, 0x7FFFF),
}
CONTEXT_NAMES = ("w_n", "near_w", "pv", "pos_pv", "w_n_nw_ne", "grad_pv_w_n", "plane_x0", "ww_nn_w_n", "pred_w",
                 "pred_n", "pred_mean_pv_x", "pv_errors", "pred_ne_pv", "pred_sum", "pred_w_n", "near_n", "near_ne",
                 "near_pv", "near_pred_w")


# -- 4.1.3 tables -------------------------------------------------------------------------------------------------

def _tables():
    """SQUASH, STRETCH, LOG2 and RECIP (up to n = 1023) as the spec evaluates them: 40 significant digits, each
    operation rounded half to even, then rounded to an integer half to even."""
    ctx = Context(prec=40, rounding=ROUND_HALF_EVEN)
    one = Decimal(1)

    def rnd(v):
        return int(v.to_integral_value(rounding=ROUND_HALF_EVEN, context=ctx))

    squash = [0] * 8191
    for i in range(4096):
        den = ctx.add(one, ctx.exp(ctx.divide(Decimal(-i), Decimal(256))))
        q = min(max(rnd(ctx.divide(Decimal(65536), den)), 1), 65535)
        squash[4095 + i], squash[4095 - i] = q, 65536 - q
    stretch = [0] * 4096
    for j in range(2048):
        p = ctx.divide(ctx.add(Decimal(j), Decimal("0.5")), Decimal(4096))
        stretch[j] = rnd(ctx.multiply(Decimal(256), ctx.ln(ctx.divide(p, ctx.subtract(one, p)))))
        stretch[4095 - j] = -stretch[j]
    ln2 = ctx.ln(Decimal(2))
    log2 = [rnd(ctx.multiply(Decimal(65536), ctx.divide(ctx.ln(ctx.add(one, ctx.divide(Decimal(m), Decimal(1024)))),
                                                         ln2))) for m in range(1024)]
    recip = [rnd(ctx.divide(Decimal(65536), ctx.add(Decimal(n), Decimal("1.5")))) for n in range(1024)]
    return squash, stretch, log2, recip


SQUASH, STRETCH, LOG2, RECIP = _tables()


def log2_fixed(v):
    """L(v): log2 v in 2^-16, for 1 <= v < 2^32."""
    b = v.bit_length() - 1
    return 65536 * b + LOG2[((v << 10) >> b) - 1024]


def logit_of_counts(n1, n0):
    """R(n1, n0): the logit ln(n1 / n0) in about 1/256 nat, clamped to the stretch domain."""
    return min(max(((log2_fixed(n1) - log2_fixed(n0)) * 11629) >> 22, -4095), 4095)


# -- 4.1.8 hashing, 4.1.9 counters --------------------------------------------------------------------------------

def mix_hash(a, b):
    """H(a, b): both arguments and every step modulo 2^64."""
    h = ((a * 0x9E3779B97F4A7C15) & M64) ^ (b & M64)
    h ^= h >> 29
    h = (h * 0xBF58476D1CE4E5B9) & M64
    return h ^ (h >> 32)


def counter_p(s):
    """P(s): the probability of a 1, in 2^-22, of a uint32 counter slot."""
    return (s >> 10) ^ (1 << 21)


def counter_input(s):
    return STRETCH[counter_p(s) >> 10]


def counter_update(s, bit, limit):
    """The slot after counting bit: P moves by 1 / (n + 3/2) towards the bit, the count n stops at limit."""
    p, n = counter_p(s), s & 1023
    p += ((bit * ((1 << 22) - 1) - p) * RECIP[n]) >> 16
    return (((p ^ (1 << 21)) << 10) | min(n + 1, limit)) & M32


class Table:
    """One active context's table: 2^bits buckets of 16 uint32 slots (check word, 15 nibble nodes), all 0 at first;
    a dict holds the buckets ever touched (an absent one is all zero, and its slot 0 differs from any check word)."""

    def __init__(self, bits):
        self.bits = bits
        self.buckets = {}
        self.reclaimed = 0  # lookups that took a bucket from another hash (for tests)

    def lookup(self, v):
        """B(v): the bucket of hash v, claimed (its counters cleared) where its check word is another hash's."""
        beta, kappa = v >> (64 - self.bits), (v & M32) | 1
        slots = self.buckets.get(beta)
        if slots is None or slots[0] != kappa:
            self.reclaimed += slots is not None
            self.buckets[beta] = [kappa] + [0] * 15
        return beta


# -- 4.1.6, 4.1.7 what a sub-pixel sees ---------------------------------------------------------------------------

def _clamp(v, lo, hi):
    return min(max(v, lo), hi)


def _bl(v):
    return v.bit_length() if v > 0 else 0


def quantise_error(e):
    """Q(e): an error of the adaptive stage on 16 levels, octaves of |e| / 128, sign in the high bit."""
    q = min(_bl(abs(e) >> 7), 7)
    return q + 8 if e < 0 else q


def contexts(S, E, y, x, ch, pv):
    """The 19 context values of sub-pixel (y, x, ch) (section 4.1.7): S(y, x, k) the samples (128 outside the tile),
    E(y, x, k) the adaptive stage's stored errors, pv the network's predicted value."""
    W, N, NW, NE = S(y, x - 1, ch), S(y - 1, x, ch), S(y - 1, x - 1, ch), S(y - 1, x + 1, ch)
    WW, NN = S(y, x - 2, ch), S(y - 2, x, ch)
    grad = _bl(abs(W - NW) + abs(N - NW) + abs(NE - N))
    Q = quantise_error
    if ch == 0:
        X0 = 256
        cw = _clamp(W + N - NW, 0, 255)
        cn = _clamp((W + NE + 1) >> 1, 0, 255)
        cne = _clamp(NE + N - S(y - 2, x + 1, 0), 0, 255)
        near = 64 * (N >> 2) + (NE >> 2)
        eq = 16 * Q(E(y, x - 1, 0)) + Q(E(y - 1, x, 0))
        c2 = cw + cn
    else:
        p = ch - 1
        Xp, Wp, Np, NEp = S(y, x, p), S(y, x - 1, p), S(y - 1, x, p), S(y - 1, x + 1, p)
        X0 = S(y, x, 0)
        X1 = S(y, x, 1) if ch == 2 else 256
        cw = _clamp(W + Xp - Wp, 0, 255)
        cn = _clamp(N + Xp - Np, 0, 255)
        cne = _clamp(NE + Xp - NEp, 0, 255)
        near = 512 * X0 + X1
        eq = 16 * Q(E(y, x, p)) + Q(E(y, x, 0))
        if ch == 1:
            c2 = cw + cn
        else:
            W0, N0 = S(y, x - 1, 0), S(y - 1, x, 0)
            c2 = _clamp(W + (Xp - Wp + X0 - W0) // 2, 0, 255) + _clamp(N + (Xp - Np + X0 - N0) // 2, 0, 255)
    return [
        256 * W + N,
        64 * near + (W >> 2),
        pv,
        256 * (x & 7) + 32 * (y & 7) + (pv >> 3),
        (W << 24) + (N << 16) + (NW << 8) + NE,
        (grad << 20) + ((pv - W + 512) << 10) + (pv - N + 512),
        512 * (_clamp(W + N - NW, -256, 511) + 256) + (X0 >> 3),
        (WW << 24) + (NN << 16) + (W << 8) + N,
        cw,
        cn,
        512 * ((cw + cn) >> 1) + 8 * (pv >> 2) + (x & 7),
        256 * pv + eq,
        64 * cne + (pv >> 2),
        c2,
        128 * (cw >> 1) + (cn >> 1),
        64 * near + (N >> 2),
        64 * near + (NE >> 2),
        128 * near + (pv >> 1),
        128 * near + (cw >> 1),
    ]


# -- the tile loop (4.1.5) ----------------------------------------------------------------------------------------

class _Mixing:
    """The per-tile state of section 4.1.4 and the work of one decision (4.1.11 to 4.1.13, 4.1.15)."""

    def __init__(self, prm, c, stats):
        self.prm, self.stats = prm, stats
        self.active = [i for i in range(19) if prm.mask >> i & 1]
        n_in = len(self.active) + 3
        self.tables = [Table(prm.table_bits) for _ in self.active]
        self.mc = [0] * (c * 16 * 8)
        first = [65536] + [0] * (n_in - 1)
        self.w0 = [list(first) for _ in range(c * 64)]
        self.w1 = [list(first) for _ in range(c * 256)]
        self.w2 = [list(first) for _ in range(c * 64)]
        self.f = [[21845] * 3 for _ in range(c * 8)]
        knots = [SQUASH[_clamp(256 * j - 4096, -4095, 4095) + 4095] for j in range(33)]
        self.apm = [list(knots) for _ in range(c * 256)]

    def decide(self, coder, bit, *, ch, d, lo, s0, buckets, conf, match):
        """Code (or decode) decision d of a sub-pixel whose bits so far are lo; returns (bit, p). match is (pred,
        mlen) where the pixel has a predicted pixel, else None."""
        prm = self.prm
        if prm.sure > 0 and abs(s0) >= prm.sure:
            self.stats["sure"] += 1
            p = SQUASH[s0 + 4095]
            return coder.code(bit, p), p
        n = (1 << d) + (lo >> (8 - d))
        dn = d & 3
        node = (1 << dn) + ((lo >> (8 - d)) & ((1 << dn) - 1))
        s = [s0] + [counter_input(t.buckets[b][node]) for t, b in zip(self.tables, buckets)]
        mk = eb = None
        g = 0
        if match is not None and match[0] >> (8 - d) == lo >> (8 - d):
            pred, mlen = match
            eb = (pred >> (7 - d)) & 1
            mk = (ch * 16 + min(mlen, 15)) * 8 + d
            m = counter_input(self.mc[mk])
            s.append(m if eb else -m)
            g = min(_bl(mlen), 6) + 1
            self.stats["match"] += 1
            self.stats["long match"] += g == 7
        else:
            s.append(0)
            self.stats["no match" if match is None else "match lost"] += 1
        s.append(256)
        rows = (self.w0[(ch * 8 + d) * 8 + conf], self.w1[ch * 256 + n], self.w2[(ch * 8 + d) * 8 + g])
        t = [_clamp(sum(wi * si for wi, si in zip(row, s)) >> 16, -4095, 4095) for row in rows]
        fr = self.f[ch * 8 + d]
        sf = _clamp((fr[0] * t[0] + fr[1] * t[1] + fr[2] * t[2]) >> 16, -4095, 4095)
        pm = SQUASH[sf + 4095]
        apm = self.apm[ch * 256 + n]
        a = sf + 4096
        j, phi = a >> 8, a & 255
        pa = (apm[j] * (256 - phi) + apm[j + 1] * phi) >> 8
        p = _clamp((pm * (4 - prm.apm_w) + pa * prm.apm_w) >> 2, 1, 65535)
        b = coder.code(bit, p)
        # 4.1.15: the updates; each touches its own state
        for row, tm in zip(rows, t):
            e = 65536 * b - SQUASH[tm + 4095]
            if abs(e) > prm.quiet:
                k = (e * prm.lr) >> 10
                for i, si in enumerate(s):
                    row[i] = _clamp(row[i] + ((si * k) >> (prm.lr_shift - 10)), -(1 << 24), 1 << 24)
            else:
                self.stats["quiet"] += 1
        e = 65536 * b - pm
        for m in range(3):
            fr[m] += (t[m] * e * prm.lr2) >> prm.lr_shift
        tau = 65535 * b
        apm[j] += ((tau - apm[j]) * (256 - phi)) >> (prm.apm_rate + 8)
        apm[j + 1] += ((tau - apm[j + 1]) * phi) >> (prm.apm_rate + 8)
        if mk is not None:
            self.mc[mk] = counter_update(self.mc[mk], int(b == eb), prm.limit)
        for tb, bk in zip(self.tables, buckets):
            slots = tb.buckets[bk]
            self.stats["saturated"] += slots[node] & 1023 == prm.limit
            slots[node] = counter_update(slots[node], b, prm.limit)
        return b, p


def _run(net, q, h, w, coder, tile=None, strict=False, trace=None, stats=None):
    """The loop of section 4.1.5, shared by encoder (tile given: its bits are coded) and decoder (tile None: the
    bits come from the coder). Returns the samples (h, w, c) uint8; trace gets (p, bit) of every decision, stats
    (a Counter) how often the rarer paths ran."""
    prm = SETS[q]
    cfg = net.config
    c = cfg.channels
    img = np.zeros((h, w, c), np.uint8)  # the network's view of the coded samples
    px = [[[128] * c for _ in range(w)] for _ in range(h)]

    def S(yy, xx, k):
        return px[yy][xx][k] if 0 <= yy and 0 <= xx < w else 128

    stage = netref.Adaptive(net) if cfg.adapt_shift > 0 else None

    def E(yy, xx, k):
        return stage.error(yy, xx, k) if stage is not None and yy >= 0 and xx >= 0 and k >= 0 else 0

    stats = Counter() if stats is None else stats
    mix = _Mixing(prm, c, stats)
    mt = {}
    mpos, mlen = -1, 0
    for y in range(h):
        for x in range(w):
            out = netref.pixel_outputs(net, img, y, x)
            stats["follow-on" if mlen else "lookup"] += 1
            if mlen == 0:
                key = 0
                for k in range(c):
                    key = mix_hash(key, ((S(y, x - 1, k) - 128) << 24) + (S(y, x - 2, k) << 16)
                                   + (S(y, x - 3, k) << 8) + S(y - 1, x, k))
                slot = key >> (64 - prm.match_bits)
                mpos = mt.get(slot, 0) - 1
                mt[slot] = y * w + x + 1
                stats["hit"] += mpos >= 0
            for ch in range(c):
                # WEIGHTS.md 4.3 - 4.6 for this pixel alone; channel ch reads only the channels below it
                per_pixel = netref.mixture(net, out[None, None], img[y:y + 1, x:x + 1])
                wts, mu, inv, scl = (a[0, 0, ch].tolist() for a in per_pixel)
                if stage is not None:
                    mu, inv = stage.correct(y, x, ch, wts, mu, inv, scl)
                cdf = netref.mixture_cdfs(net, np.array(wts), np.array(mu), np.array(inv), PRECISION).tolist()
                mm, mad = netref.mean_spread(wts, mu, scl)
                pv = _clamp((mm + 128) >> 8, 0, 255)
                conf = _clamp(_bl(mad) - 7, 0, 7)
                ctx = contexts(S, E, y, x, ch, pv)
                keys = [mix_hash(ctx[i], 4 * i + ch) for i in mix.active]
                buckets = [t.lookup(kv) for t, kv in zip(mix.tables, keys)]
                match = (S(mpos // w, mpos % w, ch), mlen) if mpos >= 0 else None
                lo = 0
                for d in range(8):
                    if d == 4:
                        buckets = [t.lookup(mix_hash(kv, lo + 1)) for t, kv in zip(mix.tables, keys)]
                    hi, mid = lo + (1 << (8 - d)), lo + (1 << (7 - d))
                    s0 = logit_of_counts(cdf[hi] - cdf[mid], cdf[mid] - cdf[lo])
                    bit = (int(tile[y, x, ch]) >> (7 - d)) & 1 if tile is not None else None
                    b, p = mix.decide(coder, bit, ch=ch, d=d, lo=lo, s0=s0, buckets=buckets, conf=conf, match=match)
                    if trace is not None:
                        trace.append((p, b))
                    lo += b << (7 - d)
                px[y][x][ch] = lo
                img[y, x, ch] = lo
                if stage is not None:
                    stage.update(lo)
            if strict and coder.pos - len(coder.stream) > SLACK:
                raise FormatError(f"MIXED stream ends before pixel ({y}, {x}) of the tile")
            if mpos >= 0 and all(S(mpos // w, mpos % w, k) == px[y][x][k] for k in range(c)):
                mpos, mlen = mpos + 1, mlen + 1
            else:
                mpos, mlen = -1, 0
    stats["reclaimed"] += sum(t.reclaimed for t in mix.tables)
    stats["clamps"] += getattr(coder, "clamps", 0)
    return img


def _check(net, q):
    if net.config.radius < MIN_RADIUS:
        raise FormatError(f"MIXED needs a model of radius >= {MIN_RADIUS}, {net.name} has {net.config.radius}")
    if q not in SETS:
        raise FormatError(f"MIXED parameter set {q} does not exist")


def encode(net, tile, config=1, *, stats=None):
    """The MIXED payload of uint8 tile (h, w, C) with parameter set config: its byte, then the stream. stats, a
    Counter, gets how often the rarer paths ran (sure decisions, match inputs, carries...), so that a test can show
    that its tile reaches them."""
    _check(net, config)
    tile = np.asarray(tile, np.uint8)
    tile = tile.reshape(tile.shape[0], tile.shape[1], net.config.channels)
    enc = Encoder()
    _run(net, config, tile.shape[0], tile.shape[1], enc, tile=tile, stats=stats)
    stream = enc.finish()
    if stats is not None:
        stats["carries"] += enc.carries
        stats["trimmed"] += enc.trimmed
    return bytes([config]) + stream


def probabilities(net, tile, config=1):
    """[(p, bit)] of every decision in coding order, p = P(bit = 1) in 2^-16: where a first divergence shows."""
    _check(net, config)
    tile = np.asarray(tile, np.uint8)
    tile = tile.reshape(tile.shape[0], tile.shape[1], net.config.channels)
    trace = []
    _run(net, config, tile.shape[0], tile.shape[1], Encoder(), tile=tile, trace=trace)
    return trace


def decode(net, payload, h, w, *, strict=False, stats=None):
    """The h x w x C samples of a MIXED payload; any bytes decode to some samples. strict (version 3 files):
    FormatError once the stream has run more than SLACK bytes past its end (checked after each pixel)."""
    if not payload:
        raise FormatError("empty MIXED payload")
    _check(net, payload[0])
    return _run(net, payload[0], h, w, Decoder(bytes(payload[1:])), strict=strict, stats=stats)
