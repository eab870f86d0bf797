"""Pin new golden files: `python tests/golden/make_golden.py [NAME...]` writes the cases not pinned yet (an existing
pin is never rewritten: a new pin needs a new name). `python -m models.release` adds the cases of a new model
(`model_cases`).

Each case is a small image cut from the shared data, saved as PNG (the expected pixels, mode, palette and
transparency) and as .lcd with the settings in MANIFEST.json; the tests decode every .lcd, compare it with
its PNG and re-encode the PNG with the same settings, which must give the same bytes. Together the cases cover
the learned path (RGB and gray), every fallback method, and every mode.
"""

import io
import json
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parents[1]))

from lcd_images import graphic, in_mode, photo  # noqa: E402
from PIL import Image, PngImagePlugin  # noqa: E402

from lcodec import api, container, metadata  # noqa: E402
from models.data import data_dir  # noqa: E402



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
        # the provisional models: registered, so their files decode for ever too
        "rgb-learned-v0.1": (rgb, {"fallback": False, "tile": 16, "model": "rgb-v0.1", **old}),
        "gray-learned-v0.1": (rgb.convert("L"), {"fallback": False, "tile": 16, "model": "gray-v0.1", **old}),
        "rgb-learned-v0": (rgb, {"fallback": False, "tile": 16, "model": "rgb-v0", **old}),
        "gray-learned-v0": (rgb.convert("L"), {"fallback": False, "tile": 16, "model": "gray-v0", **old}),
        "rgba-const-alpha": (Image.fromarray(const_alpha), {"fallback": False, **old}),
        "la-alpha": (in_mode(rgb, "LA"), {"learned": False, **old}),
        "p-transparency": (in_mode(rgb, "P"), old),
        "i16": (in_mode(rgb, "I;16"), old),
        "bilevel": (in_mode(rgb, "1"), old),
        "graphic": (Image.fromarray(graphic(24, 40)), old),
        # version 3: per-tile checksums, streams that keep their tails, metadata blocks of every kind
        "v3-rgb-mixed": (rgb, {"fallback": False, "tile": 16, "effort": 2}),
        "v3-gray-learned": (rgb.convert("L"), {"fallback": False, "tile": 16, "effort": 1}),
        "v3-rgba-alpha": (in_mode(rgb, "RGBA"), {"tile": 16}),
        "rgb-metadata": (with_metadata(rgb), {"learned": False}),
        "gray-metadata": (with_metadata(rgb.convert("L"), srgb=True), {"learned": False}),
        # version 4: named modes, sequences of frames, kept PNG chunks, TIFF tags and colour maps; these cases are
        # files (bytes, suffix) read through lcodec.formats
        **deep_cases(shared_data, rgb),
        # version 5: the mixing engine without the network (CONTEXT, RESIDUAL) on the planes no model codes
        "v5-rgba-context": (Image.fromarray(np.dstack([np.asarray(rgb), np.asarray(rgb.convert("L"))])),
                            {"fallback": False, "tile": 16}),
        "v5-palette-context": (in_mode(rgb, "P"), {"fallback": False}),
        "v5-bilevel-context": (in_mode(rgb, "1"), {"fallback": False}),
        "v5-i16-context": (in_mode(rgb, "I;16"), {"fallback": False, "effort": 3}),  # CONTEXT, smaller here
        "v5-i16-residual": (in_mode(rgb, "I;16"), {"fallback": False}),  # parameter set 1
        "v5-i16-residual-fit": (deep_gray(shared_data), {"fallback": False}),  # set 2: the least-squares fit
    }


def deep_gray(shared_data):
    """A 24 x 32 crop of a real 16-bit gray image (solar corona, 12 bits used), as a PIL image of mode I;16."""
    import imagecodecs

    a = imagecodecs.png_decode((shared_data / "deep" / "sunpy_trace_171_1998-05-19.png").read_bytes())
    return Image.fromarray(np.ascontiguousarray(a[500:524, 480:512]))


def _png_with_chunks(png, chunks):
    """The PNG bytes with the (type, data) chunks inserted after IHDR."""
    at = 33
    return png[:at] + b"".join(struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d))
                               for k, d in chunks) + png[at:]


