"""Pillow plugin: `import lcodec.pil_plugin` and Image.open("x.lcd") reads, img.save("x.lcd") writes.

Registration happens on import of this module only; `import lcodec` leaves Pillow untouched.
`img.save(path, model=NAME)` picks the model; `learned=False` codes with the fallback methods only; the image's
metadata (ICC profile, EXIF, XMP, text, dpi...) is kept, `icc_profile=`, `exif=`, `xmp=`, `dpi=` replace it and
`metadata=False` drops it. An opened file's `info` holds its metadata.
"""

import numpy as np
from PIL import Image, ImageFile, ImagePalette

from lcodec import api, container, metadata
from lcodec.errors import InvalidInputError
from lcodec.formats import pillow

FORMAT = "LCD"
_RAWMODES = {"1": "1;8", "I;16": "I;16B"}
_PIL_MODES = {**{m: m for m in pillow.MODES}, **{v: k for k, v in pillow.NAMED.items() if not k.startswith("I;")}}


def _accept(prefix):
    return prefix[: len(container.SIGNATURE)] == container.SIGNATURE


class LcdImageFile(ImageFile.ImageFile):
    format = FORMAT
    format_description = "lcodec learned lossless image"

    def _open(self):
        header = container.read_header(self.fp)  # the header alone: no pixel, no payload is read
        if header.sequence is not None or header.mode not in _PIL_MODES:
            what = f"{len(header.sequence.frames)} frames" if header.sequence else f"mode {header.mode}"
            raise InvalidInputError(f"a .lcd file of {what}, which a Pillow image cannot hold (use "
                                    "lcodec.decompress_frames, or lcodec decode to a .png or .tiff)")
        self._size = (header.width, header.height)
        self._mode = _PIL_MODES[header.mode]
        if header.palette is not None:
            self.palette = ImagePalette.raw(header.palette_mode, header.palette)
        if header.transparency is not None:
            self.info["transparency"] = header.transparency
        self.info.update(metadata.to_info(header.metadata))
        self.tile = [ImageFile._Tile("lcd", (0, 0) + self.size, 0, None)]


class LcdDecoder(ImageFile.PyDecoder):
    _pulls_fd = True

    def decode(self, buffer):
        pixels = api.Decompressor().decompress(self.fd.read())
        if pixels.dtype == np.uint16:
            pixels = pixels.astype(">u2")
        self.set_as_raw(pixels.view(np.uint8).tobytes(), _RAWMODES.get(self.mode, self.mode))
        return -1, 0


_SAVE_METADATA = ("icc_profile", "exif", "xmp", "dpi")


def _save(im, fp, filename):
    info = im.encoderinfo
    given = {k: info[k] for k in _SAVE_METADATA if k in info}
    if given:  # save()'s arguments win over what the image carries
        im = im.copy()
        im.info.update(given)
    comp = api.Compressor(info.get("model"), learned=info.get("learned", True),
                          metadata=info.get("metadata", True), allow_lossy=info.get("allow_lossy", False))
    fp.write(comp.compress(im))


Image.register_open(FORMAT, LcdImageFile, _accept)
Image.register_save(FORMAT, _save)
Image.register_extension(FORMAT, ".lcd")
Image.register_decoder("lcd", LcdDecoder)
Image.register_mime(FORMAT, "image/x-lcodec")
