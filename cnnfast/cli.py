"""The ``cnnfast`` command (also ``python -m cnnfast``): ``train``, ``bench`` and ``config``."""

from __future__ import annotations

import argparse
import importlib
import re
import sys

#: command -> (module holding ``add_arguments`` and ``main``, one-line help)
COMMANDS = {
    "train": ("cnnfast.train", "train LeNet-5 on MNIST digits (the bundled subset by default)"),
    "bench": ("cnnfast.bench", "benchmark fast vs reference vs PyTorch"),
    "config": ("cnnfast.showconfig", "print the build and run-time configuration (OpenMP, threads, BLAS)"),
}

# reST a docstring may hold: ``literal`` and :role:`target` (a leading "." or "~" is the module's own).
_LITERAL = re.compile(r"``([^`]+)``")
_ROLE = re.compile(r":[a-z]+:`[.~]?([^`]+)`")


def plain_text(docstring):
    """A docstring as ``--help`` shows it: reST literals and roles turned into their plain text."""
    return _ROLE.sub(r"\1", _LITERAL.sub(r"\1", docstring or "")).strip()


def _version():
    from . import __version__

    return __version__


def build_parser():
    """The ``cnnfast`` argument parser: ``--version`` and one sub-command per entry of :data:`COMMANDS`.

    A command module's ``DESCRIPTION`` (plain text) is its ``--help`` text;
    without one, its docstring without the reST markup.
    """
    parser = argparse.ArgumentParser(prog="cnnfast", description="cnnfast: fast CNNs on the CPU")
    parser.add_argument("--version", action="version", version=f"cnnfast {_version()}",
                        help="print cnnfast's version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        description = getattr(module, "DESCRIPTION", None) or plain_text(module.__doc__)
        command = commands.add_parser(name, help=help_text, description=description,
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(command)
        command.set_defaults(run=module.main)
    return parser


def main(argv=None):
    """Entry point of the console script.

    Parameters
    ----------
    argv : list of str, optional
        Default: ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    return args.run(args, argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
