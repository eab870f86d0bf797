"""The mixing stage's parameter sets, named by a payload's first byte, and the encoder's choice among them.

A set is never edited once files use it: a change is a new set under a new byte (FORMAT.md section 4.1)."""

from collections import namedtuple

import numpy as np

from lcodec.errors import FormatError
from lcodec.mixing.contexts import NAMES, mask_of

# table_bits: log2 buckets per context table; limit: counters' count cap; lr, lr_shift, lr2: the mixers' learning
# rates; apm_rate, apm_w: the APM's rate and weight (of 4) in the final probability; mask: the active contexts;
# sure: the network's |logit| from which its probability is coded as it is (0: never); quiet: the mixers' error
# dead band; match_bits: log2 of the match model's table (0: no match model).
Params = namedtuple("Params", "table_bits limit lr lr_shift apm_rate mask apm_w lr2 sure quiet match_bits")

PHOTO_CONTEXTS = ("near_w", "pv", "plane_x0", "pred_w", "pred_n", "pred_ne_pv", "pred_sum", "pred_w_n", "near_n",
                  "near_ne", "near_pv", "near_pred_w")
_COMMON = dict(limit=127, lr=48, lr_shift=22, apm_rate=7, apm_w=1, lr2=64, quiet=2048, match_bits=18)
PARAMS = {
    # photos: the contexts that pay on them, and the network's sure bits (|logit| >= 6) coded as it says
    1: Params(table_bits=16, mask=mask_of(PHOTO_CONTEXTS), sure=1536, **_COMMON),
    # every context, larger tables, never sure (effort 3)
    2: Params(table_bits=17, mask=mask_of(NAMES), sure=0, **_COMMON),
    # synthetic images (screenshots, charts): every context, never sure (the network is confidently wrong there)
    3: Params(table_bits=16, mask=mask_of(NAMES), sure=0, **_COMMON),
}
DEFAULT_PARAMS = 1
SYNTHETIC = 3
SYNTHETIC_REPEATS = 0.4  # tiles where more pixels than this equal their left neighbour are synthetic


def choose(tile, effort=2):
    """The parameter set the encoder uses for a tile: at effort 2, SYNTHETIC where pixels often repeat their left
    neighbour (screenshots, charts: the network's sure bits are not to be trusted there), else the photo set."""
    if effort >= 3:
        return 2
    tile = np.asarray(tile)
    if tile.shape[1] < 2:
        return DEFAULT_PARAMS
    repeats = np.all(tile[:, 1:] == tile[:, :-1], axis=-1).mean()
    return SYNTHETIC if repeats > SYNTHETIC_REPEATS else DEFAULT_PARAMS


def get(config):
    """The parameter set of a payload's first byte; FormatError for one that does not exist."""
    p = PARAMS.get(config)
    if p is None:
        raise FormatError(f"unknown mixing parameter set {config}")
    return p
