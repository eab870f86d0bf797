"""lcodec.numcodecs: the numcodecs codec "lcodec" on real image chunks (RGB, 16-bit gray, signed, stacks), its
config and its refusals, and zarr stores on disk through the zarr v3 serializer "numcodecs.lcodec" and the v2
format's compressor, each chunk an .lcd file; and the README's zarr and xarray example as written."""

import json
import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

numcodecs = pytest.importorskip("numcodecs")  # the test extra installs them (and CI)
zarr = pytest.importorskip("zarr")

import lcodec  # noqa: E402
from lcodec import container  # noqa: E402
from lcodec.errors import FormatError, InvalidInputError, LcodecError, LimitError  # noqa: E402
from lcodec.numcodecs import ZARR_NAME, Lcodec, LcodecSerializer  # noqa: E402

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def kodim23(shared_data):
    return np.asarray(Image.open(shared_data / "kodak" / "kodim23.png"))


@pytest.fixture(scope="module")
def deep(shared_data):
    """A 16-bit gray astronomy image (values up to 22918)."""
    imagecodecs = pytest.importorskip("imagecodecs")
    image = imagecodecs.png_decode((shared_data / "deep" / "astropy_HorseHead.png").read_bytes())
    assert image.dtype == np.uint16 and image.ndim == 2
    return image


def round_trip(codec, chunk):
    data = codec.encode(chunk)
    assert isinstance(data, bytes) and data[:8] == container.SIGNATURE  # an .lcd file, nothing around it
    back = codec.decode(data)
    assert back.dtype == chunk.dtype and back.shape == chunk.shape
    np.testing.assert_array_equal(back, chunk)
    return data


def test_rgb_crops_are_the_files_compress_writes(kodim23):
    codec = Lcodec()
    for box in [(slice(0, 64), slice(0, 64)), (slice(200, 328), slice(300, 397)), (slice(5, 42), slice(700, 753))]:
        crop = np.ascontiguousarray(kodim23[box])
        data = round_trip(codec, crop)
        assert data == lcodec.compress(crop)  # a stored chunk is what lcodec.compress writes for the array
        assert len(data) < crop.nbytes / 2
        header = lcodec.read_header(data)
        assert (header.mode, header.width, header.height) == ("RGB", crop.shape[1], crop.shape[0])
    rgba = np.dstack([kodim23[:48, :40], kodim23[:48, 40:80, 1]])
    round_trip(codec, rgba)
    round_trip(codec, np.ascontiguousarray(kodim23[:32, :32, :2]))  # gray and alpha


def test_uint16_gray_and_int16(deep):
    crop = np.ascontiguousarray(deep[400:528, 400:500])
    data = round_trip(Lcodec(), crop)
    assert lcodec.read_header(data).mode == "I;16" and len(data) < crop.nbytes
    signed = (crop.astype(np.int32) - int(np.median(crop))).astype(np.int16)  # negative and positive samples
    assert signed.min() < 0 < signed.max()
    assert lcodec.read_header(round_trip(Lcodec(), signed)).mode == "L;16S"
    rgb16 = np.ascontiguousarray(np.stack([signed, signed[::-1], signed[:, ::-1]], axis=-1))
    assert lcodec.read_header(round_trip(Lcodec(effort=1), rgb16)).mode == "RGB;16S"


def test_stacks_keep_their_axis(deep, kodim23):
    codec = Lcodec()
    stack = np.stack([deep[i * 64:(i + 1) * 64, 300:364] for i in range(3)])  # (3, 64, 64) uint16
    data = round_trip(codec, stack)
    assert container.is_sequence(data) and lcodec.read_header(data).sequence.frames[0].mode == "I;16"
    assert data == lcodec.compress(list(stack))  # N > 1: the sequence compress writes for the frames
    one = round_trip(codec, stack[:1])  # N = 1: still a sequence, so that it decodes to (1, H, W)
    assert container.is_sequence(one)
    round_trip(codec, np.stack([kodim23[:40, :56], kodim23[40:80, :56]]))  # (2, 40, 56, 3)
    round_trip(codec, kodim23[None, :32, :32])  # (1, 32, 32, 3)


