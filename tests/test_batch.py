"""Batch coding on Dask (lcodec.batch, `--dask`): a real local cluster of two worker processes, the same bytes as
the local CLI, per-file results, a bad file among good ones, resumable reruns, memory:// paths, the report.

Dask is in the test extra: without it this module fails, it does not skip."""

import csv
import json
import subprocess
import sys

import distributed
import fsspec
import numpy as np
import pytest
from PIL import Image

from lcodec import batch
from lcodec.cli import main

FILES = ["p0.png", "a/p1.png", "a/p2.png", "a/b/p3.png", "a/b/p4.png", "a/b/p5.png"]
BAD = "a/x.png"


def tree(folder):
    """{path below folder: bytes} of every file below it."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def client():
    """Two worker processes with one task slot each; kept warm for the module (a worker's first file loads the
    model and kernels)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def photos(shared_data, tmp_path_factory):
    """A tree of 128x128 crops of training photos and one garbage x.png, and the local CLI's `encode -r` of it."""
    root = tmp_path_factory.mktemp("batch")
    src = root / "src"
    sources = sorted((shared_data / "train" / "wikipedia").glob("*.png"))
    for i, rel in enumerate(FILES):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        with Image.open(sources[i]) as im:
            im.convert("RGB").crop((64, 64, 192, 192)).save(src / rel)
    (src / BAD).write_bytes(b"not an image")
    assert main(["encode", str(src), "-r", "-o", str(root / "cli"), "-e", "1", "-q"]) == 1  # x.png fails
    return src, root / "cli"


def by_input(results, src):
    return {r["input"][len(str(src)) + 1:]: r for r in results}


def test_tree_identical_to_the_cli_and_resumable(client, photos, tmp_path):
    src, cli_out = photos
    out = tmp_path / "lcd"
    results = batch.encode(str(src), str(out), client=client, effort=1)
    assert list(results[0]) == list(batch.FIELDS)
    res = by_input(results, src)
    assert sorted(res) == sorted(FILES + [BAD])
    assert res[BAD]["error"] == "not an image file that lcodec can read" and res[BAD]["output_bytes"] is None
    for rel in FILES:
        r = res[rel]
        assert r["error"] is None and not r["skipped"], r
        assert r["output"] == str(out / rel.replace(".png", ".lcd"))
        assert r["input_bytes"] == (src / rel).stat().st_size
        assert r["output_bytes"] == (out / rel.replace(".png", ".lcd")).stat().st_size
        assert 0 < r["bpsp"] < 8 and r["seconds"] > 0
    assert tree(out) == tree(cli_out)  # byte for byte, no temporary files left

    again = by_input(batch.encode(str(src), str(out), client=client, effort=1), src)
    assert all(again[rel]["skipped"] and again[rel]["error"] is None for rel in FILES)
    assert again[BAD]["error"] == "not an image file that lcodec can read"
    assert tree(out) == tree(cli_out)

    back = tmp_path / "png"
    decoded = batch.decode(str(out), str(back), client=client)
    assert all(r["error"] is None for r in decoded) and len(decoded) == len(FILES)
    assert sorted(tree(back)) == sorted(FILES)
    for rel in FILES:
        assert np.array_equal(np.asarray(Image.open(back / rel)), np.asarray(Image.open(src / rel)))
    assert all(r["skipped"] for r in batch.decode(str(out), str(back), client=client))

    tested = batch.decode(str(out), client=client, test=True)
    assert all(r["error"] is None and r["output"] is None and r["bpsp"] > 0 for r in tested)


def test_an_output_that_does_not_match_fails_unless_forced(client, photos, tmp_path):
    src, cli_out = photos
    out = tmp_path / "lcd"
    (out / "a").mkdir(parents=True)
    (out / "a" / "p1.lcd").write_bytes(b"someone else's file")
    res = by_input(batch.encode(str(src), str(out), client=client, effort=1), src)
    assert res["a/p1.png"]["error"] == f"{out / 'a' / 'p1.lcd'} exists and does not match its input " \
        "(use --force / force=True to overwrite)"
    assert (out / "a" / "p1.lcd").read_bytes() == b"someone else's file"
    assert all(res[rel]["error"] is None for rel in FILES if rel != "a/p1.png")
    res = by_input(batch.encode(str(src), str(out), client=client, effort=1, force=True), src)
    assert all(res[rel]["error"] is None and not res[rel]["skipped"] for rel in FILES)
    assert tree(out) == tree(cli_out)


def test_memory_source_and_destination(client, photos, tmp_path):
    src, cli_out = photos
    mem = fsspec.filesystem("memory")
    for rel in FILES:
        mem.pipe_file(f"/batch-src/{rel}", (src / rel).read_bytes())
    results = batch.encode("memory://batch-src", "memory://batch-lcd", client=client, effort=1)
    assert [r["input"] for r in results] == sorted(f"memory:///batch-src/{rel}" for rel in FILES)
    assert all(r["error"] is None for r in results)
    assert {rel: mem.cat_file(f"/batch-lcd/{rel}") for rel in tree(cli_out)} == tree(cli_out)
    assert all(r["skipped"] for r in batch.encode("memory://batch-src", "memory://batch-lcd", client=client))
    assert all(r["error"] is None for r in batch.decode("memory://batch-lcd", str(tmp_path / "png"), client=client))
    for rel in FILES:
        assert np.array_equal(np.asarray(Image.open(tmp_path / "png" / rel)), np.asarray(Image.open(src / rel)))
    mem.rm("/batch-src", recursive=True)
    mem.rm("/batch-lcd", recursive=True)


