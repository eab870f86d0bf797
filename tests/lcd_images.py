"""Test images shared by the tests: crops of real photographs, and images of every mode Pillow reads from PNG."""

import io
import struct
import zlib

import numpy as np
from PIL import Image

MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "I;16")


def photo(shared_data, h, w, index=23, y=200, x=300):
    """An (h, w) crop of a Kodak image (tiled if larger than the image) as an RGB PIL image."""
    src = np.asarray(Image.open(shared_data / "kodak" / f"kodim{index:02d}.png").convert("RGB"))
    reps = (-(-(y + h) // src.shape[0]), -(-(x + w) // src.shape[1]), 1)
    return Image.fromarray(np.tile(src, reps)[y : y + h, x : x + w])


def train_crop(shared_data, channels, folder, size, seed):
    """A fixed crop (h, w) of a training image (never Kodak), as uint8 (h, w, C); gray is convert("L")."""
    files = sorted((shared_data / "train" / folder).glob("*.png"))
    rng = np.random.default_rng(seed)
    with Image.open(files[rng.integers(len(files))]) as im:
        arr = np.asarray(im.convert("RGB" if channels == 3 else "L"))
    h, w = size
    y, x = rng.integers(0, arr.shape[0] - h + 1), rng.integers(0, arr.shape[1] - w + 1)
    return np.ascontiguousarray(arr[y:y + h, x:x + w].reshape(h, w, channels))


def in_mode(rgb, mode):
    """The RGB image converted to `mode` (with palette, transparency or alpha where the mode has them),
    written as PNG and read back: exactly what Pillow hands over for such a file."""
    a = np.asarray(rgb)
    if mode == "LA" or mode == "RGBA":
        alpha = Image.fromarray(a[:, :, 1] // 2 + 100)
        im = rgb.convert(mode[:-1])
        im.putalpha(alpha)
    elif mode == "P":
        im = rgb.quantize(48)
        im.info["transparency"] = bytes(range(0, 250, 10))
    elif mode == "I;16":
        wide = a[:, :, 0].astype(np.uint16) * 257 + a[:, :, 2].astype(np.uint16) % 7
        im = Image.fromarray(wide)
    else:
        im = rgb.convert(mode)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    buf.seek(0)
    out = Image.open(buf)
    out.load()
    assert out.mode == mode, (mode, out.mode)
    return out


def same_image(a, b):
    """Pixels, mode, size, palette and transparency all equal."""
    return (
        a.mode == b.mode
        and a.size == b.size
        and a.tobytes() == b.tobytes()
        and a.getpalette() == b.getpalette()
        and a.info.get("transparency") == b.info.get("transparency")
    )


def graphic(h, w):
    """Synthetic graphics (flat rectangles, a few colours): where PNG-style coding beats a photo model."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :] = (250, 250, 245)
    img[h // 4 : h // 2, w // 8 : w // 2] = (200, 30, 30)
    img[h // 2 :, w // 3 :] = (20, 60, 200)
    img[::8, :] = (0, 0, 0)
    return img


def fix_header_crc(data):
    """Recompute the header CRC after editing a header field: a hostile file rather than a damaged one."""
    data = bytearray(data)
    if data[8] >= 4 and data[9] == 0:  # a sequence: its directory
        crc_pos = 20 + data[19] + 14 * struct.unpack_from(">I", data, 10)[0]
        struct.pack_into(">I", data, crc_pos, zlib.crc32(data[:crc_pos]))
        return bytes(data)
    n = data[21]
    name = 1 + data[22] if data[8] >= 4 and data[9] == 8 else 0  # version 4: a named mode's name
    meta_len = struct.unpack_from(">H", data, 22 + name + n + 32)[0]
    crc_pos = 22 + name + n + 32 + 2 + meta_len + 32
    if data[8] >= 3:  # version 3: the metadata blocks' directory
        crc_pos += 1 + 5 * data[crc_pos]
    struct.pack_into(">I", data, crc_pos, zlib.crc32(data[:crc_pos]))
    return bytes(data)
