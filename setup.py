import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py


class BuildPyWithKernels(build_py):
    """build_py, then the kernels compiled into the wheel's lcodec/_kernels by lcodec.precompile (about two minutes),
    so that a fresh install's first run need not compile them. Not for an editable install, nor with
    LCODEC_PRECOMPILE=0; a failure costs only that wait, so it warns and the build goes on."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False) or os.environ.get("LCODEC_PRECOMPILE") == "0":
            return
        build_lib = Path(self.build_lib).resolve()
        kernels = build_lib / "lcodec" / "_kernels"
        shutil.rmtree(kernels, ignore_errors=True)  # an earlier build's
        self.announce(f"compiling lcodec's kernels into {kernels}", level=2)
        path = os.pathsep.join(filter(None, [str(build_lib), os.environ.get("PYTHONPATH")]))
        env = dict(os.environ, NUMBA_CACHE_DIR=str(kernels), PYTHONPATH=path)
        done = subprocess.run([sys.executable, "-m", "lcodec.precompile"], cwd=build_lib, env=env)
        if done.returncode:
            shutil.rmtree(kernels, ignore_errors=True)
            print("warning: lcodec's kernels were not compiled into the wheel; they compile on first use",
                  file=sys.stderr)

setup(
    name="lcodec",
    version="0.1.0",
    description="Learned lossless image codec: an integer PixelCNN driving a Numba range coder",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["lcodec", "lcodec.*"]),
    package_data={"lcodec": ["weights/*.npz", "weights/MANIFEST.json", "py.typed"]},
    # imagecodecs (libpng, OpenJPEG, libavif) and tifffile read and write what Pillow cuts to 8 bits
    install_requires=["numpy>=1.24", "numba>=0.58", "pillow>=10.1", "imagecodecs>=2024.1.1", "tifffile>=2024.1.30"],
    extras_require={
        "train": ["torch>=2.1", "tqdm"],
        # numcodecs, zarr 3 and xarray: tests/test_numcodecs.py and the README's example (they need Python 3.11)
        "test": ["pytest>=7", "hypothesis>=6", "atheris>=2.3", "dask[distributed]>=2024.1", "fsspec>=2023.12",
                 'numcodecs>=0.16; python_version >= "3.11"', 'zarr>=3.1.3; python_version >= "3.11"',
                 'xarray>=2025.1; python_version >= "3.11"'],
        "dask": ["dask[distributed]>=2024.1", "fsspec>=2023.12"],
        # lcodec.numcodecs: the numcodecs codec "lcodec" and its zarr v3 serializer "numcodecs.lcodec"
        "zarr": ["numcodecs>=0.16", "zarr>=3.1.3"],
        "bench": ["imagecodecs>=2024.1.1", "constriction==0.5.0", "matplotlib", "zstandard"],
    },
    cmdclass={"build_py": BuildPyWithKernels},
    entry_points={
        "console_scripts": ["lcodec=lcodec.cli:main"],
        "numcodecs.codecs": ["lcodec = lcodec.numcodecs:Lcodec"],  # numcodecs.get_codec({"id": "lcodec"})
        "zarr.codecs": ["numcodecs.lcodec = lcodec.numcodecs:LcodecSerializer"],  # zarr v3 arrays' metadata
    },
)
