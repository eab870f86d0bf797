"""Batch coding of large collections on Dask: `encode` and `decode` a tree of files, one Dask task per file.

Needs the `dask` extra (`pip install "lcodec[dask]"`: dask[distributed] and fsspec), imported here only when a batch
runs, so `import lcodec` stays numpy, numba and pillow.

Paths are fsspec URLs (a local folder, file://, s3:// where its package is installed) or globs; the tree below the
source is kept below the destination. Workers read and write the files themselves, except on filesystems that live
in the client's memory (memory://), whose bytes travel through the client. Each worker process builds one
Compressor or Decompressor per settings (`_CODERS`), so models and kernels load once per process, not per file.

Reruns resume: an output that exists is kept, and the file reported as skipped, when its pixels are the input's
(encode: the .lcd header's pixel checksum equals the checksum of the input image's pixels; decode: the checksum of
the existing image's pixels equals the .lcd header's). An output that exists and does not match is a failed file
unless force=True, which overwrites every output. A rerun with other settings (effort, metadata) keeps the files
of the first run.
"""

import glob
import io
import os
import posixpath
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

from lcodec import api, container, files, formats, planning
from lcodec.errors import LcodecError, one_line

FIELDS = ("input", "output", "input_bytes", "output_bytes", "bpsp", "seconds", "skipped", "error")
_CLIENT_FILESYSTEMS = {"memory"}  # one per process: the client reads and writes their files
_CODERS = {}  # (kind, settings) -> Compressor or Decompressor of this process
_CODERS_LOCK = threading.Lock()


class BatchError(LcodecError):
    """A batch that cannot start: no input files, two inputs for one output, no Dask installed."""


def _fsspec():
    try:
        import fsspec
        import distributed  # noqa: F401
    except ImportError as exc:
        raise BatchError(f"batch coding needs the dask extra: pip install \"lcodec[dask]\" ({exc})") from None
    return fsspec


def encode(src, dst, *, client=None, workers=None, effort=api.DEFAULT_EFFORT, model=None, learned=True,
           fallback=True, metadata=True, allow_lossy=False, force=False, threads=None, progress=None):
    """Encode every image below `src` (folder, glob or URL) to .lcd files below `dst`, keeping the tree.

    client: a distributed.Client, a scheduler address, or None for a local cluster of `workers` processes (default:
    the cores) closed afterwards. threads: tile threads per file (default: the machine's cores / its task slots).
    progress(result, files) is called on the client as each file ends. Returns one dict per file (FIELDS), in input
    order; a failed file has its message in "error" and the others go on."""
    settings = (model, learned, fallback, effort, metadata, allow_lossy)
    api.Compressor(model, learned=learned, fallback=fallback, effort=effort)  # bad settings fail once, here
    suffixes = formats.IMAGE_SUFFIXES | {e for e, f in Image.registered_extensions().items() if f in Image.OPEN}
    return _run("encode", settings, src, dst, suffixes, ".lcd", client, workers, force, threads, progress)


def decode(src, dst=None, *, client=None, workers=None, test=False, max_pixels=container.DEFAULT_MAX_PIXELS,
           force=False, threads=None, progress=None):
    """Decode every .lcd file below `src` to .png files below `dst`, keeping the tree; test=True decodes and verifies
    each file and writes nothing (dst unused). Other arguments and the result as for `encode`."""
    return _run("test" if test else "decode", (max_pixels,), src, None if test else dst, {".lcd"}, ".png", client,
                workers, force, threads, progress)


def _run(kind, settings, src, dst, suffixes, suffix, client, workers, force, threads, progress):
    fsspec = _fsspec()
    items = _plan(fsspec, src, dst, suffixes, suffix)
    from distributed import as_completed

    with _client(client, workers) as c:
        slots = _slots(c)
        futures = {c.submit(_task, kind, settings, item, force, threads, slots, pure=False): i
                   for i, item in enumerate(items)}
        results = [None] * len(items)
        for future in as_completed(futures):
            i = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # the worker died or the task could not run: this file failed
                result = _result(items[i])
                result["error"] = one_line(exc)
            data = result.pop("data", None)
            if data is not None:
                try:
                    _put(items[i]["output"], data, force=True)  # the task checked force and existing files
                except Exception as exc:
                    result["error"] = one_line(exc)
            results[i] = result
            if progress is not None:
                progress(result, len(items))
    return results


