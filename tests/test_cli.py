"""The `lcodec` command line: round trips, formats, stdin/stdout, overwrite rules, clean errors."""

import subprocess
import sys

import numpy as np
import pytest
from lcd_images import MODES, in_mode, photo, same_image
from PIL import Image

import lcodec
from lcodec.cli import main


def run(capsys, *argv):
    """(exit status, stdout, stderr) of main(argv)."""
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def assert_clean_error(status, err):
    lines = err.strip().splitlines()
    assert status == 1 and len(lines) == 1 and lines[0].startswith("lcodec: error: "), err
    assert "Traceback" not in err


@pytest.fixture
def png(shared_data, tmp_path):
    path = tmp_path / "in.png"
    photo(shared_data, 30, 45).save(path)
    return path


@pytest.mark.parametrize("mode", MODES)
def test_encode_decode_every_mode(shared_data, tmp_path, capsys, mode):
    src = in_mode(photo(shared_data, 23, 31), mode)
    src.save(tmp_path / "a.png")
    assert run(capsys, "encode", tmp_path / "a.png", "--no-learned")[0] == 0
    assert run(capsys, "decode", tmp_path / "a.lcd", "-o", tmp_path / "b.png")[0] == 0
    assert same_image(Image.open(tmp_path / "b.png"), src)


def test_default_path_and_info(png, capsys, tmp_path):
    from lcodec.model import registry

    status, out, err = run(capsys, "encode", png, "-o", tmp_path / "x.lcd")
    assert status == 0 and err == ""
    status, out, _ = run(capsys, "info", tmp_path / "x.lcd")
    assert status == 0
    h = lcodec.read_header(tmp_path / "x.lcd")
    assert "image: 45x30, mode RGB" in out and f"{h.bpsp:.4f} bits per sub-pixel" in out
    if h.model:
        assert h.model in registry.MODELS and f"model: {h.model}" in out
    assert run(capsys, "decode", tmp_path / "x.lcd", "-o", tmp_path / "y.png")[0] == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "y.png")), np.asarray(Image.open(png)))


@pytest.mark.parametrize("ext", ["png", "ppm", "tiff", "bmp"])
def test_output_format_from_extension(png, capsys, tmp_path, ext):
    run(capsys, "encode", png, "--no-learned", "-o", tmp_path / "x.lcd")
    assert run(capsys, "decode", tmp_path / "x.lcd", "-o", tmp_path / f"y.{ext}")[0] == 0
    out = Image.open(tmp_path / f"y.{ext}")
    assert out.format == {"png": "PNG", "ppm": "PPM", "tiff": "TIFF", "bmp": "BMP"}[ext]
    assert np.array_equal(np.asarray(out), np.asarray(Image.open(png)))


def test_output_directory_for_one_input(png, capsys, tmp_path):
    assert run(capsys, "encode", png, "--no-learned", "-o", f"{tmp_path}/new/")[0] == 0
    assert lcodec.read_header(tmp_path / "new" / "in.lcd").width == 45


def test_refuses_to_overwrite_without_force(png, capsys, tmp_path):
    target = tmp_path / "x.lcd"
    target.write_bytes(b"keep me")
    status, _, err = run(capsys, "encode", png, "-o", target)
    assert_clean_error(status, err)
    assert "exists" in err and target.read_bytes() == b"keep me"
    assert run(capsys, "encode", png, "--no-learned", "-o", target, "--force")[0] == 0
    assert lcodec.read_header(target).width == 45


def test_failed_decode_leaves_no_file(png, capsys, tmp_path):
    run(capsys, "encode", png, "--no-learned", "-o", tmp_path / "x.lcd")
    data = bytearray((tmp_path / "x.lcd").read_bytes())
    data[-5] ^= 0xFF  # inside the payload: the pixel checksum (or the inflater) catches it
    (tmp_path / "bad.lcd").write_bytes(bytes(data))
    before = sorted(p.name for p in tmp_path.iterdir())
    assert_clean_error(*run(capsys, "decode", tmp_path / "bad.lcd", "-o", tmp_path / "out.png")[::2])
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    "argv, content",
    [
        (["decode", "{d}/garbage.lcd", "-o", "{d}/o.png"], b"\x89PNG not really"),
        (["decode", "{d}/garbage.lcd", "-o", "{d}/o.png"], b""),
        (["info", "{d}/garbage.lcd"], b"\x8bLCD\r\n\x1a\n\x01"),
        (["encode", "{d}/garbage.lcd", "-o", "{d}/o.lcd"], b"not an image"),
        (["encode", "{d}/missing.png"], None),
        (["decode", "{d}/garbage.lcd", "-o", "{d}/o.xyz"], b""),
        (["decode", "{d}/garbage.lcd", "{d}/garbage.lcd", "-o", "-"], b""),
    ],
)
def test_bad_inputs_give_one_line(capsys, tmp_path, argv, content):
    if content is not None:
        (tmp_path / "garbage.lcd").write_bytes(content)
    status, _, err = run(capsys, *[a.format(d=tmp_path) for a in argv])
    assert_clean_error(status, err)


