"""The mixing stage's components, each alone: a counter converges, a mixer learns which input to trust, an APM
corrects a biased input, the match model predicts a repeat, buckets keep contexts apart, contexts are named."""

import numpy as np
import pytest

from lcodec.mixing import apm, contexts, counters, hashing, match, mixer, params
from lcodec.mixing.logistic import ST_MAX, stretch_ratio, tables

T = tables(127)


def _p(slot):
    """A counter's probability of a 1, as a float."""
    return float(squash_of(counters.stretch_of(slot, T.stretch))) / 65536


def squash_of(s):
    return T.squash[s + ST_MAX]


def test_counter_converges():
    rng = np.random.default_rng(1)
    for p_true in (0.05, 0.3, 0.8):
        s = np.uint32(0)
        assert _p(s) == pytest.approx(0.5, abs=1e-3)  # a zeroed slot reads as 1/2
        estimates = []
        for bit in rng.random(6000) < p_true:
            s = counters.update(s, int(bit), T.recip, 127)
            estimates.append(_p(s))
        assert np.mean(estimates[-3000:]) == pytest.approx(p_true, abs=0.03)
    s = np.uint32(0)
    for _ in range(300):  # the count stops at the limit
        s = counters.update(s, 1, T.recip, 127)
    assert s & counters.CTR_COUNT_MASK == 127 and _p(s) > 0.99


def test_mixer_learns_which_input_to_trust():
    """Bits drawn with the logit of input 1; input 0 (the network's slot, starting at weight 1) is noise: the mixer
    moves its weight from input 0 to input 1."""
    rng = np.random.default_rng(2)
    n_in = 3
    weights = mixer.new_sets(4, n_in)
    sel = np.array([0, 1, 2])
    sm = np.zeros(mixer.SETS, np.int64)
    st = np.zeros(n_in, np.int32)
    st[2] = 256  # a bias
    for _ in range(20000):
        truth = int(rng.integers(-1024, 1024))
        st[0], st[1] = int(rng.integers(-1024, 1024)), truth
        mixer.dot(weights, sel, st, n_in, sm)
        bit = int(rng.random() < squash_of(truth) / 65536)
        mixer.train(weights, sel, st, n_in, sm, bit, T.squash, 48, 22, 0)
    w = weights[:3] / mixer.WEIGHT_ONE
    assert (np.abs(w[:, 0]) < 0.25).all() and (np.abs(w[:, 1] - 1) < 0.35).all(), w
    assert (weights[3] == mixer.new_sets(1, n_in)[0]).all()  # an unselected set is untouched


