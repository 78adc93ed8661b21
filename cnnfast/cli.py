"""The ``cnnfast`` command: ``cnnfast bench ...`` (also ``python -m cnnfast ...``)."""

from __future__ import annotations

import argparse
import sys


def build_parser():
    from . import bench

    parser = argparse.ArgumentParser(prog="cnnfast", description="cnnfast: fast CNNs on the CPU")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    bench_parser = commands.add_parser("bench", help="benchmark fast vs reference vs PyTorch",
                                       description=bench.__doc__,
                                       formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_arguments(bench_parser)
    bench_parser.set_defaults(run=bench.main)
    return parser


def main(argv=None):
    """Entry point of the console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    return args.run(args, argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
