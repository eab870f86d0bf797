"""lcodec explain: the picture of where the bits go, against the coders' own per-sub-pixel costs."""

import numpy as np
import pytest

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_explain_real_crop(shared_data, tmp_path, models):
    """The picture holds the image and the heat map of the same costs the caption's bpsp sums."""
    from PIL import Image

    from lcodec import api, learned, mixing
    from lcodec.container import tile_boxes
    from lcodec.explain import CAPTION_HEIGHT, GAP, MIN_WIDTH, explain, heat_map

    with Image.open(shared_data / "kodak" / "kodim23.png") as im:
        crop = np.asarray(im)[100:400, 200:470]  # 300 x 270, tiled below as the compressor tiles it
    src, out = tmp_path / "crop.png", tmp_path / "heat.png"
    Image.fromarray(crop).save(src)
    bpsp = explain(src, out)

    net = models.load(models.default_for(3))
    bits, network = np.zeros(crop.shape), np.zeros(crop.shape)
    for y0, y1, x0, x1 in tile_boxes(300, 270, api.LEARNED_TILE):
        bits[y0:y1, x0:x1] = mixing.bits_map(net, np.ascontiguousarray(crop[y0:y1, x0:x1]))
        network[y0:y1, x0:x1] = learned.bits_map(net, np.ascontiguousarray(crop[y0:y1, x0:x1]))
    assert bpsp == pytest.approx(bits.sum() / crop.size, rel=1e-12)
    assert explain(src, tmp_path / "network.png", effort=1) == pytest.approx(network.sum() / crop.size, rel=1e-12)
    assert 1.0 < bpsp < network.sum() / crop.size < 6.0
    payload = sum(api.read_header(api.Compressor(fallback=False, threads=1).compress(crop)).lengths)
    assert bits.sum() < 8 * payload < bits.sum() + 64 * len(tile_boxes(300, 270, api.LEARNED_TILE)) + 8
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(out) as im:
        assert im.size == (max(2 * 270 + GAP, MIN_WIDTH), 300 + CAPTION_HEIGHT)
        canvas = np.asarray(im.convert("RGB"))
    assert np.array_equal(canvas[:300, :270], crop)
    assert np.array_equal(canvas[:300, 270 + GAP : 2 * 270 + GAP], heat_map(bits))
    assert canvas[300:].min() < 64  # the caption is drawn


def test_explain_gray_and_refusals(shared_data, tmp_path, models):
    from PIL import Image

    from lcodec import learned, mixing
    from lcodec.errors import InvalidInputError
    from lcodec.explain import explain

    with Image.open(shared_data / "kodak" / "kodim05.png") as im:
        gray = np.asarray(im.convert("L"))[:40, :60]
    bpsp = explain(gray, tmp_path / "gray.png")
    net = models.load(models.default_for(1))
    assert bpsp == pytest.approx(mixing.bits_map(net, gray[:, :, None]).mean(), rel=1e-12)
    assert explain(gray, tmp_path / "gray1.png", effort=1) == pytest.approx(
        learned.bits_map(net, gray[:, :, None]).mean(), rel=1e-12)
    with pytest.raises(InvalidInputError, match="2 frames"):
        explain([gray, gray], tmp_path / "frames.png")
    assert not (tmp_path / "frames.png").exists()


def test_explain_palette_and_bilevel(shared_data, tmp_path):
    """Palette indices and 1-bit planes: the costs of CONTEXT, the engine without the network, as the encoder codes
    them at effort 2, within a few bytes of its payload."""
    from PIL import Image

    from lcodec import api
    from lcodec.explain import explain
    from lcodec.mixing import planes

    with Image.open(shared_data / "kodak" / "kodim05.png") as im:
        rgb = im.crop((100, 100, 190, 172))
    for image, bits in ((rgb.quantize(64), 8), (rgb.convert("1"), 1)):
        bpsp = explain(image, tmp_path / "map.png")
        indices = np.asarray(image).reshape(72, 90, 1)
        costs = planes.bits_map(indices)
        assert bpsp == pytest.approx(costs.mean(), rel=1e-12)
        header = api.read_header(api.Compressor(fallback=False, threads=1).compress(image))
        assert costs.sum() < 8 * header.lengths[0] < costs.sum() + 64
        assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("name, signed", [("sunpy_trace_171_1998-05-19.png", False), ("riocolor_rgb16.png", False),
                                          ("dcmqact_GE_14.png", True)])
def test_explain_deep_images(shared_data, tmp_path, name, signed):
    """A deep gray, colour or signed image: the heat map of RESIDUAL's own costs (as `lcodec encode` codes its
    tiles), within a few bytes of the payload, and the picture stretched to 8 bits."""
    from PIL import Image

    imagecodecs = pytest.importorskip("imagecodecs")
    from lcodec import api
    from lcodec.explain import explain, heat_map
    from lcodec.mixing import residuals

    arr = imagecodecs.png_decode((shared_data / "deep" / name).read_bytes())[200:272, 200:290]
    if signed:
        arr = (arr.astype(np.int32) - 1500).astype(np.int16)
    bpsp = explain(arr, tmp_path / "deep.png")
    stored = (arr.view(np.uint16) ^ np.uint16(0x8000)) if signed else arr
    bits = residuals.bits_map(stored.reshape(72, 90, -1))
    assert bpsp == pytest.approx(bits.mean(), rel=1e-12)
    payload = sum(api.read_header(api.Compressor(fallback=False, threads=1).compress(arr)).lengths)
    assert bits.sum() < 8 * payload < bits.sum() + 64
    with Image.open(tmp_path / "deep.png") as im:
        canvas = np.asarray(im.convert("RGB"))
    assert np.array_equal(canvas[:72, 90 + 8:180 + 8], heat_map(bits, 16.0))
    shown = canvas[:72, :90].astype(int)
    assert shown.min() == 0 and shown.max() == 255  # stretched from the smallest sample to the largest
