"""Print the build and run-time configuration: what ``cnnfast.show_config()`` prints.

With --require-openmp, exit with status 1 when the kernels were built without
OpenMP.  The wheels' test command and .ci/run use it: a wheel whose kernels
were built without OpenMP (and so run on one thread) must fail its tests, not ship.
"""

from __future__ import annotations

import sys


def add_arguments(parser):
    """Add the ``config`` command's options to ``parser`` (an argparse parser)."""
    parser.add_argument("--require-openmp", action="store_true",
                        help="exit with status 1 if the kernels were built without OpenMP")


def main(args, argv=None):
    """Run ``cnnfast config`` for parsed ``args`` (as :func:`cnnfast.train.main`); returns the exit status."""
    from . import _kernels
    from ._runtime import show_config

    show_config()
    if args.require_openmp and not _kernels.openmp_enabled():
        print("cnnfast config: this cnnfast was built WITHOUT OpenMP (kernels run on one thread)",
              file=sys.stderr)
        return 1
    return 0
