"""Coverage-guided fuzzing of everything that reads a .lcd: `read_header`, `decompress` and the Pillow plugin.

    python tests/fuzz/fuzz_decode.py -max_total_time=600 [CORPUS_DIR]

Seeded with the golden files (tests/golden/*.lcd). Any input must either raise an LcodecError or decode to an image
whose checksums matched; anything else (another exception, a crash, a hang: libFuzzer's -timeout) is a finding,
which libFuzzer writes as crash-* / timeout-* files: each becomes a regression test in tests/test_fuzz.py.
"""

import inspect
import io
import sys
from pathlib import Path

import atheris
from PIL import Image

import lcodec
import lcodec.pil_plugin  # registers the format
from lcodec import api, container, metadata
from lcodec.errors import LcodecError


def instrument(module):
    """Coverage of a pure-Python module's functions and methods (the Numba kernels' modules are left alone: Numba
    cannot compile instrumented bytecode)."""
    for owner in [module] + [c for c in vars(module).values() if inspect.isclass(c) and c.__module__ == module.__name__]:
        for name, f in list(vars(owner).items()):
            if inspect.isfunction(f) and f.__module__ == module.__name__:
                setattr(owner, name, atheris.instrument_func(f))


for m in (container, api, metadata, lcodec.pil_plugin):
    instrument(m)

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
MAX_PIXELS = 1 << 22  # keeps every accepted claim decodable within libFuzzer's per-input timeout


def one_input(data):
    try:
        lcodec.read_header(data)
    except LcodecError:
        pass
    try:
        api.Decompressor(max_pixels=MAX_PIXELS, threads=1).decompress(data)
    except LcodecError:
        pass
    try:
        with Image.open(io.BytesIO(data), formats=["LCD"]) as im:
            if im.width * im.height <= MAX_PIXELS:
                im.load()
    except (LcodecError, Image.UnidentifiedImageError, Image.DecompressionBombError):
        pass


def main(argv):
    args = list(argv)
    if not any(not a.startswith("-") for a in args[1:]):  # no corpus given: a fresh one, seeded with the golden files
        import tempfile

        corpus = Path(tempfile.mkdtemp(prefix="lcodec-fuzz-"))
        for f in GOLDEN.glob("*.lcd"):
            (corpus / f.name).write_bytes(f.read_bytes())
        args.append(str(corpus))
    for f in GOLDEN.glob("*.lcd"):  # compile (or load) the kernels first: a first call is not a slow input
        one_input(f.read_bytes())
    atheris.Setup(args, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
