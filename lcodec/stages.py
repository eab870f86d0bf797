"""The coding stages: every method a plane group of a tile can be coded with, behind one protocol, and the one
place that chooses among them for an effort. `api` (encoding and decoding), `explain`, `bench` and
`models.release` go through here and never branch on a method themselves.

A stage module defines `STAGE`, a `Stage`; `REGISTRY` lists the modules, imported when first needed (they load
Numba kernels). Adding a stage is its module and its entry here (and its method code in the container)."""

import functools
import importlib
from dataclasses import dataclass
from typing import Any, Callable

from lcodec.errors import FormatError

REGISTRY = ("lcodec.learned", "lcodec.mixing", "lcodec.mixing.residuals", "lcodec.mixing.planes", "lcodec.fallback")


@dataclass(frozen=True)
class Stage:
    """name; methods: the container method codes its payloads carry; efforts: the efforts at which it codes the
    planes it supports (a model stage at the highest of its efforts not above the one asked wins; () for the
    fallback, which every plane may use); supports(net, channels, bits): whether it codes such a plane over net
    (None: no model); settings(net, tile, effort, bits) -> dict: its parameters for a tile; encode(net, tile, **settings)
    -> (method, payload); decode(net, method, payload, h, w, channels, bits, strict) -> (h, w, channels) samples;
    bits_map(net, tile, **settings) -> float64 -log2 p of every sample as it codes them (None: no cost map)."""

    name: str
    methods: tuple
    efforts: tuple
    supports: Callable[..., bool]
    settings: Callable[..., dict]
    encode: Callable[..., tuple]
    decode: Callable[..., Any]
    bits_map: Callable[..., Any] = None
    model: bool = True  # whether it runs over the network (its payloads need the header's model)


@functools.cache
def all_stages():
    """Every registered stage, in REGISTRY order."""
    return tuple(importlib.import_module(name).STAGE for name in REGISTRY)


def for_method(method):
    """The stage whose payloads carry method code `method`; FormatError for a code no stage has."""
    for stage in all_stages():
        if method in stage.methods:
            return stage
    raise FormatError(f"unknown coding method {method}")


def model_stages(net, channels=None, bits=8):
    """The stages that code planes over net (of net's channels and 8-bit samples unless told), by effort."""
    channels = net.channels if channels is None else channels
    return [s for s in all_stages() if s.model and s.efforts and s.supports(net, channels, bits)]


def _candidates(net, tile, bits):
    """The stages that may code a tile: the model stages that support it, else the stages without a model."""
    if net is not None and model_stages(net, tile.shape[2], bits):
        return model_stages(net, tile.shape[2], bits)
    return [s for s in all_stages() if not s.model and s.efforts and s.supports(None, tile.shape[2], bits)]


def choose(net, tile, effort, bits=8):
    """(stage, settings) of the stage that codes a tile (h, w, C) of `bits`-bit samples at an effort: over net
    where a model stage supports the tile, else without it; of those, the one whose highest effort not above
    `effort` is highest (the first registered on a tie). None where none does (the fallback codes the tile)."""
    candidates = _candidates(net, tile, bits)
    best, best_effort = None, 0
    for stage in candidates:
        usable = [e for e in stage.efforts if e <= effort]
        if usable and max(usable) > best_effort:
            best, best_effort = stage, max(usable)
    return None if best is None else (best, best.settings(net, tile, effort, bits))


def alternatives(net, tile, effort, bits, chosen):
    """[(stage, settings)] of the other stages without a model that code the tile at an effort of 3 or more: an
    encoder that can wait tries them too and keeps the smallest payload (none below effort 3, none over a model)."""
    if effort < 3 or chosen.model:
        return []
    return [(s, s.settings(net, tile, effort, bits)) for s in _candidates(None, tile, bits)
            if s is not chosen and any(e <= effort for e in s.efforts)]


def require_model(net, channels, bits, name):
    """FormatError unless a model stage can decode a (channels, bits) plane over net: the file claims a tile its
    model cannot have coded."""
    if net is None or net.channels != channels or bits != 8:
        raise FormatError(f"{name} tile for a plane group the model cannot code ({channels} channels of {bits} bits)")
