from setuptools import find_packages, setup

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
        "test": ["pytest>=7", "hypothesis>=6", "atheris>=2.3", "dask[distributed]>=2024.1", "fsspec>=2023.12"],
        "dask": ["dask[distributed]>=2024.1", "fsspec>=2023.12"],
        "bench": ["imagecodecs>=2024.1.1", "constriction==0.5.0", "matplotlib", "zstandard"],
    },
    entry_points={"console_scripts": ["lcodec=lcodec.cli:main"]},
)
