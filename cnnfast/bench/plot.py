"""Draw the benchmark as a PNG (needs matplotlib: ``pip install "cnnfast[plot]"``).

One row per thread count: forward+backward GFLOP/s of the GEMM-bound
convolutions (with the measured FMA peak of the ISA in use as a dashed line)
and GB/s of the memory-bound workloads (pooling, depthwise), one bar per
backend.  With several thread counts, a last row shows each backend's
speed-up over its own run at the lowest count.
"""

from __future__ import annotations

import numpy as np

COLOURS = {"fast": "tab:blue", "torch": "tab:orange", "reference": "tab:gray"}


def _bars(axis, names, values_by_backend, ylabel, title):
    width = 0.8 / max(1, len(values_by_backend))
    positions = np.arange(len(names))
    for i, (backend, values) in enumerate(values_by_backend.items()):
        axis.bar(positions + (i - (len(values_by_backend) - 1) / 2) * width, values, width,
                 label=backend, color=COLOURS.get(backend))
    axis.set_xticks(positions, names, rotation=35, ha="right", fontsize=8)
    axis.set_ylabel(ylabel)
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=8)


def draw(report, workloads, backends, path):
    """Write the figure for ``report`` to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

    # Kernels: forward + backward; models: a training step (their rate is images/s,
    # so they appear in the speed-up panel only).
    index = {(r["workload"], r["threads"], r["backend"]): r for r in report["results"]
             if r["pass"] == ("train" if r["kind"] == "model" else "both")}
    thread_counts = sorted({r["threads"] for r in report["results"]})
    compute = [w.name for w in workloads if w.kind != "model" and w.gemm_shape() is not None]
    memory_bound = [w.name for w in workloads if w.kind != "model" and w.gemm_shape() is None]
    rows = len(thread_counts) + (len(thread_counts) > 1)
    figure, axes = plt.subplots(rows, 2, figsize=(13, 3.6 * rows), squeeze=False)
    for row, threads in enumerate(thread_counts):
        for axis, names, key, unit in ((axes[row][0], compute, "gflops", "GFLOP/s"),
                                       (axes[row][1], memory_bound, "gbytes_per_s", "GB/s")):
            values = {b: [index[(n, threads, b)][key] if (n, threads, b) in index else 0.0 for n in names]
                      for b in backends}
            _bars(axis, names, values, unit, f"forward+backward, {threads} thread(s), {unit}")
            peak = [p["gflops"] for p in report.get("fma_peak", [])
                    if p["isa"] == report.get("isa") and p["threads"] == threads]
            if key == "gflops" and peak:
                axis.axhline(peak[0], color="black", linewidth=0.8, linestyle="--")
                axis.annotate(f"{report['isa']} FMA peak", (0, peak[0]), fontsize=7, va="bottom")
    if len(thread_counts) > 1:
        low = thread_counts[0]
        names = [w.name for w in workloads]
        for axis, threads in zip(axes[-1], thread_counts[1:3]):
            speedups = {b: [index[(n, low, b)]["seconds"] / index[(n, threads, b)]["seconds"]
                            if (n, low, b) in index and (n, threads, b) in index else 0.0 for n in names]
                        for b in backends if b != "reference"}
            _bars(axis, names, speedups, f"speed-up over {low} thread(s)",
                  f"forward+backward (models: training step) speed-up, {threads} vs {low} thread(s)")
            axis.axhline(threads / low, color="black", linewidth=0.8, linestyle="--")
        for axis in axes[-1][len(thread_counts[1:3]):]:
            axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
