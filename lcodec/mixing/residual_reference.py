"""An independent reference of coding method RESIDUAL (method 7), parameter sets 1 and 2, written from FORMAT.md
section 4.3 alone, without reading the kernels of `lcodec.mixing.residuals`, `residual_predict`, `residual_contexts`
and `residual_ols`. The tests hold the kernels to it bit for bit, so that the spec is shown complete and a bug shared
by the kernels' encoder and decoder (which a round trip cannot see) shows up as a difference from the text.

Section 4.3 borrows section 4.1's tables, hash, buckets, counters and range coder unchanged; those parts come from
`lcodec.mixing.reference` and `reference_coder`, themselves written from the spec. Everything 4.3 changes (the
border rules, the eight predictions and their blend, the bias, the eleven contexts, the binarisation of the residual,
the buckets per sample and per exponent, the rows of the mixers and the two APMs) is written out here, and so is
what set 2 adds (section 4.3.4a's least-squares fit as a ninth prediction, the blend's weight of it, the twelfth
context `fit_offset`, the thirteenth input, and the light decisions of section 4.3.8, each a counter of its own).
A set's n_p predictions, n_c contexts and n_i inputs follow from its `fit_shift`.

The per-sample errors and residuals are held as whole arrays read through a function that gives 0 where y' < 0 or
x' < 0: the plain meaning of section 4.3.2, not the kernels' ring of three rows, so a ring that leaked a stale value
would show. The fit's sums FA are a full n_f x n_f array of which only the upper triangle (j >= i) is written and
read, as the text says. Plain Python integers, one decision at a time: slow by design, for tiles of a few hundred
samples.
"""

from collections import Counter, namedtuple

import numpy as np

from lcodec.errors import FormatError
from lcodec.mixing.plane_reference import train_mixers
from lcodec.mixing.reference import (
    RECIP,
    SQUASH,
    Table,
    counter_input,
    counter_p,
    counter_update,
    mix_hash,
)
from lcodec.mixing.reference_coder import TRIM, Decoder, Encoder

METHOD = 7  # the method code of RESIDUAL (section 4)
SLACK = 7 + TRIM  # bytes a decoder may read past the end of the stream (sections 4, 4.3.12)
STORAGE_BITS = 16  # RESIDUAL codes only groups of 16-bit storage (section 4.3.1)
MAX_B = 16

# Section 4.3.2's constants
LEVELS = 20  # activity levels Q
DECISIONS = 78  # decision classes d
BIAS_CONTEXTS = 27 * LEVELS
BIAS_LIMIT = 64
W1_BASE = DECISIONS * LEVELS  # 1560: W1's first row
W2_BASE = W1_BASE + 16 * DECISIONS  # 2808: W2's first row
W_ROWS = W2_BASE + DECISIONS  # 2886

# Section 4.3.13: a set is never edited, so it is spelled out here rather than imported from the kernels.
Params = namedtuple("Params", "table_bits limit lr lr_shift apm_rate lr2 quiet fit_shift fit_every fit_weight "
                              "light_from")
SETS = {1: Params(16, 127, 48, 22, 7, 64, 2048, 0, 1, 16, 16),
        2: Params(16, 255, 48, 22, 7, 64, 2048, 10, 4, 4, 3)}
DEFAULT_SET = 2  # section 4.3.14: the reference encoder writes set 2
NAMES = ("activity", "activity_signs", "w_n_residuals", "agreement", "intensity", "far_residuals", "w_n_offsets",
         "channel", "grad_offsets", "plane_offsets", "log_intensity", "fit_offset")

# Section 4.3.4a's fit
FIT_OFFSETS = ((-1, 0), (-1, -1), (-1, 1), (0, -2), (-2, 0), (-2, 1), (-2, -1), (-1, -2), (-1, 2), (0, -3),
               (-2, 2), (-2, -2), (-3, 0), (-3, 1), (-3, -1), (-1, -3), (-1, 3), (0, -4))
