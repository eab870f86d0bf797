"""The `lcodec` command line: round trips, formats, stdin/stdout, overwrite rules, clean errors, exit statuses,
and the habits of gzip and cjxl (-c, -t, --rm, -j/-T, -v, -r)."""

import dataclasses
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from lcd_images import MODES, in_mode, photo, same_image
from PIL import Image

import lcodec
import lcodec.formats.pillow  # noqa: F401  (the readers the tests patch)
import lcodec.formats.png  # noqa: F401
from lcodec import api, cli, formats, info, planning
from lcodec.cli import main


def run(capsys, *argv):
    """(exit status, stdout, stderr) of main(argv)."""
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def run_binary(capsysbinary, *argv):
    """(exit status, stdout bytes, stderr text) of main(argv)."""
    status = main([str(a) for a in argv])
    out, err = capsysbinary.readouterr()
    return status, out, err.decode()


def assert_clean_error(status, err, match, code=1):
    """One `lcodec: error:` line matching the regular expression `match`, and the exit status of a failure the user
    caused (a bug in lcodec exits with 3 and says "internal error")."""
    lines = err.strip().splitlines()
    assert status == code and len(lines) == 1 and lines[0].startswith("lcodec: error: "), err
    assert re.search(match, lines[0]) and "internal error" not in err and "Traceback" not in err, err


RM_NEEDS_FILES = r"--rm needs input and output files, not stdin \(-\) or stdout$"


