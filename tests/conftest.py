import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LCODEC_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_data():
    """The shared data folder (../shared/data beside the repo, or $LCODEC_SHARED/data)."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path}")
    return path