def test_layouts_and_bool(kodim23):
    crop = np.ascontiguousarray(kodim23[:12, :48])
    assert lcodec.read_header(Lcodec().encode(crop)).mode == "RGB"  # last axis 3: (H, W, C)
    as_stack = round_trip(Lcodec(layout="NHW"), crop)  # the same array as 12 gray images 48 x 3
    assert container.is_sequence(as_stack)
    five = np.ascontiguousarray(np.dstack([crop, crop[..., :2]]))  # (12, 48, 5): by default a stack of 12
    assert container.is_sequence(round_trip(Lcodec(), five))
    assert lcodec.read_header(round_trip(Lcodec(layout="HWC"), five)).mode == "XXXXX;8"
    with pytest.raises(InvalidInputError, match="as layout NHWC"):
        Lcodec(layout="NHWC").encode(crop)
    mask = crop[..., 0] > 128
    round_trip(Lcodec(), mask)
    round_trip(Lcodec(), np.stack([mask, ~mask, mask[::-1]]))  # 3-D bool: a stack whatever its last axis
    round_trip(Lcodec(), (crop[..., 1].astype(np.int16) - 128).astype(np.int8))


def test_decode_into_out(kodim23):
    codec = Lcodec()
    crop = np.ascontiguousarray(kodim23[:32, :48])
    data = codec.encode(crop)
    out = np.zeros_like(crop)
    assert codec.decode(data, out=out) is out and np.array_equal(out, crop)
    flat = bytearray(crop.nbytes)  # a buffer of the right size, as numcodecs allows
    codec.decode(data, out=flat)
    assert bytes(flat) == crop.tobytes()
    gray = np.ascontiguousarray(kodim23[:16, :16, 0]).astype(np.uint16) * 257
    big = np.zeros(gray.shape, ">u2")  # the same samples in out's byte order, not reinterpreted bytes
    codec.decode(codec.encode(gray), out=big)
    np.testing.assert_array_equal(big, gray)
    with pytest.raises(InvalidInputError, match="out holds 10 bytes"):
        codec.decode(data, out=np.zeros(10, np.uint8))


def test_config_round_trip_and_registration():
    codec = numcodecs.get_codec({"id": "lcodec", "effort": 1, "layout": "HWC"})
    assert isinstance(codec, Lcodec) and (codec.effort, codec.threads, codec.layout) == (1, None, "HWC")
    config = codec.get_config()
    assert config == {"id": "lcodec", "effort": 1, "threads": None, "layout": "HWC"}
    assert json.loads(json.dumps(config)) == config
    assert numcodecs.get_codec(config) == codec and Lcodec.from_config({"threads": 2}).threads == 2
    assert Lcodec().get_config() == {"id": "lcodec", "effort": lcodec.api.DEFAULT_EFFORT, "threads": None,
                                     "layout": None}
    assert "lcodec" in {e.name for e in entry_points(group="numcodecs.codecs")}
    assert ZARR_NAME in {e.name for e in entry_points(group="zarr.codecs")}
    assert zarr.registry.get_codec_class(ZARR_NAME) is LcodecSerializer
    serializer = LcodecSerializer(effort=3, threads=1)
    stored = serializer.to_dict()
    assert stored == {"name": "numcodecs.lcodec", "configuration": {"effort": 3, "threads": 1, "layout": None}}
    assert LcodecSerializer.from_dict(stored) == serializer
    assert LcodecSerializer.from_dict({"name": "numcodecs.lcodec"}) == LcodecSerializer()