def argparse_exit(capsys, *argv):
    """(exit status, stdout, stderr) of a command line that argparse itself ends (--help, --version, its errors)."""
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def listing(folder):
    """Every file below `folder`, as relative paths (temporary files included: none may be left)."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


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
    assert_clean_error(*run(capsys, "encode", png, "-o", target)[::2], r"x\.lcd exists \(use --force to overwrite\)")
    assert target.read_bytes() == b"keep me"
    assert run(capsys, "encode", png, "--no-learned", "-o", target, "--force")[0] == 0
    assert lcodec.read_header(target).width == 45


def test_failed_decode_leaves_no_file(png, capsys, tmp_path):
    run(capsys, "encode", png, "--no-learned", "-o", tmp_path / "x.lcd")
    data = bytearray((tmp_path / "x.lcd").read_bytes())
    data[-5] ^= 0xFF  # inside the payload: the pixel checksum (or the inflater) catches it
    (tmp_path / "bad.lcd").write_bytes(bytes(data))
    before = sorted(p.name for p in tmp_path.iterdir())
    assert_clean_error(*run(capsys, "decode", tmp_path / "bad.lcd", "-o", tmp_path / "out.png")[::2],
                       r"^lcodec: error: corrupted fallback payload \(Corrupt input data\)$")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    "argv, content, match",
    [
        (["decode", "{d}/garbage.lcd", "-o", "{d}/o.png"], b"\x89PNG not really", r": not an lcodec file \(bad signature\)$"),
        (["decode", "{d}/garbage.lcd", "-o", "{d}/o.png"], b"", r": truncated lcodec file \(0 bytes\)$"),
        (["info", "{d}/garbage.lcd"], b"\x8bLCD\r\n\x1a\n\x01", r"garbage\.lcd: truncated lcodec header \(9 bytes\)$"),
        (["encode", "{d}/garbage.lcd", "-o", "{d}/o.lcd"], b"not an image",
         r"garbage\.lcd: not an image file that lcodec can read$"),
        (["encode", "{d}/missing.png"], None, r"No such file or directory: '.*missing\.png'$"),
        (["decode", "{d}/garbage.lcd", "-o", "{d}/o.xyz"], b"", r"lcodec does not write \.xyz files \(use .*\.png"),
    ],
)
def test_bad_inputs_give_one_line(capsys, tmp_path, argv, content, match):
    if content is not None:
        (tmp_path / "garbage.lcd").write_bytes(content)
    assert_clean_error(*run(capsys, *[a.format(d=tmp_path) for a in argv])[::2], match)


def test_damaged_image_file_is_the_inputs_fault(png, capsys, tmp_path):
    """An image file Pillow opens but cannot decode (here a PNG cut short) is a user error naming the file, whatever
    Pillow raised."""
    (tmp_path / "cut.png").write_bytes(png.read_bytes()[:-200])
    assert_clean_error(*run(capsys, "encode", tmp_path / "cut.png")[::2], r"cut\.png: a damaged PNG file \(\w+: ")
    assert not (tmp_path / "cut.lcd").exists()


def test_a_bug_is_an_internal_error(png, capsys, tmp_path, monkeypatch):
    """An exception that is not the input's fault (a bug) exits with 3 and says so, on one line, for one file or
    many; LCODEC_DEBUG=1 adds its traceback."""
    def broken(self, image):
        raise TypeError("unsupported operand")

    monkeypatch.setattr(api.Compressor, "compress_report", broken)
    status, _, err = run(capsys, "encode", png)
    assert (status, err) == (3, "lcodec: error: internal error, TypeError: unsupported operand (a bug in lcodec; "
                                "LCODEC_DEBUG=1 prints its traceback)\n")
    shutil.copy(png, tmp_path / "two.png")
    status, _, err = run(capsys, "encode", png, tmp_path / "two.png", "-q")
    assert status == 3 and err.count("internal error, TypeError") == 2 and "Traceback" not in err
    monkeypatch.setenv("LCODEC_DEBUG", "1")
    status, _, err = run(capsys, "encode", png)
    assert status == 3 and "Traceback (most recent call last)" in err and "in broken" in err
    assert not (tmp_path / "in.lcd").exists()


def test_mode_the_output_format_cannot_hold(shared_data, capsys, tmp_path):
    in_mode(photo(shared_data, 8, 8), "RGBA").save(tmp_path / "a.png")
    run(capsys, "encode", tmp_path / "a.png", "--no-learned")
    assert_clean_error(*run(capsys, "decode", tmp_path / "a.lcd", "-o", tmp_path / "a.ppm")[::2],
                       r"PPM cannot hold this RGBA image exactly \(use \.png or \.tiff\)")
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
    assert re.fullmatch(r"lcodec: error: file is \d+ bytes, its tile table describes \d+ \(truncated or padded\)\n",
                        bad.stderr.decode()), bad.stderr
    assert subprocess.run([*cmd, "decode", "-", "-c"], input=enc.stdout, capture_output=True,
                          timeout=300).stdout == dec.stdout
    for flag in ("--version", "-V"):
        ver = subprocess.run([*cmd, flag], capture_output=True, timeout=300)
        assert ver.returncode == 0 and ver.stdout.decode().strip() == f"lcodec {lcodec.__version__}"


def test_raw_16_bit_is_big_endian(shared_data, tmp_path):
    src = in_mode(photo(shared_data, 5, 7), "I;16")
    src.save(tmp_path / "a.png")
    cmd = [sys.executable, "-m", "lcodec"]
    subprocess.run([*cmd, "encode", tmp_path / "a.png"], check=True, timeout=300)
    raw = subprocess.run([*cmd, "decode", tmp_path / "a.lcd", "-o", "-"], capture_output=True, check=True,
                         timeout=300).stdout
    assert raw == np.asarray(src).astype(">u2").tobytes()


def test_real_deep_images_round_trip_through_the_cli(shared_data, tmp_path):
    """A real 16-bit gray and a real 16-bit colour image through `lcodec encode --rm` and `lcodec decode`, as separate
    processes: coded by RESIDUAL, and the decoded PNGs, read back by imagecodecs, hold every sample of the originals."""
    imagecodecs = pytest.importorskip("imagecodecs")
    from lcodec.container import RESIDUAL

    originals = {}
    for name, box in (("sunpy_trace_171_1998-05-19.png", (slice(400, 560), slice(380, 600))),
                      ("riocolor_rgb16.png", (slice(100, 228), slice(150, 310)))):
        arr = np.ascontiguousarray(imagecodecs.png_decode((shared_data / "deep" / name).read_bytes())[box])
        (tmp_path / name).write_bytes(imagecodecs.png_encode(arr))
        originals[name] = arr
    cmd = [sys.executable, "-m", "lcodec"]
    subprocess.run([*cmd, "encode", *[tmp_path / n for n in originals], "--rm"], check=True, timeout=600)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n.replace(".png", ".lcd") for n in originals)
    for name, arr in originals.items():
        lcd = tmp_path / name.replace(".png", ".lcd")
        assert set(api.read_header(lcd.read_bytes()).methods) == {RESIDUAL}
        subprocess.run([*cmd, "decode", lcd, "-o", tmp_path / name], check=True, timeout=600)
        back = imagecodecs.png_decode((tmp_path / name).read_bytes())
        assert back.dtype == np.uint16 and np.array_equal(back, arr)


def test_explain(png, capsys, tmp_path, models):
    status, out, err = run(capsys, "explain", png, "-o", tmp_path / "heat.png")
    assert status == 0, err
    assert "bits per sub-pixel" in out and Image.open(tmp_path / "heat.png").format == "PNG"
    assert_clean_error(*run(capsys, "explain", png, "-o", tmp_path / "heat.png")[::2], r"heat\.png exists")


def test_sample(capsys, tmp_path, models):
    status, out, err = run(capsys, "sample", "--size", "40x24", "--seed", "5", "-o", tmp_path / "s.png")
    assert status == 0, err
    with Image.open(tmp_path / "s.png") as im:
        assert im.size == (40, 24) and im.mode == "RGB"
        first = np.asarray(im)
    assert run(capsys, "sample", "--size", "40x24", "--seed", "5", "-o", tmp_path / "t.png")[0] == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "t.png")), first)  # the seed decides the image
    assert run(capsys, "sample", "--size", "8x8", "--gray", "-o", tmp_path / "g.png")[0] == 0
    assert Image.open(tmp_path / "g.png").mode == "L"
    status, _, err = run(capsys, "sample", "--size", "8-8", "-o", tmp_path / "u.png")
    assert status == 2 and "WxH" in err
    status, _, err = run(capsys, "sample", "-o", tmp_path / "s.png")  # exists, no --force
    assert status == 1 and "exists" in err


def test_stdout_flag_is_dash_output(png, capsysbinary, tmp_path):
    """-c/--stdout writes what -o - writes, for encode and decode; with -o as well it is a usage error."""
    assert main(["encode", str(png), "--no-learned", "-o", str(tmp_path / "x.lcd")]) == 0
    capsysbinary.readouterr()
    status, out, err = run_binary(capsysbinary, "encode", png, "--no-learned", "-c")
    assert status == 0 and err == "" and out == (tmp_path / "x.lcd").read_bytes()
    status, out, err = run_binary(capsysbinary, "decode", tmp_path / "x.lcd", "--stdout")
    assert status == 0 and out == np.asarray(Image.open(png)).tobytes()
    assert argparse_exit(capsysbinary, "encode", png, "-c", "-o", tmp_path / "y.lcd")[0] == 2
    assert not (tmp_path / "y.lcd").exists()


def test_test_flag_verifies_and_writes_nothing(png, capsys, tmp_path):
    """-t decodes every file and writes nothing: exit status 0 when all are sound, else 1 and one line per bad file."""
    good = tmp_path / "good.lcd"
    assert run(capsys, "encode", png, "-o", good)[0] == 0  # the model's path
    data = good.read_bytes()
    flipped = bytearray(data)
    flipped[-5] ^= 0xFF
    (tmp_path / "flipped.lcd").write_bytes(bytes(flipped))
    (tmp_path / "short.lcd").write_bytes(data[:-3])
    before = listing(tmp_path)
    assert run(capsys, "decode", "-t", good) == (0, "", "")
    status, out, err = run(capsys, "decode", "--test", tmp_path, "-q")
    lines = err.strip().splitlines()
    assert status == 1 and out == "" and len(lines) == 2, err
    assert lines[0].startswith(f"lcodec: error: {tmp_path / 'flipped.lcd'}: ")
    assert lines[1].startswith(f"lcodec: error: {tmp_path / 'short.lcd'}: ")
    assert_clean_error(*run(capsys, "decode", "-t", tmp_path / "short.lcd")[::2],  # named though the only file
                       r"short\.lcd: file is \d+ bytes, its tile table describes \d+ \(truncated or padded\)$")
    status, _, err = run(capsys, "decode", "-t", "-v", good)
    assert status == 0 and re.fullmatch(rf"{re.escape(str(good))}: ok, {len(data)} bytes, [0-9.]+ bits per "
                                        r"sub-pixel, [0-9.]+ s\n", err), err
    assert argparse_exit(capsys, "decode", "-t", good, "-o", tmp_path / "x.png")[0] == 2
    assert argparse_exit(capsys, "decode", "-t", good, "-c")[0] == 2
    assert_clean_error(*run(capsys, "decode", "-t", good, "--rm")[::2], r"-t/--test deletes nothing", code=2)
    assert listing(tmp_path) == before


def test_rm_deletes_only_verified_inputs(shared_data, capsys, tmp_path, monkeypatch):
    """encode --rm: the input goes only once its .lcd is written and decodes to its pixels; never on an error."""
    src = tmp_path / "src"
    src.mkdir()
    image = photo(shared_data, 40, 50)
    for name in "abc":
        image.save(src / f"{name}.png")
    (src / "bad.png").write_bytes(b"not an image")
    assert run(capsys, "encode", src / "a.png", "--rm") == (0, "", "")
    assert not (src / "a.png").exists() and same_image(api.decompress_image(src / "a.lcd"), image)
    (src / "b.lcd").write_bytes(b"keep me")  # exists, no --force
    assert_clean_error(*run(capsys, "encode", src / "b.png", "--rm")[::2], r"b\.lcd exists")
    assert (src / "b.png").exists() and (src / "b.lcd").read_bytes() == b"keep me"
    assert_clean_error(*run(capsys, "encode", src / "bad.png", "--rm")[::2], r"bad\.png: not an image file")
    rotated = formats.Picture([formats.Frame(np.asarray(image)[::-1].copy(), "RGB")])
    with monkeypatch.context() as m:  # a written file that would decode to other pixels
        m.setattr(api.Decompressor, "decompress_picture", lambda self, data: rotated)
        status, _, err = run(capsys, "encode", src / "c.png", "--rm", "--no-learned")
    assert_clean_error(status, err, r"the written file does not decode to the input's samples \(input kept\)")
    assert (src / "c.png").exists() and not (src / "c.lcd").exists()
    for argv in (["encode", src / "c.png", "-c", "--rm"], ["encode", "-", "-o", src / "d.lcd", "--rm"]):
        assert_clean_error(*run(capsys, *argv)[::2], RM_NEEDS_FILES, code=2)
    assert listing(src) == ["a.lcd", "b.lcd", "b.png", "bad.png", "c.png"]  # no temporary file left either


def test_rm_refuses_a_reading_that_disagrees_with_the_files_header(capsys, tmp_path, monkeypatch):
    """A reader that cut 16-bit samples to 8 (as Pillow does) would code and decode its own reading exactly; --rm still
    keeps the input, because the reading does not have the bits the PNG's IHDR states."""
    import imagecodecs

    deep = np.random.default_rng(3).integers(0, 65536, (20, 30, 3)).astype(np.uint16)
    (tmp_path / "deep.png").write_bytes(imagecodecs.png_encode(deep))
    cut = formats.Picture([formats.Frame((deep >> 8).astype(np.uint8), "RGB")], "PNG")
    with monkeypatch.context() as m:
        m.setattr(formats.png, "read", lambda data, **kw: cut)
        status, _, err = run(capsys, "encode", tmp_path / "deep.png", "--rm", "--no-learned")
    assert_clean_error(status, err, r"the input cannot be verified: its header states 1 frame\(s\) of 3 channel\(s\) at "
                       r"16 bits, the reading gave 1 of 3 at 8 \(input kept\)")
    assert listing(tmp_path) == ["deep.png"]


