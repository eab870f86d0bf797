"""Train a PixelCNN on shared/data/train and write resumable checkpoints.

Reproduce the released models (one CPU thread each; see models/MODEL_CARD.md for the exact runs):

    python -m models.train --preset rgb --out runs/rgb --minutes 75
    python -m models.train --preset gray --out runs/gray --minutes 40

Continue an interrupted run with the same command plus --resume. The learning rate follows a cosine schedule over
the budget (--minutes of wall clock, or --steps), so a resumed run picks up where its schedule stopped.
Multi-process / multi-GPU: `torchrun --nproc_per_node=N -m models.train ...` (DistributedDataParallel; gloo on
CPU, nccl on GPU; every rank draws its own random crops, and --batch is per rank).

Data: bsd200 photos are decoded JPEGs, so they are halved with a 2x2 box filter, which averages the 8x8 DCT block
structure away; wikipedia photos are clean and used at full size and halved. Every 10th file of each folder
(sorted by name) is the validation split. Kodak is never read.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from tqdm import tqdm

from models.model import PixelCNN, PixelCNNConfig, bits_per_subpixel, grow_from, save_checkpoint

REPO = Path(__file__).resolve().parents[1]
# Released configurations. Decode cost per pixel, in multiply-adds: 24 causal positions x C x D for the convolution,
# D x D per 1x1 layer, D x n_out for the head: rgb 3456 + 2304 + 2880 = 8640, gray 1152 + 2 x 2304 + 720 = 6480.
PRESETS = {"rgb": dict(channels=3, hidden=48, n_layers=1), "gray": dict(channels=1, hidden=48, n_layers=2)}
VAL_EVERY = 10  # every 10th file of a folder (sorted) is held out
VAL_CROP = 128
VAL_CROPS_PER_IMAGE = 4
VAL_SEED = 1234


def data_dir() -> Path:
    return Path(os.environ.get("LCODEC_SHARED", REPO.parent / "shared")) / "data" / "train"


def load_image(path: Path, channels: int) -> Image.Image:
    """Decode to RGB, or for gray to Pillow's luminance convert("L") of the photo."""
    with Image.open(path) as im:
        im = im.convert("RGB" if channels == 3 else "L")
        im.load()
    return im


def load_split(root: Path, channels: int) -> tuple[list[np.ndarray], dict[str, list[np.ndarray]]]:
    """-> (training images, {folder: validation images}), all uint8 (H, W, C), preprocessed per folder."""
    train, val = [], {}
    for folder in ("bsd200", "wikipedia"):
        files = sorted((root / folder).glob("*.png"))
        if not files:
            raise FileNotFoundError(f"no training images in {root / folder}")
        val[folder] = []
        for i, f in enumerate(files):
            im = load_image(f, channels)
            if folder == "bsd200":
                versions = [im.reduce(2)]  # JPEG origin: 2x2 box filter removes the block grid
            else:
                versions = [im, im.reduce(2)]  # clean: full size and halved
            arrays = [np.asarray(v, dtype=np.uint8).reshape(v.height, v.width, channels) for v in versions]
            if i % VAL_EVERY == 0:
                val[folder].append(arrays[0])
            else:
                train.extend(arrays)
    return train, val


def val_crops(val: dict[str, list[np.ndarray]], crop: int) -> dict[str, torch.Tensor]:
    """Fixed validation crops per folder: (N, C, crop, crop) uint8, the same in every run."""
    rng = np.random.default_rng(VAL_SEED)
    out = {}
    for folder, images in val.items():
        crops = []
        for im in images:
            for _ in range(VAL_CROPS_PER_IMAGE):
                y = rng.integers(0, im.shape[0] - crop + 1)
                x = rng.integers(0, im.shape[1] - crop + 1)
                crops.append(im[y : y + crop, x : x + crop])
        out[folder] = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()
    return out


