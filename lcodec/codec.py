"""Autoregressive coding of one tile with an integer PixelCNN: the Numba kernels and their Python entry points.

Encoder and decoder run the same per-pixel kernel (`_forward`, `_predict`, `_cdf_at`) in raster order, so they
compute identical integer CDFs; the decoder finds each symbol by searching C(v) outwards from the predicted mean
(`_search`, ~4 evaluations) instead of building the 257-entry CDF. The fixed-point format is documented in
`lcodec.nn`, whose NumPy reference (`reference_cdfs`) the tests hold these kernels to. The network, the CDF and
the tile loops stay in this one file because Numba's cache only notices edits to a function's own file.
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from lcodec.coder import (
    DEC_STATE_SIZE, ENC_STATE_SIZE, dec_init, dec_load, dec_step, dec_target_of, enc_finish, enc_init, enc_load,
    enc_step, enc_store, max_encoded_size,
)
from lcodec.errors import InvalidInputError
from lcodec.nn import (
    ADAPT_BUCKETS, BIAS_CLAMP, CFG_ADAPT, CFG_AMAX, CFG_C, CFG_ERRCTX, CFG_FEATS, CFG_K, CFG_LS_MAX, CFG_LS_MIN, CFG_R,
    COEF_FRAC, COUNT_ONE, ERR_OCTAVE0, ERR_RATIO_BITS, EXP_LEN, F_BITS, LMS_CLAMP, LMS_FRAC, LMS_INIT, LMS_STEP, MAD_C,
    MIXW_BITS, MU_FRAC, MU_MAX, MU_MIN, N_FEAT, OUT_CLAMP, PAIR_LANES, RATIO_FRAC, RATIO_MAX, RATIO_MIN, SIG_RANGE,
    SIG_STEP_BITS, T_FRAC,
)

PRECISION = 24  # coder CDF precision: C(256) == 2**PRECISION

_COEF_SHIFT = COEF_FRAC - MU_FRAC
_SIG_SHIFT = T_FRAC - SIG_STEP_BITS
_SIG_MASK = (1 << _SIG_SHIFT) - 1
_SIG_OFFSET = SIG_RANGE << T_FRAC
_SIG_TOP = (2 * SIG_RANGE << T_FRAC) - 1
_F_SCALE = (1 << PRECISION) - 256
_TOTAL = 1 << PRECISION


def _madd_rows(acc, wp, x, j, g):
    """acc[j:j + 8g] += x @ W[:, j:j + 8g] for paired weights wp (`lcodec.nn.paired`), int16 inputs x, g = 1..8
    groups of 8 outputs (int32; exact by the weight-file bounds). NumPy here (pure-Python runs); compiled code
    gets `_madd_rows_ir`."""
    n = wp.shape[0]
    w = wp[:, 2 * j:2 * (j + PAIR_LANES * g)].astype(np.int64)
    xs = np.asarray(x[:2 * n], np.int64)
    acc[j:j + PAIR_LANES * g] += (xs[0::2] @ w[:, 0::2] + xs[1::2] @ w[:, 1::2]).astype(np.int32)


def _madd_rows_loop(context, builder, acc_arr, w_arr, x_arr, j, g):
    """IR of acc[j:j + 8g] += x @ W[:, j:j + 8g] for a fixed g: the g accumulators stay in registers across the
    loop over input pairs, and each pair is one sign-extend, multiply and add of the even and odd lanes per 8
    outputs, which x86 turns into pmaddwd; other targets get plain vector integer ops. The pair
    (x[2i], x[2i + 1]) is loaded as one 32-bit word and broadcast."""
    i16, i32, intp = ir.IntType(16), ir.IntType(32), context.get_value_type(types.intp)
    v16x16, v16x32, v8x32 = ir.VectorType(i16, 16), ir.VectorType(i32, 16), ir.VectorType(i32, 8)
    n_pairs = builder.extract_value(w_arr.shape, 0)
    width = builder.extract_value(w_arr.shape, 1)
    slots = []
    for q in range(g):
        ptr = builder.bitcast(builder.gep(acc_arr.data, [builder.add(j, ir.Constant(intp, PAIR_LANES * q))]),
                              v8x32.as_pointer())
        slot = cgutils.alloca_once(builder, v8x32)
        builder.store(builder.load(ptr, align=4), slot)
        slots.append((ptr, slot))
    with cgutils.for_range(builder, n_pairs) as loop:
        i = loop.index
        x_ptr = builder.bitcast(builder.gep(x_arr.data, [builder.shl(i, ir.Constant(intp, 1))]), i32.as_pointer())
        one = builder.insert_element(ir.Constant(v8x32, None), builder.load(x_ptr, align=2), ir.Constant(i32, 0))
        xs = builder.shuffle_vector(one, one, ir.Constant(v8x32, [0] * 8))  # (x0, x1) in every 32-bit lane
        xs = builder.sext(builder.bitcast(xs, v16x16), v16x32)
        base = builder.add(builder.mul(i, width), builder.shl(j, ir.Constant(intp, 1)))
        for q, (_, slot) in enumerate(slots):
            w_ptr = builder.bitcast(builder.gep(w_arr.data, [builder.add(base, ir.Constant(intp, 16 * q))]),
                                    v16x16.as_pointer())
            prod = builder.mul(builder.sext(builder.load(w_ptr, align=2), v16x32), xs)
            even = builder.shuffle_vector(prod, prod, ir.Constant(v8x32, list(range(0, 16, 2))))
            odd = builder.shuffle_vector(prod, prod, ir.Constant(v8x32, list(range(1, 16, 2))))
            builder.store(builder.add(builder.load(slot), builder.add(even, odd)), slot)
    for ptr, slot in slots:
        builder.store(builder.load(slot), ptr, align=4)


@intrinsic
def _madd_rows_ir(typingctx, acc, wp, x, j, g):
    """_madd_rows in compiled code: a switch on g (1..8; other values do nothing) over one register-resident
    loop per group count."""
    sig = types.void(acc, wp, x, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        acc_arr, w_arr, x_arr = (context.make_array(t)(context, builder, v)
                                 for t, v in zip(signature.args[:3], args[:3]))
        done = builder.append_basic_block("madd.done")
        switch = builder.switch(args[4], done)
        for g in range(1, 9):
            case = builder.append_basic_block(f"madd.g{g}")
            switch.add_case(ir.Constant(args[4].type, g), case)
            builder.position_at_end(case)
            _madd_rows_loop(context, builder, acc_arr, w_arr, x_arr, args[3], g)
            builder.branch(done)
        builder.position_at_end(done)
        return context.get_dummy_value()

    return sig, codegen


@overload(_madd_rows, inline="always")
def _madd_rows_compiled(acc, wp, x, j, g):
    if not all(isinstance(a, types.Array) and a.layout == "C" for a in (acc, wp, x)) or not (
            acc.dtype == types.int32 and wp.dtype == types.int16 and x.dtype == types.int16):
        return None
    return lambda acc, wp, x, j, g: _madd_rows_ir(acc, wp, x, j, g)


@njit(cache=True, nogil=True, inline="always")
def _forward(pad, y, x, cfg, w1, b1, m1, s1, wl, bl, ml, sl, wo, bo, mo, so, win, acc, hid, oacc, out):
    """Head outputs of pixel (y, x) into out (int64).

    pad: int16 (h + r, w + 2r, C) holding x - 128 of the pixels known so far, zero elsewhere; pixel (y, x)
    sits at pad[y + r, x + r]. The causal window is gathered into win (contiguous runs of pad), then each
    layer is a sum of pairwise multiply-adds over its inputs (`lcodec.nn.paired` weights).
    """
    c = cfg[CFG_C]
    r = cfg[CFG_R]
    amax = cfg[CFG_AMAX]
    nh = b1.shape[0]
    n = 0
    for dy in range(r + 1):
        width = 2 * r + 1 if dy < r else r  # the current row stops left of the pixel
        for dx in range(width):
            for ch in range(c):
                win[n] = pad[y + dy, x + dx, ch]
                n += 1
    _affine(w1, b1, win, acc)
    for j in range(nh):
        hid[j] = min(max(_requant(acc[j], m1[j], s1[j]), 0), amax)
    for layer in range(wl.shape[0]):
        _affine(wl[layer], bl[layer], hid, acc)
        for j in range(nh):
            hid[j] = min(hid[j] + min(max(_requant(acc[j], ml[layer, j], sl[layer, j]), 0), amax), amax)
    _affine(wo, bo, hid, oacc)
    for j in range(out.shape[0]):
        out[j] = min(max(_requant(oacc[j], mo[j], so[j]), -OUT_CLAMP), OUT_CLAMP)


@njit(cache=True, nogil=True, inline="always")
def _affine(wp, b, x, acc):
    """acc = b + x @ W for paired weights wp (n_in / 2, 2 * n_out8), up to 64 outputs at a time. x holds
    2 * wp.shape[0] inputs (a zero in the odd one's place), acc n_out8 entries (those past b stay 0: their
    weights are 0)."""
    for j in range(b.shape[0]):
        acc[j] = b[j]
    n_out8 = wp.shape[1] >> 1
    for j in range(0, n_out8, 8 * PAIR_LANES):
        _madd_rows(acc, wp, x, j, min(8, (n_out8 - j) // PAIR_LANES))


@njit(cache=True, nogil=True, inline="always")
def _requant(acc, m, s):
    """round(acc * m / 2**s), ties up, in int64 (|acc * m| < 2**62 by the weight-file bounds)."""
    return (np.int64(acc) * m + (np.int64(1) << (s - 1))) >> s


@njit(cache=True, nogil=True, inline="always")
def _mixture(out, ch, xr, xg, cfg, exp_lut, invs_lut, scale_lut, wts, mu, inv, scl):
    """Weights (sum 2**16), means (1/256 pixel), inverse scales and scales of channel ch; xr, xg = x_R - 128,
    x_G - 128."""
    c = cfg[CFG_C]
    k = cfg[CFG_K]
    ls_min = cfg[CFG_LS_MIN]
    ls_max = cfg[CFG_LS_MAX]
    base = 3 * k * ch
    cb = 3 * k * c
    lmax = out[base]
    first = 0
    for i in range(1, k):
        if out[base + i] > lmax:
            lmax = out[base + i]
            first = i
    total = np.int64(0)
    for i in range(k):
        d = min(lmax - out[base + i], EXP_LEN - 1)
        wts[i] = exp_lut[d]
        total += wts[i]
    rest = np.int64(1) << MIXW_BITS
    for i in range(k):
        wts[i] = (wts[i] << MIXW_BITS) // total
        rest -= wts[i]
    wts[first] += rest
    rnd = np.int64(1) << (_COEF_SHIFT - 1)
    for i in range(k):
        m = out[base + k + i]
        if ch == 1:
            m += (out[cb + i] * xr + rnd) >> _COEF_SHIFT
        elif ch == 2:
            m += (out[cb + k + i] * xr + out[cb + 2 * k + i] * xg + rnd) >> _COEF_SHIFT
        mu[i] = min(max(m, MU_MIN), MU_MAX)
        ls = min(max(out[base + 2 * k + i], ls_min), ls_max) - ls_min
        inv[i] = invs_lut[ls]
        scl[i] = scale_lut[ls]


@njit(cache=True, nogil=True, inline="always")
def _bit_length(v):
    """Bits of v (0 for v <= 0), by bisection: per-sub-pixel code, no loop over the bits."""
    if v <= 0:
        return 0
    n = 0
    if v >= 1 << 32:
        v >>= 32
        n += 32
    if v >= 1 << 16:
        v >>= 16
        n += 16
    if v >= 1 << 8:
        v >>= 8
        n += 8
    if v >= 1 << 4:
        v >>= 4
        n += 4
    if v >= 1 << 2:
        v >>= 2
        n += 2
    if v >= 2:
        v >>= 1
        n += 1
    return n + v


@njit(cache=True, nogil=True, inline="always")
def _adapt(stats, lms, errs, y, x, ch, cfg, wts, mu, inv, scl, feat, memo):
    """Correct mu and inv of sub-pixel (y, x, ch) from what was coded before it (see lcodec.nn). errs holds the
    errors of the current and previous row in slots y & 1 and (y + 1) & 1, at column + 1 (zero borders); memo
    keeps (bias context, mm, mad, bias, scale context) for _adapt_update."""
    k = wts.shape[0]
    mm = np.int64(0)
    for i in range(k):
        mm += wts[i] * mu[i]
    mm >>= MIXW_BITS
    mad = np.int64(0)
    for i in range(k):
        mad += wts[i] * (((scl[i] * MAD_C) >> 12) + abs(mu[i] - mm))
    mad >>= MIXW_BITS
    n = _bit_length(mad)
    half = (mad >> (n - 2)) & 1 if n >= 2 else 0
    bucket = min(max(2 * n + half - 10, 0), ADAPT_BUCKETS - 1)
    ctx = ch * ADAPT_BUCKETS + bucket
    cur = y & 1
    up = cur ^ 1
    feat[0] = (stats[ctx, 1] << 8) // stats[ctx, 0] if stats[ctx, 0] > 0 else 0
    feat[1] = errs[cur, x, ch]
    feat[2] = errs[up, x + 1, ch]
    feat[3] = errs[up, x + 2, ch]
    feat[4] = errs[up, x, ch]
    feat[5] = errs[cur, x + 1, ch - 1] if ch > 0 else 0
    if cfg[CFG_FEATS] > 6:  # the later features stay 0 otherwise, and so do their weights
        feat[6] = errs[cur, x + 1, ch - 2] if ch > 1 else 0
        feat[7] = errs[cur, x - 1, ch] if x > 0 else 0
        feat[8] = errs[up, x + 1, ch - 1] if ch > 0 else 0
        feat[9] = errs[cur, x, ch - 1] if ch > 0 else 0
    sctx = ctx
    n_err = cfg[CFG_ERRCTX]
    if n_err:  # scale context: also the octave of the neighbours' |errors| over what mad expects of them
        energy = abs(feat[1]) + abs(feat[2]) + ((abs(feat[3]) + abs(feat[4])) >> 1) + abs(feat[5])
        expect = 3 * mad + (mad if ch > 0 else 0)
        octave = _bit_length((energy << ERR_RATIO_BITS) // (expect + 1)) - ERR_OCTAVE0
        sctx = ctx * n_err + min(max(octave, 0), n_err - 1)
    acc = np.int64(0)
    for i in range(N_FEAT):
        acc += lms[ch, i] * feat[i]
    bias = min(max(acc >> LMS_FRAC, -BIAS_CLAMP), BIAS_CLAMP)
    rf = np.int64(1) << RATIO_FRAC
    if stats[sctx, 2] > 0:
        rf = min(max((stats[sctx, 3] << RATIO_FRAC) // stats[sctx, 2], RATIO_MIN), RATIO_MAX)
    for i in range(k):
        mu[i] = min(max(mu[i] + bias, MU_MIN), MU_MAX)
        inv[i] = max((inv[i] * rf) >> RATIO_FRAC, 1)
    memo[0] = ctx
    memo[1] = mm
    memo[2] = mad
    memo[3] = bias
    memo[4] = sctx


@njit(cache=True, nogil=True, inline="always")
def _adapt_update(stats, lms, errs, y, x, ch, feat, memo, v, shift):
    """Learn from the coded sub-pixel v: the contexts' decayed sums, the row of errors, the LMS weights."""
    ctx = memo[0]
    sctx = memo[4]
    err = (np.int64(v) << MU_FRAC) - memo[1]
    res = err - memo[3]
    errs[y & 1, x + 1, ch] = err
    stats[ctx, 0] += COUNT_ONE - (stats[ctx, 0] >> shift)
    stats[ctx, 1] += err - (stats[ctx, 1] >> shift)
    stats[sctx, 2] += abs(res) - (stats[sctx, 2] >> shift)
    stats[sctx, 3] += memo[2] - (stats[sctx, 3] >> shift)
    if res != 0:
        step = LMS_STEP if res > 0 else -LMS_STEP
        for i in range(N_FEAT):
            if feat[i] != 0:
                lms[ch, i] = min(max(lms[ch, i] + (step if feat[i] > 0 else -step), -LMS_CLAMP), LMS_CLAMP)


