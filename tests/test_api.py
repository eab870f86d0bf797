"""The Python API: every mode and odd shape round-trips exactly, the learned and fallback paths, errors."""

import io
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from lcd_images import MODES, fix_header_crc, graphic, in_mode, photo, same_image
from PIL import Image

import lcodec
from lcodec import api, container
from lcodec.errors import ChecksumError, FormatError, InvalidInputError, LcodecError, UnknownModelError

SHAPES = [(1, 1), (1, 37), (29, 1), (31, 17), (37, 41)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", SHAPES)
def test_every_mode_and_shape_round_trips_fallback(shared_data, mode, shape):
    """Tiles of 16 make the larger shapes span several tiles, edge tiles cut."""
    src = in_mode(photo(shared_data, *shape), mode)
    data = api.Compressor(learned=False, tile=16).compress(src)
    assert same_image(api.decompress_image(data), src)
    arr = lcodec.decompress(data)
    assert arr.shape == np.asarray(src).shape and arr.dtype == np.asarray(src).dtype
    assert np.array_equal(arr, np.asarray(src))
    h = lcodec.read_header(data)
    assert (h.mode, h.width, h.height, h.model) == (mode, shape[1], shape[0], None)
    assert np.array_equal(api.image_samples(src), arr) and api.image_samples(src).dtype == arr.dtype


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_round_trips_default_path(shared_data, models, mode):
    src = in_mode(photo(shared_data, 40, 70), mode)
    default = lcodec.compress(src)
    assert same_image(api.decompress_image(default), src)
    learned = api.Compressor(fallback=False).compress(src)
    assert same_image(api.decompress_image(learned), src)
    h = lcodec.read_header(learned)
    model_planes = mode in ("L", "LA", "RGB", "RGBA")
    other = h.methods[1:] if model_planes else h.methods  # alpha, indices, bilevel and deep planes
    engine = container.RESIDUAL if mode == "I;16" else container.CONTEXT
    assert all(m == engine for m in other)  # fallback=False keeps the engine's payload
    assert h.version == (5 if {container.CONTEXT, container.RESIDUAL} & set(h.methods) else container.VERSION)
    if model_planes:
        assert h.methods[0] == container.MIXED
        assert h.model == models.DEFAULT_MODELS["rgb" if mode.startswith("RGB") else "gray"]
        assert h.precision > 0 and len(h.model_sha256) == 64
    else:
        assert not set(container.MODEL_METHODS) & set(h.methods) and h.model is None


@pytest.mark.parametrize("effort, method", [(1, container.LEARNED), (2, container.MIXED)])
@pytest.mark.parametrize("shape", [(1, 1), (1, 23), (19, 1), (17, 13), (41, 37)])
def test_learned_path_odd_shapes(shared_data, models, shape, effort, method):
    img = np.asarray(photo(shared_data, *shape, index=5))
    data = api.Compressor(fallback=False, tile=16, effort=effort).compress(img)
    assert set(lcodec.read_header(data).methods) == {method}
    assert np.array_equal(lcodec.decompress(data), img)


@pytest.mark.parametrize("index", [3, 13])
def test_encoder_keeps_the_smaller_path(shared_data, models, index):
    """Per tile the smaller of model and fallback: never larger than either path alone (bar the model's name
    and hash in the header, which a fallback-only file does not carry)."""
    img = np.asarray(photo(shared_data, 96, 128, index=index))
    both = len(api.Compressor(tile=32).compress(img))
    learned = len(api.Compressor(fallback=False, tile=32).compress(img))
    fallback = len(api.Compressor(learned=False, tile=32).compress(img))
    assert both <= learned and both <= fallback + 32 + 16


def test_graphics_take_the_fallback_and_are_never_much_larger(models):
    img = graphic(64, 96)
    data = lcodec.compress(img)
    h = lcodec.read_header(data)
    assert not set(container.MODEL_METHODS) & set(h.methods) and h.model is None, h.method_counts
    assert len(data) <= len(api.Compressor(learned=False).compress(img))
    assert np.array_equal(lcodec.decompress(data), img)


def test_slow_fallbacks_are_tried_only_where_they_could_win(shared_data):
    """Beyond a quick DEFLATE, the fallback stops when that ended more than REACH times the payload to beat away,
    or when it found nothing to match and the entropy of its input says LZMA cannot win either; otherwise it
    tries the rest and the smallest wins, as without a target."""
    from lcodec import fallback

    plane = np.asarray(photo(shared_data, 64, 80))
    free = fallback.encode(plane, 8)
    quick = fallback.encode(plane, 8, target=1)  # nothing could beat one byte: the quick DEFLATE only
    assert quick[0] == container.DEFLATE and len(free[1]) <= len(quick[1])
    assert fallback.encode(plane, 8, target=len(free[1]) + 1) == free  # a target the slow ones beat: all tried
    assert np.array_equal(fallback.decode(*quick, 64, 80, 3, 8), plane)
    # A photo: DEFLATE finds few matches, so below ORDER0_REACH of the entropy nothing but DEFLATE is tried.
    rows, bpp = fallback._rows(plane, 8)
    entropy = fallback._order0_bytes(fallback._serialise(f := fallback._filtered(rows, bpp),
                                                         fallback._row_costs(f).argmin(axis=0)))
    assert len(quick[1]) >= entropy
    assert fallback.encode(plane, 8, target=int(0.9 * fallback.ORDER0_REACH * entropy)) == quick


def test_constant_alpha_costs_a_few_bytes(shared_data):
    rgb = np.asarray(photo(shared_data, 50, 60))
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    comp = api.Compressor(learned=False)
    extra = len(comp.compress(rgba)) - len(comp.compress(rgb))
    assert 0 <= extra <= 10  # one CONSTANT payload byte and its table entry (method, length, CRC)
    assert np.array_equal(lcodec.decompress(comp.compress(rgba)), rgba)


def test_fallback_tile_larger_than_a_tile(shared_data):
    img = np.asarray(photo(shared_data, 3, api.FALLBACK_TILE + 7).convert("L"))
    data = api.Compressor(learned=False).compress(img)
    assert lcodec.read_header(data).tiles == (1, 2)
    assert np.array_equal(lcodec.decompress(data), img)


def test_inputs_numpy_pil_and_paths(shared_data, tmp_path):
    src = photo(shared_data, 20, 30)
    src.save(tmp_path / "a.png")
    comp = api.Compressor(learned=False)
    expected = comp.compress(np.asarray(src))
    for image in (src, str(tmp_path / "a.png"), tmp_path / "a.png"):
        assert comp.compress(image) == expected
    (tmp_path / "a.lcd").write_bytes(expected)
    assert np.array_equal(lcodec.decompress(tmp_path / "a.lcd"), np.asarray(src))
    out = api.decompress_to_path(expected, tmp_path / "b.png")
    assert same_image(Image.open(out), src)
    with pytest.raises(FileExistsError):
        api.decompress_to_path(expected, tmp_path / "b.png")
    api.decompress_to_path(expected, tmp_path / "b.png", force=True)
    with pytest.raises(InvalidInputError, match="does not write .xyz files"):
        api.decompress_to_path(expected, tmp_path / "b.xyz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.lcd", "a.png", "b.png"]  # no temporary files left


def test_array_variants():
    """Big-endian 16-bit, bool arrays holding 255 (as Pillow's), non-contiguous views: same samples back."""
    wide = (np.arange(35, dtype=">u2").reshape(5, 7) * 1871).astype(">u2")
    comp = api.Compressor(learned=False)
    assert np.array_equal(lcodec.decompress(comp.compress(wide)), wide)
    bits = np.array([[255, 0, 1, 0]], np.uint8).view(bool)
    back = lcodec.decompress(comp.compress(bits))
    assert back.dtype == bool and back.view(np.uint8).tolist() == [[1, 0, 1, 0]]
    view = np.arange(600, dtype=np.uint8).reshape(10, 20, 3)[::-2, 1::3]
    assert np.array_equal(lcodec.decompress(comp.compress(view)), view)


@pytest.mark.parametrize(
    "image, match, mode",
    [
        ([[1, 2], [3, 4]], "cannot compress a list", None),
        (np.zeros((4, 4), np.float32), "dtype float32", None),
        (np.zeros((4, 4, 1), np.uint8), r"shape \(4, 4, 1\)", None),
        (np.zeros((4, 4, 3), np.uint32), "uint32", None),
        (np.zeros((4, 4), np.uint8), "as mode RGB", "RGB"),
        (np.zeros((4, 4), np.uint8), "bad mode 'RGB;17'", "RGB;17"),
        (np.full((4, 4), 4096, np.uint16), "outside 0..4095", "L;12"),
        (np.full((4, 4), -33, np.int8), "outside -32..31", "L;6S"),
        (np.zeros((0, 4), np.uint8), "empty", None),
        (Image.new("HSV", (4, 4)), "mode 'HSV'", None),
    ],
)
def test_bad_inputs(image, match, mode):
    with pytest.raises(InvalidInputError, match=match):
        api.Compressor(learned=False).compress(image, mode=mode)


def test_bad_decompress_argument():
    with pytest.raises(InvalidInputError):
        lcodec.decompress(12)
    with pytest.raises(FormatError):
        lcodec.decompress(b"")


def test_determinism_and_threads(shared_data):
    img = np.asarray(photo(shared_data, 70, 90))
    one = api.Compressor(learned=False, tile=32, threads=1).compress(img)
    assert api.Compressor(learned=False, tile=32, threads=2).compress(img) == one
    assert api.Compressor(learned=False, tile=32, threads=1).compress(img) == one
    assert np.array_equal(api.Decompressor(threads=2).decompress(one), img)


def test_learned_determinism_and_threads(shared_data, models):
    img = np.asarray(photo(shared_data, 48, 40, index=7))
    one = api.Compressor(fallback=False, tile=16, threads=1).compress(img)
    assert api.Compressor(fallback=False, tile=16, threads=2).compress(img) == one
    assert np.array_equal(api.Decompressor(threads=2).decompress(one), img)


def test_checksum_catches_a_wrong_payload(shared_data):
    img = np.asarray(photo(shared_data, 8, 8))
    alpha = np.dstack([img, np.full((8, 8), 7, np.uint8)])
    data = bytearray(api.Compressor(learned=False).compress(alpha))
    assert data[-1] == 7  # the CONSTANT alpha payload is the last byte; the CRCs do not cover payloads
    data[-1] = 8
    with pytest.raises(ChecksumError, match="checksum"):
        lcodec.decompress(bytes(data))


def test_unknown_model_named(shared_data, models):
    img = np.asarray(photo(shared_data, 8, 8))
    with pytest.raises(UnknownModelError, match="no-such-model"):
        lcodec.compress(img, model="no-such-model")
    data = api.Compressor(fallback=False).compress(img)
    name = lcodec.read_header(data).model.encode()
    renamed = fix_header_crc(data.replace(name, b"x" * len(name), 1))
    with pytest.raises(UnknownModelError, match="x" * len(name)):
        lcodec.decompress(renamed)
    sha_at = 22 + len(name)
    other_sha = data[:sha_at] + bytes(32) + data[sha_at + 32 :]
    with pytest.raises(UnknownModelError, match=name.decode()):
        lcodec.decompress(fix_header_crc(other_sha))
    reused = api.Decompressor()  # a Decompressor that has the model loaded checks every file against it
    assert np.array_equal(reused.decompress(data), img)
    with pytest.raises(UnknownModelError, match=name.decode()):
        reused.decompress(fix_header_crc(other_sha))


def test_model_for_the_wrong_channel_count(shared_data, models):
    gray = np.asarray(photo(shared_data, 8, 8).convert("L"))
    with pytest.raises(InvalidInputError, match="codes 3-channel"):
        lcodec.compress(gray, model=models.DEFAULT_MODELS["rgb"])


def test_bomb_limit_through_the_api(shared_data):
    data = bytearray(api.Compressor(learned=False).compress(np.asarray(photo(shared_data, 4, 4))))
    struct.pack_into(">II", data, 10, 10**6, 10**6)
    data = fix_header_crc(data)
    with pytest.raises(lcodec.LimitError, match="max_pixels"):
        lcodec.decompress(data)
    with pytest.raises(FormatError):  # lifted: the table does not match such an image
        lcodec.decompress(data, max_pixels=None)


_SUBPROCESS = """
import sys, numpy as np, lcodec
from lcodec import api
if sys.argv[1] == "encode":
    img = np.frombuffer(sys.stdin.buffer.read(), np.uint8).reshape(int(sys.argv[2]), int(sys.argv[3]), -1)
    img, effort = (img[:, :, 0] if img.shape[2] == 1 else img), int(sys.argv[4])
    sys.stdout.buffer.write(api.Compressor(fallback=False, tile=16, threads=1, effort=effort).compress(img))
else:
    sys.stdout.buffer.write(lcodec.decompress(sys.stdin.buffer.read()).tobytes())
"""


def _pure_python(*args, stdin):
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", _SUBPROCESS, *args], input=stdin, env=env, capture_output=True,
                         timeout=600, check=True)
    return out.stdout


