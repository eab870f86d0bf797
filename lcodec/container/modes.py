"""The container's modes (FORMAT.md section 1): how an image's samples are stored, as plane groups of (channels,
bits), by a mode code or, from version 4, by a name."""

import functools
import re
from dataclasses import dataclass

import numpy as np

from lcodec.errors import FormatError

MAX_CHANNELS = 64        # of a named mode


@dataclass(frozen=True)
class Mode:
    """How the container stores an image's samples: plane groups of (channels, storage bits per sample: 1, 8 or
    16), and the bits the samples use (`depth`) and whether they are signed (stored offset by 2^(depth-1))."""

    code: int
    name: str
    groups: tuple
    learned_group: bool  # whether group 0 may use the learned path
    depth: int = 0       # bits each sample uses, 1..16 (0: the storage bits)
    signed: bool = False

    @property
    def channels(self):
        return sum(c for c, _ in self.groups)

    @property
    def bits(self):
        return self.groups[0][1]

    @property
    def sample_bits(self):
        return self.depth or self.bits

    @property
    def dtype(self):
        """The dtype the samples are stored and coded in (unsigned)."""
        return {1: np.dtype(bool), 8: np.dtype(np.uint8), 16: np.dtype(np.uint16)}[self.bits]

    @property
    def array_dtype(self):
        """The dtype of the samples as decompress returns them (signed modes: int8 / int16)."""
        return np.dtype(f"i{self.bits // 8}") if self.signed else self.dtype

    def shape(self, height, width):
        return (height, width) if self.channels == 1 else (height, width, self.channels)


MODES = {
    m.code: m
    for m in (
        Mode(1, "1", ((1, 1),), False),
        Mode(2, "L", ((1, 8),), True),
        Mode(3, "LA", ((1, 8), (1, 8)), True),
        Mode(4, "P", ((1, 8),), False),
        Mode(5, "RGB", ((3, 8),), True),
        Mode(6, "RGBA", ((3, 8), (1, 8)), True),
        Mode(7, "I;16", ((1, 16),), False),
    )
}
MODE_BY_NAME = {m.name: m for m in MODES.values()}
GENERIC, SEQUENCE = 8, 0  # version 4: a mode named in the header (mode_by_name), a sequence of frames (section 8)
COLOURS = {"": 0, "L": 1, "RGB": 3, "CMYK": 4}  # a named mode's colour channels, before its extra channels
_NAMED = re.compile(r"(L|RGB|CMYK|)([AaX]*);([0-9]{1,2})(S?)\Z")


@functools.lru_cache(maxsize=256)
def mode_by_name(name):
    """The Mode of a name: one of MODE_BY_NAME, or a named mode COLOUR EXTRAS ';' BITS ['S'] (FORMAT.md section 1):
    COLOUR is L, RGB, CMYK or nothing, EXTRAS one letter per further channel (A alpha, a premultiplied alpha, X any
    other), BITS 2..16 the bits each sample uses, S signed. A named mode equal to a mode of MODE_BY_NAME is that
    mode (L;8 is L, RGBA;8 is RGBA, L;16 is I;16). FormatError for any other name."""
    if name in MODE_BY_NAME:
        return MODE_BY_NAME[name]
    m = _NAMED.match(name) if isinstance(name, str) else None
    if m is None:
        raise FormatError(f"unknown mode {name!r}")
    colour, extras, depth, signed = m.group(1), m.group(2), int(m.group(3)), bool(m.group(4))
    channels = COLOURS[colour] + len(extras)
    if not 2 <= depth <= 16 or not 1 <= channels <= MAX_CHANNELS or str(depth) != m.group(3):
        raise FormatError(f"bad mode {name!r} (bits 2..16, 1..{MAX_CHANNELS} channels)")
    legacy = {("L", "", 8): "L", ("L", "A", 8): "LA", ("RGB", "", 8): "RGB", ("RGB", "A", 8): "RGBA",
              ("L", "", 16): "I;16"}.get((colour, extras, depth))
    if legacy and not signed:
        return MODE_BY_NAME[legacy]
    bits = 8 if depth <= 8 else 16
    groups = ((COLOURS[colour], bits),) if colour else ()
    groups += ((1, bits),) * len(extras)
    learned = colour in ("L", "RGB") and depth == 8 and not signed
    return Mode(GENERIC, name, groups, learned, depth, signed)


def named_mode(name):
    """The Mode a version-4 header names; a name of a mode with its own code is a FormatError (one way to say it)."""
    try:
        mode = mode_by_name(name.decode("ascii"))
    except UnicodeDecodeError:
        mode = None
    if mode is None or mode.code != GENERIC:
        raise FormatError(f"bad mode name {bytes(name)!r}")
    return mode
