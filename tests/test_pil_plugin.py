"""The Pillow plugin: `import lcodec.pil_plugin` makes Image.open and save handle .lcd, in every mode."""

import io
import subprocess
import sys

import numpy as np

import pytest
from lcd_images import MODES, in_mode, photo, same_image
from PIL import Image

import lcodec
from lcodec.errors import InvalidInputError, LcodecError


@pytest.mark.parametrize("mode", MODES)
def test_pillow_plugin_round_trips_every_mode(shared_data, tmp_path, mode):
    import lcodec.pil_plugin  # noqa: F401  (registers the format)

    src = in_mode(photo(shared_data, 19, 26), mode)
    src.save(tmp_path / "x.lcd")
    assert lcodec.read_header(tmp_path / "x.lcd").mode == mode
    with Image.open(tmp_path / "x.lcd") as im:
        assert im.format == "LCD" and im.mode == mode and im.size == (26, 19)
        im.load()
        assert same_image(im, src)
    src.save(tmp_path / "y.lcd", learned=False)
    assert lcodec.read_header(tmp_path / "y.lcd").model is None
    with pytest.raises(LcodecError):
        (tmp_path / "z.lcd").write_bytes((tmp_path / "x.lcd").read_bytes()[:-2])
        Image.open(tmp_path / "z.lcd").load()


def test_plain_import_registers_nothing():
    code = "import lcodec, PIL.Image as I; I.init(); print('LCD' in I.OPEN, '.lcd' in I.EXTENSION)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["False", "False"]


def test_open_reads_the_header_only(tmp_path, monkeypatch):
    """Image.open of a .lcd reads its header, not its payloads, and Pillow's pixel limit applies before decoding."""
    import lcodec.pil_plugin  # noqa: F401

    big = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)  # ~200 KB of payloads
    (tmp_path / "big.lcd").write_bytes(lcodec.Compressor(learned=False).compress(big))
    size = (tmp_path / "big.lcd").stat().st_size
    read = []

    class Counting(io.FileIO):
        def read(self, n=-1):
            out = super().read(n)
            read.append(len(out))
            return out

    with Counting(tmp_path / "big.lcd") as f:
        with Image.open(f) as im:
            assert im.size == (256, 256) and im.format == "LCD"
            assert sum(read) < (1 << 16) + 4096 < size  # the header (Pillow's other plugins peek too), not the file
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(tmp_path / "big.lcd")


def test_files_a_pillow_image_cannot_hold_are_refused(tmp_path):
    import lcodec.pil_plugin  # noqa: F401

    rng = np.random.default_rng(7)
    (tmp_path / "deep.lcd").write_bytes(lcodec.compress(rng.integers(0, 65536, (8, 9, 3)).astype(np.uint16)))
    frames = [rng.integers(0, 256, (8, 9)).astype(np.uint8)] * 2
    (tmp_path / "frames.lcd").write_bytes(lcodec.compress(frames, effort=1))
    for name, what in (("deep", "mode RGB;16"), ("frames", "2 frames")):
        with pytest.raises(InvalidInputError, match=f"a .lcd file of {what}, which a Pillow image cannot hold"):
            Image.open(tmp_path / f"{name}.lcd")