@pytest.mark.parametrize("effort, method, gray", [(1, container.LEARNED, False), (2, container.MIXED, False),
                                                  (2, container.MIXED, True)])
def test_pure_python_and_compiled_kernels_agree(shared_data, models, effort, method, gray):
    """Encode with NUMBA_DISABLE_JIT=1 and decode compiled, and the reverse: identical bytes and pixels."""
    img = photo(shared_data, 6, 20, index=11)
    img = np.asarray(img.convert("L") if gray else img)
    compiled = api.Compressor(fallback=False, tile=16, threads=1, effort=effort).compress(img)
    assert set(lcodec.read_header(compiled).methods) == {method}
    assert _pure_python("encode", "6", "20", str(effort), stdin=img.tobytes()) == compiled
    assert _pure_python("decode", stdin=compiled) == img.tobytes()
    filtered = api.Compressor(learned=False).compress(img)  # the PNG unfilter kernel, pure Python
    assert _pure_python("decode", stdin=filtered) == img.tobytes()


def test_no_path_left():
    with pytest.raises(InvalidInputError, match="no way"):
        api.Compressor(learned=False, fallback=False)


def test_errors_are_lcodec_errors():
    for exc in (ChecksumError, FormatError, InvalidInputError, UnknownModelError, lcodec.LimitError):
        assert issubclass(exc, LcodecError)


