"""Release a model: `python -m models.release NAME` (NAME: a config in models/configs).

One command does every step: export the checkpoint the config names to the integer weight file (WEIGHTS.md),
measure it on the validation crops (float, integer network, integer with the adaptive stage), write it into
lcodec/weights and list it in MANIFEST.json (the config's "default" makes it that kind's default), write its golden
files into tests/golden, and regenerate the table of released models in models/MODEL_CARD.md. A name that is
already registered is refused: released files are never replaced. --dry-run exports and measures only.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from lcodec import stages
from lcodec.model import registry
from lcodec.model.weights import KIND_NAMES, Net
from models.architectures import ARCHITECTURES, load_config, same_network
from models.data import data_dir
from models.export import calibration_crops, float_bits, integer_bits, npz_bytes
from models.train import VAL_CROP, load_split, val_crops

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden"
CARD = REPO / "models" / "MODEL_CARD.md"
CARD_BEGIN = "<!-- BEGIN RELEASES (written by python -m models.release) -->"
CARD_END = "<!-- END RELEASES -->"


def load_model(config, checkpoint):
    """(float module, network config, training step) of a checkpoint; ValueError unless it is the config's network."""
    arch = ARCHITECTURES[config["architecture"]]
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    cfg = arch.config(**state["config"])
    if not same_network(config, cfg):
        raise ValueError(f"{checkpoint} holds {asdict(cfg)}, the config says {config['network']}")
    model = arch.build(cfg)
    model.load_state_dict(state["model"])
    model.eval()
    return model, cfg, state.get("step")


def export(config, checkpoint, name, *, measure=True, log=print):
    """The weight file bytes of the config's checkpoint, released as `name`, its measurements in its meta."""
    torch.set_num_threads(1)
    arch = ARCHITECTURES[config["architecture"]]
    model, cfg, step = load_model(config, checkpoint)
    train, val = load_split(data_dir(), cfg.channels)
    settings = dict(config.get("export", {}))
    hmax = settings.pop("hidden_max", None)
    if hmax is None:  # float32 sums vary in the last digits with threads and builds: keep four
        hmax = float(f"{calibrate(arch, model, train, cfg.channels):.4g}")
    meta = {"name": name, "architecture": config["architecture"], "config": asdict(cfg), "step": step,
            "calibrated_hidden_max": hmax, "export": settings}
    arrays = arch.export(model, cfg, hmax, meta, settings)
    if measure:
        t0 = time.perf_counter()
        net = Net(arrays, name=name, sha256="")
        crops = torch.cat(list(val_crops(val, VAL_CROP).values()))
        meta["validation_bpsp"] = {"float": round(float_bits(model, crops), 4),
                                   "integer": round(integer_bits(net.replace(adapt_shift=0), crops), 4),
                                   "integer_adaptive": round(integer_bits(net, crops), 4), "crops": len(crops)}
        log(f"{name}: {len(crops)} validation crops {VAL_CROP}x{VAL_CROP}: {meta['validation_bpsp']} "
            f"[{time.perf_counter() - t0:.1f} s]")
        arrays = arch.export(model, cfg, hmax, meta, settings)
    return npz_bytes(arrays)


def calibrate(arch, model, train, channels):
    """The largest hidden activation of the model over fixed crops of the training images."""
    return arch.hidden_max(model, calibration_crops(train, channels))


