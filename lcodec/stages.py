"""The coding stages over a model, and which one codes a tile at an effort: the one place that choice is made, for
encoding (api) and for the cost maps of explain alike. Each stage module has encode_tile(net, tile, **settings),
decode_tile(net, payload, h, w, strict=) and bits_map(net, tile, **settings)."""

from lcodec.container import LEARNED, MIXED


def by_method():
    """The stage module of each model method (imported when first needed: they load Numba kernels)."""
    from lcodec import learned, mixing

    return {LEARNED: learned, MIXED: mixing}


def choose(net, tile, effort):
    """(method, stage module, settings) for a tile at an effort: the mixing stage from effort 2 on where the network
    can carry it (mixing.supports), else the network alone."""
    stages = by_method()
    mixing = stages[MIXED]
    if effort >= 2 and mixing.supports(net):
        return MIXED, mixing, {"config": mixing.choose_params(tile, effort)}
    return LEARNED, stages[LEARNED], {}