_MEMORY = """
import resource, sys, numpy as np
from lcodec import api
h, w, slow = 5776, 8664, sys.argv[1] == "photo"
img = np.empty((h, w, 3), np.uint8)
img[:] = 77
if slow:  # real content: a mosaic of Kodak crops, the learned path and the fallback on every tile
    from PIL import Image
    src = np.asarray(Image.open(sys.argv[2]))
    for y in range(0, h, 512):
        for x in range(0, w, 768):
            tile = src[: h - y, : w - x]
            img[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
data = api.Compressor(threads=2).compress(img)
enc = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
del img
out = api.Decompressor(threads=2).decompress(data)
print(base, enc, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, len(data))
"""


@pytest.mark.parametrize("content", ["constant", pytest.param("photo", marks=pytest.mark.skipif(
    os.environ.get("LCODEC_SLOW") != "1", reason="LCODEC_SLOW=1: minutes of coding"))])
def test_50_megapixel_image_within_2_gb(shared_data, content):
    """Peak RSS while encoding then decoding a 50-megapixel RGB image stays under 2 GB. The fast variant codes
    a flat image (every tile CONSTANT): it checks the container allocates nothing whole-image beyond the input
    and the output; the slow one codes real content through the learned and fallback paths."""
    cmd = [sys.executable, "-c", _MEMORY, content, str(shared_data / "kodak" / "kodim05.png")]
    base, enc, peak, size = map(int, subprocess.run(cmd, capture_output=True, text=True, check=True,
                                                    timeout=3600).stdout.split())
    image = 5776 * 8664 * 3
    assert peak < 2 * 10**9
    if content == "constant":
        assert enc - base < 0.5 * image and peak - base < 0.5 * image and size < 10_000  # no whole-image copies


