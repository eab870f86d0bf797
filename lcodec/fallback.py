"""The fallback path: lossless coding for what the learned models do not fit (FORMAT.md section 4).

Palette indices, 1-bit and 16-bit planes, alpha, and photos-that-are-not-photos (synthetic graphics, where
PNG-style filtering plus a dictionary coder beats a PixelCNN trained on photographs). Each plane group of a
tile is coded as CONSTANT when every sample of a channel is equal (constant alpha costs a few bytes), else
with the smallest of DEFLATE and LZMA over two PNG filterings. Decoding is bounded: streams are inflated with
a length cap equal to the exact expected size.
"""

import lzma
import zlib

import numpy as np
from numba import njit

from lcodec import stages
from lcodec.container import CONSTANT, DEFLATE, LZMA
from lcodec.errors import FormatError

LZMA_FILTERS = ({"id": lzma.FILTER_LZMA2, "preset": 9, "dict_size": 1 << 22},)
# The slow candidates (DEFLATE level 9, LZMA) are tried only when a faster one came within this factor of the
# payload to beat: a candidate more than 4 times the learned payload away leaves the fallback no chance, and trying
# costs time on every tile. On screenshots LZMA can gain much on a quick DEFLATE, so a closer reach would skip it
# there (figures: bench/results/NOTES.md).
REACH = 4.0
# Where DEFLATE finds nothing to match (its stream is no smaller than the order-0 entropy of the filtered bytes, as
# on photos), LZMA's gain is its better coding of literals, which leaves it little below that entropy (measured on
# the training photos: bench/results/NOTES.md). So there the slow methods run only if ORDER0_REACH times the
# entropy beats the size to beat.
ORDER0_REACH = 0.93
_N_FILTERS = 5  # PNG filter types 0..4: None, Sub, Up, Average, Paeth


def _rows(plane, bits):
    """(serialised rows (h, rowbytes) uint8, bpp): FORMAT.md's byte layout of a (h, w, c) plane group."""
    h, w, c = plane.shape
    if bits == 1:
        return np.packbits(plane.reshape(h, w).astype(bool), axis=1), 1
    if bits == 16:
        return plane.astype(">u2").view(np.uint8).reshape(h, w * c * 2), 2 * c
    return plane.reshape(h, w * c), c


def _unrows(rows, h, w, c, bits):
    if bits == 1:
        return np.unpackbits(rows, axis=1, count=w).astype(bool).reshape(h, w, 1)
    if bits == 16:
        return rows.view(">u2").astype(np.uint16).reshape(h, w, c)
    return rows.reshape(h, w, c)


def _filtered(rows, bpp):
    """All five PNG filterings of every row, (5, h, n) uint8, computed from the unfiltered neighbours."""
    x = rows.astype(np.int16)
    left = np.zeros_like(x)
    left[:, bpp:] = x[:, :-bpp]
    up = np.zeros_like(x)
    up[1:] = x[:-1]
    upleft = np.zeros_like(x)
    upleft[1:, bpp:] = x[:-1, :-bpp]
    p = left + up - upleft
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
    preds = (np.zeros_like(x), left, up, (left + up) >> 1, paeth)
    return np.stack([(x - pr).astype(np.uint8) for pr in preds])


def _serialise(filtered, choice):
    """Rows prefixed by their filter byte; choice (h,) selects a filtering per row."""
    h = filtered.shape[1]
    out = np.empty((h, filtered.shape[2] + 1), np.uint8)
    out[:, 0] = choice
    out[:, 1:] = filtered[choice, np.arange(h)]
    return out.tobytes()


@njit(cache=True, nogil=True)
def _row_costs(filtered):
    """(5, h) sums of |filtered byte as int8| per filtering and row: libpng's heuristic for choosing a filter."""
    n_f, h, n = filtered.shape
    out = np.zeros((n_f, h), np.int64)
    for k in range(n_f):
        for y in range(h):
            acc = 0
            for i in range(n):
                v = np.int64(filtered[k, y, i])
                acc += v if v < 128 else 256 - v
            out[k, y] = acc
    return out


def _order0_bytes(stream):
    """Order-0 entropy of the bytes of stream, in bytes."""
    counts = np.bincount(np.frombuffer(stream, np.uint8), minlength=256)
    counts = counts[counts > 0]
    return float(counts.sum() * np.log2(counts.sum()) - (counts * np.log2(counts)).sum()) / 8


