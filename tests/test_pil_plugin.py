"""The Pillow plugin: `import lcodec.pil_plugin` makes Image.open and save handle .lcd, in every mode."""

import subprocess
import sys

import pytest
from lcd_images import MODES, in_mode, photo, same_image
from PIL import Image

from lcodec.errors import LcodecError


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
