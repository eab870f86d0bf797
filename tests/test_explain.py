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
    with pytest.raises(InvalidInputError, match="mode P"):
        explain(Image.fromarray(gray).convert("P"), tmp_path / "p.png")
    with pytest.raises(InvalidInputError, match="uint16"):
        explain(gray.astype(np.uint16), tmp_path / "u16.png")
    assert not (tmp_path / "p.png").exists() and not (tmp_path / "u16.png").exists()
