"""Where the project's development data lives: shared/ beside the repository, or $LCODEC_SHARED. The training
scripts, the benchmark and the tests all find it here."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_root() -> Path:
    """The shared folder ($LCODEC_SHARED, default ../shared from the repository root)."""
    return Path(os.environ.get("LCODEC_SHARED", REPO.parent / "shared"))


def data_dir(folder: str = "train") -> Path:
    """A data folder of the shared folder: train, kodak, graphics, text."""
    return shared_root() / "data" / folder