@pytest.mark.parametrize("chunk, message", [
    (np.zeros((8, 8), np.float32), "dtype float32"),
    (np.zeros((8, 8, 3), np.int32), "dtype int32"),
    (np.zeros((8, 8), np.uint32), "dtype uint32"),
    (np.zeros((8, 8), np.complex64), "dtype complex64"),
    (np.zeros((2, 2, 8, 8, 3), np.uint8), r"shape \(2, 2, 8, 8, 3\)"),
    (np.zeros(64, np.uint8), r"shape \(64,\)"),
    (b"\x00" * 64, r"shape \(64,\)"),
    (np.zeros((0, 8), np.uint8), "empty chunk"),
    (np.zeros((4, 0, 8), np.uint16), "empty chunk"),
    (np.zeros((8, 8, 1), np.uint8), "channel axis of 1"),
    (np.zeros((2, 8, 8, 1), np.uint8), "channel axis of 1"),
    (np.zeros((2, 8, 8, 65), np.uint8), r"shape \(2, 8, 8, 65\)"),
    (np.zeros((2, 8, 8, 3), bool), "dtype bool as layout NHWC"),
    (np.zeros((8, 8), ">u2"), "big-endian"),
])
def test_refusals(chunk, message):
    with pytest.raises(InvalidInputError, match=message) as info:
        Lcodec().encode(chunk)
    assert "\n" not in str(info.value)


def test_refused_parameters_and_files():
    for kwargs in [{"effort": 0}, {"effort": True}, {"effort": "2"}, {"threads": 0}, {"threads": 1.5},
                   {"layout": "CHW"}]:
        with pytest.raises(InvalidInputError):
            Lcodec(**kwargs)
        with pytest.raises(InvalidInputError):
            LcodecSerializer(**kwargs)
    with pytest.raises(LimitError, match="per side"):
        Lcodec().encode(np.broadcast_to(np.uint8(0), (2, container.MAX_DIMENSION + 1)))
    with pytest.raises(FormatError):
        Lcodec().decode(b"not an lcodec file")
    with pytest.raises(LcodecError):
        Lcodec().decode(Lcodec().encode(np.zeros((8, 8), np.uint8))[:-3])  # truncated