@njit(cache=True, nogil=True, inline="always")
def _predict(pad, y, x, ch, r, c, cfg, out, exp_lut, invs_lut, scale_lut, wts, mu, inv, scl,
             shift, stats, lms, errs, feat, memo):
    """The mixture of sub-pixel (y, x, ch), corrected by the adaptive stage when it is on. The encoder, the
    decoder and the CDF table all call this one function, so they see identical CDFs."""
    _mixture(out, ch, pad[y + r, x + r, 0], pad[y + r, x + r, min(1, c - 1)], cfg, exp_lut, invs_lut, scale_lut,
             wts, mu, inv, scl)
    if shift:
        _adapt(stats, lms, errs, y, x, ch, cfg, wts, mu, inv, scl, feat, memo)


@njit(cache=True, nogil=True, inline="always")
def _cdf_at(v, wts, mu, inv, sig_lut):
    """C(v) for v in 0..256: strictly increasing, C(0) = 0, C(256) = 2**PRECISION."""
    if v <= 0:
        return np.int64(0)
    if v >= 256:
        return np.int64(_TOTAL)
    edge = (np.int64(v) << MU_FRAC) - (1 << (MU_FRAC - 1))
    f = np.int64(0)
    for i in range(wts.shape[0]):
        u = min(max((edge - mu[i]) * inv[i] + _SIG_OFFSET, 0), _SIG_TOP)
        j = u >> _SIG_SHIFT
        lo = sig_lut[j]
        f += wts[i] * (lo + (((sig_lut[j + 1] - lo) * (u & _SIG_MASK)) >> _SIG_SHIFT))
    return v + ((_F_SCALE * f) >> F_BITS)


