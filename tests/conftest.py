import pytest

from models.data import data_dir


@pytest.fixture(scope="session")
def shared_data():
    """The shared data folder (../shared/data beside the repo, or $LCODEC_SHARED/data)."""
    path = data_dir().parent
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path}")
    return path


@pytest.fixture(scope="session")
def models():
    """The registry, which ships a default model for RGB and for gray (the learned path needs them)."""
    from lcodec.model import registry

    assert {"rgb", "gray"} <= registry.DEFAULT_MODELS.keys()
    return registry
