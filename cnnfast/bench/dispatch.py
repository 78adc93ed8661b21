"""Measure the engine against im2col + OpenBLAS, pass by pass: the data behind
the convolution dispatch rule (``conv2d_path_for`` in csrc/conv2d.c).

    python -m cnnfast.bench.dispatch [--repeats 15] [--batch N] > benchmarks/results/dispatch.md

For each named convolution (depthwise aside), each pass (forward, input
gradient, weight gradient) runs on both implementations, interleaved, on one
thread, timed by the thread's CPU time; the best of ``--repeats`` is kept (the
fastest run is the one the machine disturbed least).  The table gives GFLOP/s,
the rule's choice, whether it is the faster of the two, and the share of the
core's FMA peak (the ISA's register-resident FMA loop, measured in the same
run by the same clock) that the chosen path reaches; a last table gives each
convolution's forward + backward (its three passes on the chosen paths).  The rule is a
fixed function of the shapes -- the measurement is taken offline and
committed, never at run time, where timing noise would pick the path and so
the rounding of the results.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np

from .. import _isa, _kernels, _runtime
from .ceiling import fma_peak_gflops
from .workloads import CONV_WORKLOADS

PASSES = ("forward", "input_grad", "weight_grad")


def _best_seconds(calls, repeats):
    """{name: best thread-CPU seconds} of the callables, run round-robin."""
    best = {name: float("inf") for name in calls}
    for call in calls.values():
        call()
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.thread_time()
            call()
            best[name] = min(best[name], time.thread_time() - start)
    return best


def _pass_calls(workload, path):
    g = workload.conv_geometry()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(g.input_shape, dtype=np.float32)
    weight = rng.standard_normal(g.weight_shape, dtype=np.float32) / np.float32(np.sqrt(np.prod(g.weight_shape[1:])))
    grad_y = rng.standard_normal(g.output_shape, dtype=np.float32)
    y, grad_x, grad_weight = np.empty_like(grad_y), np.empty_like(x), np.empty_like(weight)

    def on(path, call):
        def run():
            _kernels.set_conv_path(path)
            call()

        return run

    return {
        "forward": on(path, lambda: _kernels.conv2d_forward(g, x, weight, None, y)),
        "input_grad": on(path, lambda: _kernels.conv2d_backward(g, grad_y, None, weight, grad_x, None)),
        "weight_grad": on(path, lambda: _kernels.conv2d_backward(g, grad_y, x, weight, None, grad_weight)),
    }


def measure(repeats=15, batch=None):
    """Rows of {workload, pass, engine GFLOP/s, blas GFLOP/s, rule}."""
    rows = []
    saved_threads, saved_path = _runtime.get_num_threads(), _kernels.get_conv_path()
    _runtime.set_num_threads(1)
    try:
        for workload in CONV_WORKLOADS:
            if workload.depthwise:
                continue
            if batch:
                workload = dataclasses.replace(workload, batch=batch)
            _kernels.set_conv_path("auto")
            rule = _isa.conv_paths(workload.conv_geometry())
            engine, blas = _pass_calls(workload, "engine"), _pass_calls(workload, "blas")
            flops = workload.forward_flops()
            for pass_name in PASSES:
                best = _best_seconds({"engine": engine[pass_name], "blas": blas[pass_name]}, repeats)
                rows.append(
                    {
                        "workload": workload.name,
                        "pass": pass_name,
                        "engine": flops / best["engine"] / 1e9,
                        "blas": flops / best["blas"] / 1e9,
                        "rule": rule[pass_name],
                    }
                )
    finally:
        _kernels.set_conv_path(saved_path)
        _runtime.set_num_threads(saved_threads)
    return rows


def markdown(rows, peak):
    lines = [
        "| workload | pass | engine GFLOP/s | OpenBLAS GFLOP/s | rule | rule picks the faster | rule's share of peak |",
        "|---|---|---:|---:|---|---|---:|",
    ]
    for r in rows:
        faster = "engine" if r["engine"] >= r["blas"] else "blas"
        verdict = "yes" if faster == r["rule"] else f"no ({r[faster] / r[r['rule']]:.2f}x)"
        lines.append(
            f"| {r['workload']} | {r['pass']} | {r['engine']:.1f} | {r['blas']:.1f} | {r['rule']} | "
            f"{verdict} | {100 * r[r['rule']] / peak:.0f} % |"
        )
    lines += ["", "| workload | forward + backward on the rule's paths, GFLOP/s | share of peak |", "|---|---:|---:|"]
    for name in dict.fromkeys(r["workload"] for r in rows):
        passes = [r for r in rows if r["workload"] == name]
        rate = len(passes) / sum(1 / r[r["rule"]] for r in passes)  # the three passes have equal flops
        lines.append(f"| {name} | {rate:.1f} | {100 * rate / peak:.0f} % |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch", type=int, default=None, help="override the workloads' batch size")
    args = parser.parse_args()
    peak = fma_peak_gflops(_isa.get_isa(), 1)
    rows = measure(args.repeats, args.batch)
    peak = max(peak, fma_peak_gflops(_isa.get_isa(), 1))  # before and after: the better of the two
    config = _runtime.config()
    print(
        f"ISA {_isa.get_isa()} (FMA peak {peak:.0f} GFLOP/s on one core); {config['blas']}; OPENBLAS_CORETYPE="
        f"{os.environ.get('OPENBLAS_CORETYPE', 'unset')}; 1 thread, best of {args.repeats}\n"
    )
    print(markdown(rows, peak))


if __name__ == "__main__":
    main()
