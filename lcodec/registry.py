"""Released models by name: weight file and sha256, loaded once and verified.

A weight file is never edited: a retrained model gets a new name, so a name always means the same network and
a stream that records the name decodes the same way forever. `python -m models.export` writes the file and the
entries between the MODELS markers below.
"""

import hashlib
import threading
from pathlib import Path

from lcodec.errors import UnknownModelError
from lcodec.nn import Net

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

# BEGIN MODELS (written by models/export.py)
MODELS = {
    'gray-v0': ('gray-v0-11aa0efd.npz', '11aa0efdb8f1ccf6ddcbe4c3d99e93a955515d624c566fd3e00929f8831da19c'),
    'gray-v0.1': ('gray-v0.1-5a23ee2b.npz', '5a23ee2b24c7466643d692f11249619d1864b7b7c796c9e707b34e41d967b1f0'),
    'gray-v1': ('gray-v1-5b1a3191.npz', '5b1a3191d95d48a4715602b5e101bb41070e01315db4ea437b7466003a7bc969'),
    'gray-v2': ('gray-v2-0bb6e74b.npz', '0bb6e74b26073284a73f4c9cf0ff5e6b32bbbb9e7c759004bf95ae9a62a2dafb'),
    'gray-v3': ('gray-v3-7e9b86ba.npz', '7e9b86ba13a5892e188c96bbb062c921f8dfd06c0c5f164f967d46ad86c1ea5a'),
    'gray-v4': ('gray-v4-61976956.npz', '6197695686a787a55e6ee94fb10f5a0e9ea89c1ba2ed1f8e627e38f65e7a3846'),
    'gray-v5': ('gray-v5-e218f1e0.npz', 'e218f1e0db01679a6c82afa15f65ad65bf0e870b27675f875e4ec7bed52cc866'),
    'rgb-v0': ('rgb-v0-8957044f.npz', '8957044fbe05ecffccbe622633939a912f66c15589636559dca5bbcff981d286'),
    'rgb-v0.1': ('rgb-v0.1-70b353af.npz', '70b353af620bf92f3ca903a35512107671e481e39713f409dbd82cd610e0d50a'),
    'rgb-v1': ('rgb-v1-4f13f3b7.npz', '4f13f3b7273c5904aec365c21fb9c40c778f831d4b26d88e96c23ea1ee858ec7'),
    'rgb-v2': ('rgb-v2-f2d121bc.npz', 'f2d121bc5e625697a0be1ca76596d6ddb08928d8094331339549bee42c97b21c'),
    'rgb-v3': ('rgb-v3-1bb89e57.npz', '1bb89e57afaaefbf884e6bb0459451535efa0f4ebd3a3918748b6220a6c13dfd'),
    'rgb-v4': ('rgb-v4-4a214f00.npz', '4a214f00adbd14d3fb104393a0e7850cbe1619992a593bf48ca67fdcf82eadca'),
    'rgb-v5': ('rgb-v5-13b1b8e6.npz', '13b1b8e646c47262c378846674a7806b6c465962b31bcbe850274bf0acb89023'),
}
DEFAULT_MODELS = {
    'gray': 'gray-v5',
    'rgb': 'rgb-v5',
}
# END MODELS

_cache = {}
_lock = threading.Lock()


def load(name):
    """The Net registered as name (cached); UnknownModelError if unknown, missing or its hash differs."""
    with _lock:
        net = _cache.get(name)
        if net is None:
            net = _cache[name] = _load(name)
        return net


def _load(name):
    if name not in MODELS:
        known = ", ".join(sorted(MODELS)) or "none"
        raise UnknownModelError(f"unknown model {name!r} (registered: {known})")
    filename, sha256 = MODELS[name]
    try:
        data = (WEIGHTS_DIR / filename).read_bytes()
    except OSError as exc:
        raise UnknownModelError(f"model {name!r}: cannot read {filename} ({exc.strerror})") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise UnknownModelError(f"model {name!r}: {filename} has sha256 {actual[:16]}..., expected {sha256[:16]}...")
    return Net.from_bytes(data, name=name)


def default_for(channels):
    """The registered model name that codes images with this many channels."""
    kind = {3: "rgb", 1: "gray"}.get(channels)
    if kind is None or kind not in DEFAULT_MODELS:
        raise UnknownModelError(f"no default model for {channels}-channel images")
    return DEFAULT_MODELS[kind]
