"""``cnnfast bench``: cnnfast's kernels vs the NumPy reference vs PyTorch, side by side.

    cnnfast bench [--threads 1,2] [--only NAME ...] [--backends fast,reference,torch]
                  [--repeats N | --quick] [--json PATH] [--plot PATH]
    cnnfast bench --processes 2 [--seconds S] [--backends fast,torch] [--repeats N | --quick] [--json PATH]

Modules: :mod:`.workloads` (the named shapes), :mod:`.cases` (how each backend
runs them), :mod:`.runner` (interleaved timing, the correctness gate),
:mod:`.ceiling` (sgemm on the same GEMM shape), :mod:`.memory` (peak RSS),
:mod:`.report` (table, machine description), :mod:`.plot` (PNG); :mod:`.sharing`
(``--processes``: several processes training at once, default threads vs one each).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from . import report as _report
from .runner import BACKENDS, PAUSE_SECONDS, BackendMismatch, Settings, import_torch, run
from .workloads import WORKLOADS, by_name

__all__ = ["main", "add_arguments", "run", "Settings", "BackendMismatch", "WORKLOADS"]

QUICK_REPEATS = 1
DEFAULT_REPEATS = 9
# --quick checks that everything runs, not how fast: models take small batches.
QUICK_MODEL_BATCHES = {"train_batch": 8, "inference_batch": 16}


def _counts(option):
    """An argparse type for ``option``: comma-separated integers >= 1."""
    def parse(text):
        try:
            counts = [int(t) for t in text.split(",") if t.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} takes comma-separated integers, got {text!r}") from None
        if not counts or min(counts) < 1:
            raise argparse.ArgumentTypeError(f"{option} needs counts >= 1, got {text!r}")
        return counts
    return parse


def _backend_list(text):
    names = [b.strip() for b in text.split(",") if b.strip()]
    unknown = [b for b in names if b not in BACKENDS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"--backends takes a comma-separated subset of {BACKENDS}, got {text!r}")
    return names


def add_arguments(parser):
    """The ``bench`` command's options."""
    parser.add_argument("--threads", type=_counts("--threads"), default=[1], metavar="N[,N...]",
                        help="thread counts to sweep, e.g. 1,2 (default 1); every backend runs at each")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help=f"workloads to run (default all): {', '.join(w.name for w in WORKLOADS)}")
    parser.add_argument("--backends", type=_backend_list, default=list(BACKENDS),
                        help="comma-separated subset of fast,reference,torch (default all)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed rounds per pass (default 9; with --processes, rounds of every setting, default 3)")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_REPEATS} timed round, models on small batches, a short FMA peak (for tests)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write results and machine description here")
    parser.add_argument("--plot", type=Path, metavar="PATH", help="draw a PNG here (needs matplotlib)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--processes", type=_counts("--processes"), metavar="N[,N...]",
                        help="instead of the kernels: N processes training LeNet-5 at once, at default threads vs "
                             "1 thread each, and after threadpool_limits (see cnnfast.bench.sharing)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="with --processes: timed seconds per process and setting (default 5)")


def main(args, argv=None):
    """Run the benchmark for parsed ``args``; returns the process exit status."""
    if args.processes is not None:
        from . import sharing

        return sharing.main(args, argv)
    if args.repeats is None:
        args.repeats = DEFAULT_REPEATS
    try:
        workloads = by_name(args.only)
    except ValueError as error:
        print(f"cnnfast bench: {error}", file=sys.stderr)
        return 2
    if args.repeats < 1:
        print("cnnfast bench: --repeats must be >= 1", file=sys.stderr)
        return 2
    if args.plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("cnnfast bench: --plot needs matplotlib (pip install \"cnnfast[plot]\")", file=sys.stderr)
            return 2
    if args.quick:
        workloads = [dataclasses.replace(w, **QUICK_MODEL_BATCHES) if w.kind == "model" else w for w in workloads]
    settings = Settings(threads=args.threads, backends=args.backends,
                        repeats=QUICK_REPEATS if args.quick else args.repeats, workloads=workloads,
                        measure_memory=not args.no_memory, quick=args.quick)
    steps = len(settings.threads) * sum(len(w.passes) for w in workloads)
    bar = None if args.no_progress else _progress_bar(steps)
    try:
        results = run(settings, progress=(lambda text: _advance(bar, text)) if bar is not None else None)
    except BackendMismatch as error:
        print(f"cnnfast bench: {error}", file=sys.stderr)
        return 1
    finally:
        if bar is not None:
            bar.close()
    backends = [b for b in settings.backends if any(r["backend"] == b for r in results["results"])]
    print(_report.format_table(results, workloads, backends))
    if args.json is not None:
        document = {"command": _report.command_line(argv),
                    "machine": _report.machine_description(import_torch() if "torch" in backends else None),
                    "settings": {"threads": settings.threads, "backends": backends, "repeats": settings.repeats,
                                 "workloads": [w.name for w in workloads],
                                 "pause_seconds": PAUSE_SECONDS},
                    **results}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=1))
        print(f"wrote {args.json}")
    if args.plot is not None:
        from .plot import draw

        args.plot.parent.mkdir(parents=True, exist_ok=True)
        draw(results, workloads, backends, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _progress_bar(total):
    from tqdm import tqdm

    return tqdm(total=total, desc="cnnfast bench", unit="step", file=sys.stderr, leave=False)


def _advance(bar, text):
    bar.set_postfix_str(text, refresh=False)
    bar.update(1)