FIT_FEATURES = 24  # 18 neighbours and two for each of at most three earlier channels
FEATURE_LIMIT = 1 << 15  # every f_i and t is clamped to +-2^15
FIT_WEIGHT_LIMIT = 1 << 17  # the weights, in 2^-14, to +-8
LIGHT_ROWS = 272  # LC's rows 16 * e + k

assert len(FIT_OFFSETS) == 18
assert all(len(RECIP) >= prm.limit + 1 for prm in SETS.values())  # the counters index RECIP by n <= limit
assert W_ROWS == 2886


def sizes(prm):
    """(n_p, n_c, n_i) of section 4.3: 8, 11, 12 without the fit, 9, 12, 13 with it."""
    fit = prm.fit_shift > 0
    return 8 + fit, 11 + fit, 12 + fit


def _bl(v):
    """bl(v): the number of bits of v, 0 for v <= 0."""
    return v.bit_length() if v > 0 else 0


def _sgn(v):
    return (v > 0) - (v < 0)


def _clamp(v, lo, hi):
    return min(max(v, lo), hi)


def used_bits(tile):
    """Section 4.3.14: the fewest bits that hold every sample, at least 1."""
    tile = np.asarray(tile)
    return max(_bl(int(tile.max())) if tile.size else 0, 1)


# -- 4.3.4 neighbours and predictions, 4.3.5 blend, activity, bias, P, 4.3.6 contexts -----------------------------

def neighbours(A, y, x, ch):
    """W, N, NW, NE, WW, NN, NNE of sample (y, x, ch) after the border rules of section 4.3.4, in that order."""
    W, N, NW, NE = A(y, x - 1, ch), A(y - 1, x, ch), A(y - 1, x - 1, ch), A(y - 1, x + 1, ch)
    WW, NN, NNE = A(y, x - 2, ch), A(y - 2, x, ch), A(y - 2, x + 1, ch)
    if x == 0:
        W = WW = NW = N
    elif x == 1:
        WW = W
    if y == 0:
        N = NW = NE = NN = NNE = W
    elif y == 1:
        NN, NNE = N, NE
    return W, N, NW, NE, WW, NN, NNE


def predictions(A, S, y, x, ch, nb):
    """The eight predictions p_k, in sixteenths; channels >= 1 replace p_6 and p_7 by ones of the previous channel."""
    W, N, NW, NE, WW, NN, NNE = nb
    p = [16 * N, 16 * W, 16 * (W + N - NW), 16 * (N + NE - NNE), 16 * (W + NE - N), 8 * (W + N) + 4 * (NE - NW),
         4 * (3 * W + 3 * NE + 2 * N - 2 * NW - WW - NN), 16 * NE]
    if ch >= 1:
        X = S(y, x, ch - 1)
        W1, N1, NW1 = A(y, x - 1, ch - 1), A(y - 1, x, ch - 1), A(y - 1, x - 1, ch - 1)
        if x == 0:
            W1 = NW1 = N1
        if y == 0:
            N1 = NW1 = W1
        p[6] = 8 * (W + X - W1) + 8 * (N + X - N1)
        p[7] = 16 * (W + N - NW + X - W1 - N1 + NW1)
    return p


def fit_features(S, y, x, ch, w, stats):
    """(ref, f) of section 4.3.4a: the fit's reference sample and its n_f features (none where y < 3 or x < 4),
    each clamped to +-2^15. S only, none of section 4.3.4's border rules."""
    if y < 3 or x < 4:
        ref = S(y, x - 1, ch) if x >= 1 else S(y - 1, x, ch) if y >= 1 else 0
        return ref, []
    ref = S(y, x - 1, ch)
    f = [S(y + dy, min(x + dx, w - 1), ch) - ref for dy, dx in FIT_OFFSETS]
    for c0 in range(ch):
        f += [S(y, x, c0) - S(y, x - 1, c0), S(y, x, c0) - S(y - 1, x, c0)]
    stats["feature clamp"] += sum(abs(fi) > FEATURE_LIMIT for fi in f)
    return ref, [_clamp(fi, -FEATURE_LIMIT, FEATURE_LIMIT) for fi in f]


