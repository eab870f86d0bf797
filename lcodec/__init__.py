"""lcodec: learned lossless image compression with bit-exact integer models."""

from lcodec.api import Compressor, Decompressor, compress, decompress, read_header
from lcodec.errors import (
    ChecksumError,
    FormatError,
    InvalidInputError,
    LcodecError,
    LimitError,
    UnknownModelError,
    UnsupportedVersionError,
)

__version__ = "0.1.0"

__all__ = [
    "Compressor",
    "Decompressor",
    "compress",
    "decompress",
    "read_header",
    "ChecksumError",
    "FormatError",
    "InvalidInputError",
    "LcodecError",
    "LimitError",
    "UnknownModelError",
    "UnsupportedVersionError",
    "__version__",
]