def deep_cases(shared_data, rgb):
    """The version-4 cases: name -> ((file bytes, suffix), Compressor keyword arguments)."""
    import imagecodecs
    import tifffile

    deep = shared_data / "deep"
    rgb16 = imagecodecs.png_decode((deep / "riocolor_rgb16.png").read_bytes())[200:220, 300:324]
    chunks = [(b"sBIT", bytes([12] * 3)), (b"bKGD", struct.pack(">3H", 1, 2, 3)),
              (b"tIME", struct.pack(">HBBBBB", 2026, 12, 3, 10, 0, 0)), (b"zTXt", b"Comment\0\0" + zlib.compress(b"kept " * 9))]
    ct = imagecodecs.png_decode((deep / "dcmqact_GE_14.png").read_bytes())[100:120, 100:124].astype(np.int32) - 1500
    tags = {"description": "CT, Hounsfield units", "software": "lcodec golden", "datetime": "2026:12:03 10:00:00",
            "extratags": [(315, "s", 0, "lcodec", True)]}

    def tiff(array, **kwargs):
        buf = io.BytesIO()
        tifffile.imwrite(buf, array, metadata=None, **kwargs)
        return buf.getvalue()

    a = np.asarray(rgb)
    extra = np.dstack([a, a[:, :, :1] // 2, 255 - a[:, :, 2:]])
    cmap = (np.arange(768, dtype=np.uint16).reshape(3, 256) * 85) % 65521
    apng = io.BytesIO()
    frames = [rgb, rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT), rgb.transpose(Image.Transpose.FLIP_TOP_BOTTOM)]
    frames[0].save(apng, "PNG", save_all=True, append_images=frames[1:], duration=[100, 200, 300], loop=2)
    return {
        "v4-rgb16-chunks": ((_png_with_chunks(imagecodecs.png_encode(rgb16), chunks), ".png"), {"learned": False}),
        "v4-ct-signed-tags": ((tiff(ct.astype(np.int16), **tags), ".tiff"), {"learned": False}),
        "v4-palette-colormap": ((tiff(a[:, :, 0] // 4, photometric="palette", colormap=cmap), ".tiff"),
                                {"learned": False}),
        "v4-rgbxx-mixed": ((tiff(extra, photometric="rgb", extrasamples=[0, 0]), ".tiff"),
                           {"fallback": False, "tile": 16, "effort": 2}),
        "v4-frames-mixed": ((apng.getvalue(), ".png"), {"fallback": False, "tile": 16, "effort": 2}),
    }


def with_metadata(image, srgb=False):
    """A copy of image carrying metadata blocks of every kind but one: an ICC profile, or (srgb=True) the sRGB
    intent instead, as PNG holds one or the other (fixed bytes, so the files reproduce)."""
    image = image.copy()
    exif = Image.Exif()
    exif[0x0112] = 6
    image.info.update({"exif": exif.tobytes(), "xmp": b"<x:xmpmeta/>", "Title": "golden",
                       "Comment": PngImagePlugin.iTXt("d\u00e9j\u00e0 vu", "fr", "Kommentar"),
                       "dpi": (11811 * 0.0254,) * 2,  # 300 dpi as PNG stores it: 11811 pixels per metre
                       "gamma": 0.45455, "chromaticity": (0.3127, 0.329, 0.64, 0.33, 0.3, 0.6, 0.15, 0.06)})
    image.info.update({"srgb": 0} if srgb else {"icc_profile": bytes(range(256)) * 2})
    return image


def settings(data, kwargs):
    """The manifest entry: the Compressor arguments (model by name and tile size, so later defaults do not
    change them) and what the file must record."""
    h = api.read_header(data)
    return {"compressor": {**kwargs, "model": h.model, "tile": h.tile}, "mode": h.mode, "model": h.model,
            "methods": [container.METHOD_NAMES[m] for m in h.methods], "bytes": len(data)}


def write(cases_, folder=HERE):
    """Write each case's PNG and .lcd into folder and its entry into the folder's MANIFEST.json (others kept). A pin
    is never replaced: ValueError if a case is already in the manifest (a new pin needs a new name)."""
    path = Path(folder) / "MANIFEST.json"
    manifest = json.loads(path.read_text()) if path.exists() else {}
    taken = sorted(set(cases_) & set(manifest))
    if taken:
        raise ValueError(f"already pinned, never rewritten: {', '.join(taken)}")
    for name, (image, kwargs) in cases_.items():
        if isinstance(image, tuple):  # a file's bytes and suffix, coded from the file
            source = Path(folder) / f"{name}{image[1]}"
            source.write_bytes(image[0])
            data = api.Compressor(**kwargs, threads=1).compress(source)
        else:
            image.save(Path(folder) / f"{name}.png", **metadata.save_arguments(metadata.from_image(image), "PNG"))
            data = api.Compressor(**kwargs, threads=1).compress(image)
        (Path(folder) / f"{name}.lcd").write_bytes(data)
        manifest[name] = settings(data, kwargs)
        if isinstance(image, tuple):
            manifest[name]["file"] = f"{name}{image[1]}"
        print(name, manifest[name]["methods"], len(data), "bytes")
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def model_cases(shared_data, name, channels, model_stages):
    """The cases a release adds: one per model stage the network carries (`lcodec.stages.model_stages`), each at
    the lowest effort that stage codes."""
    rgb = photo(shared_data, 20, 24, index=15, y=100, x=400)
    image = rgb if channels == 3 else rgb.convert("L")
    return {f"{name}-{stage.name}": (image, {"fallback": False, "tile": 16, "model": name, "effort": min(stage.efforts)})
            for stage in model_stages}


def main(names=None):
    """Write the cases named (default: every case not pinned yet)."""
    pinned = json.loads((HERE / "MANIFEST.json").read_text()) if (HERE / "MANIFEST.json").exists() else {}
    write({k: v for k, v in cases(data_dir().parent).items() if (k in names if names else k not in pinned)})


if __name__ == "__main__":
    main(sys.argv[1:] or None)
