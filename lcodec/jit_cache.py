"""Where Numba caches lcodec's compiled kernels: outside the package, in a directory keyed by all its sources.

Numba's default, the package's own __pycache__, goes wrong twice: pip does not remove those files when it
uninstalls, and the leftover lcodec/ directory (no __init__.py) then shadows an editable install as a namespace
package; and Numba checks only the source file of the function it compiled, so a kernel that inlines functions
from another module keeps a stale build after that module changes. So the cache lives in
$XDG_CACHE_HOME/lcodec/numba/<version>-<hash of every lcodec/**/*.py> (or under the temp directory where that
cannot be written), and any source change starts a fresh one. Numba picks a function's cache directory when it is
decorated, so lcodec/__init__.py imports this module before any kernel module. A NUMBA_CACHE_DIR set by the user
is left alone. The environment is not changed: child processes that import lcodec find the same directory.

Compiling the kernels takes half a minute, so a wheel carries them compiled (`lcodec.precompile`, run by setup.py
when it builds one) in lcodec/_kernels, keyed the same way; the first import copies them into the cache directory.
For that the cache is laid out by each source file's place in the package, not its absolute path, and a kernel is
fresh while its file's contents are the same. Numba checks the rest: its version, the Python version, the CPU and
the signature, and compiles anew on any difference.
"""

import hashlib
import os
import stat
import tempfile
from pathlib import Path

from numba.core import caching, config

from lcodec import __version__

PACKAGE = Path(__file__).resolve().parent
SHIPPED = PACKAGE / "_kernels"  # the kernels a wheel carries compiled, and the source key they were compiled from
KEY_FILE = "KEY"


def source_key():
    """`<version>-<16 hex digits>`: the version and a hash of every lcodec/**/*.py, in order of relative path."""
    files = sorted((p.relative_to(PACKAGE).as_posix(), p) for p in PACKAGE.rglob("*.py"))
    digest = hashlib.sha256()
    for rel, path in files:
        data = path.read_bytes()
        digest.update(f"{rel}\0{len(data)}\0".encode())
        digest.update(data)
    return f"{__version__}-{digest.hexdigest()[:16]}"


def _writable(directory):
    """Create `directory` and check a file can be written in it (Numba's own test); OSError if not."""
    directory.mkdir(parents=True, exist_ok=True)
    tempfile.TemporaryFile(dir=directory).close()
    return directory


def _private_temp_root():
    """A 0700 directory of this user's in the shared temp directory (Numba loads machine code from its cache, so
    one that another user could write is refused); OSError if there is none."""
    if not hasattr(os, "getuid"):  # Windows: the temp directory is already per user
        return Path(tempfile.gettempdir()) / "lcodec"
    root = Path(tempfile.gettempdir()) / f"lcodec-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    st = root.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise PermissionError(f"{root} is not a private directory of this user")
    return root


def cache_dir():
    """The kernels' cache directory, created: under $XDG_CACHE_HOME (default ~/.cache), else under the temp
    directory; None if neither can be written."""
    key = source_key()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    home = Path(xdg) if os.path.isabs(xdg) else Path(os.path.expanduser("~")) / ".cache"
    if home.is_absolute():  # expanduser leaves "~" as it is when there is no home
        try:
            return _writable(home / "lcodec" / "numba" / key)
        except OSError:
            pass
    try:
        return _writable(_private_temp_root() / "numba" / key)
    except OSError:
        return None


class PackageLocator(caching._CacheLocator):
    """Numba's cache locator for lcodec's own sources: CACHE_DIR/<the file's folder in the package>, fresh while the
    file's contents are unchanged (wherever the package is installed)."""

    def __init__(self, py_func, py_file):
        self._lineno = py_func.__code__.co_firstlineno
        self._path = Path(py_file).resolve()
        self._cache_path = os.path.join(config.CACHE_DIR, "lcodec", *self._path.parent.relative_to(PACKAGE).parts)

    def get_cache_path(self):
        return self._cache_path

    def get_source_stamp(self):
        return hashlib.sha256(self._path.read_bytes()).hexdigest()

    def get_disambiguator(self):
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):
        if not config.CACHE_DIR or not Path(py_file).resolve().is_relative_to(PACKAGE):
            return None
        self = cls(py_func, py_file)
        try:
            self.ensure_cache_path()
        except OSError:
            return None
        return self


def seed(directory, key):
    """Copy the kernels the package carries into `directory` if they were compiled from sources with this key;
    files already there are kept (each copy lands whole: another process may be reading)."""
    try:
        if (SHIPPED / KEY_FILE).read_text().strip() != key:
            return
    except OSError:
        return
    for source in SHIPPED.rglob("*.nb[ic]"):
        target = directory / source.relative_to(SHIPPED)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as part:
            part.write(source.read_bytes())
        os.replace(part.name, target)


def _configure():
    try:  # the cache is an optimisation: importing lcodec must never fail over it
        impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # its older name
        if PackageLocator not in impl._locator_classes:
            impl._locator_classes.insert(0, PackageLocator)
        if config.CACHE_DIR:  # NUMBA_CACHE_DIR (or a .numba_config.yaml) chose already
            return
        directory = cache_dir()
        if directory is not None:
            seed(directory, directory.name)
            config.CACHE_DIR = str(directory)
    except Exception:
        return


_configure()
