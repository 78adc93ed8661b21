"""Convolution forward+backward: cnnfast fast vs NumPy reference vs PyTorch.

    python benchmarks/conv_vs_torch.py [--threads 1,2] [--repeats 15] [--json PATH]

For each thread count, every backend runs at that count (cnnfast's OpenMP,
torch.set_num_threads, and NumPy's BLAS for the reference through
threadpoolctl).  Backends are timed in the same process, interleaved round by
round, with a short pause between backends so that another library's spinning
worker threads have gone idle.  The median of the rounds is reported, with the
ratios fast/torch and fast/reference (> 1 means cnnfast is faster).  A backend
whose result differs from the reference is refused.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cnnfast  # noqa: E402
from cnnfast._runtime import config  # noqa: E402
from cnnfast import functional as F  # noqa: E402
from benchmarks.workloads import CONV_WORKLOADS  # noqa: E402

# Long enough for another runtime's spinning workers to go idle, short enough
# that the VM does not park the idle vCPU: measured here, waking it after a
# 0.2 s pause cost ~10 ms, which would swamp the small workloads.
PAUSE_SECONDS = 0.01


def conv_step(backend, x, w, b, grad_y, workload):
    args = dict(stride=workload.stride, padding=workload.padding, groups=workload.groups)
    y = F.conv2d(x, w, b, backend=backend, **args)
    grads = F.conv2d_backward(grad_y, x, w, backend=backend, **args)
    return (y,) + tuple(grads)


def torch_step(torch, x, w, b, grad_y, workload):
    x = x.detach().requires_grad_(True)
    w = w.detach().requires_grad_(True)
    b = b.detach().requires_grad_(True)
    y = torch.nn.functional.conv2d(x, w, b, workload.stride, workload.padding, 1, workload.groups)
    y.backward(grad_y)
    return tuple(t.detach().numpy() for t in (y, x.grad, w.grad, b.grad))


def close(results, expected, rtol=1e-3):
    for got, want in zip(results, expected):
        scale = np.abs(want).max() + 1e-30
        if np.abs(got - want).max() > rtol * scale:
            return False
    return True


def measure(workload, threads, repeats, torch, numpy_blas_limit):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(workload.input_shape, dtype=np.float32)
    w = rng.standard_normal(workload.weight_shape, dtype=np.float32)
    w /= np.sqrt(np.prod(workload.weight_shape[1:]))
    b = rng.standard_normal(workload.out_channels, dtype=np.float32)
    grad_y = rng.standard_normal((workload.batch, workload.out_channels) + workload.output_size(),
                                 dtype=np.float32)

    cnnfast.set_num_threads(threads)
    runners = {"fast": lambda: conv_step("fast", x, w, b, grad_y, workload)}
    with numpy_blas_limit(threads):
        runners["reference"] = lambda: conv_step("reference", x, w, b, grad_y, workload)
        expected = runners["reference"]()
    if torch is not None:
        torch.set_num_threads(threads)
        tx, tw, tb, tg = (torch.from_numpy(a) for a in (x, w, b, grad_y))
        runners["torch"] = lambda: torch_step(torch, tx, tw, tb, tg, workload)

    times = {name: [] for name in runners}
    for name, run in runners.items():  # warm-up, and the correctness gate
        with numpy_blas_limit(threads):
            if not close(run(), expected):
                raise SystemExit(f"{name} differs from the reference on {workload.name}: refusing to report it")
    for _ in range(repeats):
        for name, run in runners.items():
            if name == "reference" and len(times[name]) >= max(3, repeats // 3):
                continue  # the reference is slow and steady: fewer rounds suffice
            time.sleep(PAUSE_SECONDS)
            with numpy_blas_limit(threads):
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def numpy_blas_limiter():
    """Context manager factory setting the thread count of every BLAS in the
    process but cnnfast's own (which stays pinned to one thread)."""
    import os
    from contextlib import contextmanager
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        from contextlib import nullcontext
        return lambda threads: nullcontext()
    import cnnfast._runtime as runtime
    ours = os.path.realpath(runtime._openblas._name)
    others = [c for c in ThreadpoolController().lib_controllers
              if c.user_api == "blas" and os.path.realpath(c.filepath) != ours]

    @contextmanager
    def limit(threads):
        saved = [c.num_threads for c in others]
        for controller in others:
            controller.set_num_threads(threads)
        try:
            yield
        finally:
            for controller, count in zip(others, saved):
                controller.set_num_threads(count)
    return limit


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--only", nargs="*", help="workload names")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        torch = None
        print("torch is not installed: the torch column is skipped")
    limiter = numpy_blas_limiter()
    workloads = [w for w in CONV_WORKLOADS if not args.only or w.name in args.only]
    results = []
    for threads in (int(t) for t in args.threads.split(",")):
        print(f"\nconv2d forward+backward, float32, {threads} thread(s); ratios > 1: cnnfast faster")
        print(f"{'workload':<10} {'fast ms':>9} {'torch ms':>9} {'ref ms':>9} {'fast GF/s':>10}"
              f" {'fast/torch':>11} {'fast/ref':>9}")
        ratios = []
        for workload in workloads:
            t = measure(workload, threads, args.repeats, torch, limiter)
            gflops = 3 * workload.forward_flops() / t["fast"] / 1e9
            vs_torch = t["torch"] / t["fast"] if "torch" in t else float("nan")
            vs_ref = t["reference"] / t["fast"]
            ratios.append(vs_torch)
            print(f"{workload.name:<10} {t['fast'] * 1e3:9.2f} {t.get('torch', float('nan')) * 1e3:9.2f}"
                  f" {t['reference'] * 1e3:9.2f} {gflops:10.1f} {vs_torch:11.2f} {vs_ref:9.2f}", flush=True)
            results.append({"workload": workload.name, "threads": threads,
                            "seconds": t, "fast_gflops": gflops,
                            "fast_over_torch": vs_torch, "fast_over_reference": vs_ref})
        if torch is not None:
            geomean = float(np.exp(np.mean(np.log(ratios))))
            print(f"geometric mean fast/torch at {threads} thread(s): {geomean:.2f}")
    if args.json:
        machine = {"cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
                   "numpy": np.__version__, "torch": getattr(torch, "__version__", None),
                   "cnnfast": cnnfast.__version__, "blas": config()["blas"],
                   "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "unset"),
                   "command": " ".join(sys.argv)}
        Path(args.json).write_text(json.dumps({"machine": machine, "results": results}, indent=1))


if __name__ == "__main__":
    main()
