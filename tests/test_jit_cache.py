"""Numba's cache for lcodec's kernels lives outside the package, in a folder keyed by its sources (lcodec/jit_cache.py).

The folder is chosen when lcodec is imported, so every check runs a fresh interpreter in a controlled environment.
"""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import lcodec

ROOT = Path(__file__).resolve().parents[1]
KEY = re.compile(re.escape(lcodec.__version__) + r"-[0-9a-f]{16}")
CACHE_DIR = "import lcodec; from numba.core import config; print(config.CACHE_DIR)"


def _env(**overrides):
    """os.environ without Numba's settings, the cache home or PYTHONPATH, plus `overrides`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("NUMBA_") and k not in ("XDG_CACHE_HOME", "PYTHONPATH")}
    env.update(overrides)
    return env


def _python(code, cwd, **env):
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=_env(**env), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def package(tmp_path):
    """A copy of the lcodec package (sources and weights) to edit, under tmp_path/src."""
    shutil.copytree(ROOT / "lcodec", tmp_path / "src" / "lcodec", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "src"


def _nb_files(folder):
    return sorted(p.name for p in Path(folder).rglob("*.nb[ic]"))


def test_cache_outside_the_package_keyed_by_its_sources(package, tmp_path):
    cache = tmp_path / "cache"
    first = Path(_python(CACHE_DIR, tmp_path, PYTHONPATH=str(package), XDG_CACHE_HOME=str(cache)))
    assert first.parent == cache / "lcodec" / "numba" and KEY.fullmatch(first.name) and first.is_dir()
    # The key depends on the sources' contents, not on where they are: the repository's own gives the same.
    assert _python(CACHE_DIR, tmp_path, PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(cache)) == str(first)

    # A compiled kernel's files land there, none in the package.
    _python("import lcodec, numpy as np; lcodec.Compressor(learned=False).compress("
            "np.arange(3072, dtype=np.uint8).reshape(32, 32, 3))",
            tmp_path, PYTHONPATH=str(package), XDG_CACHE_HOME=str(cache))
    assert "fallback._row_costs" in " ".join(_nb_files(first)) and not _nb_files(package)

    # Editing any source file, here one whose functions other modules inline, moves to a fresh folder.
    with open(package / "lcodec" / "coder.py", "a", encoding="utf-8") as f:
        f.write("# edited\n")
    edited = Path(_python(CACHE_DIR, tmp_path, PYTHONPATH=str(package), XDG_CACHE_HOME=str(cache)))
    assert edited.parent == first.parent and KEY.fullmatch(edited.name) and edited != first


def test_an_edit_to_an_inlined_function_is_never_served_stale(package, tmp_path):
    """A cached kernel that inlines a function of another module: Numba alone checks only the kernel's own file."""
    (package / "lcodec" / "_inlined.py").write_text(
        "from numba import njit\n\n\n@njit(inline='always')\ndef value():\n    return 1\n")
    (package / "lcodec" / "_kernel.py").write_text(
        "from numba import njit\n\nfrom lcodec._inlined import value\n\n\n"
        "@njit(cache=True)\ndef kernel():\n    return value()\n")
    code = "import lcodec._kernel as k; print(k.kernel())"
    env = dict(PYTHONPATH=str(package), XDG_CACHE_HOME=str(tmp_path / "cache"))
    assert _python(code, tmp_path, **env) == "1"
    assert _python(code, tmp_path, **env) == "1" and _nb_files(tmp_path)  # now from the cache
    inlined = package / "lcodec" / "_inlined.py"
    inlined.write_text(inlined.read_text().replace("return 1", "return 2"))
    assert _python(code, tmp_path, **env) == "2"


def test_numba_cache_dir_is_honoured(tmp_path):
    mine = tmp_path / "mine"
    cache = tmp_path / "cache"
    out = _python(CACHE_DIR, tmp_path, PYTHONPATH=str(ROOT), NUMBA_CACHE_DIR=str(mine), XDG_CACHE_HOME=str(cache))
    assert out == str(mine) and not cache.exists()


def test_unwritable_cache_home_falls_back_to_a_private_temp_folder(tmp_path):
    (tmp_path / "file").write_text("not a folder")  # nothing can be created under a file, not even by root
    temp = tmp_path / "temp"
    temp.mkdir()
    out = Path(_python(CACHE_DIR, tmp_path, PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(tmp_path / "file" / "cache"),
                       TMPDIR=str(temp)))
    root = temp / f"lcodec-{os.getuid()}"
    assert out.parent == root / "numba" and KEY.fullmatch(out.name) and out.is_dir()
    assert root.stat().st_mode & 0o777 == 0o700