def test_final_mixer_learns_a_fixed_mix():
    rng = np.random.default_rng(3)
    final = np.full((1, mixer.SETS), mixer.WEIGHT_ONE // mixer.SETS, np.int64)
    sm = np.zeros(mixer.SETS, np.int64)
    for _ in range(20000):
        sm[:] = rng.integers(-1024, 1024, mixer.SETS)
        s = mixer.final_dot(final, 0, sm)
        bit = int(rng.random() < squash_of(int(sm[2])) / 65536)  # the third input alone is right
        mixer.final_train(final, 0, sm, (bit << 16) - squash_of(s), 64, 22)
    w = final[0] / mixer.WEIGHT_ONE
    assert abs(w[2] - 1) < 0.3 and abs(w[0]) < 0.2 and abs(w[1]) < 0.2, w


def test_apm_refines_a_biased_input():
    """The input is twice as confident as it should be; after training the map gives the true probability."""
    rng = np.random.default_rng(4)
    maps = apm.new_maps(2, T.squash)
    assert apm.refine(maps, 0, 0)[0] == pytest.approx(32768, abs=200)
    for _ in range(40000):
        s = int(rng.integers(-1500, 1500))
        p, j, f = apm.refine(maps, 1, s)
        bit = int(rng.random() < squash_of(s // 2) / 65536)
        apm.update(maps, 1, j, f, bit, 7)
    for s in (-1200, -600, 600, 1200):
        assert apm.refine(maps, 1, s)[0] / 65536 == pytest.approx(squash_of(s // 2) / 65536, abs=0.04)
        assert abs(apm.refine(maps, 0, s)[0] - squash_of(s)) < 700  # map 0 untrained: squash, up to interpolation


def test_match_model_predicts_a_repeat():
    """A row of random pixels repeated: from the second copy on the match model finds the first and predicts every
    pixel, following on while it comes true."""
    rng = np.random.default_rng(5)
    r, w, c = 3, 40, 3
    row = rng.integers(0, 256, (1, w // 2, c), dtype=np.uint8)
    img = np.concatenate([row, row], axis=1)
    pad = np.zeros((1 + r, w + 2 * r, c), np.int16)
    pad[r:, r:r + w] = img.astype(np.int16) - 128
    table, mcnt = match.new_state(c, 12)
    mpos, mlen, hits = np.int64(-1), np.int64(0), 0
    for x in range(w):
        mpos = match.find(table, pad, 0, x, r, w, c, 12, mpos, mlen)
        if x >= w // 2 + 3:  # three pixels into the copy: its context has been seen
            assert mpos == x - w // 2
            pred = int(img[0, mpos, 1])
            mk, eb, inp = match.expect(pred, 0, 0, 1, mlen, mcnt, T.stretch)
            assert mk >= 0 and eb == pred >> 7 and inp == 0  # a fresh counter: no confidence yet
            mk, eb, inp = match.expect(pred, pred ^ 0x80, 1, 1, mlen, mcnt, T.stretch)
            assert mk == -1 and inp == 0  # the first bit coded against the prediction
            hits += 1
        mpos, mlen = match.follow(img, 0, mpos, 0, x, c, mpos, mlen) if mpos >= 0 else (np.int64(-1), np.int64(0))
    assert hits == w // 2 - 3 and mlen == hits


def test_buckets_keep_contexts_apart():
    slots = np.zeros((1, 4 * hashing.BUCKET), np.uint32)
    h1, h2 = hashing.hash64(7, 1), hashing.hash64(7, 2)
    assert h1 != h2 and hashing.hash64(7, 1) == h1
    b = hashing.bucket(slots, 0, h1, 2)
    slots[0, b + 3] = 99
    assert hashing.bucket(slots, 0, h1, 2) == b and slots[0, b + 3] == 99  # found again, kept
    other = next(h for h in (hashing.hash64(k, 0) for k in range(100)) if (h >> np.uint64(62)) == (h1 >> np.uint64(62))
                 and (h & np.uint64(0xFFFFFFFF)) | 1 != (h1 & np.uint64(0xFFFFFFFF)) | 1)
    assert hashing.bucket(slots, 0, other, 2) == b and slots[0, b + 3] == 0  # taken over: cleared


def test_contexts_by_name():
    assert params.PARAMS[1].mask == 0b1111111001101000110  # the sets as files use them
    assert params.PARAMS[2].mask == params.PARAMS[3].mask == (1 << len(contexts.NAMES)) - 1
    assert contexts.names_of(params.PARAMS[1].mask) == params.PHOTO_CONTEXTS
    with pytest.raises(ValueError, match="unknown"):
        contexts.mask_of(["w_n", "no_such_context"])
    rng = np.random.default_rng(6)
    r = 3
    img = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    pad = np.zeros((5 + r, 6 + 2 * r, 3), np.int16)
    pad[r:, r:r + 6] = img.astype(np.int16) - 128
    ctx = np.zeros(len(contexts.NAMES), np.int64)
    errs = np.zeros((2, 8, 3), np.int64)
    contexts.compute(pad, errs, 2, 3, 1, r, 77, ctx)
    named = dict(zip(contexts.NAMES, ctx.tolist()))
    w_, n_ = int(img[2, 2, 1]), int(img[1, 3, 1])
    assert named["w_n"] == (w_ << 8) | n_ and named["pv"] == 77
    assert named["pred_w"] == min(max(w_ + int(img[2, 3, 0]) - int(img[2, 2, 0]), 0), 255)
    contexts.compute(pad, errs, 0, 0, 0, r, 5, ctx)  # outside the tile every neighbour reads 128
    assert ctx[contexts.INDEX["w_n"]] == (128 << 8) | 128


def test_stretch_ratio_is_the_logit():
    assert stretch_ratio(1, 1, T.log2) == 0
    assert stretch_ratio(3, 1, T.log2) == pytest.approx(1.024 * 256 * np.log(3), abs=2)  # FORMAT.md's scale
    assert stretch_ratio(1, 1 << 30, T.log2) == -ST_MAX