def _candidates(rows, bpp, target):
    """A quick DEFLATE (level 1) over the per-row filtering first; unless it ended more than REACH times the size to
    beat (target) away, or found no matches on a stream whose entropy says LZMA cannot win (ORDER0_REACH),
    DEFLATE level 9 over that and the unfiltered rows, then LZMA (the costly one) over the filtering DEFLATE liked
    best if that is still within reach."""
    filtered = _filtered(rows, bpp)
    h = rows.shape[0]
    per_row = _serialise(filtered, _row_costs(filtered).argmin(axis=0))
    quick = zlib.compress(per_row, 1)
    yield DEFLATE, quick
    if target is not None:
        if len(quick) > REACH * target:
            return
        entropy = _order0_bytes(per_row)
        if len(quick) >= entropy and ORDER0_REACH * entropy > target:
            return
    streams = [_serialise(filtered, np.zeros(h, np.intp)), per_row]
    deflated = [zlib.compress(s, 9) for s in streams]
    best = int(len(deflated[1]) < len(deflated[0]))
    yield DEFLATE, deflated[best]
    if target is None or len(deflated[best]) <= REACH * target:
        yield LZMA, lzma.compress(streams[best], format=lzma.FORMAT_RAW, filters=LZMA_FILTERS)


def constant(plane, bits):
    """(CONSTANT, payload) if every sample of each channel of the (h, w, c) plane group is equal, else None."""
    h, w, c = plane.shape
    flat = plane.reshape(h * w, c)
    if (flat == flat[0]).all():
        return CONSTANT, flat[0].astype(">u2" if bits == 16 else np.uint8).tobytes()
    return None


def encode(plane, bits, target=None):
    """(method, payload) of a (h, w, c) plane group, the smallest of the fallback methods. target: the size of
    another payload it must beat (the learned one), which lets it skip the slow methods where they cannot."""
    const = constant(plane, bits)
    if const is not None:
        return const
    rows, bpp = _rows(plane, bits)
    return min(_candidates(rows, bpp, target), key=lambda mp: len(mp[1]))


@njit(cache=True, nogil=True)
def _unfilter(raw, bpp):
    """Undo PNG filtering; raw (h, 1 + n) holds validated filter bytes. Returns (h, n)."""
    h = raw.shape[0]
    n = raw.shape[1] - 1
    out = np.zeros((h, n), np.uint8)
    for y in range(h):
        f = raw[y, 0]
        for i in range(n):
            a = np.int32(out[y, i - bpp]) if i >= bpp else np.int32(0)
            b = np.int32(out[y - 1, i]) if y > 0 else np.int32(0)
            if f == 0:
                pred = np.int32(0)
            elif f == 1:
                pred = a
            elif f == 2:
                pred = b
            elif f == 3:
                pred = (a + b) >> 1
            else:
                c = np.int32(out[y - 1, i - bpp]) if y > 0 and i >= bpp else np.int32(0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            out[y, i] = (np.int32(raw[y, i + 1]) + pred) & 255
    return out


def _inflate(method, payload, size):
    """Exactly `size` bytes from a DEFLATE/LZMA payload, never more (bounded output)."""
    try:
        if method == DEFLATE:
            d = zlib.decompressobj()
            out = d.decompress(payload, size + 1)
            done = d.eof and not d.unused_data
        else:
            d = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=LZMA_FILTERS)
            out = d.decompress(payload, size + 1)
            done = d.eof and not d.unused_data
    except (zlib.error, lzma.LZMAError) as e:
        raise FormatError(f"corrupted fallback payload ({e})") from None
    if len(out) != size or not done:
        raise FormatError("corrupted fallback payload (wrong length)")
    return out


def decode(method, payload, h, w, c, bits):
    """The (h, w, c) plane group a fallback payload codes; FormatError when it does not."""
    dtype = np.uint16 if bits == 16 else (bool if bits == 1 else np.uint8)
    if method == CONSTANT:
        size = 2 * c if bits == 16 else c
        if len(payload) != size:
            raise FormatError("bad constant payload")
        values = np.frombuffer(payload, ">u2" if bits == 16 else np.uint8)
        if bits == 1 and values.max() > 1:
            raise FormatError("bad constant payload")
        return np.broadcast_to(values.astype(dtype), (h, w, c))
    rowbytes = -(-w // 8) if bits == 1 else w * c * bits // 8
    bpp = 1 if bits == 1 else c * bits // 8
    raw = np.frombuffer(_inflate(method, payload, h * (rowbytes + 1)), np.uint8).reshape(h, rowbytes + 1)
    if raw[:, 0].max() >= _N_FILTERS:
        raise FormatError("bad PNG filter type in fallback payload")
    return _unrows(_unfilter(raw, bpp), h, w, c, bits)


STAGE = stages.Stage(
    "fallback", (CONSTANT, DEFLATE, LZMA), (), lambda net, channels, bits: True,
    lambda net, tile, effort, bits: {"bits": bits},
    lambda net, tile, bits, target=None: encode(tile, bits, target),
    lambda net, method, payload, h, w, c, bits, strict: decode(method, payload, h, w, c, bits), model=False,
)
