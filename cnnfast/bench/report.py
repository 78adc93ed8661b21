"""Print the benchmark table and describe the machine it ran on."""

from __future__ import annotations

import math
import os
import platform
import sys

import numpy as np

from .. import _runtime
from .threads import other_blas_controllers
from .workloads import CONV_WORKLOADS


def machine_description(torch=None):
    """CPU, cores, memory, OS, library versions, BLAS and thread settings."""
    description = {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numpy_blas": [f"{c.internal_api} {c.version} ({c.architecture})" for c in other_blas_controllers()],
        "torch": getattr(torch, "__version__", None),
        "cnnfast": _runtime.config(),
        "environment": {name: os.environ.get(name, "unset")
                        for name in ("OMP_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS",
                                     "MKL_NUM_THREADS")},
    }
    if torch is not None:
        description["torch_parallel"] = torch.__config__.parallel_info().splitlines()[:6]
    return description


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def geometric_mean(values):
    values = [v for v in values if v and math.isfinite(v)]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def _index(report):
    return {(r["workload"], r["threads"], r["pass"], r["backend"]): r for r in report["results"]}


def speed_ratio(index, workload, threads, pass_name, backend, baseline):
    """seconds(baseline) / seconds(backend) from ``_index(report)``: > 1 means ``backend`` is faster."""
    mine, theirs = index.get((workload, threads, pass_name, backend)), index.get((workload, threads, pass_name,
                                                                                   baseline))
    if mine is None or theirs is None:
        return float("nan")
    return theirs["seconds"] / mine["seconds"]


def _rate(record):
    if record is None:
        return "-"
    if record["gflops"] is not None:
        return f"{record['gflops']:.1f} GF/s"
    if record["gbytes_per_s"] is not None:
        return f"{record['gbytes_per_s']:.1f} GB/s"
    return f"{record['images_per_s']:.0f} img/s"


def _ms(record):
    return "-" if record is None else f"{record['seconds'] * 1e3:.2f}"


def _share(record):
    return "-" if record is None or record.get("share_of_peak") is None else f"{100 * record['share_of_peak']:.0f}%"


def _ratio(value):
    return "-" if not math.isfinite(value) else f"{value:.2f}"


def format_table(report, workloads, backends):
    """The printed table: per thread count, one row per workload and pass; the
    FMA peaks and the convolutions' dispatch first."""
    index = _index(report)
    sgemm = {(s["workload"], s["threads"]): s["gflops"] for s in report["sgemm"]}
    mem = {(m["workload"], m["threads"], m["backend"]): m["peak_extra_bytes"] for m in report["memory"]}
    lines = _ceilings(report)
    for threads in sorted({r["threads"] for r in report["results"]}):
        lines.append(f"\ncnnfast bench: float32, {threads} thread(s); ms = median; ratios > 1 mean cnnfast is faster; "
                     f"%peak = share of the {report.get('isa', '?')} FMA peak")
        header = f"{'workload':<10} {'pass':<8}" + "".join(f" {b + ' ms':>12}" for b in backends)
        header += "".join(f" {b + ' rate':>15}" for b in backends)
        header += "".join(f" {b[:5] + ' %peak':>11}" for b in backends if b != "reference")
        header += f" {'fast/torch':>10} {'fast/ref':>9} {'sgemm GF/s':>10} {'fwd/sgemm':>9}"
        header += "".join(f" {b + ' MiB':>9}" for b in backends)
        lines.append(header)
        for workload in workloads:
            for pass_name in workload.passes:
                rows = [index.get((workload.name, threads, pass_name, b)) for b in backends]
                if not any(rows):
                    continue
                line = f"{workload.name:<10} {pass_name:<8}" + "".join(f" {_ms(r):>12}" for r in rows)
                line += "".join(f" {_rate(r):>15}" for r in rows)
                line += "".join(f" {_share(r):>11}" for r, b in zip(rows, backends) if b != "reference")
                line += f" {_ratio(speed_ratio(index, workload.name, threads, pass_name, 'fast', 'torch')):>10}"
                line += f" {_ratio(speed_ratio(index, workload.name, threads, pass_name, 'fast', 'reference')):>9}"
                ceiling = sgemm.get((workload.name, threads))
                fast = index.get((workload.name, threads, pass_name, "fast"))
                show_ceiling = ceiling is not None and pass_name == "forward" and fast is not None
                line += f" {ceiling:10.1f}" if show_ceiling else f" {'':>10}"
                line += f" {fast['gflops'] / ceiling:9.2f}" if show_ceiling else f" {'':>9}"
                for backend in backends:
                    extra = mem.get((workload.name, threads, backend)) if pass_name == workload.full_pass else None
                    line += f" {extra / 2**20:9.1f}" if extra is not None else f" {'':>9}"
                lines.append(line)
        lines += _summary(index, threads, workloads)
    lines += [f"note: {note}" for note in report["notes"]]
    return "\n".join(lines)


def _ceilings(report):
    """FMA peak per ISA and thread count, and which implementation each convolution takes."""
    lines = []
    for isa in dict.fromkeys(p["isa"] for p in report.get("fma_peak", [])):
        peaks = ", ".join(f"{p['gflops']:.0f} GFLOP/s at {p['threads']} thread(s)"
                          for p in report["fma_peak"] if p["isa"] == isa)
        lines.append(f"FMA peak ({isa}{', in use' if isa == report.get('isa') else ''}): {peaks}")
    for d in report.get("dispatch", []):
        lines.append(f"dispatch {d['workload']}: forward {d['forward']}, input gradient {d['input_grad']}, "
                     f"weight gradient {d['weight_grad']}")
    return lines


def _summary(index, threads, workloads):
    names = {w.name for w in workloads}
    lines = []
    conv = [w.name for w in CONV_WORKLOADS if w.name in names]
    pools = [w.name for w in workloads if w.kind == "pool"]
    for label, group in (("convolution (the nine named workloads present)", conv), ("pooling", pools)):
        ratios = [speed_ratio(index, name, threads, "both", "fast", "torch") for name in group]
        if group and any(math.isfinite(r) for r in ratios):
            lines.append(f"{label}, forward+backward fast/torch: geometric mean {geometric_mean(ratios):.2f}, "
                         f"lowest {min(r for r in ratios if math.isfinite(r)):.2f}")
    for workload in (w for w in workloads if w.kind == "model"):
        for pass_name in workload.passes:
            fast, torch = (index.get((workload.name, threads, pass_name, b)) for b in ("fast", "torch"))
            if fast is not None:
                versus = f" vs torch {torch['images_per_s']:.0f} ({fast['images_per_s'] / torch['images_per_s']:.2f}x)" \
                    if torch is not None else ""
                share = f"; {_share(fast)} of peak" + (f" (torch {_share(torch)})" if torch is not None else "") \
                    if fast.get("share_of_peak") is not None else ""
                lines.append(f"{workload.name} {pass_name} (batch {workload.batch(pass_name)}): "
                             f"{fast['images_per_s']:.0f} images/s{versus}{share}")
    return lines


def command_line(argv):
    """How this run was started, as a user would type it."""
    return " ".join(["cnnfast", "bench"] + list(argv)) if argv is not None else " ".join(sys.argv)