def test_lcodec_works_without_numcodecs_or_zarr():
    """lcodec needs neither; lcodec.numcodecs says what it needs, and without zarr it is the numcodecs codec alone."""
    code = """
import sys
sys.modules["numcodecs"] = None
import lcodec, numpy
assert lcodec.decompress(lcodec.compress(numpy.eye(8, dtype=numpy.uint8))).sum() == 8
try:
    import lcodec.numcodecs
except ImportError as exc:
    assert 'pip install "lcodec[zarr]"' in str(exc), exc
else:
    raise AssertionError("lcodec.numcodecs imported without numcodecs")
del sys.modules["numcodecs"]
sys.modules["zarr"] = None
import lcodec.numcodecs
assert not hasattr(lcodec.numcodecs, "LcodecSerializer") and "LcodecSerializer" not in lcodec.numcodecs.__all__
assert lcodec.numcodecs.Lcodec().decode(lcodec.numcodecs.Lcodec(effort=1).encode(numpy.eye(8, dtype=bool))).sum() == 8
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


def _chunk_files(path):
    return sorted(p for p in (path / "c").rglob("*") if p.is_file())


def _read_in_a_new_process(path, tmp_path):
    """The array at `path` read by zarr.open in a fresh interpreter that never imports lcodec itself: zarr finds the
    serializer through its entry point."""
    back = tmp_path / "back.npy"
    code = (f"import sys, numpy, zarr; numpy.save({str(back)!r}, zarr.open({str(path)!r}, mode='r')[:]); "
            "assert 'lcodec.numcodecs' in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, timeout=300)
    return np.load(back)


def test_zarr_v3_store_on_disk(kodim23, deep, tmp_path):
    rgb = np.ascontiguousarray(kodim23[100:200, 300:450])  # 100 x 150: edge chunks arrive padded
    path = tmp_path / "rgb.zarr"
    array = zarr.create_array(zarr.storage.LocalStore(path), shape=rgb.shape, chunks=(64, 64, 3), dtype=rgb.dtype,
                              serializer=LcodecSerializer(), compressors=None)
    array[:] = rgb
    metadata = json.loads((path / "zarr.json").read_text())
    assert metadata["codecs"] == [{"name": "numcodecs.lcodec",
                                   "configuration": {"effort": lcodec.api.DEFAULT_EFFORT, "threads": None,
                                                     "layout": None}}]
    files = _chunk_files(path)
    assert len(files) == 6
    for f in files:
        data = f.read_bytes()
        assert data[:8] == container.SIGNATURE and len(data) < 64 * 64 * 3
        assert lcodec.read_header(f).mode == "RGB"
    assert sum(f.stat().st_size for f in files) < rgb.nbytes
    reopened = zarr.open(zarr.storage.LocalStore(path, read_only=True), mode="r")
    assert isinstance(reopened.serializer, LcodecSerializer) and reopened.compressors == ()
    np.testing.assert_array_equal(reopened[:], rgb)
    np.testing.assert_array_equal(reopened[10:90, 70:130], rgb[10:90, 70:130])
    np.testing.assert_array_equal(_read_in_a_new_process(path, tmp_path), rgb)

    gray = np.ascontiguousarray(deep[300:420, 500:600])  # (H, W) uint16 chunks, and a stack of them
    for name, data, chunks in [("gray", gray, (64, 64)), ("stack", np.stack([gray, gray[::-1]]), (2, 64, 64)),
                               ("channel", gray[..., None], (64, 50, 1))]:
        path = tmp_path / f"{name}.zarr"
        array = zarr.create_array(str(path), shape=data.shape, chunks=chunks, dtype=data.dtype,
                                  serializer=LcodecSerializer(effort=1), compressors=None)
        array[:] = data
        files = _chunk_files(path)
        assert files and all(f.read_bytes()[:8] == container.SIGNATURE for f in files)
        assert sum(f.stat().st_size for f in files) < data.nbytes
        back = zarr.open_array(str(path), mode="r")
        assert back.dtype == data.dtype and back.shape == data.shape
        np.testing.assert_array_equal(back[:], data)


def test_zarr_refuses_what_lcodec_cannot_code_when_created(tmp_path):
    for dtype, chunks in [("f4", (8, 8)), ("u1", (2, 2, 8, 8, 3)), ("i4", (8, 8))]:
        with pytest.raises(InvalidInputError):
            zarr.create_array(str(tmp_path / "bad.zarr"), shape=chunks, chunks=chunks, dtype=dtype,
                              serializer=LcodecSerializer(), compressors=None, overwrite=True)


def test_zarr_v2_format_compressor(kodim23, tmp_path):
    rgb = np.ascontiguousarray(kodim23[:80, :100])
    path = tmp_path / "v2.zarr"
    array = zarr.create_array(str(path), shape=rgb.shape, chunks=(64, 64, 3), dtype=rgb.dtype, zarr_format=2,
                              compressors=Lcodec(effort=1), filters=None)
    array[:] = rgb
    assert json.loads((path / ".zarray").read_text())["compressor"] == {"id": "lcodec", "effort": 1,
                                                                        "threads": None, "layout": None}
    files = [p for p in path.iterdir() if re.fullmatch(r"\d+\.\d+\.\d+", p.name)]
    assert len(files) == 4 and all(f.read_bytes()[:8] == container.SIGNATURE for f in files)
    np.testing.assert_array_equal(zarr.open_array(str(path), mode="r")[:], rgb)


def test_readme_example_runs(shared_data, tmp_path):
    """The README's "Zarr and xarray" example as written, from a folder whose ../shared is the shared data."""
    pytest.importorskip("xarray")  # in the test extra
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Zarr and xarray\n", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    (tmp_path / "shared").symlink_to(shared_data.parent, target_is_directory=True)
    (tmp_path / "work").mkdir()
    env = dict(os.environ, PYTHONWARNINGS="error::UserWarning")  # zarr's warnings among them
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path / "work", env=env, check=True, timeout=600)
    assert (tmp_path / "work" / "kodim23.zarr" / "c" / "0" / "0" / "0").read_bytes()[:8] == container.SIGNATURE
