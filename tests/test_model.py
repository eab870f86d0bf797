"""The float PixelCNN: causality, the likelihood, training, checkpoints (models/)."""

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from lcd_images import train_crop  # noqa: E402
from models import train  # noqa: E402
from models.model import (  # noqa: E402
    LOG_S_MAX,
    LOG_S_MIN,
    PixelCNN,
    PixelCNNConfig,
    bits_per_subpixel,
    grow_from,
    load_checkpoint,
    log_prob,
    save_checkpoint,
)

torch.set_num_threads(1)


def random_model(channels, seed=0, **kw):
    """A model with large random weights, so every allowed dependence is visible in the outputs."""
    torch.manual_seed(seed)
    model = PixelCNN(PixelCNNConfig(channels=channels, **kw))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.5)
    return model


def causality_violations(model, x):
    """Sub-pixel indices t (raster order, R, G, B within a pixel) whose change alters the parameters of some
    sub-pixel <= t; also returns how many perturbations changed a later sub-pixel (the test's own sanity)."""
    _, C, H, W = x.shape
    with torch.no_grad():
        base = torch.cat(model.params(x), dim=2)[0]  # (C, 3K, H, W)
        violations, influences = [], 0
        for t in range(H * W * C):
            p, c = divmod(t, C)
            y, xx = divmod(p, W)
            x2 = x.clone()
            x2[0, c, y, xx] = (x2[0, c, y, xx] + 97) % 256
            new = torch.cat(model.params(x2), dim=2)[0]
            changed = (new - base).abs().amax(dim=1) > 1e-5  # (C, H, W): sub-pixel's parameters moved
            order = changed.permute(1, 2, 0).reshape(-1)  # raster order, channels within a pixel
            if order[: t + 1].any():
                violations.append(t)
            influences += bool(order[t + 1 :].any())
    return violations, influences


@pytest.mark.parametrize("channels", [3, 1])
def test_causal_in_raster_and_channel_order(channels):
    model = random_model(channels, kernel=5, hidden=16, n_layers=2)
    x = torch.randint(0, 256, (1, channels, 6, 7), generator=torch.Generator().manual_seed(1))
    violations, influences = causality_violations(model, x)
    assert violations == []
    # Every sub-pixel but the last few influences a later one (the check can see dependence at all).
    assert influences >= 6 * 7 * channels - channels - 2


def test_causality_check_catches_an_unmasked_convolution():
    model = random_model(3, kernel=5, hidden=16)
    model.mask[:, :, 2, 2] = 1.0  # let the current pixel leak into its own prediction
    x = torch.randint(0, 256, (1, 3, 5, 5), generator=torch.Generator().manual_seed(2))
    violations, _ = causality_violations(model, x)
    assert len(violations) == 5 * 5 * 3


def naive_prob(w, mu, s, v):
    """Discretized logistic mixture probability of integer v, straight from the definition, in float64."""
    def sigmoid(z):
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))

    def F(e):
        if e < 0:
            return 0.0
        if e > 255:
            return 1.0
        return sum(wk * sigmoid((e - mk) / sk) for wk, mk, sk in zip(w, mu, s))

    return F(v + 0.5) - F(v - 0.5)


def test_loss_matches_naive_mixture_probability():
    rng = np.random.default_rng(3)
    K = 4
    cases = [(v, rng.uniform(-40, 40, size=K), rng.uniform(0.0, LOG_S_MAX, size=K))
             for v in [0, 1, 37, 128, 200, 254, 255]]
    cases += [(90, np.array([0.2, -3.0, 5.0, 60.0]), np.array([LOG_S_MIN, LOG_S_MIN, 1.0, 3.0]))]  # sharp
    for v, offset, log_s in cases:
        logits = rng.normal(size=K)
        mu = v + offset
        w = np.exp(logits) / np.exp(logits).sum()
        expected = -math.log2(naive_prob(w, mu, np.exp(log_s), v))

        def t(a):
            return torch.tensor(a, dtype=torch.float64).reshape(1, 1, K, 1, 1)

        lw = torch.log_softmax(t(logits), dim=2)
        got = -log_prob(lw, t(mu), t(log_s), torch.tensor([[[[v]]]])).item() / math.log(2)
        assert got == pytest.approx(expected, rel=1e-6, abs=1e-9), v


def test_probabilities_sum_to_one_over_all_values():
    model = random_model(3, hidden=8)
    x = torch.randint(0, 256, (1, 3, 4, 4), generator=torch.Generator().manual_seed(4))
    log_w, mu, log_s = model.params(x)
    # Evaluate every value v for the R channel of every pixel (R's parameters do not depend on x_R).
    total = torch.zeros(4, 4, dtype=torch.float64)
    for v in range(256):
        xv = x.clone()
        xv[:, 0] = v
        total += log_prob(log_w, mu, log_s, xv)[0, 0].double().exp()
    assert torch.allclose(total, torch.ones(4, 4, dtype=torch.float64), atol=1e-4)


def test_head_layout_sizes():
    assert PixelCNNConfig(channels=3, n_mix=5).n_out == 60
    assert PixelCNNConfig(channels=1, n_mix=5).n_out == 15
    model = PixelCNN(PixelCNNConfig(channels=3, n_layers=2))
    assert list(model.state_dict()) == [
        "conv1.weight", "conv1.bias", "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
        "out.weight", "out.bias",
    ]
    assert model.state_dict()["conv1.weight"].shape == (48, 3, 7, 7)