def test_frames_and_named_modes_through_the_api(tmp_path):
    """A list of arrays is a sequence: decompress stacks it, decompress_frames lists it; named modes come back with
    their dtype (signed ones signed); a sequence or a mode Pillow lacks is no PIL image."""
    rng = np.random.default_rng(5)
    frames = [rng.integers(0, 256, (12, 17, 3)).astype(np.uint8) for _ in range(3)]
    data = lcodec.compress(frames, effort=1)
    assert lcodec.read_header(data).sequence.durations == (0, 0, 0)
    assert np.array_equal(lcodec.decompress(data), np.stack(frames))
    assert all(np.array_equal(a, b) for a, b in zip(lcodec.decompress_frames(data), frames))
    with pytest.raises(InvalidInputError, match="holds 3 frames"):
        api.decompress_image(data)
    uneven = lcodec.compress([frames[0], frames[1][:5]], effort=1)
    with pytest.raises(InvalidInputError, match="differ in shape or dtype: use decompress_frames"):
        lcodec.decompress(uneven)
    assert [f.shape for f in lcodec.decompress_frames(uneven)] == [(12, 17, 3), (5, 17, 3)]
    for array, mode in ((rng.integers(-2048, 2048, (9, 11)).astype(np.int16), "L;12S"),
                        (rng.integers(0, 1024, (9, 11, 3)).astype(np.uint16), "RGB;10"),
                        (rng.integers(0, 256, (9, 11, 4)).astype(np.uint8), "CMYK;8"),
                        (rng.integers(-128, 128, (9, 11)).astype(np.int8), None)):
        data = lcodec.compress(array, mode=mode)
        back = lcodec.decompress(data)
        assert back.dtype == array.dtype and np.array_equal(back, array), mode
        assert lcodec.read_header(data).mode == (mode or "L;8S")
    with pytest.raises(InvalidInputError, match="mode RGB;10 has no Pillow mode"):
        api.decompress_image(lcodec.compress(rng.integers(0, 1024, (9, 11, 3)).astype(np.uint16), mode="RGB;10"))


