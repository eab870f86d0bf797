"""The `lcodec` command line."""

import argparse
import sys

import lcodec


def build_parser():
    parser = argparse.ArgumentParser(prog="lcodec", description="Learned lossless image codec.")
    parser.add_argument("--version", action="version", version=f"lcodec {lcodec.__version__}")
    return parser


def main(argv=None):
    build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return 0