class CropSampler:
    """Random crops with horizontal flips; an image is drawn with probability proportional to its crop positions."""

    def __init__(self, images: list[np.ndarray], crop: int, rng: np.random.Generator):
        self.images = [im for im in images if im.shape[0] >= crop and im.shape[1] >= crop]
        area = np.array([(im.shape[0] - crop + 1) * (im.shape[1] - crop + 1) for im in self.images], float)
        self.p = area / area.sum()
        self.crop = crop
        self.rng = rng

    def batch(self, n: int) -> torch.Tensor:
        """-> (n, C, crop, crop) uint8."""
        c = self.crop
        out = []
        for i in self.rng.choice(len(self.images), size=n, p=self.p):
            im = self.images[i]
            y = self.rng.integers(0, im.shape[0] - c + 1)
            x = self.rng.integers(0, im.shape[1] - c + 1)
            patch = im[y : y + c, x : x + c]
            out.append(patch[:, ::-1] if self.rng.random() < 0.5 else patch)
        return torch.from_numpy(np.ascontiguousarray(np.stack(out))).permute(0, 3, 1, 2).contiguous()


@torch.no_grad()
def evaluate(model: PixelCNN, crops: dict[str, torch.Tensor], device) -> dict[str, float]:
    """Validation bits per sub-pixel per folder and over all crops (every crop has the same size)."""
    model.eval()
    res, total, n = {}, 0.0, 0
    for folder, x in crops.items():
        bits = [bits_per_subpixel(model, xb.to(device)).item() * len(xb) for xb in x.split(16)]
        res[folder] = sum(bits) / len(x)
        total += sum(bits)
        n += len(x)
    res["all"] = total / n
    model.train()
    return res


