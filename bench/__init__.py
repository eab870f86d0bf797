"""Benchmark of lcodec against the standard lossless codecs; run it with `python -m bench`."""