def test_decoding_refuses_formats_that_cannot_hold_the_image(tmp_path):
    deep = lcodec.compress(np.random.default_rng(6).integers(0, 65536, (9, 11, 3)).astype(np.uint16))
    for name in ("x.gif", "x.bmp", "x.webp"):
        with pytest.raises(InvalidInputError, match=r"cannot hold this RGB;16 image exactly \(use \.png or \.tiff\)"):
            api.decompress_to_path(deep, tmp_path / name)
    with pytest.raises(InvalidInputError, match=r"lcodec does not write \.pdf files \(use .*\.png"):
        api.decompress_to_path(deep, tmp_path / "x.pdf")
    assert list(tmp_path.iterdir()) == []
    api.decompress_to_path(deep, tmp_path / "x.ppm")  # PNM holds 16-bit RGB: maxval 65535
    assert np.array_equal(lcodec.decompress(lcodec.compress(tmp_path / "x.ppm")), lcodec.decompress(deep))


def test_hostile_image_headers_are_refused_before_decoding():
    """Readers other than Pillow are held to Pillow's decompression-bomb limit before they allocate anything."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 16, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(bytes(100))) + chunk(b"IEND", b""))
    for data in (png, b"P6\n100000 100000\n65535\n" + bytes(100)):
        with pytest.raises(lcodec.LimitError, match="100000x100000 pixels exceeds the limit"):
            lcodec.compress(data)


@pytest.mark.parametrize("fmt, still", [("PNG", False), ("PNG", True), ("GIF", False), ("WEBP", False)])
def test_animation_timing_comes_back(fmt, still):
    """Durations, loop count and (APNG) a still first frame outside the animation survive encode and decode."""
    rng = np.random.default_rng(8)
    frames = [Image.fromarray(rng.integers(0, 256, (10, 14, 3)).astype(np.uint8)) for _ in range(3)]
    if fmt == "GIF":
        frames = [f.quantize(16) for f in frames]
    buf = io.BytesIO()
    frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], duration=[120, 240, 360][still:], loop=3,
                   lossless=True, **({"default_image": True} if still else {}))

    def timing(data):
        with Image.open(io.BytesIO(data)) as im:
            out = []
            for i in range(im.n_frames):
                im.seek(i)
                im.load()
                out.append(im.info.get("duration"))
            return im.n_frames, out, im.info.get("loop"), im.info.get("default_image")

    data = lcodec.compress(buf.getvalue(), effort=1)
    back = api.Decompressor().decompress_file(data, fmt)
    assert timing(back) == timing(buf.getvalue())
    assert lcodec.read_header(data).sequence.still_first == still


@pytest.mark.parametrize("data, match", [
    (b"P2\n2 2\n255\n1 2 abc 4", "a damaged PNM file \\(a sample that is not a number\\)"),
    (b"P3\n1 1\n255\n-1 2 3", "a damaged PNM file \\(a sample that is not a number\\)"),
    (b"P2\n2 1\n255\n1 300", "a damaged PNM file \\(a sample over its maxval 255\\)"),
    (b"RIFF\x30\0\0\0WEBPVP8X\x0a\0\0\0" + bytes(10) + b"ANIM", "a damaged image file"),
    (b"II*\0\x08\0\0\0\0\0", "a TIFF file lcodec cannot read"),
])
def test_damaged_files_are_invalid_input(data, match, capfd):
    """Damage a reader meets is an InvalidInputError of one line; tifffile's own warnings are not printed."""
    with pytest.raises(InvalidInputError, match=match):
        lcodec.compress(data)
    assert capfd.readouterr().err == ""


def test_compress_report_says_what_the_file_holds(shared_data):
    """compress_report: the same bytes as compress, and a report that agrees with the header it wrote (size, bits
    per sub-pixel, methods and payload bytes, the model); frames over two models name both."""
    rgb = np.asarray(photo(shared_data, 24, 32))
    compressor = api.Compressor(threads=1)
    data, report = compressor.compress_report(rgb)
    h = lcodec.read_header(data)
    assert data == compressor.compress(rgb) and report.size == len(data) and report.frames == 1
    assert report.bpsp == pytest.approx(h.bpsp) and report.model == h.model
    assert {k: n for k, (n, _) in report.methods.items()} == h.method_counts
    assert sum(b for _, b in report.methods.values()) == sum(h.lengths)
    gray = rgb[:, :, 1].copy()
    data, report = compressor.compress_report([rgb, gray])
    assert report.frames == 2 and report.samples == rgb.size + gray.size and report.size == len(data)
    assert report.model == ", ".join(sorted({h.model for h in lcodec.read_header(data).sequence.frames}))
    assert "," in report.model
    data, report = api.Compressor(learned=False, threads=1).compress_report(rgb)
    assert report.model is None and set(report.methods) <= {"constant", "deflate", "lzma"}