@njit(cache=True, nogil=True, inline="always")
def _search(target, wts, mu, inv, sig_lut):
    """(v, C(v), C(v + 1)) with C(v) <= target < C(v + 1). Gallops out from the mixture mean, then bisects:
    a sub-pixel a few values from its prediction costs about 4 evaluations of C instead of 8."""
    mm = np.int64(0)
    for i in range(wts.shape[0]):
        mm += wts[i] * mu[i]
    v0 = min(max(((mm >> MIXW_BITS) + (1 << (MU_FRAC - 1))) >> MU_FRAC, 0), 255)
    c0 = _cdf_at(v0, wts, mu, inv, sig_lut)
    step = 1
    if c0 <= target:  # the symbol is v0 or above: widen [lo, hi) upwards
        lo, c_lo = v0, c0
        hi, c_hi = 256, np.int64(_TOTAL)
        while lo + step < 256:
            c = _cdf_at(lo + step, wts, mu, inv, sig_lut)
            if c > target:
                hi, c_hi = lo + step, c
                break
            lo, c_lo = lo + step, c
            step <<= 1
    else:  # below v0: widen downwards
        hi, c_hi = v0, c0
        lo, c_lo = 0, np.int64(0)
        while hi - step > 0:
            c = _cdf_at(hi - step, wts, mu, inv, sig_lut)
            if c <= target:
                lo, c_lo = hi - step, c
                break
            hi, c_hi = hi - step, c
            step <<= 1
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        cm = _cdf_at(mid, wts, mu, inv, sig_lut)
        if cm <= target:
            lo, c_lo = mid, cm
        else:
            hi, c_hi = mid, cm
    return lo, c_lo, c_hi


