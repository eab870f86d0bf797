"""Method MIXED: online context mixing over the network; the tile is learned while it is coded.

A fixed network knows photos in general; this stage learns the one being coded, as the best lossless coders do.
Its parts, one module each: `logistic` (squash, stretch and log2 as exact integer tables), `contexts` (the context
set, by name), `hashing` (context hashes to buckets of counters), `counters`, `match` (the match model), `mixer`
(two layers of online logistic mixing), `apm` (the final refinement), `params` (the parameter sets a payload's
first byte names) and `loop` (the tile loop: predict, code, update). FORMAT.md section 4.1 specifies the stage.
"""

import numpy as np

from lcodec import stages
from lcodec.container import MIXED
from lcodec.errors import FormatError, InvalidInputError
from lcodec.mixing.contexts import MIN_RADIUS
from lcodec.mixing.logistic import tables
from lcodec.mixing.loop import mix_kernel
from lcodec.mixing.params import DEFAULT_PARAMS, PARAMS, choose as choose_params, get as _params
from lcodec.model import pixel
from lcodec.entropy.range_coder import SLACK

__all__ = ["DEFAULT_PARAMS", "PARAMS", "bits_map", "choose_params", "decode_tile", "encode_tile", "supports",
           "tables"]


def supports(net):
    """Whether the stage can run over this network: its padding must hold every context's neighbours."""
    return net.config.radius >= MIN_RADIUS


_NO_DATA = np.frombuffer(b"", np.uint8)  # read-only, as a decoded payload is: one compiled kernel


def _run(decoding, net, img, data, bits, p, slack=-1):
    return mix_kernel(decoding, img, data, bits, p, tables(p.limit), net.kernel_net, pixel.work_buffers(net),
                      pixel.state(net, img.shape[1]), slack)


def _encode(net, tile, config, bits):
    if not supports(net):
        raise InvalidInputError(f"model {net.name} has a context radius under {MIN_RADIUS}: no mixing stage over it")
    tile = pixel.check_tile(net, tile)
    p = _params(config)
    out = np.zeros(tile.shape) if bits else np.zeros((0, 0, 0))
    stream, _ = _run(False, net, tile, _NO_DATA, out, p)
    return bytes([config]) + stream.tobytes(), out


def encode_tile(net, tile, *, config=DEFAULT_PARAMS):
    """Code a uint8 tile (h, w, C) -> payload bytes (the parameter byte, then the stream). Releases the GIL."""
    return _encode(net, tile, config, False)[0]


def bits_map(net, tile, *, config=DEFAULT_PARAMS):
    """-log2 p (float64, (h, w, C)) of every sub-pixel as this stage codes it: the sum over its 8 decisions."""
    return _encode(net, tile, config, True)[1]


def decode_tile(net, payload, h, w, *, strict=False):
    """Decode h x w pixels from a payload of encode_tile; any bytes decode to some pixels, never crash or hang.
    strict (version 3 files): a stream that runs more than SLACK bytes past its end is a FormatError."""
    h, w = pixel.check_size(h, w)
    if not supports(net):
        raise FormatError(f"mixed tile over model {net.name}, whose context radius is under {MIN_RADIUS}")
    payload = bytes(payload)
    if not payload:
        raise FormatError("empty mixing payload")
    p = _params(payload[0])
    img = np.zeros((h, w, net.channels), np.uint8)
    stream = np.frombuffer(payload, np.uint8)[1:]
    _, read = _run(True, net, img, stream, np.zeros((0, 0, 0)), p, SLACK if strict else -1)
    pixel.check_exhausted(read, len(stream), SLACK if strict else -1)
    return img


def _supports(net, channels, bits):
    return net is not None and net.channels == channels and bits == 8 and supports(net)


def _decode_plane(net, method, payload, h, w, channels, bits, strict):
    stages.require_model(net, channels, bits, "mixed")
    return decode_tile(net, payload, h, w, strict=strict)


STAGE = stages.Stage(
    "mixed", (MIXED,), (2, 3), _supports, lambda net, tile, effort, bits: {"config": choose_params(tile, effort)},
    lambda net, tile, config: (MIXED, encode_tile(net, tile, config=config)), _decode_plane, bits_map,
)
