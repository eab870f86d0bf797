"""An independent reference of coding method CONTEXT (method 6), written from FORMAT.md section 4.2 alone, without
reading the kernels of `lcodec.mixing.planes` and `lcodec.mixing.plane_contexts`. The tests hold the kernels to it
bit for bit, so that the spec is shown complete and a bug shared by the kernels' encoder and decoder (which a round
trip cannot see) shows up.

Section 4.2 borrows section 4.1's tables, hash, buckets, counters and range coder unchanged; those parts are taken
from `lcodec.mixing.reference`, itself written from the spec. What 4.2 changes (the border of 0, the contexts, the
match key, the predictor input, the rows of the mixers and the APM, weights starting at 0, no sure decisions, B bits
a sample) is written out here.

Plain Python integers, one decision at a time: slow by design, for tiles of a few hundred samples.
"""

from collections import Counter, namedtuple

import numpy as np

from lcodec.errors import FormatError
from lcodec.mixing.reference import RECIP, SQUASH, Table, counter_input, counter_update, mix_hash
from lcodec.mixing.reference_coder import TRIM, Decoder, Encoder

METHOD = 6  # the method code of CONTEXT (section 4)
SLACK = 7 + TRIM  # bytes a decoder may read past the end of the stream (sections 4, 4.2.11)
MAX_LENGTH = 15  # caps the match counters' length index, not mlen (section 4.2.5)
N_INPUTS = 13  # bias, ten counters, match, predictor (section 4.2.8)
WEIGHT_LIMIT = 1 << 24  # the first mixers' weights are clamped to +-2^24 before every store (section 4.1.15)

# Section 4.2.12: a set is never edited, so it is spelled out here rather than imported from the kernels.
Params = namedtuple("Params", "table_bits limit lr lr_shift apm_rate lr2 quiet match_bits")
SETS = {1: Params(16, 127, 48, 22, 7, 64, 2048, 18)}
NAMES = ("w", "n", "w_n", "w_n_nw_ne", "pred", "ww_w_nn_n", "grads", "earlier", "template", "nw_n_ne_nne")
# (dy, dx) of the template's 12 neighbours, the first in the highest bit (section 4.2.6)
TEMPLATE = ((0, -1), (0, -2), (0, -3), (0, -4), (-1, -2), (-1, -1), (-1, 0), (-1, 1), (-1, 2), (-2, -1), (-2, 0),
            (-2, 1))
STORAGE_DTYPES = {1: np.bool_, 8: np.uint8, 16: np.uint16}  # section 4.2.1: what the decoder returns

assert len(RECIP) >= SETS[1].limit + 1  # the counters index RECIP by n <= limit


def _bl(v):
    """bl(v): the number of bits of v, 0 for v <= 0."""
    return v.bit_length() if v > 0 else 0


def _clamp(v, lo, hi):
    return min(max(v, lo), hi)


def used_bits(tile):
    """Section 4.2.13: the fewest bits that hold every sample, at least 1."""
    tile = np.asarray(tile)
    return max(_bl(int(tile.max())) if tile.size else 0, 1)


# -- 4.2.6 what a sub-pixel sees ----------------------------------------------------------------------------------

def predictor(W, N, NW):
    """LOCO-I's median edge detector on the full samples."""
    if NW >= max(W, N):
        return min(W, N)
    if NW <= min(W, N):
        return max(W, N)
    return W + N - NW