def lr_at(frac: float, step: int, args) -> float:
    """Linear warm-up over --warmup steps, then cosine from --lr to --lr * --lr-final over the budget."""
    warm = min(1.0, (step + 1) / args.warmup)
    cos = 0.5 * (1.0 + math.cos(math.pi * min(frac, 1.0)))
    return args.lr * warm * (args.lr_final + (1.0 - args.lr_final) * cos)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=sorted(PRESETS), required=True)
    p.add_argument("--out", type=Path, required=True, help="run folder: ckpt.pt and train.log")
    p.add_argument("--minutes", type=float, default=None, help="wall-clock budget (includes validation)")
    p.add_argument("--steps", type=int, default=None, help="step budget (the schedule uses whichever ends first)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/ckpt.pt")
    p.add_argument("--init-from", type=Path, default=None,
                   help="warm start from a smaller checkpoint (models.model.grow_from); fresh optimizer and schedule")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kernel", type=int, default=7)
    p.add_argument("--hidden", type=int, default=None, help="default: the preset's")
    p.add_argument("--n-layers", type=int, default=None, help="default: the preset's")
    p.add_argument("--n-mix", type=int, default=5)
    p.add_argument("--crop", type=int, default=64)
    p.add_argument("--batch", type=int, default=16, help="crops per step (per rank)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-final", type=float, default=0.03, help="final LR as a fraction of --lr")
    p.add_argument("--warmup", type=int, default=200, help="warm-up steps")
    p.add_argument("--val-minutes", type=float, default=3.0, help="validate (and log) this often")
    p.add_argument("--ckpt-minutes", type=float, default=3.0, help="checkpoint this often")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per process")
    args = p.parse_args(argv)
    if args.minutes is None and args.steps is None:
        p.error("give a budget: --minutes and/or --steps")
    if args.init_from is not None and not args.init_from.is_file():
        p.error(f"--init-from: no checkpoint at {args.init_from}")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1 or "LOCAL_RANK" in os.environ
    if distributed:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
    else:
        rank, world = 0, 1
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    main_proc = rank == 0
    args.out.mkdir(parents=True, exist_ok=True)
    log_file = open(args.out / "train.log", "a") if main_proc else None

    def log(msg: str) -> None:
        if main_proc:
            line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}"
            tqdm.write(line, file=sys.stderr)
            log_file.write(line + "\n")
            log_file.flush()

    ckpt_path = args.out / "ckpt.pt"
    state = None
    if args.resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        cfg = PixelCNNConfig(**state["config"])
    else:
        overrides = {k: getattr(args, k) for k in ("hidden", "n_layers") if getattr(args, k) is not None}
        cfg = PixelCNNConfig(**(PRESETS[args.preset] | overrides), kernel=args.kernel, n_mix=args.n_mix)
    torch.manual_seed(args.seed)
    model = PixelCNN(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    step, seconds, history = 0, 0.0, []
    if state is None and args.init_from is not None:
        src = torch.load(args.init_from, map_location="cpu", weights_only=False)
        grow_from(model, PixelCNNConfig(**src["config"]), src["model"])
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, seconds, history = state["step"], state["train_seconds"], state["val_history"]
    # Crops depend on (seed, rank, step at start): a resumed run is reproducible given its resume points.
    rng = np.random.default_rng([args.seed, rank, step])
    train_images, val_images = load_split(data_dir(), cfg.channels)
    sampler = CropSampler(train_images, args.crop, rng)
    vcrops = val_crops(val_images, VAL_CROP)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"{'resume' if state else 'start'} step {step} {asdict(cfg)} params {n_params} world {world} "
        f"train images {len(sampler.images)} val crops {sum(len(v) for v in vcrops.values())} "
        f"args {' '.join(sys.argv[1:])}")
    net = torch.nn.parallel.DistributedDataParallel(model) if distributed else model

    def progress() -> float:
        fracs = []
        if args.minutes is not None:
            fracs.append(seconds / (60.0 * args.minutes))
        if args.steps is not None:
            fracs.append(step / args.steps)
        return max(fracs)

    def checkpoint() -> None:
        save_checkpoint(ckpt_path, model, step=step, optimizer=opt.state_dict(), train_seconds=seconds,
                        val_history=history,
                        args={k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()})

    def validate() -> None:
        res = evaluate(model, vcrops, device)
        history.append({"step": step, "seconds": round(seconds, 1), **{k: round(v, 4) for k, v in res.items()}})
        log(f"val step {step} min {seconds / 60:.1f} lr {lr_at(progress(), step, args):.2e} train {ema:.4f} "
            + " ".join(f"{k} {v:.4f}" for k, v in res.items()) + " bpsp")

    ema = float("nan")
    bar = tqdm(total=1000, initial=int(1000 * min(progress(), 1.0)), disable=not main_proc, mininterval=10,
               desc=f"{args.preset} bpsp", unit="‰", file=sys.stderr)
    t_last, t_val, t_ckpt = time.time(), time.time(), time.time()
    while True:
        frac = torch.tensor([progress()], dtype=torch.float64)
        if distributed:
            dist.broadcast(frac, 0)  # rank 0's clock decides the schedule and the end for everyone
        frac = frac.item()
        if frac >= 1.0:
            break
        lr = lr_at(frac, step, args)
        for g in opt.param_groups:
            g["lr"] = lr
        x = sampler.batch(args.batch).to(device)
        loss = bits_per_subpixel(net, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        ema = loss.item() if math.isnan(ema) else 0.98 * ema + 0.02 * loss.item()
        now = time.time()
        seconds += now - t_last
        t_last = now
        if main_proc:
            bar.update(int(1000 * min(progress(), 1.0)) - bar.n)
            bar.set_postfix(train=f"{ema:.3f}", val=f"{history[-1]['all']:.3f}" if history else "-", step=step,
                            refresh=False)
            if now - t_val >= 60 * args.val_minutes:
                validate()
                t_val = time.time()
            if now - t_ckpt >= 60 * args.ckpt_minutes:
                checkpoint()
                t_ckpt = time.time()
            seconds += time.time() - t_last  # validation and checkpoints count against the wall-clock budget
            t_last = time.time()
    bar.close()
    if main_proc:
        validate()
        checkpoint()
        log(f"done step {step} min {seconds / 60:.1f} final val {history[-1]['all']:.4f} bpsp")
        log_file.close()
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