def test_rm_refuses_a_reading_that_lost_a_frame(capsys, tmp_path, monkeypatch):
    """Of a GIF the independent check counts its images: a reading with one frame fewer keeps the input."""
    rng = np.random.default_rng(5)
    frames = [Image.fromarray(rng.integers(0, 256, (6, 7)).astype(np.uint8)).convert("P") for _ in range(3)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    read = formats.pillow.read
    with monkeypatch.context() as m:
        m.setattr(formats.pillow, "read", lambda data, **kw: dataclasses.replace(p := read(data, **kw),
                                                                                 frames=p.frames[:2]))
        status, _, err = run(capsys, "encode", tmp_path / "a.gif", "--rm", "--no-learned")
    assert_clean_error(status, err, r"the input cannot be verified: its header states 3 image\(s\), the reading gave 2")
    assert listing(tmp_path) == ["a.gif"]


def test_icons_with_two_images_of_one_size_are_refused(capsys, tmp_path):
    """Pillow gives one image per icon size: a second image of a size would be lost, so the file is refused."""
    import struct

    png = (tmp_path / "p.png")
    Image.new("RGBA", (16, 16)).save(png)
    body = png.read_bytes()
    entry = struct.pack("<BBBBHHII", 16, 16, 0, 0, 1, 32, len(body), 6 + 2 * 16)
    entry2 = struct.pack("<BBBBHHII", 16, 16, 0, 0, 1, 32, len(body), 6 + 2 * 16 + len(body))
    (tmp_path / "two.ico").write_bytes(struct.pack("<HHH", 0, 1, 2) + entry + entry2 + body + body)
    assert_clean_error(*run(capsys, "encode", tmp_path / "two.ico")[::2],
                       r"two\.ico: an ICO with 2 images of 1 sizes \(several images of one size are not supported\)")
    assert not (tmp_path / "two.lcd").exists()


def test_rm_decode_deletes_only_written_outputs(shared_data, capsys, tmp_path):
    """decode --rm: the .lcd goes only once the image file is written and holds the pixels exactly."""
    rgba = in_mode(photo(shared_data, 20, 30), "RGBA")
    rgba.save(tmp_path / "a.png")
    lcd = tmp_path / "lcd"
    lcd.mkdir()
    assert run(capsys, "encode", tmp_path / "a.png", "--no-learned", "-o", lcd / "a.lcd")[0] == 0
    data = (lcd / "a.lcd").read_bytes()
    for name in "bc":
        (lcd / f"{name}.lcd").write_bytes(data)
    (lcd / "bad.lcd").write_bytes(data[:-3])
    out = tmp_path / "out"
    assert run(capsys, "decode", lcd / "a.lcd", "-o", f"{out}/", "--rm") == (0, "", "")
    assert not (lcd / "a.lcd").exists() and same_image(Image.open(out / "a.png"), rgba)
    assert_clean_error(*run(capsys, "decode", lcd / "b.lcd", "-o", out / "b.ppm", "--rm")[::2], "PPM cannot hold")
    assert_clean_error(*run(capsys, "decode", lcd / "bad.lcd", "-o", f"{out}/", "--rm")[::2],
                       r"file is \d+ bytes, its tile table describes \d+ \(truncated or padded\)$")
    assert_clean_error(*run(capsys, "decode", lcd / "c.lcd", "-o", out / "a.png", "--rm")[::2], r"a\.png exists")
    assert_clean_error(*run(capsys, "decode", lcd / "c.lcd", "-c", "--rm")[::2], RM_NEEDS_FILES, code=2)
    assert listing(lcd) == ["b.lcd", "bad.lcd", "c.lcd"] and listing(out) == ["a.png"]


@pytest.mark.parametrize(
    "jobs, threads, files, cores, expected",
    [
        (0, 0, 1, 8, (1, 8)),  # one file: every core to its tiles
        (0, 0, 10, 8, (8, 1)),  # many files: one core each
        (0, 0, 3, 8, (3, 2)),  # three files share the cores
        (2, 0, 10, 8, (2, 4)),  # -j 2: the threads fill the cores
        (0, 3, 10, 8, (2, 3)),  # -T 3: the jobs fill the cores
        (5, 0, 2, 8, (2, 4)),  # more jobs than files: one job per file
        (0, 16, 4, 8, (1, 16)),  # -T above the cores: as asked, one file at a time
        (4, 4, 10, 8, (4, 4)),  # both given: as asked, even above the cores
        (0, 0, 5, 1, (1, 1)),
    ],
)
def test_jobs_times_threads_stays_within_the_cores(jobs, threads, files, cores, expected):
    assert planning.parallelism(jobs, threads, files, cores) == expected
    if not (jobs and threads) and threads <= cores:
        assert expected[0] * expected[1] <= cores


def test_threads_reach_the_coder(shared_data, capsys, tmp_path, monkeypatch):
    """-T is the threads of each Compressor/Decompressor; without it, the cores left over by -j."""
    made = []
    for name in ("Compressor", "Decompressor"):
        real = getattr(api, name)
        monkeypatch.setattr(cli.api, name, lambda *a, _real=real, **k: made.append(k.get("threads")) or _real(*a, **k))
    monkeypatch.setattr(cli.os, "cpu_count", lambda: 4)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        photo(shared_data, 16, 20, index=i + 1).save(src / f"{i}.png")
    assert run(capsys, "encode", src / "0.png", "-o", tmp_path / "one.lcd")[0] == 0
    assert run(capsys, "encode", src, "-o", tmp_path / "lcd", "-q", "--no-learned")[0] == 0
    assert run(capsys, "encode", src, "-o", tmp_path / "lcd2", "-j", "3", "-T", "2", "-q", "--no-learned")[0] == 0
    assert run(capsys, "decode", tmp_path / "lcd", "-o", tmp_path / "png", "-T", "3", "-q")[0] == 0
    assert made == [4, 1, 2, 3]
    monkeypatch.undo()
    assert np.array_equal(lcodec.decompress(tmp_path / "one.lcd"), np.asarray(Image.open(src / "0.png")))
    assert argparse_exit(capsys, "encode", src, "-T", "-1")[0] == 2
    assert argparse_exit(capsys, "encode", src, "-j", "x")[0] == 2


def test_verbose_line_per_file(shared_data, capsys, tmp_path):
    """-v: for each file, in order, its name, input and output sizes, bits per sub-pixel and seconds, on stderr."""
    src = tmp_path / "src"
    src.mkdir()
    for i, mode in enumerate(("RGB", "L")):
        in_mode(photo(shared_data, 24, 30, index=i + 1), mode).save(src / f"{i}.png")
    line = re.compile(r"(.+): (\d+) -> (\d+) bytes, (\d+\.\d{4}) bits per sub-pixel, (\d+\.\d\d) s")
    status, out, err = run(capsys, "encode", src, "-o", tmp_path / "lcd", "-v")
    assert status == 0 and out == "" and "[" not in err  # the lines replace the progress bar
    for i, text in enumerate(err.splitlines()):
        name, size_in, size_out, bpsp, _ = line.fullmatch(text).groups()
        data = (tmp_path / "lcd" / f"{i}.lcd").read_bytes()
        h = lcodec.read_header(data)
        assert name == str(src / f"{i}.png") and int(size_in) == (src / f"{i}.png").stat().st_size
        assert int(size_out) == len(data) and bpsp == f"{8 * len(data) / (h.width * h.height * h.channels):.4f}"
    assert len(err.splitlines()) == 2
    status, _, err = run(capsys, "decode", tmp_path / "lcd" / "1.lcd", "-o", tmp_path / "1.png", "--verbose")
    name, size_in, size_out, _, _ = line.fullmatch(err.strip()).groups()
    assert int(size_in) == (tmp_path / "lcd" / "1.lcd").stat().st_size
    assert int(size_out) == (tmp_path / "1.png").stat().st_size


def test_short_version(capsys):
    assert argparse_exit(capsys, "-V")[:2] == (0, f"lcodec {lcodec.__version__}\n")


def test_exit_statuses(png, capsys, tmp_path):
    """0 every file done, 1 a file failed, 2 a command line that cannot be carried out (ours as argparse's);
    --help says so."""
    lcd = tmp_path / "x.lcd"
    assert run(capsys, "encode", png, "--no-learned", "-o", lcd)[0] == 0
    assert_clean_error(*run(capsys, "decode", tmp_path / "missing.lcd", "-o", tmp_path / "x.png")[::2],
                       r"No such file or directory: '.*missing\.lcd'$")
    (tmp_path / "empty").mkdir()
    (tmp_path / "sub").mkdir()
    shutil.copy(png, tmp_path / "sub" / "in.png")
    kept = png.read_bytes()
    for argv, match in (
        (["decode", lcd, lcd, "-o", "-"], "several inputs cannot all go to stdout"),
        (["encode", png, "-c", "--rm"], RM_NEEDS_FILES),
        (["decode", tmp_path / "empty"], "no input files found"),
        (["encode", png, "-o", png, "--force"], r"in\.png: the output would replace its own input"),
        (["encode", png, tmp_path / "sub" / "in.png", "-o", f"{tmp_path / 'out'}/"], r"sub/in\.png would both be written"),
    ):
        assert_clean_error(*run(capsys, *argv)[::2], match, code=2)
    assert png.read_bytes() == kept and not (tmp_path / "out").exists()
    assert argparse_exit(capsys, "encode")[0] == 2 and argparse_exit(capsys, "decode", lcd, "--bogus")[0] == 2
    for argv in (["--help"], ["encode", "--help"], ["decode", "--help"]):
        status, out, _ = argparse_exit(capsys, *argv)
        assert status == 0 and "exit status: 0 every file done, 1 a file failed" in " ".join(out.split())


def test_recursive_keeps_the_tree(shared_data, capsys, tmp_path):
    """-r walks directories; the outputs under -o DIR keep the inputs' tree (without -r: the top level only)."""
    src = tmp_path / "src"
    files = ["top.png", "a/one.png", "a/b/two.png"]
    for i, rel in enumerate(files):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        in_mode(photo(shared_data, 10 + i, 14, index=i + 1), ("RGB", "L", "P")[i]).save(src / rel)
    assert run(capsys, "encode", src, "-o", tmp_path / "flat", "--no-learned", "-q")[0] == 0
    assert listing(tmp_path / "flat") == ["top.lcd"]  # a directory input: -o is a directory
    assert run(capsys, "encode", src, "-r", "-o", tmp_path / "lcd", "--no-learned", "-q")[0] == 0
    assert listing(tmp_path / "lcd") == ["a/b/two.lcd", "a/one.lcd", "top.lcd"]
    assert run(capsys, "decode", tmp_path / "lcd", "--recursive", "-o", tmp_path / "png", "-q")[0] == 0
    assert listing(tmp_path / "png") == ["a/b/two.png", "a/one.png", "top.png"]
    for rel in files:
        assert same_image(Image.open(tmp_path / "png" / rel), Image.open(src / rel))
    assert run(capsys, "encode", src / "a", "-r", "--no-learned", "-q")[0] == 0  # no -o: beside each input
    assert listing(src / "a") == ["b/two.lcd", "b/two.png", "one.lcd", "one.png"]
    shutil.copytree(src / "a", tmp_path / "twin")  # one.png in both: one output for two inputs, refused
    assert_clean_error(*run(capsys, "encode", src / "a", tmp_path / "twin", "-o", tmp_path / "clash")[::2],
                       r"twin/one\.png would both be written to .*clash/one\.lcd", code=2)
    assert not (tmp_path / "clash").exists()


def test_metadata_kept_unless_strip(shared_data, capsys, tmp_path):
    """The image file's metadata goes into the .lcd and back out (info lists it); --strip drops it."""
    from PIL import PngImagePlugin

    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "kept by default")
    photo(shared_data, 20, 24).save(tmp_path / "a.png", pnginfo=text, dpi=(300, 300))
    assert run(capsys, "encode", tmp_path / "a.png", "-o", tmp_path / "kept.lcd", "--no-learned")[0] == 0
    blocks = lcodec.read_header(tmp_path / "kept.lcd").metadata
    status, out, _ = run(capsys, "info", tmp_path / "kept.lcd")
    assert status == 0 and blocks and re.findall(r"^metadata: (\S+) (\d+) bytes$", out, re.M) == [
        (str(kind), str(len(data))) for kind, data in blocks]
    assert run(capsys, "decode", tmp_path / "kept.lcd", "-o", tmp_path / "back.png")[0] == 0
    assert Image.open(tmp_path / "back.png").text["Comment"] == "kept by default"
    assert run(capsys, "encode", tmp_path / "a.png", "-o", tmp_path / "bare.lcd", "--no-learned", "--strip")[0] == 0
    assert lcodec.read_header(tmp_path / "bare.lcd").metadata == ()
    assert "metadata:" not in run(capsys, "info", tmp_path / "bare.lcd")[1]