def test_mode_the_output_format_cannot_hold(shared_data, capsys, tmp_path):
    in_mode(photo(shared_data, 8, 8), "RGBA").save(tmp_path / "a.png")
    run(capsys, "encode", tmp_path / "a.png", "--no-learned")
    assert_clean_error(*run(capsys, "decode", tmp_path / "a.lcd", "-o", tmp_path / "a.ppm")[::2])
    assert not (tmp_path / "a.ppm").exists()


def test_directory_in_parallel_with_progress(shared_data, capsys, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i, mode in enumerate(MODES):
        in_mode(photo(shared_data, 12 + i, 20, index=i + 1), mode).save(src / f"{i}.png")
    (src / "notes.txt").write_text("not an image, not picked up")
    status, _, err = run(capsys, "encode", src, "-o", tmp_path / "lcd", "-j", "2", "--no-learned")
    assert status == 0 and f"{len(MODES)}/{len(MODES)}" in err
    status, _, err = run(capsys, "decode", tmp_path / "lcd", "-o", tmp_path / "png", "-j", "2", "-q")
    assert status == 0 and err == ""
    for i in range(len(MODES)):
        assert same_image(Image.open(tmp_path / "png" / f"{i}.png"), Image.open(src / f"{i}.png"))


def test_one_bad_file_among_many(png, capsys, tmp_path):
    (tmp_path / "bad.png").write_bytes(b"nope")
    status, _, err = run(capsys, "encode", png, tmp_path / "bad.png", "--no-learned", "-q")
    assert status == 1 and err.count("lcodec: error: ") == 1 and "bad.png" in err
    assert (tmp_path / "in.lcd").exists() and not (tmp_path / "bad.lcd").exists()


def test_real_process_stdin_stdout(png, tmp_path):
    """`python -m lcodec` as a user runs it: PNG on stdin, .lcd on stdout, raw samples back."""
    cmd = [sys.executable, "-m", "lcodec"]
    enc = subprocess.run([*cmd, "encode", "-", "-o", "-", "--no-learned"], input=png.read_bytes(),
                         capture_output=True, timeout=300)
    assert enc.returncode == 0, enc.stderr
    dec = subprocess.run([*cmd, "decode", "-", "-o", "-"], input=enc.stdout, capture_output=True, timeout=300)
    assert dec.returncode == 0 and dec.stdout == np.asarray(Image.open(png)).tobytes()
    bad = subprocess.run([*cmd, "decode", "-", "-o", "-"], input=enc.stdout[:-3], capture_output=True, timeout=300)
    assert bad.returncode == 1 and bad.stdout == b""
    assert bad.stderr.decode().startswith("lcodec: error: ") and b"Traceback" not in bad.stderr
    ver = subprocess.run([*cmd, "--version"], capture_output=True, timeout=300)
    assert ver.stdout.decode().strip() == f"lcodec {lcodec.__version__}"


def test_raw_16_bit_is_big_endian(shared_data, tmp_path):
    src = in_mode(photo(shared_data, 5, 7), "I;16")
    src.save(tmp_path / "a.png")
    cmd = [sys.executable, "-m", "lcodec"]
    subprocess.run([*cmd, "encode", tmp_path / "a.png"], check=True, timeout=300)
    raw = subprocess.run([*cmd, "decode", tmp_path / "a.lcd", "-o", "-"], capture_output=True, check=True,
                         timeout=300).stdout
    assert raw == np.asarray(src).astype(">u2").tobytes()


def test_explain(png, capsys, tmp_path):
    from lcodec.model import registry

    status, out, err = run(capsys, "explain", png, "-o", tmp_path / "heat.png")
    if "rgb" not in registry.DEFAULT_MODELS:
        assert_clean_error(status, err)
        return
    assert status == 0, err
    assert "bits per sub-pixel" in out and Image.open(tmp_path / "heat.png").format == "PNG"
    assert_clean_error(*run(capsys, "explain", png, "-o", tmp_path / "heat.png")[::2])  # exists, no --force
