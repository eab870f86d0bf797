import os

import pytest
from PIL import Image

from models.data import data_dir

# CI sets this: there a missing data folder fails the run instead of skipping half the suite.
REQUIRE_DATA = os.environ.get("LCODEC_REQUIRE_DATA") == "1"


def pytest_sessionstart(session):
    if REQUIRE_DATA and not data_dir().parent.is_dir():
        raise pytest.UsageError(f"LCODEC_REQUIRE_DATA=1 but the shared data is not at {data_dir().parent} "
                                "(clone it beside the repository as shared/, or set LCODEC_SHARED)")


@pytest.fixture(scope="session")
def shared_data():
    """The shared data folder (../shared/data beside the repo, or $LCODEC_SHARED/data)."""
    path = data_dir().parent
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path}: clone it beside the repository as shared/ "
                    "or set LCODEC_SHARED (LCODEC_REQUIRE_DATA=1 makes this an error)")
    return path


@pytest.fixture(scope="session")
def models():
    """The registry, which ships a default model for RGB and for gray (the learned path needs them)."""
    from lcodec.model import registry

    assert {"rgb", "gray"} <= registry.DEFAULT_MODELS.keys()
    return registry


@pytest.fixture
def small_shared(shared_data, tmp_path, monkeypatch):
    """A shared folder with a few training images (and Kodak, for the golden files) as $LCODEC_SHARED."""
    data = tmp_path / "shared" / "data"
    for folder, box in [("bsd200", None), ("wikipedia", (0, 0, 300, 280))]:
        (data / "train" / folder).mkdir(parents=True)
        for f in sorted((shared_data / "train" / folder).glob("*.png"))[:2]:
            im = Image.open(f)
            (im.crop(box) if box else im).save(data / "train" / folder / f.name)
    (data / "kodak").symlink_to(shared_data / "kodak", target_is_directory=True)
    monkeypatch.setenv("LCODEC_SHARED", str(tmp_path / "shared"))
    return data
