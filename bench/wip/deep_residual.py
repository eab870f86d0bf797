"""Prototype: deep samples as predicted value + residual decisions, with CM contexts. Cost only (-log2 p)."""
import sys, glob, json, time
import numpy as np
from numba import njit
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[2]))
from lcodec.mixing import counters, mixer, apm as apms, hashing
from lcodec.mixing.logistic import P_BITS, ST_FRAC, squash, tables
from lcodec.model.fixed_point import bit_length

NP = 8       # sub-predictors
NK = 11      # contexts
NQ = 20      # activity levels
ND = 96      # decision ids


@njit(cache=True, inline="always")
def at(img, y, x, ch):
    if y < 0 or x < 0:
        return np.int64(0)
    return np.int64(img[y, min(x, img.shape[1] - 1), ch])


@njit(cache=True, inline="always")
def code_bit(bit, k, D, Q, cctx, tbl, tmask, st, weights, final, apm, apm2, sel, sm, tabs, prm, cost, idx):
    squash_t, stretch_t, _, recip = tabs
    limit, lr, lr_shift, quiet, lr2, apm_rate = prm
    for i in range(NK):
        hh = hashing.hash64(hashing.hash64(np.uint64(i * 131 + D), np.uint64(cctx[i])), np.uint64(D))
        idx[i] = np.int64(hh >> np.uint64(64 - tmask))
        st[i + 1] = counters.stretch_of(tbl[idx[i]], stretch_t)
    sel[0] = D * NQ + Q
    sel[1] = ND * NQ + D * 16 + min(cctx[7] & 15, 15)
    sel[2] = ND * NQ + ND * 16 + D
    mixer.dot(weights, sel, st, NK + 1, sm)
    sf = mixer.final_dot(final, D, sm)
    pm = squash(sf, squash_t)
    actx = D * NQ + Q
    pa, j, f = apms.refine(apm, actx, sf)
    one = 1 << P_BITS
    a2 = D * 32 + min(cctx[3] >> 5, 31)
    pa2, j2, f2 = apms.refine(apm2, a2, sf)
    p1 = min(max((pm * 2 + pa + pa2) >> 2, 1), one - 1)
    cost[0] += P_BITS - np.log2(p1 if bit else one - p1)
    mixer.train(weights, sel, st, NK + 1, sm, bit, squash_t, lr, lr_shift, quiet)
    mixer.final_train(final, D, sm, (bit << P_BITS) - pm, lr2, lr_shift)
    apms.update(apm, actx, j, f, bit, apm_rate)
    apms.update(apm2, a2, j2, f2, bit, apm_rate)
    for i in range(NK):
        tbl[idx[i]] = counters.update(tbl[idx[i]], bit, recip, limit)


