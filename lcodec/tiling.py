"""The tiles of one image, coded and decoded in worker threads (the Numba kernels release the GIL).

Encoding keeps, for each plane group of each tile, the smallest of the chosen stage's payload (`stages.choose`;
at effort 3 also the other stages without a model, `stages.alternatives`) and the fallback's. Below effort 3 the
fallback tries LZMA, the slow one, only where a quick DEFLATE came within `fallback.REACH` of the stage's payload
and, on photo-like data, where the entropy of the filtered bytes leaves LZMA a chance; at effort 3 it tries every
method. So a file is never much larger than its best path. Decoding checks each tile against its CRC as soon as it
is decoded, and the first error stops every thread before its next tile."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from lcodec import container, fallback, stages
from lcodec.errors import ChecksumError


def encode(planes, mode, net, tile, *, effort, use_fallback, threads):
    """[(method, payload, crc)] of every (tile, plane group) of planes (h, w, C) in the container's order. net codes
    group 0 where a model stage supports it (None: the fallback codes everything); use_fallback=False keeps the
    model's payload even where the fallback's is smaller."""
    height, width = planes.shape[:2]

    def code_tile(box):
        y0, y1, x0, x1 = box
        out, c0 = [], 0
        for g, (c, bits) in enumerate(mode.groups):
            plane = planes[y0:y1, x0:x1, c0 : c0 + c]
            c0 += c
            chosen = stages.choose(net if g == 0 else None, plane, effort, bits)
            best = fallback.constant(plane, bits) if use_fallback or chosen is None else None
            if best is None and chosen is not None:
                stage, settings = chosen
                plane = np.ascontiguousarray(plane)
                best = stage.encode(net, plane, **settings)
                for other, kwargs in stages.alternatives(net, plane, effort, bits, stage):
                    candidate = other.encode(net, plane, **kwargs)
                    best = candidate if len(candidate[1]) < len(best[1]) else best
                if use_fallback:  # at effort 3 every fallback method is tried, not only those its quick look favours
                    other = fallback.encode(plane, bits, target=len(best[1]) if effort < 3 else None)
                    if len(other[1]) < len(best[1]):
                        best = other
            elif best is None:
                best = fallback.encode(plane, bits)
            out.append((*best, container.samples_crc(plane)))
        return out

    with ThreadPoolExecutor(threads) as pool:
        return [coded for tile_coded in pool.map(code_tile, container.tile_boxes(height, width, tile))
                for coded in tile_coded]


def decode(header, payloads, mode, net, threads):
    """The stored samples (the container's dtype, shaped as the mode) of a parsed file of one image; net: the
    header's model (None when it names none)."""
    boxes = container.tile_boxes(header.height, header.width, header.tile)
    groups = len(mode.groups)
    strict = header.version >= 3  # per-tile CRCs, and streams that must not run past their end
    group_net = net if mode.learned_group else None

    def decode_tile(i):
        y0, y1, x0, x1 = boxes[i]
        planes = []
        for g, (c, bits) in enumerate(mode.groups):
            k = i * groups + g
            method = header.methods[k]
            plane = stages.for_method(method).decode(group_net if g == 0 else None, method, payloads[k], y1 - y0,
                                                     x1 - x0, c, bits, strict)
            if strict and container.samples_crc(plane) != header.crcs[k]:
                raise ChecksumError(f"tile {i} (rows {y0}-{y1 - 1}, columns {x0}-{x1 - 1}) does not match its "
                                    "checksum (corrupted file)")
            planes.append(plane)
        return planes

    def place(i, planes):
        y0, y1, x0, x1 = boxes[i]
        c0 = 0
        for plane in planes:
            out[y0:y1, x0:x1, c0:c0 + plane.shape[2]] = plane
            c0 += plane.shape[2]

    first = decode_tile(0)  # the image is allocated once a tile has shown the file is what it claims
    stored = np.empty(mode.shape(header.height, header.width), mode.dtype)
    out = stored.reshape(header.height, header.width, mode.channels)
    place(0, first)
    run(lambda i: place(i, decode_tile(i)), range(1, len(boxes)), threads)
    return stored


def run(work, indices, threads):
    """work(i) for every index on `threads` threads; the first error stops every thread before its next tile and is
    raised (a corrupted file costs about one tile per thread, not the whole image)."""
    todo, lock, failed, errors = iter(indices), threading.Lock(), threading.Event(), []

    def worker():
        while not failed.is_set():
            with lock:
                i = next(todo, None)
            if i is None:
                return
            try:
                work(i)
            except BaseException as exc:
                errors.append(exc)
                failed.set()

    with ThreadPoolExecutor(threads) as pool:
        for _ in range(threads):
            pool.submit(worker)
    if errors:
        raise errors[0]
