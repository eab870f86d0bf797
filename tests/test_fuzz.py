"""Corruption fuzz: damaged or hostile files raise LcodecError quickly, never another exception, a hang or a
silently wrong image. A fast run is always on; LCODEC_SLOW=1 runs many more examples."""

import faulthandler
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lcd_images import fix_header_crc, in_mode, photo

from lcodec import api
from lcodec.errors import LcodecError

SLOW = os.environ.get("LCODEC_SLOW") == "1"
FUZZ = settings(
    max_examples=3000 if SLOW else 60,
    deadline=None,  # timed below, per example, with a bound that holds on a loaded CI machine
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=not SLOW,
)
TIME_LIMIT = 30.0  # seconds: examples take milliseconds; past this the process is stopped with every thread's
                   # stack (a hang inside a compiled kernel cannot be interrupted any other way)
_FILES = {}


def _originals(shared_data):
    """Small valid files over the coding paths: learned tiles, deflate/lzma, constant alpha, palette, 16-bit, and the
    engine without the network (CONTEXT on palette indices, RESIDUAL on real 16-bit gray and colour)."""
    if not _FILES:
        import imagecodecs

        from lcodec.model import registry

        def deep(name, y, x):
            return imagecodecs.png_decode((shared_data / "deep" / name).read_bytes())[y:y + 20, x:x + 24]

        rgb = photo(shared_data, 20, 24, index=9)
        images = {
            "fallback-rgb": (api.Compressor(learned=False, tile=16), rgb),
            "p": (api.Compressor(tile=16), in_mode(rgb, "P")),
            "i16": (api.Compressor(tile=16), in_mode(rgb, "I;16")),
            "1": (api.Compressor(tile=16), in_mode(rgb, "1")),
            "rgba-const": (api.Compressor(learned=False), np.dstack([np.asarray(rgb), np.full((20, 24), 9, np.uint8)])),
            "learned-rgb": (api.Compressor(fallback=False, tile=16, effort=1), rgb),
            "mixed-rgb": (api.Compressor(fallback=False, tile=16), rgb),
            "learned-la": (api.Compressor(fallback=False, tile=16), in_mode(rgb, "LA")),
            "p-context": (api.Compressor(fallback=False, tile=16), in_mode(rgb, "P")),
            "i16-residual": (api.Compressor(fallback=False, tile=16), deep("sunpy_trace_171_1998-05-19.png", 500, 480)),
            "rgb16-residual": (api.Compressor(fallback=False), deep("riocolor_rgb16.png", 200, 300)),
        }
        assert {"rgb", "gray"} <= registry.DEFAULT_MODELS.keys()
        for key, (comp, image) in images.items():
            data = comp.compress(image)
            _FILES[key] = (data, api.decompress(data))
    return _FILES


def _check(data, original):
    """Decoding either fails with an LcodecError or returns exactly the original image, within TIME_LIMIT."""
    faulthandler.dump_traceback_later(TIME_LIMIT, exit=True)
    try:
        out = api.Decompressor(threads=1).decompress(data)
    except LcodecError:
        pass
    else:
        assert out.dtype == original.dtype and np.array_equal(out, original)
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="module")
def files(shared_data):
    return _originals(shared_data)


KEYS = st.sampled_from(["fallback-rgb", "p", "i16", "1", "rgba-const", "learned-rgb", "mixed-rgb", "learned-la",
                        "p-context", "i16-residual", "rgb16-residual"])


def _pick(files, key):
    return files[key]


def test_the_fuzzed_files_cover_every_model_free_method(files):
    from lcodec import container

    methods = {k: {container.METHOD_NAMES[m] for m in api.read_header(files[k][0]).methods} for k in files}
    assert methods["p-context"] == {"context"}
    assert methods["i16-residual"] == methods["rgb16-residual"] == {"residual"}


@FUZZ
@given(key=KEYS, flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), min_size=1,
                                max_size=4))
def test_bit_flips(files, key, flips):
    data, original = _pick(files, key)
    damaged = bytearray(data)
    for where, bit in flips:
        damaged[int(where * len(data))] ^= 1 << bit
    _check(bytes(damaged), original)


@FUZZ
@given(key=KEYS, where=st.floats(0, 1, exclude_max=True))
def test_truncations(files, key, where):
    data, original = _pick(files, key)
    with pytest.raises(LcodecError):
        api.decompress(data[: int(where * len(data))])


@FUZZ
@given(key=KEYS, where=st.floats(0, 1), junk=st.binary(min_size=1, max_size=16))
def test_insertions(files, key, where, junk):
    data, original = _pick(files, key)
    at = int(where * len(data))
    with pytest.raises(LcodecError):
        api.decompress(data[:at] + junk + data[at:])


@FUZZ
@given(key=KEYS, junk=st.binary(min_size=0, max_size=120), keep_signature=st.booleans())
def test_garbage_headers(files, key, junk, keep_signature):
    data, original = _pick(files, key)
    head = data[:8] + junk[8:] if keep_signature else junk
    _check(head + data[len(junk):], original)


@FUZZ
@given(key=KEYS, where=st.integers(8, 60), value=st.integers(0, 255))
def test_hostile_header_fields_with_valid_crc(files, key, where, value):
    """A field rewritten and the header CRC recomputed: the field checks and the pixel checksum must hold."""
    data, original = _pick(files, key)
    damaged = bytearray(data)
    damaged[where] = value
    try:
        damaged = fix_header_crc(damaged)
    except struct.error:  # the rewritten lengths put the CRC outside the file: plain garbage
        pass
    _check(bytes(damaged), original)


@FUZZ
@given(key=KEYS, where=st.floats(0, 1, exclude_max=True), value=st.integers(0, 255))
def test_payload_bytes(files, key, where, value):
    """Payloads carry no CRC of their own: the decoders and the pixel checksum must catch every change."""
    data, original = _pick(files, key)
    header = api.read_header(data)
    start = header.header_size + int(where * (len(data) - header.header_size))
    damaged = bytearray(data)
    damaged[min(start, len(data) - 1)] = value
    _check(bytes(damaged), original)


@FUZZ
@given(junk=st.binary(max_size=300))
def test_random_bytes(junk):
    with pytest.raises(LcodecError):
        api.decompress(junk)
    with pytest.raises(LcodecError):
        api.decompress(b"\x8bLCD\r\n\x1a\n\x01" + junk)


def test_coverage_guided_fuzzing_finds_nothing(tmp_path):
    """A short run of the atheris harness (tests/fuzz/fuzz_decode.py; run it for longer before a release): every input
    it makes from the golden files raises an LcodecError or decodes exactly. A finding exits non-zero and leaves
    its input in tmp_path."""
    harness = Path(__file__).parent / "fuzz" / "fuzz_decode.py"
    seconds = 120 if SLOW else 20
    done = subprocess.run([sys.executable, str(harness), f"-max_total_time={seconds}", "-timeout=20"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=seconds + 300)
    findings = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-", "leak-")))
    assert done.returncode == 0 and not findings, (findings, done.stderr[-3000:])
    assert "Done" in done.stderr and " runs in " in done.stderr
