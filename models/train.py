"""Train a PixelCNN on shared/data/train and write resumable checkpoints.

A config (models/configs/NAME.json, or a path) gives the network and the run's settings; flags override them:

    python -m models.train --config rgb --out runs/rgb            # rgb-v1's recipe: 72 minutes from scratch
    python -m models.train --config gray --out runs/gray
    python -m models.train --config rgb-v5 --out runs/rgb5         # the run behind the default RGB model

(models/MODEL_CARD.md has the exact runs.)
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

from models.architectures import ARCHITECTURES, load_config, network_config
from models.data import data_dir
from models.model import bits_per_subpixel, grow_from, save_checkpoint

REPO = Path(__file__).resolve().parents[1]
# What a run uses where neither its config's "train" entry nor a flag says otherwise.
TRAIN_DEFAULTS = {"seed": 0, "crop": 64, "batch": 16, "lr": 1e-3, "lr_final": 0.03, "warmup": 200,
                  "val_minutes": 3.0, "ckpt_minutes": 3.0, "threads": 1, "minutes": None, "steps": None,
                  "init_from": None}
VAL_EVERY = 10  # every 10th file of a folder (sorted) is held out
VAL_CROP = 128
VAL_CROPS_PER_IMAGE = 4
VAL_SEED = 1234


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


def crop_rng(seed: int, rank: int, step: int) -> np.random.Generator:
    """The crops' generator of a rank: each rank draws its own crops, and a resumed run is reproducible given its
    resume points."""
    return np.random.default_rng([seed, rank, step])


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
def evaluate(model: torch.nn.Module, crops: dict[str, torch.Tensor], device) -> dict[str, float]:
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
    p.add_argument("--config", required=True, help="a config name in models/configs (rgb, gray, rgb-v5...) or path")
    p.add_argument("--out", type=Path, required=True, help="run folder: ckpt.pt and train.log")
    p.add_argument("--minutes", type=float, help="wall-clock budget (includes validation)")
    p.add_argument("--steps", type=int, help="step budget (the schedule uses whichever ends first)")
    p.add_argument("--resume", action="store_true", help="continue from <out>/ckpt.pt")
    p.add_argument("--init-from", type=Path,
                   help="warm start from a smaller checkpoint (models.model.grow_from); fresh optimizer and schedule")
    p.add_argument("--seed", type=int)
    p.add_argument("--kernel", type=int, help="network overrides (default: the config's)")
    p.add_argument("--hidden", type=int)
    p.add_argument("--n-layers", type=int)
    p.add_argument("--n-mix", type=int)
    p.add_argument("--crop", type=int)
    p.add_argument("--batch", type=int, help="crops per step (per rank)")
    p.add_argument("--lr", type=float)
    p.add_argument("--lr-final", type=float, help="final LR as a fraction of --lr")
    p.add_argument("--warmup", type=int, help="warm-up steps")
    p.add_argument("--val-minutes", type=float, help="validate (and log) this often")
    p.add_argument("--ckpt-minutes", type=float, help="checkpoint this often")
    p.add_argument("--threads", type=int, help="torch CPU threads per process")
    args = p.parse_args(argv)
    try:
        args.config = load_config(args.config)
    except ValueError as exc:
        p.error(str(exc))
    for key, default in TRAIN_DEFAULTS.items():
        if getattr(args, key) is None:
            value = args.config.get("train", {}).get(key, default)
            if key == "init_from" and value is not None:
                value = REPO / value
            setattr(args, key, value)
    if args.minutes is None and args.steps is None:
        p.error("give a budget: --minutes and/or --steps (or a config with one)")
    if args.init_from is not None and not Path(args.init_from).is_file():
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
        cfg = ARCHITECTURES[args.config["architecture"]].config(**state["config"])
    else:
        cfg = network_config(args.config, kernel=args.kernel, hidden=args.hidden, n_layers=args.n_layers,
                             n_mix=args.n_mix)
    torch.manual_seed(args.seed)
    model = ARCHITECTURES[args.config["architecture"]].build(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    step, seconds, history = 0, 0.0, []
    if state is None and args.init_from is not None:
        src = torch.load(args.init_from, map_location="cpu", weights_only=False)
        grow_from(model, ARCHITECTURES[args.config["architecture"]].config(**src["config"]), src["model"])
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, seconds, history = state["step"], state["train_seconds"], state["val_history"]
    rng = crop_rng(args.seed, rank, step)
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
                        args={k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                              if k != "config"}, config_name=args.config["name"])

    def validate() -> None:
        res = evaluate(model, vcrops, device)
        history.append({"step": step, "seconds": round(seconds, 1), **{k: round(v, 4) for k, v in res.items()}})
        log(f"val step {step} min {seconds / 60:.1f} lr {lr_at(progress(), step, args):.2e} train {ema:.4f} "
            + " ".join(f"{k} {v:.4f}" for k, v in res.items()) + " bpsp")

    ema = float("nan")
    bar = tqdm(total=1000, initial=int(1000 * min(progress(), 1.0)), disable=not main_proc, mininterval=10,
               desc=f"{args.config['name']} bpsp", unit="‰", file=sys.stderr)
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
        dist.barrier()  # rank 0 validates and checkpoints first: a rank tearing gloo down alone can abort
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