def _plan(fsspec, src, dst, suffixes, suffix):
    """One item per input file: its URL, its output's URL (its path below src, under dst, with `suffix`), and for
    filesystems in the client's memory its bytes and those of an existing output."""
    fs, path = fsspec.core.url_to_fs(src)
    if glob.has_magic(path):
        parts = path.split("/")
        root = "/".join(parts[:next(i for i, p in enumerate(parts) if glob.has_magic(p))]) or "/"
        files = sorted(p for p, d in fs.glob(path, detail=True).items() if d["type"] == "file")
    elif fs.isdir(path):
        root = path
        files = sorted(p for p in fs.find(path) if posixpath.splitext(p)[1].lower() in suffixes)
    elif fs.isfile(path):
        root, files = posixpath.dirname(path), [path]
    else:
        raise BatchError(f"{src}: no such file or directory")
    if not files:
        raise BatchError(f"{src}: no input files found")
    root = root.rstrip("/")
    dfs, droot = fsspec.core.url_to_fs(dst) if dst is not None else (None, None)
    items = []
    for p in files:
        item = {"input": _url(fs, p), "output": None, "data": None, "existing": None, "via_client": False}
        if _in_client(fs):
            item["data"] = fs.cat_file(p)
        if dfs is not None:
            rel = posixpath.relpath(p, root) if root else p.lstrip("/")
            out = posixpath.join(droot.rstrip("/"), planning.renamed(rel, suffix))
            item["output"] = _url(dfs, out)
            if _in_client(dfs):
                item["via_client"] = True
                if dfs.isfile(out):
                    item["existing"] = dfs.cat_file(out)
        items.append(item)
    if dfs is not None:
        planning.unique([(item["input"], item["output"], item["output"]) for item in items], BatchError)
    return items


def _in_client(fs):
    protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    return bool(protocols & _CLIENT_FILESYSTEMS)


def _url(fs, path):
    """A path as the user reads it: plain for local files, with its protocol for the others."""
    return path if "file" in ({fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)) \
        else fs.unstrip_protocol(path)


@contextmanager
def _client(client, workers):
    """The given client, one connected to a scheduler address, or a local cluster of processes with one task slot
    each (the tile threads are set per task); the last two are closed afterwards."""
    from distributed import Client, LocalCluster

    if client is not None and not isinstance(client, str):
        yield client
        return
    if isinstance(client, str):
        with Client(client) as c:
            yield c
        return
    with LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as c:
        yield c


def _slots(client):
    """Task slots per worker machine, by worker address: a task's tile threads share its machine's cores."""
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:  # older distributed lists every worker
        info = client.scheduler_info()
    workers = info.get("workers", {})
    by_host = {}
    for w in workers.values():
        by_host[w["host"]] = by_host.get(w["host"], 0) + w["nthreads"]
    return {addr: by_host[w["host"]] for addr, w in workers.items()}


