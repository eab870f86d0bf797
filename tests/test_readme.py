"""The README's examples run as written: its first command (on the repository alone), the "## Usage" Python block
and each shell line, and the coder's."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
INSTALL = "pip install . && "  # how the first command starts


def readme_command(name):
    """The command in the code block after README's <!-- command: NAME --> marker, found as .ci/run finds it."""
    blocks = re.findall(rf"^<!-- command: {name} -->\n```\n(.*?)\n", README.read_text(encoding="utf-8"), re.M)
    assert len(blocks) == 1, blocks
    return blocks[0]


def _first_command():
    line = readme_command("first")
    assert line.startswith(INSTALL), line
    return line


def test_ci_finds_both_commands():
    assert readme_command("test").startswith("pip install ") and "pytest" in readme_command("test")
    script = (REPO / ".ci" / "run").read_text()
    assert "readme_command first" in script and "readme_command test" in script


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


def test_first_command_needs_only_the_repository(tmp_path):
    """The first command past its install, in a folder that has only the repository's examples/ (no ../shared):
    the image it encodes is in the repository and comes back exact. .ci/run runs it whole in a fresh clone."""
    command = _first_command()
    (source, lcd), = re.findall(r"lcodec encode (\S+) -o (\S+)", command)
    (lcd_again, output), = re.findall(r"lcodec decode (\S+) -o (\S+)", command)
    assert lcd_again == lcd and "shared" not in command and (REPO / source).is_file()
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    done = subprocess.run(command.removeprefix(INSTALL), shell=True, cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert np.array_equal(np.asarray(Image.open(tmp_path / output)), np.asarray(Image.open(REPO / source)))


def test_usage_section_has_python_and_shell():
    kinds = [kind for kind, _ in _usage_blocks()]
    assert kinds == ["python", "", ""]  # the API, the shell, batches on Dask


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
    assert len(list((workdir / "lcd-dask").glob("*.lcd"))) == 24 and (workdir / "encode.csv").exists()


def test_coder_example_runs():
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## The entropy coder on its own\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 2  # the batch calls, then the block-wise Encoder/Decoder continuing from them
    done = subprocess.run([sys.executable, "-c", "".join(blocks)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "bytes;" in done.stdout