def contexts(S, y, x, ch, B):
    """(pv, flat, [ctx_0 .. ctx_9]) of sub-pixel (y, x, ch): S(y', x', k) the samples, 0 outside the tile."""
    q = max(B - 8, 0)
    W, N, NW, NE = S(y, x - 1, ch), S(y - 1, x, ch), S(y - 1, x - 1, ch), S(y - 1, x + 1, ch)
    WW, NN, NNE = S(y, x - 2, ch), S(y - 2, x, ch), S(y - 2, x + 1, ch)
    W_, N_, NW_, NE_, WW_, NN_, NNE_ = (v >> q for v in (W, N, NW, NE, WW, NN, NNE))
    pv = predictor(W, N, NW)
    flat = _bl(abs(W - N))
    # the three nearest earlier channels, the nearest in the lowest byte
    E = sum((S(y, x, p) >> q) << (8 * (ch - 1 - p)) for p in range(max(ch - 3, 0), ch))
    t = sum((S(y + dy, x + dx, ch) & 1) << (11 - k) for k, (dy, dx) in enumerate(TEMPLATE))
    ctx = [
        W_,
        N_,
        (W_ << 8) + N_,
        (W_ << 24) + (N_ << 16) + (NW_ << 8) + NE_,
        pv >> q,
        (WW_ << 24) + (W_ << 16) + (NN_ << 8) + N_,
        (_bl(abs(W - NW)) << 10) + (_bl(abs(N - NW)) << 5) + _bl(abs(NE - N)),
        (E << 12) + (W_ << 4) + min(ch, 15),
        (t << 8) + (pv >> q) if B > 1 else t,
        (NW_ << 24) + (N_ << 16) + (NE_ << 8) + NNE_,
    ]
    return pv, flat, ctx


def match_key(S, y, x, c):
    """K of section 4.2.5: W, WW, WWW and N of every channel, two hashes a channel, 16-bit fields, 0 outside."""
    K = 0
    for k in range(c):
        K = mix_hash(K, 65536 * S(y, x - 1, k) + S(y, x - 2, k))
        K = mix_hash(K, 65536 * S(y, x - 3, k) + S(y - 1, x, k))
    return K


# -- 4.2.3 state, 4.2.8 - 4.2.10 a decision -----------------------------------------------------------------------


def train_mixers(rows, fr, s, t, pm, b, prm, stats):
    """Sections 4.1.15 and 4.2.10: the three selected first-layer rows (unless quiet) and the final mixer's row fr,
    after bit b; s the inputs, t the rows' logits, pm the final mixer's probability."""
    for row, tm in zip(rows, t):
        err = 65536 * b - SQUASH[tm + 4095]
        if abs(err) > prm.quiet:
            k = (err * prm.lr) >> 10
            for i, si in enumerate(s):
                v = row[i] + ((si * k) >> (prm.lr_shift - 10))
                if not -WEIGHT_LIMIT <= v <= WEIGHT_LIMIT:
                    v = WEIGHT_LIMIT if v > 0 else -WEIGHT_LIMIT
                    stats["weight clamp"] += 1
                row[i] = v
        else:
            stats["quiet"] += 1
    err = 65536 * b - pm
    for m in range(3):
        fr[m] += (t[m] * err * prm.lr2) >> prm.lr_shift

