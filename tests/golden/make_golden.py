"""Regenerate the golden files: `python tests/golden/make_golden.py` (deterministic; run after a model release).

Each case is a small image cut from the shared data, saved as PNG (the expected pixels, mode, palette and
transparency) and as .lcd with the settings in MANIFEST.json; the tests decode every .lcd, compare it with
its PNG and re-encode the PNG with the same settings, which must give the same bytes. Together the cases cover
the learned path (RGB and gray), every fallback method, and every mode.
"""

import json
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from lcd_images import graphic, in_mode, photo  # noqa: E402
from PIL import Image  # noqa: E402

from lcodec import api, container  # noqa: E402

SHARED = Path(os.environ.get("LCODEC_SHARED", HERE.parents[2] / "shared"))


def cases(shared_data):
    """name -> (PIL image, Compressor keyword arguments)."""
    rgb = photo(shared_data, 20, 24, index=15, y=100, x=400)
    const_alpha = np.dstack([np.asarray(rgb), np.full((20, 24), 255, np.uint8)])
    old = {"effort": 1}  # the files made before the mixing stage: the network alone
    return {
        # the mixing stage over the default models
        "rgb-mixed": (rgb, {"fallback": False, "tile": 16, "effort": 2}),
        "gray-mixed": (rgb.convert("L"), {"fallback": False, "tile": 16, "effort": 2}),
        # the network alone: the default models, and the first released ones (their files must decode for ever)
        "rgb-learned": (rgb, {"fallback": False, "tile": 16, **old}),
        "gray-learned": (rgb.convert("L"), {"fallback": False, "tile": 16, **old}),
        "rgb-learned-v4": (rgb, {"fallback": False, "tile": 16, "model": "rgb-v4", **old}),
        "rgb-learned-v3": (rgb, {"fallback": False, "tile": 16, "model": "rgb-v3", **old}),
        "gray-learned-v4": (rgb.convert("L"), {"fallback": False, "tile": 16, "model": "gray-v4", **old}),
        "gray-learned-v3": (rgb.convert("L"), {"fallback": False, "tile": 16, "model": "gray-v3", **old}),
        "rgb-learned-v2": (rgb, {"fallback": False, "tile": 16, "model": "rgb-v2", **old}),
        "gray-learned-v2": (rgb.convert("L"), {"fallback": False, "tile": 16, "model": "gray-v2", **old}),
        "rgb-learned-v1": (rgb, {"fallback": False, "tile": 16, "model": "rgb-v1", **old}),
        "gray-learned-v1": (rgb.convert("L"), {"fallback": False, "tile": 16, "model": "gray-v1", **old}),
        "rgba-const-alpha": (Image.fromarray(const_alpha), {"fallback": False, **old}),
        "la-alpha": (in_mode(rgb, "LA"), {"learned": False, **old}),
        "p-transparency": (in_mode(rgb, "P"), old),
        "i16": (in_mode(rgb, "I;16"), old),
        "bilevel": (in_mode(rgb, "1"), old),
        "graphic": (Image.fromarray(graphic(24, 40)), old),
    }


def settings(data, kwargs):
    """The manifest entry: the Compressor arguments (model by name and tile size, so later defaults do not
    change them) and what the file must record."""
    h = api.read_header(data)
    return {"compressor": {**kwargs, "model": h.model, "tile": h.tile}, "mode": h.mode, "model": h.model,
            "methods": [container.METHOD_NAMES[m] for m in h.methods], "bytes": len(data)}


def main():
    manifest = {}
    for name, (image, kwargs) in cases(SHARED / "data").items():
        image.save(HERE / f"{name}.png")
        data = api.Compressor(**kwargs, threads=1).compress(image)
        (HERE / f"{name}.lcd").write_bytes(data)
        manifest[name] = settings(data, kwargs)
        print(name, manifest[name]["methods"], len(data), "bytes")
    (HERE / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