@njit(cache=True, nogil=True)
def _scratch(cfg, w1, wo, bo):
    """Per-tile work buffers for _forward / _mixture and the adaptive stage's statistics (win, acc, hid and oacc
    sized for the paired weights w1, wo)."""
    k = cfg[CFG_K]
    return (np.zeros(2 * w1.shape[0], np.int16), np.zeros(w1.shape[1] >> 1, np.int32),
            np.zeros(2 * wo.shape[0], np.int16), np.zeros(wo.shape[1] >> 1, np.int32), np.zeros(bo.shape[0], np.int64),
            np.zeros(k, np.int64), np.zeros(k, np.int64), np.zeros(k, np.int64), np.zeros(k, np.int64),
            np.zeros((cfg[CFG_C] * ADAPT_BUCKETS * max(cfg[CFG_ERRCTX], 1), 4), np.int64), np.zeros(5, np.int64))


@njit(cache=True, nogil=True)
def _adapt_state(c, w):
    """The adaptive stage's LMS weights (LMS_INIT), two rows of errors with zero borders, and the feature vector."""
    lms = np.empty((c, N_FEAT), np.int64)
    for ch in range(c):
        for i in range(N_FEAT):
            lms[ch, i] = LMS_INIT[i]
    return lms, np.zeros((2, w + 2, c), np.int64), np.zeros(N_FEAT, np.int64)


