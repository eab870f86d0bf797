import pytest

from models.data import data_dir


@pytest.fixture(scope="session")
def shared_data():
    """The shared data folder (../shared/data beside the repo, or $LCODEC_SHARED/data)."""
    path = data_dir().parent
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path}")
    return path
