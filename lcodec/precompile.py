"""Compile every kernel signature lcodec codes with, into Numba's cache, so that a fresh install's first run loads
machine code instead of compiling it for half a minute.

`python -m lcodec.precompile` fills the cache (NUMBA_CACHE_DIR where set) and writes there the source key it was
compiled from: setup.py runs it so when it builds a wheel, into the wheel's lcodec/_kernels, from which jit_cache
seeds a user's cache; after an editable install it saves the first run's wait. The images are tiny
and synthetic; between them they take every stage (the network alone, the mixing stage, the engine without the
network for palette, 1-bit, alpha and deep planes, the fallback), both directions and the cost maps of `explain`.
"""

import tempfile
from pathlib import Path

import numpy as np


def _images():
    """(image, efforts): one of each kind of plane group, as the API takes them."""
    from PIL import Image

    rng = np.random.default_rng(0)
    ramp = np.add.outer(np.arange(40), np.arange(40)).astype(np.int64)
    photo = np.clip(ramp[..., None] * 3 + rng.integers(0, 24, (40, 40, 3)), 0, 255).astype(np.uint8)
    deep = (ramp * 700 + rng.integers(0, 900, (40, 40))).astype(np.uint16)
    return [
        (photo, (1, 2, 3)),
        (photo[..., 0].copy(), (1, 2, 3)),
        (np.dstack([photo, (ramp % 7 == 0) * 255]).astype(np.uint8), (2,)),
        (Image.fromarray(photo).quantize(12), (2,)),
        (Image.fromarray(photo[..., 1] > 90), (2,)),
        (deep, (2, 3)),
        (np.dstack([deep, deep // 3, deep // 2]), (2,)),
        ((deep.astype(np.int32) - 20000).astype(np.int16), (2,)),
    ]


def run():
    """Code each image at its efforts, decode it and map its costs: every kernel is compiled, or loaded."""
    from lcodec import api
    from lcodec.explain import explain

    with tempfile.TemporaryDirectory() as tmp:
        for image, efforts in _images():
            for effort in efforts:
                api.decompress(api.compress(image, effort=effort))
            explain(image, Path(tmp) / "map.png")


def main():
    from numba.core import config

    from lcodec import jit_cache

    if not config.CACHE_DIR:
        raise SystemExit("lcodec.precompile: Numba has no cache directory to write to")
    run()
    (Path(config.CACHE_DIR) / jit_cache.KEY_FILE).write_text(jit_cache.source_key() + "\n")


if __name__ == "__main__":
    main()