@njit(cache=True, nogil=True)
def _padded(tile, r):
    """int16 (h + r, w + 2r, C) with tile - 128 at [r:, r:r+w] and zeros around it."""
    h, w, c = tile.shape
    pad = np.zeros((h + r, w + 2 * r, c), np.int16)
    for y in range(h):
        for x in range(w):
            for ch in range(c):
                pad[y + r, x + r, ch] = np.int16(tile[y, x, ch]) - 128
    return pad


@njit(cache=True, nogil=True)
def _encode_kernel(tile, bits, cfg, w1, b1, m1, s1, wl, bl, ml, sl, wo, bo, mo, so,
                   sig_lut, exp_lut, invs_lut, scale_lut):
    h, w, c = tile.shape
    r = cfg[CFG_R]
    pad = _padded(tile, r)
    win, acc, hid, oacc, out, wts, mu, inv, scl, stats, memo = _scratch(cfg, w1, wo, bo)
    shift = cfg[CFG_ADAPT]
    lms, errs, feat = _adapt_state(c, w)
    buf = np.empty(max_encoded_size(h * w * c, PRECISION), np.uint8)
    state = np.zeros(ENC_STATE_SIZE, np.uint64)
    enc_init(state)
    low, rng, cache, pending, carry, pos, started = enc_load(state)
    want_bits = bits.size > 0
    for y in range(h):
        for x in range(w):
            _forward(pad, y, x, cfg, w1, b1, m1, s1, wl, bl, ml, sl, wo, bo, mo, so, win, acc, hid, oacc, out)
            for ch in range(c):
                _predict(pad, y, x, ch, r, c, cfg, out, exp_lut, invs_lut, scale_lut, wts, mu, inv, scl,
                         shift, stats, lms, errs, feat, memo)
                v = np.int64(tile[y, x, ch])
                lo = _cdf_at(v, wts, mu, inv, sig_lut)
                hi = _cdf_at(v + 1, wts, mu, inv, sig_lut)
                low, rng, cache, pending, carry, pos, started = enc_step(
                    low, rng, cache, pending, carry, pos, started, buf, lo, hi, PRECISION)
                if want_bits:
                    bits[y, x, ch] = PRECISION - math.log2(hi - lo)
                if shift:
                    _adapt_update(stats, lms, errs, y, x, ch, feat, memo, v, shift)
    enc_store(state, low, rng, cache, pending, carry, pos, started)
    n = enc_finish(state, buf)
    return buf[:n].copy()