class _Mixing:
    """The per-tile state of section 4.2.3 and the work of one decision (sections 4.2.8 to 4.2.10)."""

    def __init__(self, prm, c, B, stats):
        self.prm, self.B, self.pre, self.stats = prm, B, min(B, 8), stats
        rows = c << (self.pre + 1)
        self.tables = [Table(prm.table_bits) for _ in NAMES]
        self.mc = [0] * (c * 256)
        self.pc = [0] * (c * 256)
        # every weight starts at 0, column 0 included (unlike MIXED's)
        self.w0 = [[0] * N_INPUTS for _ in range(c * 256)]
        self.w1 = [[0] * N_INPUTS for _ in range(rows)]
        self.w2 = [[0] * N_INPUTS for _ in range(c * 128)]
        self.f = [[21845] * 3 for _ in range(c * 16)]
        knots = [SQUASH[_clamp(256 * j - 4096, -4095, 4095) + 4095] for j in range(33)]
        self.apm = [list(knots) for _ in range(rows)]

    def decide(self, coder, bit, *, ch, d, P, node, buckets, pv, flat, match):
        """Code (or decode) decision d of a sub-pixel whose first d bits are P; returns the bit. match is
        (pred, mlen) where the pixel has a predicted pixel, else None."""
        prm, B, pre, stats = self.prm, self.B, self.pre, self.stats
        s = [256] + [counter_input(t.buckets[bk][node]) for t, bk in zip(self.tables, buckets)]
        mk = eb = None
        g = 0
        if match is not None and match[0] >> (B - d) == P:
            pred, mlen = match
            eb = (pred >> (B - 1 - d)) & 1
            mk = (ch * 16 + min(mlen, MAX_LENGTH)) * 16 + d
            m = counter_input(self.mc[mk])
            s.append(m if eb else -m)
            g = min(_bl(mlen), 6) + 1
            stats["match input"] += 1
            stats["match past MAX_LENGTH"] += mlen > MAX_LENGTH
            stats["g = 7"] += g == 7
        else:
            s.append(0)
            stats["no match" if match is None else "match lost"] += 1
        pk = pb = None
        if pv >> (B - d) == P:
            pb = (pv >> (B - 1 - d)) & 1
            pk = (ch * 16 + min(flat, 15)) * 16 + d
            m = counter_input(self.pc[pk])
            s.append(m if pb else -m)
            stats["predictor input"] += 1
        else:
            s.append(0)
            stats["predictor lost"] += 1
        e = min(d, pre)
        actx = (ch << (pre + 1)) + (1 << e) + (P >> (d - e))
        stats["shared W1 row"] += d >= 8
        rows = (self.w0[(ch * 16 + d) * 16 + min(flat, 15)], self.w1[actx], self.w2[(ch * 16 + d) * 8 + g])
        dots = [sum(wi * si for wi, si in zip(row, s)) >> 16 for row in rows]
        t = [_clamp(v, -4095, 4095) for v in dots]
        stats["mixer clamp"] += t != dots
        fr = self.f[ch * 16 + d]
        sf = (fr[0] * t[0] + fr[1] * t[1] + fr[2] * t[2]) >> 16
        stats["final clamp"] += not -4095 <= sf <= 4095
        sf = _clamp(sf, -4095, 4095)
        pm = SQUASH[sf + 4095]
        apm = self.apm[actx]
        a = sf + 4096
        j, phi = a >> 8, a & 255
        pa = (apm[j] * (256 - phi) + apm[j + 1] * phi) >> 8
        p = _clamp((pm * 3 + pa) >> 2, 1, 65535)
        b = coder.code(bit, p)
        # 4.2.10: every decision learns; the six updates touch separate state
        train_mixers(rows, fr, s, t, pm, b, prm, stats)
        tau = 65535 * b
        apm[j] += ((tau - apm[j]) * (256 - phi)) >> (prm.apm_rate + 8)
        apm[j + 1] += ((tau - apm[j + 1]) * phi) >> (prm.apm_rate + 8)
        if mk is not None:
            self.mc[mk] = counter_update(self.mc[mk], int(b == eb), prm.limit)
        if pk is not None:
            self.pc[pk] = counter_update(self.pc[pk], int(b == pb), prm.limit)
        for tb, bk in zip(self.tables, buckets):
            slots = tb.buckets[bk]
            stats["saturated"] += slots[node] & 1023 == prm.limit
            slots[node] = counter_update(slots[node], b, prm.limit)
        return b


# -- 4.2.4 the tile loop ------------------------------------------------------------------------------------------