def real_crops(shared_data, channels, n=4, size=24):
    crops = [train_crop(shared_data, channels, "bsd200", (size, size), seed=i) for i in range(n)]
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()


@pytest.mark.parametrize("channels", [3, 1])
def test_a_few_steps_reduce_the_loss(shared_data, channels):
    torch.manual_seed(0)
    model = PixelCNN(PixelCNNConfig(channels=channels, hidden=16))
    x = real_crops(shared_data, channels)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = bits_per_subpixel(model, x).item()
    for _ in range(40):
        loss = bits_per_subpixel(model, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert bits_per_subpixel(model, x).item() < first - 1.0


def test_checkpoint_round_trip(tmp_path):
    model = random_model(3, hidden=12, n_layers=2, n_mix=3)
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, model, step=7)
    loaded, cfg = load_checkpoint(path)
    assert cfg == model.cfg
    x = torch.randint(0, 256, (2, 3, 9, 11), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert torch.load(path, weights_only=True)["step"] == 7


def test_grow_from_keeps_the_function_and_stays_causal():
    """A 5x5 one-layer model grown into 9x9 with three layers computes nearly the same outputs, and every new
    weight can still learn (none is stuck at zero behind a dead ReLU)."""
    small = random_model(3, hidden=10, n_layers=1, n_mix=2, kernel=5)
    big = PixelCNN(PixelCNNConfig(channels=3, hidden=10, n_layers=3, n_mix=2, kernel=9))
    grow_from(big, small.cfg, small.state_dict())
    x = torch.randint(0, 256, (2, 3, 12, 13), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a, b = small(x), big(x)
    assert (a - b).abs().max().item() < 0.02 * a.abs().max().item()
    assert not torch.equal(a, b)  # the new layers are live, only small
    big.zero_grad()
    bits_per_subpixel(big, x).backward()
    assert big.layers[2].weight.grad.abs().sum() > 0
    ring = big.conv1.weight.grad * big.mask
    assert ring[:, :, 0].abs().sum() > 0  # the outer ring of the grown kernel learns
    with pytest.raises(ValueError, match="cannot grow"):
        grow_from(small, big.cfg, big.state_dict())


def test_train_runs_and_resumes(shared_data, tmp_path, monkeypatch):
    """The training script end to end on a few real images: checkpoint, resume, validation in the log."""
    data = tmp_path / "shared" / "data" / "train"
    for folder, files, box in [("bsd200", 2, None), ("wikipedia", 2, (0, 0, 300, 280))]:
        (data / folder).mkdir(parents=True)
        for f in sorted((shared_data / "train" / folder).glob("*.png"))[:files]:
            im = Image.open(f)
            (im.crop(box) if box else im).save(data / folder / f.name)
    monkeypatch.setenv("LCODEC_SHARED", str(tmp_path / "shared"))
    out = tmp_path / "run"
    common = ["--config", "gray", "--out", str(out), "--hidden", "8", "--crop", "32", "--batch", "2", "--warmup", "2"]
    train.main(common + ["--steps", "3"])
    assert torch.load(out / "ckpt.pt", weights_only=False)["step"] == 3
    train.main(common + ["--steps", "5", "--resume"])
    state = torch.load(out / "ckpt.pt", weights_only=False)
    assert state["step"] == 5 and [h["step"] for h in state["val_history"]] == [3, 5]
    log = (out / "train.log").read_text()
    assert "resume step 3" in log and "final val" in log
    model, cfg = load_checkpoint(out / "ckpt.pt")
    assert cfg.channels == 1 and cfg.hidden == 8
    grown = tmp_path / "grown"
    train.main(common[:3] + [str(grown)] + common[4:] + ["--steps", "2", "--kernel", "9", "--n-layers", "3",
                                                          "--init-from", str(out / "ckpt.pt")])
    _, cfg = load_checkpoint(grown / "ckpt.pt")
    assert (cfg.kernel, cfg.n_layers, cfg.hidden) == (9, 3, 8)


def test_torchrun_two_ranks_train_checkpoint_and_resume(small_shared, tmp_path):
    """The model card's multi-process command, on CPU: `torchrun --nproc_per_node=2 -m models.train ...` (gloo).
    Both ranks run (the world is 2, DDP would hang or fail otherwise), rank 0 alone writes the checkpoint, a resume
    continues from it, and the ranks draw different crops from one seed."""
    import os
    import subprocess
    import sys

    out = tmp_path / "ddp"
    common = ["--config", "gray", "--out", str(out), "--hidden", "8", "--crop", "32", "--batch", "2", "--warmup", "2"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517", "-m",
           "models.train"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]))  # models/
    for steps, extra in ((2, []), (4, ["--resume"])):
        run = subprocess.run(cmd + common + ["--steps", str(steps)] + extra, capture_output=True, text=True,
                             env=env, timeout=300, cwd=Path(__file__).resolve().parents[1])
        assert run.returncode == 0, run.stderr[-3000:]
    log = (out / "train.log").read_text()
    assert "start step 0" in log and "resume step 2" in log and log.count("world 2") == 2
    assert sorted(p.name for p in out.iterdir()) == ["ckpt.pt", "train.log"]  # one checkpoint, rank 0's
    assert torch.load(out / "ckpt.pt", weights_only=False)["step"] == 4
    images = [np.zeros((40, 40, 1), np.uint8) + i for i in range(8)]
    draws = [train.CropSampler(images, 32, train.crop_rng(0, rank, 0)).batch(4) for rank in (0, 1)]
    assert not torch.equal(*draws)  # one seed, two ranks: two streams of crops