@njit(cache=True, nogil=True)
def _decode_kernel(data, h, w, cfg, w1, b1, m1, s1, wl, bl, ml, sl, wo, bo, mo, so,
                   sig_lut, exp_lut, invs_lut, scale_lut):
    c = cfg[CFG_C]
    r = cfg[CFG_R]
    pad = np.zeros((h + r, w + 2 * r, c), np.int16)
    img = np.empty((h, w, c), np.uint8)
    win, acc, hid, oacc, out, wts, mu, inv, scl, stats, memo = _scratch(cfg, w1, wo, bo)
    shift = cfg[CFG_ADAPT]
    lms, errs, feat = _adapt_state(c, w)
    state = np.zeros(DEC_STATE_SIZE, np.uint64)
    dec_init(state, data)
    code, rng, pos, error = dec_load(state)
    for y in range(h):
        for x in range(w):
            _forward(pad, y, x, cfg, w1, b1, m1, s1, wl, bl, ml, sl, wo, bo, mo, so, win, acc, hid, oacc, out)
            for ch in range(c):
                _predict(pad, y, x, ch, r, c, cfg, out, exp_lut, invs_lut, scale_lut, wts, mu, inv, scl,
                         shift, stats, lms, errs, feat, memo)
                lo, c_lo, c_hi = _search(dec_target_of(code, rng, PRECISION), wts, mu, inv, sig_lut)
                code, rng, pos, error = dec_step(code, rng, pos, error, data, c_lo, c_hi, PRECISION)
                pad[y + r, x + r, ch] = lo - 128
                img[y, x, ch] = lo
                if shift:
                    _adapt_update(stats, lms, errs, y, x, ch, feat, memo, lo, shift)
    return img