def _run(prm, B, h, w, c, coder, tile=None, strict=True, stats=None):
    """The loop of section 4.2.4, shared by encoder (tile given: its bits are coded) and decoder (tile None: the
    bits come from the coder). Returns the samples as nested lists [y][x][ch]."""
    stats = Counter() if stats is None else stats
    px = [[[0] * c for _ in range(w)] for _ in range(h)]

    def S(yy, xx, k):
        return px[yy][xx][k] if yy >= 0 and 0 <= xx < w else 0

    mix = _Mixing(prm, c, B, stats)
    mt = {}
    mt_keys = {}  # the key that wrote each slot: for stats only, the spec's table holds no check
    mpos, mlen = -1, 0
    for y in range(h):
        for x in range(w):
            if mlen == 0:
                key = match_key(S, y, x, c)
                slot = key >> (64 - prm.match_bits)
                mpos = mt.get(slot, 0) - 1
                mt[slot] = y * w + x + 1
                stats["lookup"] += 1
                stats["hit"] += mpos >= 0
                stats["false match"] += mpos >= 0 and mt_keys[slot] != key  # another key's slot
                mt_keys[slot] = key
            for ch in range(c):
                pv, flat, ctx = contexts(S, y, x, ch, B)
                keys = [mix_hash(v, 4 * i + ch) for i, v in enumerate(ctx)]
                buckets = [t.lookup(kv) for t, kv in zip(mix.tables, keys)]
                match = (S(mpos // w, mpos % w, ch), mlen) if mpos >= 0 else None
                P = node = 0
                for d in range(B):
                    if d % 4 == 0:
                        if d:  # the next nibble's buckets, always from the sample's keys, keyed by n_d
                            buckets = [t.lookup(mix_hash(kv, (1 << d) + P)) for t, kv in zip(mix.tables, keys)]
                        node = 1
                    bit = (int(tile[y][x][ch]) >> (B - 1 - d)) & 1 if tile is not None else None
                    b = mix.decide(coder, bit, ch=ch, d=d, P=P, node=node, buckets=buckets, pv=pv, flat=flat,
                                      match=match)
                    P = 2 * P + b
                    node = 2 * node + b
                px[y][x][ch] = P
            if strict and coder.pos - len(coder.stream) > SLACK:
                raise FormatError(f"CONTEXT stream ends before pixel ({y}, {x}) of the tile")
            if mpos >= 0 and all(S(mpos // w, mpos % w, k) == px[y][x][k] for k in range(c)):
                mpos, mlen = mpos + 1, mlen + 1
            else:
                mpos, mlen = -1, 0
    for name, t in zip(NAMES, mix.tables):
        stats["take-over"] += t.reclaimed
        stats[f"take-over {name}"] += t.reclaimed
    stats["clamps"] += getattr(coder, "clamps", 0)
    return px


def _as_tile(tile, storage_bits):
    if storage_bits not in STORAGE_DTYPES:
        raise ValueError(f"storage bits are 1, 8 or 16, not {storage_bits}")
    tile = np.asarray(tile)
    if tile.ndim == 2:
        tile = tile[:, :, None]
    if tile.ndim != 3 or not 1 <= tile.shape[2] <= 4:
        raise ValueError(f"a CONTEXT tile is (h, w, c) with c = 1 .. 4, not {tile.shape}")
    tile = tile.astype(np.int64)
    if tile.size and (tile.min() < 0 or tile.max() >= 1 << storage_bits):
        raise ValueError(f"samples outside 0 .. 2^{storage_bits} - 1")
    return tile


def encode(tile, storage_bits, *, bits=None, config=1, stats=None):
    """The CONTEXT payload of tile (h, w, c) (or (h, w)): set byte, B, the stream. B is `used_bits` unless bits
    names another (any from that up to the storage bits, which a decoder must accept); stats, a Counter, gets how
    often the rarer paths ran."""
    tile = _as_tile(tile, storage_bits)
    B = used_bits(tile) if bits is None else bits
    if not used_bits(tile) <= B <= storage_bits:
        raise ValueError(f"B = {B} does not hold the tile or exceeds the storage bits")
    if config not in SETS:
        raise ValueError(f"no parameter set {config}")
    h, w, c = tile.shape
    enc = Encoder()
    _run(SETS[config], B, h, w, c, enc, tile=tile.tolist(), strict=False, stats=stats)
    stream = enc.finish()
    if stats is not None:
        stats["carries"] += enc.carries
        stats["trimmed"] += enc.trimmed
    return bytes([config, B]) + stream


def decode(payload, h, w, c, storage_bits, *, strict=True, stats=None):
    """The (h, w, c) samples of a CONTEXT payload, as the storage bits say (bool, uint8, uint16). FormatError for a
    payload shorter than 2 bytes, an unknown set, B outside 1 .. storage bits, and (strict, as every file decodes)
    a stream read more than SLACK bytes past its end after some pixel."""
    if storage_bits not in STORAGE_DTYPES:
        raise ValueError(f"storage bits are 1, 8 or 16, not {storage_bits}")
    payload = bytes(payload)
    if len(payload) < 2:
        raise FormatError(f"CONTEXT payload of {len(payload)} bytes, under 2")
    if payload[0] not in SETS:
        raise FormatError(f"CONTEXT parameter set {payload[0]} does not exist")
    B = payload[1]
    if not 1 <= B <= storage_bits:
        raise FormatError(f"CONTEXT tile of {B} bits a sample in a group of {storage_bits} bits")
    px = _run(SETS[payload[0]], B, h, w, c, Decoder(payload[2:]), strict=strict, stats=stats)
    return np.array(px, dtype=np.int64).reshape(h, w, c).astype(STORAGE_DTYPES[storage_bits])
