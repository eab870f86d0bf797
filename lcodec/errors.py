"""The exception tree. Every failure a user can cause is an LcodecError with a one-line message."""


class LcodecError(Exception):
    """Root of every error lcodec raises on purpose."""


class InvalidInputError(LcodecError, ValueError):
    """Arguments that cannot be coded: bad CDFs, symbols out of range, unsupported arrays."""


class LossyInputError(InvalidInputError):
    """An image from a lossy format (JPEG): coding it losslessly keeps its artefacts at several times its size."""


class FormatError(LcodecError):
    """A stream or file that is not a valid lcodec stream: truncated, corrupted or foreign."""


class ChecksumError(FormatError):
    """The decoded data does not match the checksum stored by the encoder."""


class UnsupportedVersionError(FormatError):
    """A file written by a format version this build cannot read."""


class UnknownModelError(LcodecError):
    """A model name that is not registered, or weights whose hash does not match the registry."""


class LimitError(LcodecError):
    """A size over a safety limit (decompression bombs); limits can be raised explicitly."""
