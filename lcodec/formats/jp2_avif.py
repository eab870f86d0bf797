"""JPEG 2000 and AVIF through imagecodecs, at their full depth. A JPEG 2000 codestream coded with the reversible
wavelet is lossless; one with the irreversible wavelet, and any AVIF (whose lossless coding a file does not
declare), is a lossy source."""

import numpy as np

from lcodec import container
from lcodec.errors import InvalidInputError, LossyInputError
from lcodec.formats import Frame, Picture

_JP2 = b"\0\0\0\x0cjP  \r\n\x87\n"
_J2K = b"\xff\x4f\xff\x51"


def accepts(head):
    return head.startswith((_JP2, _J2K)) or (head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"))


def read(data, *, metadata=True, allow_lossy=False):
    import imagecodecs

    jpeg2000 = data.startswith((_JP2, _J2K))
    fmt = "JPEG2000" if jpeg2000 else "AVIF"
    if not (jpeg2000 and _reversible(data)) and not allow_lossy:
        raise LossyInputError(f"the input is {'a lossy JPEG 2000' if jpeg2000 else 'an AVIF'}: its pixels may "
                              "already be an approximation (allow it with --allow-lossy-input / allow_lossy=True)")
    try:
        pixels = imagecodecs.jpeg2k_decode(data) if jpeg2000 else imagecodecs.avif_decode(data)
    except Exception as exc:  # the decoders' errors on damaged data
        raise InvalidInputError(f"a damaged {fmt} file ({type(exc).__name__}: {exc})") from None
    if pixels.dtype not in (np.uint8, np.uint16, np.int8, np.int16):
        raise InvalidInputError(f"{fmt} samples of type {pixels.dtype} are not supported")
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    colour = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}.get(channels, "X" * channels)
    depth = pixels.dtype.itemsize * 8
    if jpeg2000:  # the codestream's SIZ segment: bits per component
        siz = data.find(b"\xff\x51")
        depth = (data[siz + 40] & 0x7F) + 1 if siz >= 0 and len(data) > siz + 40 else depth
    elif data.find(b"pixi") > 0 and pixels.dtype == np.uint16:  # the AVIF's bits per channel
        pixi = data.find(b"pixi")
        depth = data[pixi + 9] if len(data) > pixi + 9 and 9 <= data[pixi + 9] <= 16 else depth
    signed = "S" if pixels.dtype.kind == "i" else ""
    mode = container.mode_by_name(f"{colour};{depth}{signed}")
    return Picture([Frame(np.ascontiguousarray(pixels), mode.name)], fmt)


def _reversible(data):
    """Whether the codestream's COD segment names the reversible 5-3 wavelet (lossless coding)."""
    cod = data.find(b"\xff\x52")
    return cod >= 0 and len(data) > cod + 13 and data[cod + 13] == 1
