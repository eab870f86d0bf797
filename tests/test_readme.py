"""The README's "## Usage" examples run as written: the Python block, then each shell line; so does the coder's."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _usage_blocks():
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Usage\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w*)\n(.*?)```", section, re.S)


@pytest.fixture
def workdir(shared_data, tmp_path):
    """A folder whose ../shared is the shared data, as the repository root's is."""
    (tmp_path / "shared").symlink_to(shared_data.parent, target_is_directory=True)
    (tmp_path / "work").mkdir()
    return tmp_path / "work"


def test_usage_section_has_python_and_shell():
    kinds = [kind for kind, _ in _usage_blocks()]
    assert kinds == ["python", ""]


def test_usage_examples_run(workdir):
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    for kind, code in _usage_blocks():
        if kind == "python":
            subprocess.run([sys.executable, "-c", code], cwd=workdir, env=env, check=True, timeout=600)
            continue
        for line in code.strip().splitlines():
            done = subprocess.run(line, shell=True, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, (line, done.stderr)
    assert sorted(p.name for p in (workdir / "png").iterdir()) == ["kodim23.png", "kodim24.png"]
    assert (workdir / "heat.png").stat().st_size > 0 and (workdir / "kodim23.lcd").exists()


def test_coder_example_runs():
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## The entropy coder on its own\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 2  # the batch calls, then the block-wise Encoder/Decoder continuing from them
    done = subprocess.run([sys.executable, "-c", "".join(blocks)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "bytes;" in done.stdout
