"""lcodec: learned lossless image compression with bit-exact integer models."""

__version__ = "0.1.0"

# First: Numba takes its cache directory from the configuration when a kernel is decorated.
from lcodec import jit_cache  # noqa: E402, F401
from lcodec.api import Compressor, Decompressor, compress, decompress, decompress_frames, read_header
from lcodec.errors import (
    ChecksumError,
    FormatError,
    InvalidInputError,
    LcodecError,
    LimitError,
    LossyInputError,
    UnknownModelError,
    UnsupportedVersionError,
)

__all__ = [
    "Compressor",
    "Decompressor",
    "compress",
    "decompress",
    "decompress_frames",
    "read_header",
    "ChecksumError",
    "FormatError",
    "InvalidInputError",
    "LcodecError",
    "LimitError",
    "LossyInputError",
    "UnknownModelError",
    "UnsupportedVersionError",
    "__version__",
]