@njit(cache=True, nogil=True)
def _cdf_table_kernel(tile, cfg, w1, b1, m1, s1, wl, bl, ml, sl, wo, bo, mo, so,
                   sig_lut, exp_lut, invs_lut, scale_lut):
    h, w, c = tile.shape
    r = cfg[CFG_R]
    pad = _padded(tile, r)
    win, acc, hid, oacc, out, wts, mu, inv, scl, stats, memo = _scratch(cfg, w1, wo, bo)
    shift = cfg[CFG_ADAPT]
    lms, errs, feat = _adapt_state(c, w)
    table = np.zeros((h, w, c, 257), np.int64)
    for y in range(h):
        for x in range(w):
            _forward(pad, y, x, cfg, w1, b1, m1, s1, wl, bl, ml, sl, wo, bo, mo, so, win, acc, hid, oacc, out)
            for ch in range(c):
                _predict(pad, y, x, ch, r, c, cfg, out, exp_lut, invs_lut, scale_lut, wts, mu, inv, scl,
                         shift, stats, lms, errs, feat, memo)
                for v in range(257):
                    table[y, x, ch, v] = _cdf_at(v, wts, mu, inv, sig_lut)
                if shift:
                    _adapt_update(stats, lms, errs, y, x, ch, feat, memo, tile[y, x, ch], shift)
    return table


def encode_tile(net, tile):
    """Code a uint8 tile (h, w, C) -> stream bytes. Releases the GIL while coding."""
    tile = _check_tile(net, tile)
    return _encode_kernel(tile, np.empty((0, 0, 0)), *net.kernel_args).tobytes()


def decode_tile(net, data, h, w):
    """Decode h x w pixels from a stream of encode_tile. Any bytes decode to some pixels, never crash or hang:
    the container's checksum is what detects corrupt data."""
    h, w = int(h), int(w)
    if h < 1 or w < 1:
        raise InvalidInputError(f"tile size must be positive, got {h}x{w}")
    stream = np.frombuffer(bytes(data), np.uint8)
    return _decode_kernel(stream, h, w, *net.kernel_args)


def bits_map(net, tile):
    """-log2 q (float64, (h, w, C)) of every sub-pixel under the integer model: what an ideal coder spends
    (the encoder writes it only when given a full-size array)."""
    tile = _check_tile(net, tile)
    bits = np.empty(tile.shape, np.float64)
    _encode_kernel(tile, bits, *net.kernel_args)
    return bits


def cdf_table(net, tile):
    """CDFs (h, w, C, 257) int64 computed pixel by pixel in decode order (for tests against lcodec.nn)."""
    return _cdf_table_kernel(_check_tile(net, tile), *net.kernel_args)


def _check_tile(net, tile):
    tile = np.asarray(tile)
    if tile.ndim == 2 and net.channels == 1:
        tile = tile[:, :, None]
    if tile.dtype != np.uint8 or tile.ndim != 3 or tile.shape[2] != net.channels:
        raise InvalidInputError(f"tile must be uint8 (h, w, {net.channels}), got {tile.dtype} {tile.shape}")
    if tile.shape[0] < 1 or tile.shape[1] < 1:
        raise InvalidInputError(f"empty tile {tile.shape}")
    if not tile.flags.c_contiguous or not tile.flags.writeable:
        tile = tile.copy()  # one array type for the kernels: a read-only view would compile a second version
    return tile
