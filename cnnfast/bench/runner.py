"""Time every backend on every workload, interleaved, at each thread count.

Measurement rules (they are what makes the ratios trustworthy on a shared,
noisy 2-core machine):

* All backends run in one process, round by round: fast, reference, torch,
  fast, reference, torch, ...  A burst of noise then hits every backend alike,
  and the median of the rounds discards it.
* Between two calls the runner sleeps ``PAUSE_SECONDS`` so that the previous
  library's spinning worker threads (OpenMP, OpenBLAS, PyTorch's pool) go idle
  before the next one starts: pools fighting for 2 cores made a 2-thread run
  slower than 1 thread here.  The pause stays short because on this VM a vCPU
  idle for more than ~0.1 s takes ~10 ms to wake, which would swamp the small
  workloads.
* Before any timing, every backend's results are compared with the
  reference's; a backend that disagrees is refused (``BackendMismatch``).
* Peak memory is measured after all timing (see :mod:`cnnfast.bench.memory`).
* The FMA peak of every ISA is measured first, at each thread count
  (:func:`cnnfast.bench.ceiling.fma_peaks`); every rate in GFLOP/s is also
  given as a share of the peak of the ISA the convolutions run on.  A model's
  flops are those of its convolution and dense layers (:mod:`.flops`).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import numpy as np

from .. import _isa, _runtime, functional
from . import cases, flops, memory
from .ceiling import fma_peaks, sgemm_gflops
from .threads import blas_limiter

PAUSE_SECONDS = 0.01
BACKENDS = (*functional.BACKENDS, "torch")


class BackendMismatch(RuntimeError):
    """A backend's results differ from the reference's: its timings are not reported."""


@dataclass
class Settings:
    """What to run: thread counts, backends, timed rounds per pass, workloads."""

    threads: list
    backends: list
    repeats: int
    workloads: list
    measure_memory: bool = True
    notes: list = field(default_factory=list)
    quick: bool = False  # a short FMA peak measurement


def import_torch():
    """PyTorch, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def agree(results, expected, rtol=1e-3):
    """Whether every array is within ``rtol`` of the largest reference magnitude."""
    if len(results) != len(expected):
        return False
    for got, want in zip(results, expected):
        got = np.asarray(got)
        if got.shape != want.shape:
            return False
        scale = float(np.abs(want).max()) + 1e-30
        if not np.all(np.abs(got - want) <= rtol * scale):
            return False
    return True


def _make_runners(workload, inputs, backends, torch):
    runners = {}
    for backend in backends:
        if backend == "torch":
            runners[backend] = cases.torch_case(workload, inputs, torch)
        else:
            runners[backend] = cases.numpy_case(workload, inputs, backend)
    return runners


def _set_threads(threads, torch):
    _runtime.set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)


