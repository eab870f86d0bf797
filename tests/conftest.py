import hashlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The package under test is the one installed (by a plain `pip install .`, what pip copied; by an editable one, the
# sources): the repository root, which `python -m pytest` puts first, goes last, where it still provides models/
# and bench/; child processes do not put their working folder first either.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT] + [str(ROOT)]
os.environ["PYTHONSAFEPATH"] = "1"

import pytest  # noqa: E402
from PIL import Image  # noqa: E402

import lcodec  # noqa: E402
from models.data import data_dir  # noqa: E402

# CI sets this: there a missing data folder, the sources standing in for the installed package, and any skip
# but the slow tier's fail the run instead of passing a smaller suite.
CI = os.environ.get("LCODEC_CI") == "1"
SLOW_TIER = "LCODEC_SLOW=1"  # in the reason of every slow-tier skip
_SKIPPED = []
PACKAGE = Path(lcodec.__file__).resolve().parent


def _shipped(package):
    """{relative path: sha256} of the package's modules and data, as the sources have them or pip installed them."""
    return {p.relative_to(package).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(package.rglob("*")) if p.suffix in (".py", ".npz", ".json") and p.is_file()}


def pytest_report_header(config):
    return f"lcodec under test: {PACKAGE}"


def pytest_sessionstart(session):
    if CI and not data_dir().parent.is_dir():
        raise pytest.UsageError(f"LCODEC_CI=1 but the shared data is not at {data_dir().parent} "
                                "(clone it beside the repository as shared/, or set LCODEC_SHARED)")
    if PACKAGE == ROOT / "lcodec":
        if CI:
            raise pytest.UsageError(f"LCODEC_CI=1 but lcodec is imported from the sources ({PACKAGE}), not installed")
        return
    installed, sources = _shipped(PACKAGE), _shipped(ROOT / "lcodec")
    if installed != sources:  # stale, or packaging left something out
        differ = sorted(k for k in installed.keys() | sources.keys() if installed.get(k) != sources.get(k))
        raise pytest.UsageError(f"the installed lcodec ({PACKAGE}) is not the sources: {', '.join(differ[:5])} "
                                "differ (pip install . again, or pip install -e . while changing the code)")


def pytest_runtest_logreport(report):
    if CI and report.skipped and SLOW_TIER not in str(report.longrepr):
        _SKIPPED.append(f"{report.nodeid}: {report.longrepr[-1] if isinstance(report.longrepr, tuple) else ''}")


def pytest_sessionfinish(session, exitstatus):
    if _SKIPPED:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if _SKIPPED:
        terminalreporter.write_line(f"LCODEC_CI=1: {len(_SKIPPED)} test(s) skipped outside the slow tier, which "
                                    "fails the run:", red=True)
        for line in _SKIPPED:
            terminalreporter.write_line(f"  {line}")


@pytest.fixture(scope="session")
def shared_data():
    """The shared data folder (../shared/data beside the repo, or $LCODEC_SHARED/data)."""
    path = data_dir().parent
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path}: clone it beside the repository as shared/ "
                    "or set LCODEC_SHARED (LCODEC_CI=1 makes this an error)")
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
