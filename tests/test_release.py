"""Releasing models (models/): configs as files, the release command end to end, and a new network shape made of
config alone, from training to coding an image with it."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

import lcodec  # noqa: E402
from lcd_images import train_crop  # noqa: E402
from lcodec import learned, mixing  # noqa: E402
from lcodec.model import registry  # noqa: E402
from lcodec.model.weights import DENSE, HEAD, RESIDUAL, Net  # noqa: E402
from models import release, train  # noqa: E402
from models.architectures import load_config, network_config  # noqa: E402

torch.set_num_threads(1)


@pytest.mark.parametrize("name", ["rgb-v5", "gray-v5"])
def test_release_reproduces_the_default_models(shared_data, name):
    """The config of each default model, exported by the release command's code, gives its released integers; its
    pinned activation scale is what calibration finds, to float32's last digits (which vary with threads)."""
    config = load_config(name)
    data = release.export(config, release.REPO / config["checkpoint"], name + "-again", measure=False)
    new, old = Net.from_bytes(data, name="new"), registry.load(name)
    for key in old.arrays:
        np.testing.assert_array_equal(new.arrays[key], old.arrays[key], err_msg=key)
    model, cfg, _ = release.load_model(config, release.REPO / config["checkpoint"])
    arch = release.ARCHITECTURES[config["architecture"]]
    found = release.calibrate(arch, model, train.load_split(shared_data / "train", cfg.channels)[0], cfg.channels)
    assert found == pytest.approx(config["export"]["hidden_max"], rel=1e-5)


def test_configs_name_known_architectures_and_networks():
    for path in sorted(release.REPO.glob("models/configs/*.json")):
        config = load_config(path)
        network_config(config)  # every network entry builds its dataclass
        assert config.get("default") in (None, *registry.KINDS)


def test_a_new_network_shape_through_configs_alone(small_shared, shared_data, tmp_path):
    """A depth and widths no released model has (a 7x7 window, then 1x1 layers 24 -> 16 -> 16 -> 32 wide: dense,
    residual and dense layers) from a config file alone: trained, released into scratch folders, listed, coded."""
    config = {"architecture": "pixelcnn", "default": "rgb",
              "network": {"channels": 3, "kernel": 7, "hidden": 24, "n_layers": 3, "widths": [16, 16, 32],
                          "n_mix": 3},
              "train": {"steps": 3, "crop": 32, "batch": 2, "warmup": 2}}
    path = tmp_path / "rgb-wide.json"
    path.write_text(json.dumps(config))
    train.main(["--config", str(path), "--out", str(tmp_path / "run")])
    weights, golden = tmp_path / "weights", tmp_path / "golden"
    weights.mkdir()
    golden.mkdir()
    for f in [registry.MANIFEST] + [m["file"] for m in registry.MODELS.values()]:
        shutil.copy(registry.WEIGHTS_DIR / f, weights)
    card = tmp_path / "CARD.md"
    card.write_text(f"# Card\n\n{release.CARD_BEGIN}\n{release.CARD_END}\n\nmore\n")
    before = registry.WEIGHTS_DIR
    try:
        assert release.main([str(path), "--checkpoint", str(tmp_path / "run" / "ckpt.pt"), "--weights-dir",
                             str(weights), "--golden-dir", str(golden), "--card", str(card)]) == 0
        assert registry.DEFAULT_MODELS["rgb"] == "rgb-wide" and registry.MODELS["rgb-wide"]["status"] == "released"
        net = registry.load("rgb-wide")
        assert [kind for kind, _, _ in net.layers] == [DENSE, DENSE, RESIDUAL, DENSE, HEAD]
        assert [n_out for _, _, n_out in net.layers] == [24, 16, 16, 32, 36]
        v = net.meta["validation_bpsp"]
        assert abs(v["integer"] - v["float"]) < 0.01 * v["float"]  # the integer network is the float one
        image = train_crop(shared_data, 3, "wikipedia", (40, 48), seed=4)
        for effort, method in ((1, "learned"), (2, "mixed")):
            data = lcodec.Compressor(effort=effort, fallback=False).compress(image)  # the new default model
            header = lcodec.read_header(data)
            assert header.model == "rgb-wide" and set(header.method_counts) == {method}
            assert np.array_equal(lcodec.decompress(data), image)
        tile = np.ascontiguousarray(image[:16, :16])
        assert np.array_equal(learned.decode_tile(net, learned.encode_tile(net, tile), 16, 16), tile)
        assert np.array_equal(mixing.decode_tile(net, mixing.encode_tile(net, tile), 16, 16), tile)
        manifest = json.loads((golden / "MANIFEST.json").read_text())
        assert set(manifest) == {"rgb-wide-learned", "rgb-wide-mixed"}
        for case in manifest:
            back = lcodec.decompress((golden / f"{case}.lcd").read_bytes())
            assert np.array_equal(back, np.asarray(Image.open(golden / f"{case}.png")))
        text = card.read_text()
        assert "| rgb-wide | released | rgb | 3 | 7x7 | dense 24 dense 16 residual 16 dense 32 head 36 |" in text
        assert text.endswith("more\n") and text.count("| rgb-v5 |") == 1
        with pytest.raises(SystemExit):  # a name is never released twice
            release.main([str(path), "--checkpoint", str(tmp_path / "run" / "ckpt.pt"), "--weights-dir",
                          str(weights)])
    finally:
        registry.use(before)
    assert "rgb-wide" not in registry.MODELS and registry.DEFAULT_MODELS["rgb"] == "rgb-v5"


def test_quantisation_keeps_accumulators_in_range_or_refuses():
    from models.export import ACC_BUDGET, quantize_layer

    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(40, 8)), rng.normal(size=8)
    wq, bq, m, s = quantize_layer(w, b, 1.0, 128, 100.0)
    assert 40 * np.abs(wq).max() * 128 <= ACC_BUDGET and np.abs(bq).max() < ACC_BUDGET
    assert m.max() < 1 << 31 and 1 <= s.min() and s.max() <= 62
    x = rng.integers(-128, 128, (5, 40))  # the integer layer tracks the float one, scaled by a_out
    y = ((x @ wq.astype(np.int64) + bq) * m + (np.int64(1) << (s - 1))) >> s
    np.testing.assert_allclose(y, 100.0 * (x @ w + b), atol=0.02 * np.abs(100.0 * (x @ w + b)).max())
    with pytest.raises(ValueError, match="31-bit multiplier"):  # an output scale no shift can reach
        quantize_layer(w, b, 1.0, 128, 1e20)