def card_table(previous=""):
    """The card's table of released models, from the manifest and each weight file's meta; a model whose meta has
    no validation figures (released before this command) keeps those of the previous table."""
    recorded = {}
    for line in previous.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 1:
            recorded[cells[0]] = cells[-1]
    rows = ["| model | status | default | channels | window | layers | parameters | multiply-adds / pixel | "
            "validation bpsp (float / integer / + adaptive) |",
            "|---|---|---|---|---|---|---|---|---|"]
    defaults = {v: k for k, v in registry.DEFAULT_MODELS.items()}
    for name, entry in sorted(registry.MODELS.items(), key=lambda kv: (kv[0].split("-")[0], _version(kv[0]))):
        net = registry.load(name)
        layers = " ".join(f"{KIND_NAMES[k]} {n}" for k, _, n in net.layers)
        madds = sum(n_in * n_out for _, n_in, n_out in net.layers)
        params = madds + sum(n_out for _, _, n_out in net.layers)
        v = net.meta.get("validation_bpsp")
        figures = (f"{v['float']:.4f} / {v['integer']:.4f} / {v['integer_adaptive']:.4f}" if v
                   else recorded.get(name, "—"))
        rows.append(f"| {name} | {entry['status']} | {defaults.get(name, '')} | {net.channels} | "
                    f"{net.kernel}x{net.kernel} | {layers} | {params:,} | {madds:,} | {figures} |")
    return "\n".join(rows)


def _version(name):
    return [int(p) for p in re.findall(r"\d+", name.split("-v", 1)[-1])]


def write_card(path=CARD):
    text = Path(path).read_text()
    if CARD_BEGIN not in text or CARD_END not in text:
        raise ValueError(f"{path} has no {CARD_BEGIN!r} ... {CARD_END!r} block")
    head, rest = text.split(CARD_BEGIN, 1)
    previous, tail = rest.split(CARD_END, 1)
    Path(path).write_text(f"{head}{CARD_BEGIN}\n{card_table(previous)}\n{CARD_END}{tail}")


def write_golden(name, folder=GOLDEN):
    """The golden files of the new model (tests/golden/make_golden.py's model_cases)."""
    spec = importlib.util.spec_from_file_location("make_golden", GOLDEN / "make_golden.py")
    make_golden = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_golden)
    net = registry.load(name)
    make_golden.write(make_golden.model_cases(data_dir().parent, name, net.channels, stages.model_stages(net)), folder)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("config", help="config name in models/configs, or a path")
    p.add_argument("--name", help="release name (default: the config's)")
    p.add_argument("--checkpoint", type=Path, help="default: the config's")
    p.add_argument("--status", default="released", choices=registry.STATUSES)
    p.add_argument("--no-measure", action="store_true", help="skip the validation measurements")
    p.add_argument("--dry-run", action="store_true", help="export and measure only; write nothing")
    p.add_argument("--weights-dir", type=Path, help="default: lcodec/weights")
    p.add_argument("--golden-dir", type=Path, default=GOLDEN)
    p.add_argument("--card", type=Path, default=CARD)
    args = p.parse_args(argv)
    try:
        config = load_config(args.config)
    except ValueError as exc:
        p.error(str(exc))
    name = args.name or config["name"]
    checkpoint = args.checkpoint or (REPO / config["checkpoint"] if "checkpoint" in config else None)
    if checkpoint is None or not Path(checkpoint).is_file():
        p.error(f"no checkpoint at {checkpoint} (give --checkpoint or the config's \"checkpoint\")")
    weights_dir = args.weights_dir or registry.WEIGHTS_DIR
    if name in registry.read_manifest(weights_dir)[0]:
        p.error(f"model {name!r} is already registered; released files are never replaced")
    data = export(config, checkpoint, name, measure=not args.no_measure)
    if args.dry_run:
        print(f"{name}: {len(data)} bytes (dry run: nothing written)")
        return 0
    default = config.get("default") if args.status == "released" else None
    filename, sha = registry.add(name, data, status=args.status, default=default, weights_dir=weights_dir)
    print(f"registered {name} -> {Path(weights_dir) / filename} sha256 {sha}")
    if Path(weights_dir).resolve() != registry.WEIGHTS_DIR.resolve():
        registry.use(weights_dir)
    write_golden(name, args.golden_dir)
    write_card(args.card)
    print(f"golden files in {args.golden_dir}; table of released models in {args.card}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