def test_a_temp_folder_others_can_write_is_refused(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    temp = tmp_path / "temp"
    (temp / f"lcodec-{os.getuid()}").mkdir(parents=True)
    (temp / f"lcodec-{os.getuid()}").chmod(0o777)
    out = _python(CACHE_DIR, tmp_path, PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(tmp_path / "file" / "cache"),
                  TMPDIR=str(temp))
    assert out == ""  # Numba's own default


def test_nowhere_to_write_leaves_numba_defaults_and_imports(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    code = f"import tempfile; tempfile.tempdir = {str(tmp_path / 'file' / 'temp')!r}; " + CACHE_DIR
    code += "; lcodec.compress"
    out = _python(code, tmp_path, PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(tmp_path / "file" / "cache"))
    assert out == ""


def _repo_copy(dest):
    """The repository's files as git sees them (tracked, or new and not ignored), copied to `dest`."""
    try:
        listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                                 capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("needs the repository as a git checkout")
    for name in filter(None, listing.decode().split("\0")):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)


def _dependencies(dest):
    """A folder of links to what the site folders holding numpy, numba, pillow, pip and setuptools hold, less any
    lcodec install and .pth file: a fresh environment sees the dependencies without downloads, and no lcodec."""
    specs = [importlib.util.find_spec(name) for name in ("numpy", "numba", "PIL", "pip", "setuptools")]
    if None in specs:
        pytest.skip("needs pip and setuptools")
    dest.mkdir()
    for site in {Path(spec.origin).resolve().parents[1] for spec in specs}:
        for entry in site.iterdir():
            if entry.suffix == ".pth" or entry.name.lower().startswith(("lcodec", "__editable__")):
                continue
            if not (dest / entry.name).exists():
                (dest / entry.name).symlink_to(entry)
    return dest


def test_an_install_then_an_editable_install_leaves_nothing_behind(tmp_path):
    """pip install ., run (Numba compiles and caches a kernel), pip install -e .: the first install is gone whole.

    When Numba cached into the installed package's __pycache__, pip's uninstall left site-packages/lcodec behind
    without its __init__.py, and from any folder but the repository `import lcodec` found that namespace package
    before the editable install: "module 'lcodec' has no attribute 'compress'". --no-learned compiles only the
    fallback's row-cost kernel, the cheapest run that writes cache files."""
    repo = tmp_path / "repo"
    _repo_copy(repo)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "dependencies.pth").write_text(f"{_dependencies(tmp_path / 'dependencies')}\n")
    cache = tmp_path / "cache"
    env = _env(XDG_CACHE_HOME=str(cache), LCODEC_PRECOMPILE="0", PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
               VIRTUAL_ENV=str(venv))
    image = tmp_path / "image.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(image)

    def run(args, cwd):
        cwd.mkdir(exist_ok=True)
        done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout.strip()

    pip = [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
           "--disable-pip-version-check"]
    where = [python, "-c", "import lcodec; lcodec.compress; print(lcodec.__file__)"]
    run([*pip, "."], repo)
    assert run(where, tmp_path / "a") == str(site / "lcodec" / "__init__.py")
    run(["lcodec", "encode", "--no-learned", "-q", str(image), "-o", "a.lcd"], tmp_path / "a")
    assert _nb_files(cache) or _nb_files(site / "lcodec")  # a kernel was compiled and cached

    run([*pip, "-e", "."], repo)
    assert run(where, tmp_path / "b") == str(repo / "lcodec" / "__init__.py")
    run(["lcodec", "encode", "--no-learned", "-q", str(image), "-o", "b.lcd"], tmp_path / "b")
    assert (tmp_path / "b" / "b.lcd").read_bytes() == (tmp_path / "a" / "a.lcd").read_bytes()
    assert not (site / "lcodec").exists(), sorted(p.name for p in (site / "lcodec").rglob("*"))
    assert _nb_files(cache)


# A newcomer's first runs, on real files of every kind: photos by the network alone and with the mixing stage, gray,
# palette, 1-bit and RGBA graphics, 16-bit gray and colour, at every effort, decoded and explained.
FIRST_RUNS = [
    ("kodak/kodim23.png", 2), ("kodak/kodim20.png", 1), ("graphics/p9_method_counts.png", 2),
    ("graphics/spd_talent_icons.png", 3), ("graphics/tess_eurotext.tif", 2), ("graphics/kpxc_keepassxc.png", 2),
    ("deep/dcmqact_GE_14.png", 3), ("deep/riocolor_rgb16.png", 2),
]
COUNT_COMPILES = """
import sys
from numba.core import event

compiled = []


class Listener(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__qualname__)

    def on_end(self, ev):
        pass


event.register("numba:compile", Listener())
from lcodec.cli import main

for i, (path, effort) in enumerate(RUNS):
    for args in (["encode", "-q", "-e", str(effort), path, "-o", f"{i}.lcd"], ["decode", "-q", "-t", f"{i}.lcd"],
                 ["explain", "-e", str(effort), path, "-o", f"{i}.png"]):
        assert main(args) == 0, args
print("compiled:", *compiled)
"""


def test_a_wheel_carries_every_kernel_a_first_run_needs(package, tmp_path):
    """The kernels compiled into the wheel (setup.py runs lcodec.precompile) seed a fresh cache, and first runs on
    every kind of image then load every kernel they use instead of compiling it (half a minute and more)."""
    from models.data import shared_root

    shipped = Path(lcodec.__file__).resolve().parent / "_kernels"
    if not shipped.is_dir():  # the sources, or an editable install: compile them as setup.py does (two minutes)
        assert os.environ.get("LCODEC_CI") != "1", "the installed package carries no compiled kernels"
        if os.environ.get("LCODEC_SLOW") != "1":
            pytest.skip("LCODEC_SLOW=1: compiles every kernel")
        shipped = package / "lcodec" / "_kernels"
        _python("import lcodec.precompile as p; p.main()", tmp_path, PYTHONPATH=str(package),
                NUMBA_CACHE_DIR=str(shipped))
    home = Path(shipped).parents[1]
    runs = [(str(shared_root() / "data" / name), effort) for name, effort in FIRST_RUNS]
    cache = tmp_path / "cache"
    work = tmp_path / "work"
    work.mkdir()
    out = _python(f"RUNS = {runs!r}\n" + COUNT_COMPILES, work, PYTHONPATH=str(home), XDG_CACHE_HOME=str(cache))
    assert out.splitlines()[-1] == "compiled:", out.splitlines()[-1]  # none of lcodec's kernels
    assert (cache / "lcodec" / "numba").is_dir() and _nb_files(cache)
    assert sorted(p.name for p in work.glob("*.png")) == [f"{i}.png" for i in range(len(FIRST_RUNS))]
