"""The golden files pin the format: every file of tests/golden decodes to its PNG and re-encodes to the same bytes
(older files included, for ever); together they cover every mode and every coding method."""

import json
from pathlib import Path

import pytest
from lcd_images import same_image
from PIL import Image

from lcodec import api, container, formats, metadata
from lcodec.mixing import residuals


GOLDEN = Path(__file__).resolve().parent / "golden"
MANIFEST = json.loads((GOLDEN / "MANIFEST.json").read_text())


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_golden_files_decode_and_reencode(name):
    """The golden files pin the format: they decode to their PNGs, and re-encoding gives the same bytes.
    (Regenerate with `python tests/golden/make_golden.py` when a released model replaces theirs.)"""
    from lcodec import api

    entry = MANIFEST[name]
    data = (GOLDEN / f"{name}.lcd").read_bytes()
    header = api.read_header(data)
    assert (header.mode, header.model, len(data)) == (entry["mode"], entry["model"], entry["bytes"])
    assert [container.METHOD_NAMES[m] for m in header.methods] == entry["methods"]
    if "file" in entry:  # version 4: a file read through lcodec.formats, every frame and sample, its metadata
        expected = formats.read(GOLDEN / entry["file"])
        decoded = api.Decompressor().decompress_picture(data)
        assert formats.same(decoded, expected)
        assert [f.metadata for f in decoded.frames] == [f.metadata for f in expected.frames]
        again = api.Compressor(**entry["compressor"], threads=1).compress(GOLDEN / entry["file"])
        if not _newer(again, header):
            assert again == data
        return
    expected = Image.open(GOLDEN / f"{name}.png")
    assert same_image(api.decompress_image(data), expected)
    assert header.metadata == metadata.from_image(expected)  # the PNG's ICC, EXIF, XMP, text... (version 3)
    again = api.Compressor(**entry["compressor"], threads=1).compress(expected)
    if _newer(again, header):
        assert same_image(api.decompress_image(again), expected)
    elif _older_residual_set(data):  # a RESIDUAL set the encoder no longer writes: it decodes (above), the
        # encoder writes the current set
        assert _residual_sets(again) == {residuals.DEFAULT_PARAMS}
    elif header.version == container.VERSION:  # what this build writes: the same bytes
        assert again == data
    else:  # an older version: the same payloads, in a version-3 file
        assert container.parse(again)[1] == container.parse(data)[1] and api.read_header(again).methods == header.methods


def _residual_sets(data):
    """The parameter sets of a file's RESIDUAL payloads (their first byte)."""
    header, payloads = container.parse(data)
    return {bytes(p[:1])[0] for m, p in zip(header.methods, payloads) if m == container.RESIDUAL}


def _older_residual_set(data):
    return bool(_residual_sets(data) - {residuals.DEFAULT_PARAMS})


def _newer(again, pinned):
    """Whether the encoder now writes a later version for the pin's input (a method the pin's version does not
    have codes some plane): then the pin still decodes, and the new file must be no larger."""
    version = api.read_header(again).version
    if version <= max(pinned.version, container.VERSION):
        return False
    assert len(again) <= pinned.file_size, (len(again), pinned.file_size)
    return True


def test_golden_files_cover_every_mode_method_version_and_metadata_kind():
    modes = {container.mode_by_name(e["mode"]) for e in MANIFEST.values()}
    assert {m.name for m in modes} >= set(container.MODE_BY_NAME)
    assert {(m.signed, m.bits) for m in modes if m.code == container.GENERIC} == {(False, 16), (True, 16), (False, 8)}
    sequences = [api.read_header(GOLDEN / f"{n}.lcd").sequence for n in MANIFEST]
    assert any(s is not None and len(s.frames) > 1 for s in sequences)
    headers = [api.read_header(GOLDEN / f"{name}.lcd") for name in MANIFEST]
    headers += [f for h in headers if h.sequence for f in h.sequence.frames]
    assert {h.version for h in headers} == set(container.VERSIONS)
    assert {k for h in headers for k, _ in h.metadata} == set(container.BLOCK_KINDS.values())
    assert {m for e in MANIFEST.values() for m in e["methods"]} == set(container.METHOD_NAMES.values())


def test_every_registered_model_is_pinned():
    """Each model a file may name has a golden file that decodes with it (the registry's names never change)."""
    from lcodec.model import registry

    assert {e["model"] for e in MANIFEST.values()} - {None} == set(registry.MODELS)


def test_make_golden_never_rewrites_a_pin(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_golden", GOLDEN / "make_golden.py")
    make_golden = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_golden)
    (tmp_path / "MANIFEST.json").write_text(json.dumps({"rgb-learned": MANIFEST["rgb-learned"]}))
    with pytest.raises(ValueError, match="already pinned.*rgb-learned"):
        make_golden.write({"rgb-learned": (Image.open(GOLDEN / "rgb-learned.png"), {})}, tmp_path)
    assert not (tmp_path / "rgb-learned.lcd").exists()