def _threads(threads, slots):
    """Tile threads for a task on this worker: as given, else the cores / the machine's task slots (1 if unknown)."""
    if threads:
        return threads
    try:
        from distributed import get_worker

        n = slots.get(get_worker().address)
    except (ImportError, ValueError):
        n = None
    return max(1, (os.cpu_count() or 1) // n) if n else 1


def _coder(kind, settings, threads):
    """This process's Compressor or Decompressor for the settings, built on first use."""
    key = (kind, settings, threads)
    with _CODERS_LOCK:
        if key not in _CODERS:
            if kind == "encode":
                model, learned, fallback, effort, metadata, allow_lossy = settings
                _CODERS[key] = api.Compressor(model, learned=learned, fallback=fallback, effort=effort,
                                              metadata=metadata, allow_lossy=allow_lossy, threads=threads)
            else:
                _CODERS[key] = api.Decompressor(max_pixels=settings[0], threads=threads)
        return _CODERS[key]


def _result(item):
    return {"input": item["input"], "output": item["output"], "input_bytes": None, "output_bytes": None,
            "bpsp": None, "seconds": None, "skipped": False, "error": None}


def _task(kind, settings, item, force, threads, slots):
    """Code one file on a worker; never raises: a failure is the result's "error"."""
    start = time.perf_counter()
    result = _result(item)
    try:
        raw = item["data"] if item["data"] is not None else _get(item["input"])
        result["input_bytes"] = len(raw)
        coder = _coder(kind, settings, _threads(threads, slots))
        if kind == "test":
            coder.decompress(raw)
            result["bpsp"] = api.read_header(raw).bpsp
        else:
            existing = _existing(item)
            if existing is not None and not force:
                lcd, image = (existing, raw) if kind == "encode" else (raw, existing)
                if not _same_pixels(lcd, image):
                    raise FileExistsError(f"{item['output']} exists and does not match its input "
                                          "(use --force / force=True to overwrite)")
                result.update(skipped=True, output_bytes=len(existing), bpsp=api.read_header(lcd).bpsp)
            else:
                if kind == "encode":
                    data, report = coder.compress_report(raw)
                    bpsp = report.bpsp
                else:
                    data, bpsp = _decoded(coder, raw), api.read_header(raw).bpsp
                result.update(output_bytes=len(data), bpsp=bpsp)
                if item["data"] is not None or item["via_client"]:
                    result["data"] = data
                else:
                    _put(item["output"], data, force=True)
    except Exception as exc:  # every input-caused failure becomes a one-line message
        result["error"] = one_line(exc)
    result["seconds"] = time.perf_counter() - start
    return result


def _decoded(decompressor, raw):
    """The PNG bytes of a .lcd, as `lcodec decode` writes them (checked to hold every frame and sample exactly)."""
    return decompressor.decompress_file(raw, "PNG")


def _same_pixels(lcd, image):
    """The resume check: each frame of the image file has the checksum the .lcd header records (no decoding)."""
    try:
        header = api.read_header(lcd)
        frames = formats.read(image, metadata=False, allow_lossy=True).frames
    except Exception:  # a damaged or foreign output matches nothing
        return False
    headers = header.sequence.frames if header.sequence else (header,)
    return len(frames) == len(headers) and all(
        container.pixel_checksum(f.pixels) == h.pixel_sha256 for f, h in zip(frames, headers))


def _existing(item):
    """The bytes of the item's output if it exists, else None."""
    if item["via_client"]:
        return item["existing"]
    import fsspec

    fs, path = fsspec.core.url_to_fs(item["output"])
    return fs.cat_file(path) if fs.isfile(path) else None


def _get(url):
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    return fs.cat_file(path)


def _put(url, data, *, force):
    """Write an output: local files atomically (files.write_atomic), other filesystems in one write, which object
    stores make visible only once complete."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    fs.makedirs(posixpath.dirname(path), exist_ok=True)
    if _url(fs, path) == path:
        files.write_atomic(path, lambda f: f.write(data), force=force)
    else:
        fs.pipe_file(path, data)


def summary(results, seconds):
    """The totals of a batch: files, ok, skipped, failed, bytes in and out, bits per sub-pixel, seconds."""
    ok = [r for r in results if r["error"] is None]
    sized = [r for r in ok if r["bpsp"]]
    lcd_bytes = [r["input_bytes"] if r["input"].endswith(".lcd") else r["output_bytes"] for r in sized]
    subpixels = sum(8 * b / r["bpsp"] for b, r in zip(lcd_bytes, sized))
    return {"files": len(results), "ok": len(ok), "skipped": sum(r["skipped"] for r in ok),
            "failed": len(results) - len(ok), "bytes_in": sum(r["input_bytes"] or 0 for r in ok),
            "bytes_out": sum(r["output_bytes"] or 0 for r in ok),
            "bpsp": 8 * sum(lcd_bytes) / subpixels if subpixels else None, "seconds": seconds}


def table(totals):
    """The --dask summary: a header line and a line of values."""
    bpsp = f"{totals['bpsp']:.4f}" if totals["bpsp"] is not None else "-"
    cells = [("files", totals["files"]), ("ok", totals["ok"]), ("skipped", totals["skipped"]),
             ("failed", totals["failed"]), ("bytes in", totals["bytes_in"]), ("bytes out", totals["bytes_out"]),
             ("bpsp", bpsp), ("seconds", f"{totals['seconds']:.2f}")]
    widths = [max(len(k), len(str(v))) for k, v in cells]
    return "\n".join("  ".join(str(c[i]).rjust(w) for c, w in zip(cells, widths)) for i in (0, 1))


def write_report(path, results):
    """--report: the per-file results as JSON (a list of objects) or CSV (a header row, then one row a file)."""
    import csv
    import json

    if Path(path).suffix.lower() == ".json":
        text = json.dumps(results, indent=1) + "\n"
    else:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(results)
        text = buf.getvalue()
    files.write_atomic(path, lambda f: f.write(text.encode()), force=True)
