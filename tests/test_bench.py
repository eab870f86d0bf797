"""The benchmark harness: a quick real run over Kodak crops and one over crops of real deep images, and failures
reported rather than hidden."""

import contextlib
import io
import json
import shutil

import numpy as np
import pytest

from bench.codecs import Codec, CodecUnavailable, Png, all_codecs, deep_codecs
from bench.harness import (
    QUICK_CROP, QUICK_IMAGES, README_BEGIN, README_DEEP, README_END, REPO, image_table, kind_table, load_images, main,
    render, render_deep, run, select,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick(shared_data, tmp_path_factory):
    """One `python -m bench --quick` over the Kodak folder: (stdout, json report, plot path)."""
    out = tmp_path_factory.mktemp("bench")
    json_path, plot_path, readme = out / "quick.json", out / "quick.png", out / "README.md"
    readme.write_text(f"# Title\n\n{README_BEGIN}\nold table\n{README_END}\n\nAfter.\n")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = main([str(shared_data / "kodak"), "--quick", "--json", str(json_path), "--plot", str(plot_path),
                   "--readme", str(readme)])
    assert rc == 0
    table = stdout.getvalue()
    assert readme.read_text() == f"# Title\n\n{README_BEGIN}\n{table.rstrip()}\n{README_END}\n\nAfter.\n"
    return table, json.loads(json_path.read_text()), plot_path


def test_quick_table_has_a_row_per_codec(quick):
    table, report, _ = quick
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    assert lines[0].startswith("| codec | bits/sub-pixel |")
    names = [line.split("|")[1].strip() for line in lines[1:]]
    assert names == [c.name for c in all_codecs()]
    for line, row in zip(lines[1:], report["rows"]):
        assert f"| {row['bpsp']:.4f} |" in line


def test_quick_json_fields(quick):
    _, report, _ = quick
    assert report["quick"] is True
    assert [i["shape"][:2] for i in report["images"]] == [[QUICK_CROP, QUICK_CROP]] * QUICK_IMAGES
    for field in ("cpu", "cores"):
        assert report["machine"][field]
    for dist in ("python", "numpy", "pillow", "imagecodecs", "numba", "lcodec"):
        assert report["versions"][dist], dist
    assert report["commit"] is None or len(report["commit"].split("-")[0]) == 40
    subpixels = QUICK_IMAGES * QUICK_CROP * QUICK_CROP * 3
    for row in report["rows"]:
        assert {"codec", "bpsp", "encode_s", "decode_s", "lossless"} <= row.keys()
        assert row["subpixels"] == subpixels


def test_quick_every_anchor_is_lossless_and_plausible(quick):
    _, report, _ = quick
    rows = {r["key"]: r for r in report["rows"]}
    for key, row in rows.items():
        if key == "lcodec":
            continue
        assert row["lossless"] and row["error"] is None, row
        assert row["bits"] == pytest.approx(row["bpsp"] * row["subpixels"])
        assert 1.0 < row["bpsp"] < 8.5, row
        assert row["encode_s"] > 0 and row["decode_s"] > 0
    # The strongest anchors must beat the general-purpose compressors on photographs.
    assert rows["jxl9"]["bpsp"] < rows["png"]["bpsp"] < rows["gzip"]["bpsp"]


def test_quick_lcodec_rows(quick, models):
    """Model alone (with and without the mixing stage): the range coder costs a hair over Σ −log2 q. Default:
    never much worse than the model alone. The mixing stage codes the crops smaller than the network alone."""
    _, report, _ = quick
    rows = {r["key"]: r for r in report["rows"]}
    model_only, default, network = rows["lcodec-model"], rows["lcodec"], rows["lcodec-network"]
    for row in (model_only, default, network):
        assert row["lossless"] and row["error"] is None, row
    assert default["est_bpsp"] == model_only["est_bpsp"]
    for row in (model_only, network):
        assert row["estimate"]["learned_est"] == row["estimate"]["est"]  # every tile coded by the model
        assert abs(row["coder_overhead"]) < 0.001, row  # within 64 bits a tile over, and it may come in under
        assert row["est_bpsp"] < row["bpsp"] < 1.01 * row["est_bpsp"]  # + header and tile table
    assert default["bpsp"] <= model_only["bpsp"] < network["bpsp"]


def test_quick_plot_is_a_png(quick):
    from PIL import Image

    _, _, plot_path = quick
    assert plot_path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(plot_path) as im:
        assert im.width >= 600 and im.height >= 400


class FlipsOnePixel(Png):
    """PNG that corrupts its output: the harness must call it lossy, not trust it."""

    name = key = "flips"

    def decode(self, data):
        out = super().decode(data).copy()
        out.flat[0] ^= 1
        return out


class Crashes(Codec):
    name = key = "crashes"

    def encode(self, image):
        raise RuntimeError("encoder exploded\nsecond line")


class Missing(Codec):
    name = key = "missing"

    def unavailable(self):
        return "libmissing is not installed"


class GrayOnly(Png):
    name = key = "grayonly"

    def encode(self, image):
        if image.ndim == 3:
            raise CodecUnavailable("gray only")
        return super().encode(image)


def _images():
    rng = np.random.default_rng(0)
    smooth = np.add.outer(np.arange(32), np.arange(48)).astype(np.uint8)
    return [("rgb", np.stack([smooth, smooth + 1, rng.integers(0, 256, smooth.shape, np.uint8)], axis=2)),
            ("gray", smooth)]


def test_wrong_round_trip_is_reported_lossy():
    flips, png = run([FlipsOnePixel(), Png()], _images())
    assert flips["lossless"] is False and flips["exact"] == 0
    assert "round trip differs" in flips["error"]
    assert flips["bpsp"] == png["bpsp"]  # sizes are still measured, so the table shows what was lost
    assert png["lossless"] is True and png["exact"] == 2


def test_crashing_missing_and_unsupported_codecs_are_reported():
    from bench.harness import format_table

    crashes, missing, gray_only = rows = run([Crashes(), Missing(), GrayOnly()], _images())
    assert crashes["lossless"] is False and crashes["bpsp"] is None
    assert crashes["error"] == "2 of 2 images failed; first: rgb: RuntimeError: encoder exploded"
    assert missing["error"] == "unavailable: libmissing is not installed" and missing["lossless"] is False
    assert gray_only["exact"] == 1 and gray_only["bpsp"] is None
    assert "unsupported: gray only" in gray_only["error"]
    table = format_table(rows)
    assert table.count("\n") == 2 + 2
    assert "| crashes | — |" in table and "**NO** (0/2 exact)" in table
    assert "unavailable: libmissing is not installed" in table


def test_gray_and_rgb_round_trips():
    """The shape header of the raw compressors and JPEG-LS's colour transform, on both kinds of image."""
    for codec in select(all_codecs(), "gzip,zstd,xz,jpegls"):
        for _, image in _images():
            assert np.array_equal(codec.decode(codec.encode(image)), image)


def test_readme_shows_the_recorded_kodak_run():
    """The README's table is exactly what the recorded full run printed, and that run was lossless throughout."""
    report = json.loads((REPO / "bench" / "results" / "kodak.json").read_text(encoding="utf-8"))
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split(README_BEGIN, 1)[1].split(README_END, 1)[0]
    assert block.strip() == render(report)
    assert not report["quick"] and report["dirs"] == ["../shared/data/kodak"] and len(report["images"]) == 24
    assert [r["codec"] for r in report["rows"]] == [c.name for c in all_codecs()]
    assert all(r["lossless"] for r in report["rows"])
    assert (REPO / "bench" / "results" / "kodak.png").read_bytes()[:8] == PNG_SIGNATURE


def test_readme_shows_the_recorded_deep_run():
    """The README's deep table is exactly what the recorded full run over ../shared/data/deep printed: all 30 images
    at full depth, every codec lossless on every one."""
    from bench.harness import render_deep

    report = json.loads((REPO / "bench" / "results" / "deep.json").read_text(encoding="utf-8"))
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split(README_DEEP[0], 1)[1].split(README_DEEP[1], 1)[0]
    assert block.strip() == render_deep(report)
    assert not report["quick"] and report["dirs"] == ["../shared/data/deep"] and len(report["images"]) == 30
    assert all(i["dtype"] == "uint16" for i in report["images"])
    assert all(r["lossless"] and not r["error"] for r in report["rows"])


def test_readme_without_markers_is_refused(tmp_path):
    from bench.harness import update_readme

    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    with pytest.raises(SystemExit, match="no '<!-- BEGIN python -m bench table -->'"):
        update_readme(readme, "table")
    assert readme.read_text() == "# no markers\n"


def test_unknown_codec_is_refused():
    with pytest.raises(SystemExit, match="unknown codec nope"):
        select(all_codecs(), "png,nope")


def test_load_images_quick_crops(shared_data):
    images = load_images([shared_data / "kodak"], quick=True)
    assert [n for n, _ in images] == ["kodim01.png", "kodim02.png", "kodim03.png"]
    assert all(a.shape == (QUICK_CROP, QUICK_CROP, 3) and a.dtype == np.uint8 for _, a in images)


def test_gray_flag_codes_luminance(shared_data):
    from PIL import Image

    gray = load_images([shared_data / "kodak"], quick=True, gray=True)
    rgb = load_images([shared_data / "kodak"], quick=True)
    assert all(g.shape == (QUICK_CROP, QUICK_CROP) for _, g in gray)
    assert np.array_equal(gray[0][1], np.asarray(Image.fromarray(rgb[0][1]).convert("L")))
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main([str(shared_data / "kodak"), "--quick", "--gray", "--codecs", "png,jxl7"]) == 0
    assert "(luminance)" in stdout.getvalue() and "| PNG |" in stdout.getvalue()


DEEP_CROPS = {"neubias_golgi_bfa_z12.png": (40, 48), "libavif_seine_psd.png": (32, 40)}  # L16 microscopy, RGB16 photo


@pytest.fixture(scope="module")
def deep(shared_data, tmp_path_factory):
    """`python -m bench` over centre crops of two real deep images, beside the deep folder's MANIFEST.md:
    ({name: crop}, stdout, json report, the README it rewrote)."""
    import imagecodecs

    folder, out = tmp_path_factory.mktemp("deep"), tmp_path_factory.mktemp("deep-out")
    crops = {}
    for name, (h, w) in sorted(DEEP_CROPS.items()):
        image = imagecodecs.png_decode((shared_data / "deep" / name).read_bytes())
        top, left = (image.shape[0] - h) // 2, (image.shape[1] - w) // 2
        crops[name] = np.ascontiguousarray(image[top:top + h, left:left + w])
        (folder / name).write_bytes(imagecodecs.png_encode(crops[name]))
    shutil.copy(shared_data / "deep" / "MANIFEST.md", folder)
    readme = out / "README.md"
    readme.write_text(f"{README_BEGIN}\nkodak\n{README_END}\n\n{README_DEEP[0]}\nold\n{README_DEEP[1]}\n")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main([str(folder), "--json", str(out / "deep.json"), "--readme", str(readme)]) == 0
    return crops, stdout.getvalue(), json.loads((out / "deep.json").read_text()), readme.read_text()


def test_deep_images_are_coded_at_full_depth(deep):
    """Both crops stay uint16 (over 255, so a cut to 8 bits could not pass the exactness check), every deep codec
    codes them exactly, and lcodec's and PNG's bits are those of the bytes they write for the uint16 arrays."""
    import imagecodecs

    from lcodec.api import compress

    crops, _, report, _ = deep
    assert report["deep"] is True
    assert [(i["name"], i["dtype"], i["shape"]) for i in report["images"]] == [
        (name, "uint16", list(crop.shape)) for name, crop in crops.items()]
    assert [crop.ndim for crop in crops.values()] == [3, 2] and all(crop.max() > 255 for crop in crops.values())
    assert [r["codec"] for r in report["rows"]] == [c.name for c in deep_codecs()]
    for row in report["rows"]:
        assert row["lossless"] and row["error"] is None, row
    rows, samples = {r["key"]: r for r in report["rows"]}, sum(crop.size for crop in crops.values())
    for key, encode in (("lcodec", compress), ("png", lambda a: imagecodecs.png_encode(a, level=9))):
        bits = sum(8 * len(encode(crop)) for crop in crops.values())
        assert rows[key]["bits"] == bits and rows[key]["bpsp"] == bits / samples


def test_deep_table_per_kind_with_total(deep):
    """A row per kind from the manifest and a total row, lcodec's ratio to JPEG-XL e9, the summed seconds; the README's
    deep block gets that table and the 8-bit block is left alone; the per-image table follows on stdout."""
    crops, stdout, report, readme = deep
    rows = {r["key"]: r for r in report["rows"]}
    table = kind_table(report)
    lines = {line.split(" | ")[0][2:]: line for line in table.splitlines()[2:]}
    cells = {k: [c.strip() for c in line.strip("|").split("|")] for k, line in lines.items()}
    assert list(lines) == ["microscopy", "photo", "total", "encode CPU s, all images", "decode CPU s, all images",
                           "lossless"]
    golgi = next(p for p in rows["lcodec"]["per_image"] if p["image"] == "neubias_golgi_bfa_z12.png")
    assert f"| microscopy | 1 | {40 * 48} | {8 * golgi['bytes'] / (40 * 48):.3f} |" in lines["microscopy"]
    assert cells["total"] == ["total", "2", str(sum(crop.size for crop in crops.values())),
                              *(f"{r['bpsp']:.3f}" for r in report["rows"]),
                              *(f"{rows[k]['bpsp'] / rows['jxl9']['bpsp']:.3f}" for k in ("lcodec", "lcodec-e3"))]
    decode = sum(p["decode_s"] for p in rows["lcodec"]["per_image"])
    assert cells["decode CPU s, all images"][3] == f"{decode:.4g}"
    assert f"lcodec decodes them in {decode:.4g} CPU s" in render_deep(report)
    assert readme == (f"{README_BEGIN}\nkodak\n{README_END}\n\n{README_DEEP[0]}\n{render_deep(report)}\n"
                      f"{README_DEEP[1]}\n")
    assert stdout == f"{render_deep(report)}\n\n{image_table(report)}\n"


class CutsTo8Bits(Codec):
    """Keeps the high byte of each sample, as Pillow reads 16-bit RGB: the harness must call it lossy."""

    name = key = "cut"

    def encode(self, image):
        return Png().encode(np.asarray(image >> 8, np.uint8))

    def decode(self, data):
        return Png().decode(data)


def test_deep_inexact_and_failed_round_trips_are_marked(deep):
    crops, _, report, _ = deep
    cut, _, png = rows = run([CutsTo8Bits(), Crashes(), *select(deep_codecs(), "png")], list(crops.items()))
    assert cut["lossless"] is False and cut["exact"] == 0 and "round trip differs" in cut["error"]
    assert png["lossless"] and png["exact"] == 2
    table = kind_table({**report, "rows": rows})
    total = next(line for line in table.splitlines() if line.startswith("| total |"))
    assert f"| {cut['bpsp']:.3f} (**NO**: 0/2 exact) | — (0/2 coded) | {png['bpsp']:.3f} |" in total
    assert table.endswith("| lossless | | | **NO** (0/2 exact) | **NO** (0/2 exact) | yes |")
    images = image_table({**report, "rows": rows})
    assert images.count(" **NO** | failed | ") == 2