def _time_pass(runners, pass_name, repeats, limit, threads):
    """Median seconds per backend of ``pass_name``, interleaved round by round."""
    times = {name: [] for name in runners}
    # The reference is slow and steady: a third of the rounds suffices.
    budget = {name: (max(1, repeats // 3) if name == "reference" else repeats) for name in runners}
    for name, case in runners.items():  # warm-up: first-touch pages, thread pools, caches
        if name == "reference":
            continue  # seconds per call: a cold start is lost in it
        with limit(threads):
            case[pass_name]()
    for _ in range(repeats):
        for name, case in runners.items():
            if len(times[name]) >= budget[name]:
                continue
            time.sleep(PAUSE_SECONDS)
            with limit(threads):
                start = time.perf_counter()
                case[pass_name]()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def _record(workload, threads, pass_name, backend, seconds, peak, model_flops=None):
    work = model_flops[pass_name] if model_flops else workload.flops(pass_name)
    nbytes = workload.nbytes(pass_name)
    gflops = work / seconds / 1e9 if work else None
    record = {"workload": workload.name, "kind": workload.kind, "threads": threads, "pass": pass_name,
              "backend": backend, "seconds": seconds, "gflops": gflops,
              "share_of_peak": gflops / peak if gflops and peak else None,
              "gbytes_per_s": nbytes / seconds / 1e9 if nbytes else None}
    if workload.kind == "model":
        record["images_per_s"] = workload.batch(pass_name) / seconds
    return record


def conv_dispatch(workload):
    """Which implementation each pass of a convolution workload takes here:
    the engine (on which ISA), im2col + OpenBLAS, or the depthwise kernels."""
    paths = _isa.conv_paths(workload.conv_geometry())
    if workload.transposed:  # its forward is the convolution's input gradient, and the reverse
        paths = {"forward": paths["input_grad"], "input_grad": paths["forward"],
                 "weight_grad": paths["weight_grad"]}
    return {"workload": workload.name, "isa": _isa.get_isa(), **paths}


def run(settings, progress=None):
    """Run the suite; returns ``{"results": [...], "sgemm": [...], "memory": [...], "notes": [...]}``.

    ``progress``, when given, is called with a one-line description after each
    (threads, workload, pass) step.
    """
    torch = import_torch() if "torch" in settings.backends else None
    backends = [b for b in settings.backends if b != "torch" or torch is not None]
    notes = list(settings.notes)
    if "torch" in settings.backends and torch is None:
        notes.append("torch is not installed: the torch backend was skipped (pip install torch)")
    limit = blas_limiter()
    report = {"results": [], "sgemm": [], "memory": [], "notes": notes, "isa": _isa.get_isa(),
              "fma_peak": fma_peaks(settings.threads, quick=settings.quick),
              "dispatch": [conv_dispatch(w) for w in settings.workloads if w.kind == "conv"]}
    peak = {p["threads"]: p["gflops"] for p in report["fma_peak"] if p["isa"] == report["isa"]}
    saved_threads = _runtime.get_num_threads()
    try:
        for threads in settings.threads:
            _set_threads(threads, torch)
            for workload in settings.workloads:
                inputs = cases.make_inputs(workload)
                runners = _make_runners(workload, inputs, backends, torch)
                _check_against_reference(workload, inputs, runners, limit, threads)
                work = flops.model_flops(runners["fast" if "fast" in runners else next(iter(runners))]) \
                    if workload.kind == "model" else None
                for pass_name in workload.passes:
                    medians = _time_pass(runners, pass_name, settings.repeats, limit, threads)
                    report["results"] += [_record(workload, threads, pass_name, name, seconds, peak[threads], work)
                                          for name, seconds in medians.items()]
                    if progress:
                        progress(f"{threads}t {workload.name} {pass_name}")
                shape = workload.gemm_shape()
                if shape is not None:
                    report["sgemm"].append({"workload": workload.name, "threads": threads, "m": shape[0],
                                            "n": shape[1], "k": shape[2],
                                            "gflops": sgemm_gflops(*shape, threads=threads)})
        if settings.measure_memory and memory.available():
            report["memory"] = _measure_memory(settings, backends, torch, limit)
        elif settings.measure_memory:
            notes.append("peak memory is not measured on this system (needs Linux /proc/self/clear_refs)")
    finally:
        _runtime.set_num_threads(saved_threads)
    return report


def _check_against_reference(workload, inputs, runners, limit, threads):
    with limit(threads):
        expected = cases.numpy_case(workload, inputs, "reference")["check"]()
        for name, case in runners.items():
            if not agree(case["check"](), expected):
                raise BackendMismatch(f"{name} differs from the reference on {workload.name}: "
                                      "refusing to report its timings")


def _measure_memory(settings, backends, torch, limit):
    """Peak extra RSS of one forward+backward (a training step for models)
    per (threads, workload, backend)."""
    memory.exact_malloc_accounting()
    rows = []
    for threads in settings.threads:
        _set_threads(threads, torch)
        for workload in settings.workloads:
            inputs = cases.make_inputs(workload)
            for name, case in _make_runners(workload, inputs, backends, torch).items():
                with limit(threads):
                    extra = memory.peak_extra_bytes(case[workload.full_pass])
                rows.append({"workload": workload.name, "threads": threads, "backend": name,
                             "peak_extra_bytes": extra})
    return rows
