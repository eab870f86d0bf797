"""The architectures lcodec's models are trained as, by the name a config file gives, and the config files.

A config (models/configs/NAME.json) names an architecture and its "network" settings; models.train builds the float
model from it, models.release exports and registers what training made of it. A new shape of an existing
architecture (depth, widths, window, mixture size) is a new config file and nothing else: the weight file
describes the integer network as layer records (WEIGHTS.md) that the kernels run as they come.
"""

from __future__ import annotations

import json
from collections import namedtuple
from dataclasses import asdict
from pathlib import Path

from models import export
from models.model import PixelCNN, PixelCNNConfig

CONFIGS = Path(__file__).resolve().parent / "configs"

# config: the dataclass of the "network" settings; build: config -> float torch module; export: (module, config,
# calibrated hidden max, meta, export settings) -> FORMAT 5 arrays; hidden_max: (module, crops) -> float.
Architecture = namedtuple("Architecture", "config build export hidden_max")
ARCHITECTURES = {
    "pixelcnn": Architecture(PixelCNNConfig, PixelCNN, export.export_arrays, export.hidden_max),
}


def config_path(name_or_path):
    """A config file: a path, or the name of one in models/configs."""
    path = Path(name_or_path)
    if path.suffix == ".json" or path.exists():
        return path
    return CONFIGS / f"{name_or_path}.json"


def load_config(name_or_path):
    """The config as a dict, its name defaulting to the file's; ValueError if it names no known architecture."""
    path = config_path(name_or_path)
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        known = ", ".join(sorted(p.stem for p in CONFIGS.glob("*.json")))
        raise ValueError(f"no config {name_or_path!r} (models/configs has: {known})") from None
    config.setdefault("name", path.stem)
    if config.get("architecture") not in ARCHITECTURES:
        raise ValueError(f"{path}: unknown architecture {config.get('architecture')!r} "
                         f"(known: {', '.join(ARCHITECTURES)})")
    return config


def network_config(config, **overrides):
    """The architecture's dataclass for the config's network settings, some replaced."""
    arch = ARCHITECTURES[config["architecture"]]
    return arch.config(**{**config["network"], **{k: v for k, v in overrides.items() if v is not None}})


def same_network(config, cfg):
    """Whether a checkpoint's network settings are the config's."""
    return asdict(network_config(config)) == asdict(cfg)
