"""Files written whole or not at all, and data given as bytes or a path."""

import functools
import os
import tempfile
from pathlib import Path

from lcodec.errors import InvalidInputError


def as_bytes(data):
    """data's bytes: of a path, the file's."""
    if isinstance(data, (str, os.PathLike)):
        return Path(data).read_bytes()
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidInputError(f"cannot decompress a {type(data).__name__}: pass bytes or a path")
    return data


@functools.cache
def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path, write, *, force=False, verify=None):
    """Call write(file) on a temporary file beside `path`, then verify(temporary path) if given, then rename
    it over `path`: an error never leaves a partial file."""
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists (use --force / force=True to overwrite)")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        if verify is not None:
            verify(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would make outputs private
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path
