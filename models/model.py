"""The float PixelCNN that lcodec's integer models are exported from.

One causal k x k "type A" convolution over the previous pixels, a few 1x1 layers (residual where the width stays), and a head that gives
every sub-pixel a discretized logistic mixture with channel-linear means (PixelCNN++): R is predicted from the
context, G from the context and R, B from the context, R and G. A single masked convolution keeps the decoder
cheap: each layer is evaluated once per pixel, as soon as the pixels before it are known.

Shapes: B batch, C channels (3 or 1), H, W image size, K mixture components, D hidden width.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# Clamp of the logistic log-scale (natural log, pixel units): a scale of e^-3 ~ 0.05 already puts > 99.99 % of a
# component on one value, and e^6 ~ 400 is flatter than the 256-value range.
LOG_S_MIN = -3.0
LOG_S_MAX = 6.0


@dataclass
class PixelCNNConfig:
    channels: int = 3  # 3 (RGB) or 1 (gray)
    kernel: int = 7  # odd size of the causal convolution
    hidden: int = 48  # width D of the convolution's outputs (and of every 1x1 layer unless widths says otherwise)
    n_layers: int = 1  # 1x1 layers after the convolution
    n_mix: int = 5  # mixture components K
    widths: list[int] | None = None  # the 1x1 layers' widths (n_layers of them); a layer is residual where its
                                     # width equals the one before, else a plain ReLU layer

    def __post_init__(self):
        if self.widths is not None:
            self.widths = [int(w) for w in self.widths]
            if len(self.widths) != self.n_layers or min(self.widths, default=1) < 1:
                raise ValueError(f"widths {self.widths}: expected {self.n_layers} positive widths")

    @property
    def layer_widths(self) -> list[int]:
        """The width of every hidden activation: the convolution's, then each 1x1 layer's."""
        return [self.hidden] + (self.widths if self.widths is not None else [self.hidden] * self.n_layers)

    @property
    def n_out(self) -> int:
        """Head outputs per pixel: [logit, mu_raw, log_s] x K per channel, plus [alpha, beta, gamma] x K for RGB."""
        return 3 * self.n_mix * self.channels + (3 * self.n_mix if self.channels == 3 else 0)


def causal_mask(channels: int, kernel: int) -> torch.Tensor:
    """(1, C, k, k) mask of the type-A convolution: rows above, and the current row left of the centre.

    The current pixel is excluded entirely (all its channels): within-pixel dependence goes through the
    channel-linear means instead.
    """
    r = kernel // 2
    mask = torch.zeros(1, channels, kernel, kernel)
    mask[:, :, :r, :] = 1.0  # dy = -r..-1, dx = -r..r
    mask[:, :, r, :r] = 1.0  # dy = 0, dx = -r..-1
    return mask


class PixelCNN(nn.Module):
    def __init__(self, cfg: PixelCNNConfig):
        super().__init__()
        if cfg.channels not in (1, 3) or cfg.kernel % 2 != 1:
            raise ValueError(f"unsupported config {cfg}")
        self.cfg = cfg
        C, D, K = cfg.channels, cfg.hidden, cfg.n_mix
        self.conv1 = nn.Conv2d(C, D, cfg.kernel, padding=cfg.kernel // 2)  # weight (D, C, k, k)
        widths = cfg.layer_widths
        self.layers = nn.ModuleList(nn.Conv2d(a, b, 1) for a, b in zip(widths, widths[1:]))  # weight (b, a, 1, 1)
        self.residual = [a == b for a, b in zip(widths, widths[1:])]
        self.out = nn.Conv2d(widths[-1], cfg.n_out, 1)  # weight (n_out, D_last, 1, 1)
        self.register_buffer("mask", causal_mask(C, cfg.kernel), persistent=False)  # not in the state_dict
        with torch.no_grad():  # start from broad, centred distributions
            self.out.weight.mul_(0.1)
            self.out.bias.zero_()
            for c in range(C):
                self.out.bias[c * 3 * K + 2 * K : (c + 1) * 3 * K] = 4.0  # log_s = 4: scale ~ 55 pixel values

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: uint8 or integer-valued float (B, C, H, W) in 0..255 -> raw head output (B, n_out, H, W)."""
        xin = (x.float() - 128.0) / 128.0  # (B, C, H, W) in [-1, 1); zero padding == value 128
        r = self.cfg.kernel // 2
        # Rows below the centre are all masked: convolve with the top r + 1 kernel rows only (same result, fewer
        # multiply-adds), padding r rows above, none below, r columns on each side.
        w = (self.conv1.weight * self.mask)[:, :, : r + 1, :]  # (D, C, r + 1, k)
        h = F.relu(F.conv2d(F.pad(xin, (r, r, r, 0)), w, self.conv1.bias))  # (B, D, H, W)
        for layer, residual in zip(self.layers, self.residual):
            h = h + F.relu(layer(h)) if residual else F.relu(layer(h))  # (B, D_i, H, W)
        return self.out(h)  # (B, n_out, H, W)

    def params(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-sub-pixel mixture parameters, each (B, C, K, H, W), in pixel units.

        Returns (log_w, mu, log_s): log mixture weights (log-softmax of the logits), means with the
        channel-linear terms from the pixel's own earlier channels (x_R, x_G) added, and clamped log-scales.
        """
        return split_params(self(x), x)


def split_params(out: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Head output (B, n_out, H, W) + image x (B, C, H, W) -> (log_w, mu, log_s), each (B, C, K, H, W)."""
    B, _, H, W = out.shape
    C = x.shape[1]
    K = (out.shape[1] // (3 * C + (3 if C == 3 else 0)))
    per_c = out[:, : 3 * K * C].reshape(B, C, 3, K, H, W)
    log_w = F.log_softmax(per_c[:, :, 0], dim=2)  # (B, C, K, H, W)
    mu = 128.0 + 128.0 * per_c[:, :, 1]  # (B, C, K, H, W)
    log_s = per_c[:, :, 2].clamp(LOG_S_MIN, LOG_S_MAX)  # (B, C, K, H, W)
    if C == 3:
        coef = out[:, 3 * K * C :].reshape(B, 3, K, H, W)  # alpha, beta, gamma: (B, K, H, W) each
        xc = x.float().unsqueeze(2) - 128.0  # (B, 3, 1, H, W)
        mu_r = mu[:, 0]
        mu_g = mu[:, 1] + coef[:, 0] * xc[:, 0]
        mu_b = mu[:, 2] + coef[:, 1] * xc[:, 0] + coef[:, 2] * xc[:, 1]
        mu = torch.stack([mu_r, mu_g, mu_b], dim=1)
    return log_w, mu, log_s


def log_prob(log_w: torch.Tensor, mu: torch.Tensor, log_s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Natural-log probability of every sub-pixel x (B, C, H, W) under the mixture -> (B, C, H, W).

    P(v) = sum_k w_k [sigmoid((v + 0.5 - mu_k) / s_k) - sigmoid((v - 0.5 - mu_k) / s_k)], with the lower edge of
    v = 0 at -inf and the upper edge of v = 255 at +inf. Stable in float32 via
    sigmoid(a) - sigmoid(b) = sigmoid(a) * sigmoid(-b) * (1 - exp(b - a)) for a > b.
    """
    v = x.float().unsqueeze(2)  # (B, C, 1, H, W)
    inv_s = torch.exp(-log_s)  # (B, C, K, H, W)
    a = (v + 0.5 - mu) * inv_s  # upper edge
    b = (v - 0.5 - mu) * inv_s  # lower edge
    lo = v < 0.5  # v == 0: P = sigmoid(a)
    hi = v > 254.5  # v == 255: P = 1 - sigmoid(b)
    mid = F.logsigmoid(a) + F.logsigmoid(-b) + torch.log(-torch.expm1(-inv_s))  # a - b == 1 / s
    lp = torch.where(lo, F.logsigmoid(a), torch.where(hi, F.logsigmoid(-b), mid))
    return torch.logsumexp(log_w + lp, dim=2)


def bits_per_subpixel(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Mean -log2 P over all sub-pixels of the batch x (B, C, H, W): the training loss.

    model is a PixelCNN or a wrapper that forwards to one (DistributedDataParallel).
    """
    log_w, mu, log_s = split_params(model(x), x)
    return -log_prob(log_w, mu, log_s, x).mean() / math.log(2.0)


@torch.no_grad()
def grow_from(model: PixelCNN, src_cfg: PixelCNNConfig, src_state: dict, new_layer_scale: float = 0.01) -> None:
    """Start a larger model where a trained smaller one left off, computing (nearly) the same function.

    A smaller convolution kernel is embedded at the centre of the larger one (the outer ring starts at zero:
    the extra context is added, not relearned); residual layers beyond the source's start with weights scaled
    by new_layer_scale, so they add almost nothing until trained. Channels, width and mixture size must match.
    """
    cfg = model.cfg
    if src_cfg.widths is not None or cfg.widths is not None:
        raise ValueError("grow_from needs models whose layers all have the same width")
    if (src_cfg.channels, src_cfg.hidden, src_cfg.n_mix) != (cfg.channels, cfg.hidden, cfg.n_mix):
        raise ValueError(f"cannot grow {src_cfg} into {cfg}: channels, hidden and n_mix must match")
    if src_cfg.kernel > cfg.kernel or src_cfg.n_layers > cfg.n_layers:
        raise ValueError(f"cannot grow {src_cfg} into the smaller {cfg}")
    off = (cfg.kernel - src_cfg.kernel) // 2
    w = torch.zeros_like(model.conv1.weight)  # (D, C, k, k)
    w[:, :, off : off + src_cfg.kernel, off : off + src_cfg.kernel] = src_state["conv1.weight"]
    model.conv1.weight.copy_(w)
    model.conv1.bias.copy_(src_state["conv1.bias"])
    for i, layer in enumerate(model.layers):
        if i < src_cfg.n_layers:
            layer.weight.copy_(src_state[f"layers.{i}.weight"])
            layer.bias.copy_(src_state[f"layers.{i}.bias"])
        else:
            layer.weight.mul_(new_layer_scale)
            layer.bias.mul_(new_layer_scale)
    model.out.weight.copy_(src_state["out.weight"])
    model.out.bias.copy_(src_state["out.bias"])


def save_checkpoint(path, model: PixelCNN, **extra) -> None:
    """Write {"config", "model", **extra} atomically (a half-written file never replaces a good one)."""
    state = {"config": dataclasses.asdict(model.cfg), "model": model.state_dict(), **extra}
    tmp = f"{path}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path) -> tuple[PixelCNN, PixelCNNConfig]:
    """Rebuild the model from a checkpoint file alone (its config is stored inside)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    cfg = PixelCNNConfig(**state["config"])
    model = PixelCNN(cfg)
    model.load_state_dict(state["model"])
    model.eval()
    return model, cfg