def fit_predict(fw, ref, f):
    """p_8, in sixteenths: 16 * ref and the weighted features, the sum floored by the arithmetic shift."""
    return 16 * ref + (sum(wi * fi for wi, fi in zip(fw, f)) >> 10)


def fit_learn(fa, fb, fw, ref, f, v, s, stats):
    """Section 4.3.4a's learning after sample v: the forgetting sums (FA's upper triangle, FB), then one
    Gauss-Seidel sweep of the weights fw. fa, fb, fw are this channel's and are updated in place."""
    nf = len(f)
    stats["target clamp"] += abs(v - ref) > FEATURE_LIMIT
    t = _clamp(v - ref, -FEATURE_LIMIT, FEATURE_LIMIT)
    for i in range(nf):
        for j in range(i, nf):
            fa[i][j] += f[i] * f[j] - (fa[i][j] >> s)
        fb[i] += f[i] * t - (fb[i] >> s)
    for i in range(nf):
        rho = fb[i] * (1 << 14) - sum((fa[i][j] if j >= i else fa[j][i]) * fw[j] for j in range(nf))
        d = fa[i][i]
        if d > 0:
            new = fw[i] + rho // (d + (d >> 5) + 1)
            stats["fit weight clamp"] += not -FIT_WEIGHT_LIMIT <= new <= FIT_WEIGHT_LIMIT
            fw[i] = _clamp(new, -FIT_WEIGHT_LIMIT, FIT_WEIGHT_LIMIT)
        else:
            stats["fit d <= 0"] += 1
    stats["fit learned"] += 1


