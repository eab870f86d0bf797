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


INTERNAL_ERROR = "internal error"  # how one_line begins for a bug


def is_user_error(exc):
    """Whether the input or the system caused exc (lcodec's own errors, OSError, MemoryError); anything else is a bug
    in lcodec."""
    return isinstance(exc, (LcodecError, OSError, MemoryError))


def one_line(exc):
    """The first line of exc's message; an error that is not the user's says it is internal and names its type."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if is_user_error(exc):
        return text or type(exc).__name__
    return f"{INTERNAL_ERROR}, {type(exc).__name__}: {text}" if text else f"{INTERNAL_ERROR}, {type(exc).__name__}"