def test_info_lists_metadata(png, capsys, tmp_path):
    run(capsys, "encode", png, "--no-learned", "-o", tmp_path / "x.lcd")
    h = dataclasses.replace(lcodec.read_header(tmp_path / "x.lcd"), metadata=(("icc", b"\0" * 3), ("text", b"ab")))
    assert info.describe("x.lcd", h).count("\nmetadata: ") == 2 and "metadata: icc 3 bytes\n" in info.describe("x", h)


def test_lossy_input_needs_allow_lossy_input(shared_data, capsys, tmp_path):
    """A JPEG is refused with a one-line reason unless --allow-lossy-input; then it codes its decoded pixels."""
    photo(shared_data, 32, 40).save(tmp_path / "a.jpg", quality=90)
    pixels = np.asarray(Image.open(tmp_path / "a.jpg"))
    assert_clean_error(*run(capsys, "encode", tmp_path / "a.jpg")[::2],
                       r"the input is a lossy JPEG: its pixels are already an approximation.*--allow-lossy-input")
    assert not (tmp_path / "a.lcd").exists()
    assert run(capsys, "encode", tmp_path / "a.jpg", "--allow-lossy-input", "--rm", "--no-learned")[0] == 0
    assert not (tmp_path / "a.jpg").exists() and np.array_equal(lcodec.decompress(tmp_path / "a.lcd"), pixels)