def blend(E, p, y, x, ch, w, fit_weight):
    """(pb, emin): the n_p predictions weighted by 1 / (their error around the sample)^2, rounded, in sixteenths; a
    ninth (the fit's) has its error scaled by fit_weight sixteenths."""
    xe = min(x + 1, w - 1)
    n_p = len(p)
    if y >= 1:
        sig = [E(y - 1, x, ch, k) + E(y, x - 1, ch, k) + E(y - 1, x - 1, ch, k) + E(y - 1, xe, ch, k)
               for k in range(n_p)]
    else:
        sig = [4 * E(y, x - 1, ch, k) for k in range(n_p)]
    emin = min(sig)  # over the unweighted errors, the fit's included
    sh = max(_bl(emin) - 10, 0)
    eta = [s >> sh for s in sig]
    if n_p == 9:
        eta[8] = (eta[8] * fit_weight) >> 4
    om = [(1 << 32) // (e ** 2 + 1) for e in eta]
    tot = sum(om)
    pb = (sum(o * pk for o, pk in zip(om, p)) + tot // 2) // tot
    return pb, emin


def activity(R, y, x, ch, w):
    """(eps, Q, sg, rW, rN, rNW, rNE) of section 4.3.5: the residuals around the sample, their size and signs."""
    xe = min(x + 1, w - 1)
    rW = R(y, x - 1, ch)
    if y >= 1:
        rN, rNW, rNE = R(y - 1, x, ch), R(y - 1, x - 1, ch), R(y - 1, xe, ch)
    else:
        rN = rNW = rNE = 0
    eps = abs(rW) + abs(rN) + (abs(rNW) + abs(rNE)) // 2
    Q = min(_bl(eps), LEVELS - 1)
    sg = 9 * (_sgn(rW) + 1) + 3 * (_sgn(rN) + 1) + (_sgn(rNW) + 1)
    return eps, Q, sg, rW, rN, rNW, rNE


def _SL(v, z):
    """A signed magnitude class, 0 .. 40."""
    return _sgn(v) * _bl(abs(v) >> z) + 20


def contexts(R, y, x, ch, B, nb, p, P, emin, act):
    """ctx_0 .. ctx_10 of section 4.3.6, and ctx_11 where p holds the fit's p_8."""
    W, N = nb[0], nb[1]
    eps, Q, sg, rW, rN, rNW, rNE = act
    rWW = R(y, x - 2, ch) if x >= 2 else 0
    if y >= 2:
        eps2 = 2 * eps + abs(rWW) + abs(R(y - 2, x, ch))
    else:
        eps2 = 3 * eps
    b2 = _bl(eps2)
    qf = 2 * b2 + ((eps2 >> (b2 - 2)) & 1) if b2 >= 2 else 2 * b2
    pmax, pmin = max(p), min(p)  # over all n_p, the fit's included
    bp = _bl(P)
    lp = 4 * bp + ((P >> (bp - 3)) & 3) if bp >= 3 else 4 * bp + (P & 3)
    rho = rW if ch == 0 else R(y, x, ch - 1)
    ctx = [
        qf,
        27 * qf + sg,
        4096 * ch + 32 * _bl(abs(rW)) + _bl(abs(rN)),
        32 * _bl(emin) + _bl((pmax - pmin) >> 4),
        4096 * ch + 32 * (P >> max(B - 6, 0)) + (Q >> 1),
        4096 * _bl(abs(rNW)) + 128 * _bl(abs(rNE)) + 4 * _bl(abs(rWW)) + ch,
        256 * _SL(W - P, 0) + 4 * _SL(N - P, 0) + ch,
        min(_bl(abs(rho)), 15),
        256 * _SL(p[2] - 16 * P, 3) + 4 * _SL(p[3] - 16 * P, 3) + ch,
        256 * _SL(p[4] - 16 * P, 3) + 4 * _SL(p[6] - 16 * P, 3) + ch,
        (1 << 20) * (min(W, N) == 0) + 128 * lp + 4 * (Q >> 1) + ch,
    ]
    if len(p) == 9:
        ctx.append(128 * _SL(p[8] - 16 * P, 2) + 4 * (Q >> 1) + ch)
    return ctx


# -- 4.3.2 state, 4.3.9 - 4.3.10 a decision ------------------------------------------------------------------------

class _Mixing:
    """The shared per-tile state of section 4.3.2 (tables, mixers, final mixer, APMs, the light counters) and the
    work of one decision (sections 4.3.8 - 4.3.10)."""

    def __init__(self, prm, stats):
        self.prm, self.stats = prm, stats
        _, n_c, n_i = sizes(prm)
        self.tables = [Table(prm.table_bits) for _ in NAMES[:n_c]]
        self.w = [[0] * n_i for _ in range(W_ROWS)]  # every weight starts at 0, column 0 included
        self.lc = [[0] * LEVELS for _ in range(LIGHT_ROWS)]  # LC[16 * e + k][Q], uint32 counters
        self.f = [[21845] * 3 for _ in range(DECISIONS)]
        knots = [SQUASH[_clamp(256 * j - 4096, -4095, 4095) + 4095] for j in range(33)]
        self.a1 = [list(knots) for _ in range(DECISIONS * LEVELS)]
        self.a2 = [list(knots) for _ in range(DECISIONS * 32)]

    def decide(self, coder, bit, *, d, n, Q, ctx7, emin, buckets):
        """Code (or decode: bit None) the decision of class d at node n; returns the bit."""
        prm, stats = self.prm, self.stats
        s = [256] + [counter_input(t.buckets[bk][n]) for t, bk in zip(self.tables, buckets)]
        rows = (self.w[LEVELS * d + Q], self.w[W1_BASE + 16 * d + ctx7], self.w[W2_BASE + d])
        dots = [sum(wi * si for wi, si in zip(row, s)) >> 16 for row in rows]
        t = [_clamp(v, -4095, 4095) for v in dots]
        stats["mixer clamp"] += t != dots
        fr = self.f[d]
        sf = (fr[0] * t[0] + fr[1] * t[1] + fr[2] * t[2]) >> 16
        stats["final clamp"] += not -4095 <= sf <= 4095
        sf = _clamp(sf, -4095, 4095)
        pm = SQUASH[sf + 4095]
        alpha = sf + 4096
        J, phi = alpha >> 8, alpha & 255
        r1, r2 = self.a1[LEVELS * d + Q], self.a2[32 * d + min(_bl(emin), 31)]
        pa = (r1[J] * (256 - phi) + r1[J + 1] * phi) >> 8
        pa2 = (r2[J] * (256 - phi) + r2[J + 1] * phi) >> 8
        p1 = _clamp((2 * pm + pa + pa2) >> 2, 1, 65535)
        b = coder.code(bit, p1)
        stats["decisions"] += 1
        stats[f"class {d}"] += 1
        # 4.3.10: every decision learns; the five updates touch separate state
        train_mixers(rows, fr, s, t, pm, b, prm, stats)
        tau = 65535 * b
        for r in (r1, r2):
            r[J] += ((tau - r[J]) * (256 - phi)) >> (prm.apm_rate + 8)
            r[J + 1] += ((tau - r[J + 1]) * phi) >> (prm.apm_rate + 8)
        for tb, bk in zip(self.tables, buckets):
            slots = tb.buckets[bk]
            stats["saturated"] += slots[n] & 1023 == prm.limit
            slots[n] = counter_update(slots[n], b, prm.limit)
        return b

    def light(self, coder, bit, *, d, e, k, Q):
        """Code (or decode: bit None) a light decision (section 4.3.8): mantissa bit k of exponent e, its
        probability the counter LC[16 * e + k][Q] alone, which alone learns from it."""
        row = self.lc[16 * e + k]
        p1 = _clamp(counter_p(row[Q]) >> 6, 1, 65535)
        b = coder.code(bit, p1)
        self.stats["decisions"] += 1
        self.stats["light"] += 1
        self.stats[f"light e = {e}"] += 1
        self.stats[f"class {d}"] += 1
        row[Q] = counter_update(row[Q], b, self.prm.limit)
        return b


# -- 4.3.3 the tile loop, 4.3.8 the decisions of a sample, 4.3.11 learning ----------------------------------------

def _run(prm, B, h, w, c, coder, tile=None, strict=True, stats=None):
    """The loop of section 4.3.3, shared by encoder (tile given, nested lists [y][x][ch]: its residuals are coded)
    and decoder (tile None: the bits come from the coder). Returns the samples as nested lists [y][x][ch]."""
    stats = Counter() if stats is None else stats
    M = (1 << B) - 1
    n_p, _, _ = sizes(prm)
    fit = prm.fit_shift > 0
    px = [[[0] * c for _ in range(w)] for _ in range(h)]
    err = [[[[0] * n_p for _ in range(c)] for _ in range(w)] for _ in range(h)]
    res = [[[0] * c for _ in range(w)] for _ in range(h)]
    bsum = [[0] * BIAS_CONTEXTS for _ in range(c)]
    bcnt = [[0] * BIAS_CONTEXTS for _ in range(c)]
    fa = [[[0] * FIT_FEATURES for _ in range(FIT_FEATURES)] for _ in range(c)]  # FA[ch][i][j], j >= i written
    fb = [[0] * FIT_FEATURES for _ in range(c)]
    fw = [[0] * FIT_FEATURES for _ in range(c)]

    def S(yy, xx, k):  # only ever of a coded sample
        return px[yy][xx][k]

    def A(yy, xx, k):  # section 4.3.4: 0 above and left of the tile, the last column repeated to the right
        return 0 if yy < 0 or xx < 0 else px[yy][min(xx, w - 1)][k]

    def E(yy, xx, k, i):
        return 0 if yy < 0 or xx < 0 else err[yy][xx][k][i]

    def R(yy, xx, k):
        return 0 if yy < 0 or xx < 0 else res[yy][xx][k]

    mix = _Mixing(prm, stats)
    for y in range(h):
        for x in range(w):
            for ch in range(c):
                nb = neighbours(A, y, x, ch)
                p = predictions(A, S, y, x, ch, nb)
                if fit:
                    fref, f = fit_features(S, y, x, ch, w, stats)
                    p.append(fit_predict(fw[ch], fref, f))
                    stats["fit features"] += bool(f)
                    stats["fit below ref"] += p[8] < 16 * fref
                pb, emin = blend(E, p, y, x, ch, w, prm.fit_weight)
                act = activity(R, y, x, ch, w)
                Q, sg = act[1], act[2]
                bc = 27 * Q + sg
                delta = bsum[ch][bc] // bcnt[ch][bc] if bcnt[ch][bc] > 0 else 0
                P = _clamp((pb + delta + 8) >> 4, 0, M)
                stats["P clamped"] += P != (pb + delta + 8) >> 4
                stats["negative bias"] += delta < 0
                ctx = contexts(R, y, x, ch, B, nb, p, P, emin, act)
                if fit:  # SL(p_8 - 16 P, 2) outside 0 .. 40: the fit far off (H takes a negative ctx mod 2^64)
                    stats["fit_offset negative"] += ctx[11] < 0
                    stats["fit_offset above 5159"] += ctx[11] > 5159
                keys = [mix_hash(v, 4 * a + ch) for a, v in enumerate(ctx)]
                buckets = [t.lookup(kv) for t, kv in zip(mix.tables, keys)]

                def decide(bit, d, n, buckets=buckets, Q=Q, ctx7=ctx[7], emin=emin):
                    return mix.decide(coder, bit, d=d, n=n, Q=Q, ctx7=ctx7, emin=emin, buckets=buckets)

                enc = tile is not None
                r = tile[y][x][ch] - P if enc else 0
                u = abs(r) - 1
                e_true = _bl(u)
                before = stats["decisions"]
                if decide(int(r == 0) if enc else None, 0, 1):
                    v = P
                    stats["zero"] += 1
                else:
                    neg = decide(int(r < 0) if enc else None, 1, 2)
                    j = 0
                    while True:
                        if not decide(int(e_true > j) if enc else None, 2 + j, 3 + min(j, 12)):
                            e = j
                            break
                        j += 1
                        if j == B:
                            e = B
                            stats["e = B"] += 1
                            break
                    if e >= 2:
                        buckets2 = [t.lookup(mix_hash(kv, 16 + e)) for t, kv in zip(mix.tables, keys)]
                        uu, b0 = 1, 0
                        for k in range(e - 1):
                            n = 1 if k == 0 else 2 + b0 if k == 1 else 2 + min(k, 13)
                            d = 18 + 4 * (e - 2) + min(k, 3)
                            bit = (u >> (e - 2 - k)) & 1 if enc else None
                            if k >= prm.light_from:
                                b = mix.light(coder, bit, d=d, e=e, k=k, Q=Q)
                            else:
                                b = decide(bit, d, n, buckets2)
                            if k == 0:
                                b0 = b
                            uu = 2 * uu + b
                        mag = uu + 1
                        stats["mantissa"] += 1
                        stats[f"e = {e}"] += 1
                    else:
                        mag = e + 1
                    v = _clamp(P - mag, 0, M) if neg else _clamp(P + mag, 0, M)
                    stats["sample clamped"] += v != (P - mag if neg else P + mag)
                assert stats["decisions"] - before <= 2 * B + 1
                if enc:
                    assert v == tile[y][x][ch], "the decisions coded do not give the sample back"
                px[y][x][ch] = v
                # 4.3.11: learn from v
                err[y][x][ch] = [abs(16 * v - pk) >> 4 for pk in p]
                res[y][x][ch] = v - P
                if y or x:
                    bsum[ch][bc] += 16 * v - pb
                    bcnt[ch][bc] += 1
                    if bcnt[ch][bc] >= BIAS_LIMIT:
                        bsum[ch][bc] //= 2
                        bcnt[ch][bc] //= 2
                        stats["bias halved"] += 1
                if fit and f and x % prm.fit_every == 0:
                    fit_learn(fa[ch], fb[ch], fw[ch], fref, f, v, prm.fit_shift, stats)
            if strict and coder.pos - len(coder.stream) > SLACK:
                raise FormatError(f"RESIDUAL stream ends before pixel ({y}, {x}) of the tile")
    for name, t in zip(NAMES, mix.tables):
        stats["take-over"] += t.reclaimed
        stats[f"take-over {name}"] += t.reclaimed
    stats["clamps"] += getattr(coder, "clamps", 0)
    return px


def encode(tile, *, bits=None, config=DEFAULT_SET, stats=None):
    """The RESIDUAL payload of tile (h, w, c) (or (h, w)) of 16-bit samples with parameter set config (2, as the
    reference encoder writes, unless told): set byte, B, from set 2 the offset O (section 4.3.1), the stream of the
    samples less O. Set 1: O = 0 and B the tile's used bits; set 2: B the used bits of the samples less the smallest,
    O = min(smallest, 65536 - 2^B) (section 4.3.14). bits names another B (any that holds the samples less O, up to
    16, which a decoder must accept); stats, a Counter, gets how often the rarer paths ran."""
    tile = np.asarray(tile)
    if tile.ndim == 2:
        tile = tile[:, :, None]
    if tile.ndim != 3 or not 1 <= tile.shape[2] <= 4:
        raise ValueError(f"a RESIDUAL tile is (h, w, c) with c = 1 .. 4, not {tile.shape}")
    tile = tile.astype(np.int64)
    if tile.size and (tile.min() < 0 or tile.max() > 65535):
        raise ValueError("samples outside 0 .. 65535")
    if config not in SETS:
        raise ValueError(f"no parameter set {config}")
    smallest = int(tile.min()) if tile.size and config >= 2 else 0
    B = used_bits(tile - smallest) if bits is None else bits
    if not 1 <= B <= MAX_B:
        raise ValueError(f"B = {B} exceeds 16")
    O = min(smallest, 65536 - (1 << B))
    if not used_bits(tile - O) <= B:
        raise ValueError(f"B = {B} does not hold the tile")
    h, w, c = tile.shape
    enc = Encoder()
    _run(SETS[config], B, h, w, c, enc, tile=(tile - O).tolist(), strict=False, stats=stats)
    stream = enc.finish()
    if stats is not None:
        stats["carries"] += enc.carries
        stats["trimmed"] += enc.trimmed
    return bytes([config, B]) + (O.to_bytes(2, "big") if config >= 2 else b"") + stream


def decode(payload, h, w, c, storage_bits=STORAGE_BITS, *, strict=True, stats=None):
    """The (h, w, c) uint16 samples of a RESIDUAL payload (the decoded S plus O). FormatError for storage bits other
    than 16, a payload shorter than 2 bytes (set 1) or 4 (set 2), an unknown set, B outside 1 .. 16, O + 2^B above
    65536, and (strict, as every file decodes) a stream read more than SLACK bytes past its end after some pixel."""
    if storage_bits != STORAGE_BITS:
        raise FormatError(f"RESIDUAL codes groups of 16-bit storage, not {storage_bits}")
    payload = bytes(payload)
    if len(payload) < 2:
        raise FormatError(f"RESIDUAL payload of {len(payload)} bytes, under 2")
    if payload[0] not in SETS:
        raise FormatError(f"RESIDUAL parameter set {payload[0]} does not exist")
    head = 2 if payload[0] == 1 else 4
    if len(payload) < head:
        raise FormatError(f"RESIDUAL payload of {len(payload)} bytes, under {head}")
    B = payload[1]
    if not 1 <= B <= MAX_B:
        raise FormatError(f"RESIDUAL tile of {B} bits a sample")
    O = int.from_bytes(payload[2:head], "big")
    if O + (1 << B) > 65536:
        raise FormatError(f"RESIDUAL offset {O} with {B} bits passes 65535")
    px = _run(SETS[payload[0]], B, h, w, c, Decoder(payload[head:]), strict=strict, stats=stats)
    return (np.array(px, dtype=np.int64).reshape(h, w, c) + O).astype(np.uint16)
