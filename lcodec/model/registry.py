"""Released models by name: the weight files listed in lcodec/weights/MANIFEST.json, loaded once and verified.

A weight file is never edited: a retrained model gets a new name, so a name always means the same network and a
stream that records the name decodes the same way forever. `python -m models.release` adds entries; "provisional"
models were early steps, kept so that their files decode, never defaults.
"""

import hashlib
import json
import os
import re
import tempfile
import threading
from pathlib import Path

from lcodec.errors import UnknownModelError
from lcodec.model.weights import Net

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
MANIFEST = "MANIFEST.json"
STATUSES = ("released", "provisional")
KINDS = {"rgb": 3, "gray": 1}
NAME = re.compile(r"[a-z0-9][a-z0-9.-]*")


def read_manifest(weights_dir):
    """(models: name -> {file, sha256, status}, defaults: kind -> name) of a weights folder's manifest."""
    data = json.loads((Path(weights_dir) / MANIFEST).read_text())
    return data["models"], data["defaults"]


MODELS, DEFAULT_MODELS = read_manifest(WEIGHTS_DIR)

_cache = {}
_lock = threading.Lock()


def use(weights_dir):
    """Read models from another weights folder from now on (a release made into a scratch folder, tests)."""
    global WEIGHTS_DIR
    models, defaults = read_manifest(weights_dir)
    with _lock:
        WEIGHTS_DIR = Path(weights_dir)
        MODELS.clear()
        MODELS.update(models)
        DEFAULT_MODELS.clear()
        DEFAULT_MODELS.update(defaults)
        _cache.clear()


def add(name, data, *, status="released", default=None, weights_dir=None):
    """Write weight file bytes as model `name` and list it in the folder's manifest (default: the one in use);
    `default` ("rgb" or "gray") makes it that kind's default. Returns (file name, sha256). A name is never reused and
    a file never replaced, so ValueError if the name is taken, malformed, or the weights are invalid."""
    weights_dir = Path(weights_dir or WEIGHTS_DIR)
    models, defaults = read_manifest(weights_dir)
    if name in models:
        raise ValueError(f"model {name!r} is already registered; released files are never replaced")
    if not NAME.fullmatch(name) or status not in STATUSES or (default is not None and default not in KINDS):
        raise ValueError(f"bad release: name {name!r}, status {status!r}, default {default!r}")
    net = Net.from_bytes(data, name=name)
    if default is not None and (status != "released" or net.channels != KINDS[default]):
        raise ValueError(f"{name} ({status}, {net.channels} channels) cannot be the default {default} model")
    sha = hashlib.sha256(data).hexdigest()
    filename = f"{name}-{sha[:8]}.npz"
    (weights_dir / filename).write_bytes(data)
    models[name] = {"file": filename, "sha256": sha, "status": status}
    if default is not None:
        defaults[default] = name
    text = json.dumps({"models": dict(sorted(models.items())), "defaults": dict(sorted(defaults.items()))},
                      indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(dir=weights_dir, prefix=".manifest.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, weights_dir / MANIFEST)
    if weights_dir == WEIGHTS_DIR:
        use(weights_dir)
    return filename, sha


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