def test_real_deep_images(client, shared_data, tmp_path):
    """Real 16-bit gray and colour crops coded on the cluster (RESIDUAL at the default effort) and decoded back: the
    PNGs, read by imagecodecs, hold every sample at full depth."""
    imagecodecs = pytest.importorskip("imagecodecs")
    src = tmp_path / "deep"
    src.mkdir()
    originals = {}
    for name in ("seg3d_heart_IM-0001-0010.png", "neubias_hela-cells_rgb.png", "riocolor_rgb16.png"):
        arr = np.ascontiguousarray(imagecodecs.png_decode((shared_data / "deep" / name).read_bytes())[200:296, 200:328])
        (src / name).write_bytes(imagecodecs.png_encode(arr))
        originals[name] = arr
    assert all(r["error"] is None for r in batch.encode(str(src), str(tmp_path / "lcd"), client=client))
    assert all(r["error"] is None for r in batch.decode(str(tmp_path / "lcd"), str(tmp_path / "png"), client=client))
    for name, arr in originals.items():
        back = imagecodecs.png_decode((tmp_path / "png" / name).read_bytes())
        assert back.dtype == np.uint16 and np.array_equal(back, arr)


def test_glob_keeps_the_tree_below_its_fixed_part(client, photos, tmp_path):
    src, cli_out = photos
    results = batch.encode(f"file://{src}/a/b/*.png", str(tmp_path / "lcd"), client=client, effort=1)
    assert all(r["error"] is None for r in results)
    assert tree(tmp_path / "lcd") == {rel[4:]: data for rel, data in tree(cli_out).items() if rel.startswith("a/b/")}


def test_cli_summary_report_and_exit_status(client, photos, tmp_path, capsys):
    src, cli_out = photos
    address = client.scheduler.address
    argv = ["encode", str(src), "-o", str(tmp_path / "lcd"), "--dask", address, "-e", "1", "-q"]
    assert main(argv + ["--report", str(tmp_path / "r.json")]) == 1
    out, err = capsys.readouterr()
    assert err.strip() == f"lcodec: error: {src / BAD}: not an image file that lcodec can read"
    head, values = out.strip().splitlines()
    assert head.split() == ["files", "ok", "skipped", "failed", "bytes", "in", "bytes", "out", "bpsp", "seconds"]
    assert values.split()[:4] == ["7", "6", "0", "1"]
    report = json.loads((tmp_path / "r.json").read_text())
    assert len(report) == 7 and {tuple(r) for r in report} == {batch.FIELDS}
    assert tree(tmp_path / "lcd") == tree(cli_out)

    assert main(argv + ["--report", str(tmp_path / "r.csv")]) == 1  # the rerun skips the six
    out, _ = capsys.readouterr()
    assert out.strip().splitlines()[1].split()[:4] == ["7", "6", "6", "1"]
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert len(rows) == 7 and sum(r["skipped"] == "True" for r in rows) == 6

    assert main(["decode", "-t", str(tmp_path / "lcd"), "--dask", address, "-q"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[1].split()[:4] == ["6", "6", "0", "0"]
    assert main(["decode", str(tmp_path / "lcd"), "-o", str(tmp_path / "png"), "--dask", address, "-q"]) == 0
    capsys.readouterr()
    assert sorted(tree(tmp_path / "png")) == sorted(FILES)


@pytest.mark.parametrize("argv, message", [
    (["encode", "a", "b", "-o", "o", "--dask", "local"], "--dask takes one input: a directory, glob or URL"),
    (["encode", "a", "--dask", "local"], "--dask needs -o DIR (a directory or URL)"),
    (["encode", "a", "-o", "o", "--dask", "local", "--rm"], "--rm is not available with --dask"),
    (["encode", "a", "-o", "o", "--dask", "local", "--report", "r.txt"],
     "--report r.txt: use a .json or .csv file name"),
])
def test_cli_usage_errors(capsys, argv, message):
    assert main(argv) == 2
    assert capsys.readouterr().err == f"lcodec: error: {message}\n"


def test_local_cluster_started_and_closed(photos, tmp_path, capsys):
    """--dask local starts its own cluster (here one worker, fallback methods only, to stay quick) and closes it."""
    src, _ = photos
    status = main(["encode", str(src / "a" / "b"), "-o", str(tmp_path / "lcd"), "--dask", "local", "-j", "1",
                   "--no-learned", "-q"])
    assert status == 0, capsys.readouterr().err
    assert sorted(tree(tmp_path / "lcd")) == ["p3.lcd", "p4.lcd", "p5.lcd"]


def test_missing_source_is_one_error(client, tmp_path):
    with pytest.raises(batch.BatchError, match="no such file or directory"):
        batch.encode(str(tmp_path / "nothing"), str(tmp_path / "out"), client=client)


def test_tile_threads_share_the_cores(client):
    """On a worker: the cores over the machine's task slots (two here); as given if given."""
    cores = client.run(lambda: __import__("os").cpu_count())
    expected = max(1, next(iter(cores.values())) // 2)
    assert client.submit(batch._threads, None, batch._slots(client), pure=False).result() == expected
    assert batch._threads(3, {}) == 3
    assert batch._threads(None, {}) == 1  # not on a worker: unknown, one thread


def test_import_lcodec_leaves_dask_alone():
    code = "import sys, lcodec, lcodec.cli, lcodec.batch; print(sorted({'dask', 'distributed', 'fsspec'} & " \
        "set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