def test_decode_names_outputs_after_what_can_hold_them(capsys, tmp_path):
    """Without -o a file decodes beside its .lcd: a sequence to its source format, an image to .png where PNG holds
    it, else to .tiff (signed samples, extra channels)."""
    import tifffile

    rng = np.random.default_rng(4)
    np.save(tmp_path / "unused.npy", np.zeros(1))  # not an image: directories skip it
    tifffile.imwrite(tmp_path / "pages.tif", rng.integers(0, 65536, (3, 8, 9)).astype(np.uint16),
                     photometric="minisblack")
    tifffile.imwrite(tmp_path / "ct.tif", rng.integers(-1000, 3000, (8, 9)).astype(np.int16))
    Image.fromarray(rng.integers(0, 256, (8, 9, 3)).astype(np.uint8)).save(tmp_path / "photo.bmp")
    assert run(capsys, "encode", tmp_path, "-o", tmp_path / "lcd", "-e", "1", "-q")[0] == 0
    assert run(capsys, "decode", tmp_path / "lcd", "-q")[0] == 0
    assert listing(tmp_path / "lcd") == ["ct.lcd", "ct.tiff", "pages.lcd", "pages.tiff", "photo.lcd", "photo.png"]
    with tifffile.TiffFile(tmp_path / "lcd" / "pages.tiff") as tif:
        assert len(tif.pages) == 3 and tif.pages[0].dtype == np.uint16
