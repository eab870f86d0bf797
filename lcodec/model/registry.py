"""Released models by name: the weight files listed in lcodec/weights/MANIFEST.json, loaded once and verified.

A weight file is never edited: a retrained model gets a new name, so a name always means the same network and a
stream that records the name decodes the same way forever. `python -m models.release` adds entries; "provisional"
models were early steps, kept so that their files decode, never defaults.
"""

import hashlib
import json
import threading
from pathlib import Path

from lcodec.errors import UnknownModelError
from lcodec.model.weights import Net

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
MANIFEST = WEIGHTS_DIR / "MANIFEST.json"
STATUSES = ("released", "provisional")


def read_manifest(path=MANIFEST):
    """(models: name -> {file, sha256, status}, defaults: kind -> name) of a manifest file."""
    data = json.loads(Path(path).read_text())
    return data["models"], data["defaults"]


MODELS, DEFAULT_MODELS = read_manifest()

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
    filename, sha256 = MODELS[name]["file"], MODELS[name]["sha256"]
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