@njit(cache=True)
def kernel(img, bits, tabs, prm, wexp, tb, lms, lmu):
    h, w, c = img.shape
    maxv = (1 << bits) - 1
    tbl = np.zeros(1 << tb, np.uint32)
    st = np.zeros(NK + 1, np.int32)
    st[0] = 1 << ST_FRAC
    weights = mixer.new_sets(ND * NQ + ND * 16 + ND, NK + 1)
    final = mixer.new_final(ND)
    apm = apms.new_maps(ND * NQ, tabs[0])
    apm2 = apms.new_maps(ND * 32, tabs[0])
    sel = np.zeros(mixer.SETS, np.int64)
    sm = np.zeros(mixer.SETS, np.int64)
    err = np.zeros((3, w + 2, c, NP), np.int64)   # |x - p_k| per pixel, rows y&1
    res = np.zeros((3, w + 2, c), np.int64)       # final residual
    bsum = np.zeros((c, 4096), np.int64)
    bcnt = np.zeros((c, 4096), np.int64)
    p = np.zeros(NP, np.int64)
    NL = 8
    lw = np.zeros((c, NL), np.int64)
    lin = np.zeros(NL, np.int64)
    cctx = np.zeros(NK, np.int64)
    cost = np.zeros(1)
    idx = np.zeros(NK, np.int64)
    pbprev = np.int64(0)
    for y in range(h):
        cur, up, up2 = y % 3, (y + 2) % 3, (y + 1) % 3
        for x in range(w):
            for ch in range(c):
                W = at(img, y, x - 1, ch); N = at(img, y - 1, x, ch); NW = at(img, y - 1, x - 1, ch)
                NE = at(img, y - 1, x + 1, ch); WW = at(img, y, x - 2, ch); NN = at(img, y - 2, x, ch)
                NNE = at(img, y - 2, x + 1, ch)
                if x == 0:
                    W = WW = NW = N
                elif x == 1:
                    WW = W
                if y == 0:
                    N = NW = NE = NN = NNE = W
                elif y == 1:
                    NN, NNE = N, NE
                p[0] = N * 16
                p[1] = W * 16
                p[2] = (W + N - NW) * 16
                p[3] = (N + NE - NNE) * 16
                p[4] = (W + NE - N) * 16
                p[5] = (W + N) * 8 + (NE - NW) * 4
                p[6] = (W * 3 + NE * 3 + N * 2 - NW * 2 - WW - NN) * 2
                p[7] = NE * 16
                if ch > 0:  # colour: shift by the earlier channel's residual from its own neighbours
                    X0 = np.int64(img[y, x, ch - 1]); W0 = at(img, y, x - 1, ch - 1); N0 = at(img, y - 1, x, ch - 1)
                    NW0 = at(img, y - 1, x - 1, ch - 1)
                    p[6] = (W + X0 - W0) * 8 + (N + X0 - N0) * 8
                    p[7] = (W + N - NW + X0 - W0 - N0 + NW0) * 16
                xl, xr = max(x - 1, 0) + 1, min(x + 1, w - 1) + 1
                num = np.int64(0); den = np.int64(0)
                emin = np.int64(1) << 40
                for k in range(NP):
                    es = err[up, x + 1, ch, k] + err[cur, x, ch, k] + err[up, x, ch, k] + err[up, xr, ch, k]
                    es = es if y > 0 else err[cur, x, ch, k] * 4
                    emin = min(emin, es)
                    wk = (np.int64(1) << 40) // (es * es + 1) if wexp == 2 else (np.int64(1) << 30) // (es + 1)
                    num += wk * p[k]
                    den += wk
                pb = (num + den // 2) // den  # x16
                pmax = p.max(); pmin = p.min()
                rw, rn, rnw, rne = res[cur, x, ch], res[up, x + 1, ch], res[up, x, ch], res[up, xr, ch]
                E = abs(rw) + abs(rn) + (abs(rnw) + abs(rne)) // 2
                Q = min(bit_length(E), NQ - 1)
                sg = (np.sign(rw) + 1) * 9 + (np.sign(rn) + 1) * 3 + np.sign(rnw) + 1
                bc = ch * 0 + (Q * 27 + sg) & 4095
                corr = (bsum[ch, bc] * 16) // bcnt[ch, bc] if bcnt[ch, bc] > 0 else 0
                lc = np.int64(0)
                en = np.int64(0)
                if lms:
                    lin[0] = rw; lin[1] = rn; lin[2] = rnw; lin[3] = rne
                    lin[4] = res[cur, max(x - 1, 0), ch]; lin[5] = res[up, min(xr + 1, w + 1), ch]
                    lin[6] = res[cur, x + 1, ch - 1] if ch > 0 else 0
                    lin[7] = (np.int64(img[y, x, ch - 1]) * 16 - pbprev) // 16 if ch > 0 else 0
                    for i in range(NL):
                        lc += lw[ch, i] * lin[i]
                        en += lin[i] * lin[i]
                    lc >>= 12  # x16
                P = min(max((pb + corr + lc + 8) >> 4, 0), maxv)
                v = np.int64(img[y, x, ch])
                r = v - P
                E2 = 2 * E + abs(res[cur, max(x - 1, 0), ch]) + abs(res[up2, x + 1, ch]) if y > 1 else 3 * E
                b2 = bit_length(E2)
                Qf = b2 * 2 + ((E2 >> (b2 - 2)) & 1 if b2 >= 2 else 0)
                cctx[0] = Qf
                cctx[1] = Qf * 27 + sg
                cctx[2] = bit_length(abs(rw)) * 32 + bit_length(abs(rn)) + (ch << 12)
                cctx[3] = bit_length(emin) * 32 + bit_length((pmax - pmin) >> 4)
                bp = bit_length(P)
                lp = bp * 4 + ((P >> (bp - 3)) & 3 if bp >= 3 else P & 3)
                cctx[10] = (lp * 32 + (Q >> 1)) * 4 + ch + (np.int64(min(W, N) == 0) << 20)
                cctx[4] = (P >> max(bits - 6, 0)) * 32 + (Q >> 1) + (ch << 12)
                cctx[5] = ((bit_length(abs(rnw)) * 32 + bit_length(abs(rne))) * 32 + bit_length(abs(res[cur, max(x - 1, 0), ch]))) * 4 + ch
                dW = W - P; dN = N - P
                cctx[6] = ((np.sign(dW) * bit_length(abs(dW)) + 20) * 64 + np.sign(dN) * bit_length(abs(dN)) + 20) * 4 + ch
                d2 = p[2] - P * 16; d3 = p[3] - P * 16; d4 = p[4] - P * 16; d6 = p[6] - P * 16
                cctx[8] = ((np.sign(d2) * bit_length(abs(d2) >> 3) + 20) * 64 + np.sign(d3) * bit_length(abs(d3) >> 3) + 20) * 4 + ch
                cctx[9] = ((np.sign(d4) * bit_length(abs(d4) >> 3) + 20) * 64 + np.sign(d6) * bit_length(abs(d6) >> 3) + 20) * 4 + ch
                cctx[7] = min(bit_length(abs(rw)), 15) if ch == 0 else min(bit_length(abs(res[cur, x + 1, ch - 1])), 15)
                # decisions
                bit = 1 if r == 0 else 0
                code_bit(bit, 0, 0, Q, cctx, tbl, tb, st, weights, final, apm, apm2, sel, sm, tabs, prm, cost, idx)
                if r != 0:
                    s = 1 if r > 0 else 0
                    code_bit(s, 0, 1, Q, cctx, tbl, tb, st, weights, final, apm, apm2, sel, sm, tabs, prm, cost, idx)
                    m = abs(r) - 1
                    e = bit_length(m)  # 0 .. bits
                    for j in range(bits + 1):
                        b = 1 if e > j else 0
                        code_bit(b, 0, 2 + j, Q, cctx, tbl, tb, st, weights, final, apm, apm2, sel, sm, tabs, prm, cost, idx)
                        if b == 0:
                            break
                    # mantissa: bits below the top bit of m
                    part = np.int64(1)
                    for i in range(e - 2, -1, -1):
                        b = (m >> i) & 1
                        k = e - 2 - i
                        D = 20 + min(e, 17) * 4 + min(k, 3)
                        sv = cctx[0]
                        cctx[0] = Qf * 64 + (part if k < 2 else 0)
                        code_bit(b, 0, D, Q, cctx, tbl, tb, st, weights, final, apm, apm2, sel, sm, tabs, prm, cost, idx)
                        cctx[0] = sv
                        part = part * 2 + b
                # update
                for k in range(NP):
                    err[cur, x + 1, ch, k] = abs(v * 16 - p[k]) >> 4
                res[cur, x + 1, ch] = v - P
                if lms:
                    le = v * 16 - (pb + corr + lc)
                    for i in range(NL):
                        lw[ch, i] += (le * lin[i] * lmu) // (en * 16 + 256)
                        lw[ch, i] = min(max(lw[ch, i], -(1 << 16)), 1 << 16)
                pbprev = pb + corr
                bsum[ch, bc] += (v * 16 - pb) // 16
                bcnt[ch, bc] += 1
                if bcnt[ch, bc] >= 64:
                    bsum[ch, bc] //= 2
                    bcnt[ch, bc] //= 2
    return cost[0]


def main():
    from lcodec.mixing.params import PARAMS
    p = PARAMS[1]
    import os
    limit = int(os.environ.get("LIMIT", p.limit))
    tabs = tables(limit)
    prm = (limit, int(os.environ.get("LR", p.lr)), p.lr_shift, int(os.environ.get("QUIET", p.quiet)),
           int(os.environ.get("LR2", p.lr2)), int(os.environ.get("APM", p.apm_rate)))
    tb = int(os.environ.get("TB", 22))
    wexp = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    files = sys.argv[2:] or sorted(glob.glob('../shared/data/deep/*.png'))
    import imagecodecs
    j = json.load(open('bench/wip/deep_jxl.json'))
    tot = totj = n = 0
    for f in files:
        a = imagecodecs.png_decode(open(f, 'rb').read())
        a = a.reshape(a.shape[0], a.shape[1], -1)
        side = 0.0
        if os.environ.get("PACK"):
            u = np.unique(a)
            span = int(u[-1]) + 1
            fill = len(u) / span
            if fill < float(os.environ["PACK"]):
                lut = np.zeros(span, np.int64); lut[u] = np.arange(len(u))
                a = lut[a].astype(np.uint16)
                side = span * (-(fill * np.log2(fill)) - (1 - fill) * np.log2(1 - fill)) if fill < 1 else 0
        bits = max(int(a.max()).bit_length(), 1)
        t = time.perf_counter()
        c = side + kernel(np.ascontiguousarray(a), bits, tabs, prm, wexp, tb, int(os.environ.get('LMS', 0)), int(os.environ.get('LMU', 64)))
        dt = time.perf_counter() - t
        name = f.split('/')[-1]
        jb = j[name]['jxl'] * 8
        tot += c; totj += jb; n += a.size
        print(f"{name:42s} {c / a.size:7.3f} jxl {jb / a.size:7.3f} ratio {c / jb:.3f}  {dt:.1f}s", flush=True)
    print(f"total {tot / n:.3f} jxl {totj / n:.3f} ratio {tot / totj:.4f}")


main()
