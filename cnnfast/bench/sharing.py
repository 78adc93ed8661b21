"""``cnnfast bench --processes N``: throughput when processes share the machine.

N processes, started together, each run LeNet-5 training steps (batch 64) for
``--seconds``; the figure is their summed images/s.  Per backend:

* ``default``: every process at its default thread count (what a user gets
  from two notebooks, two MPI ranks, pytest-xdist workers...);
* ``1 thread``: every process at one thread: the baseline, the share each
  process could have at most;
* ``default + threadpool_limits``: as ``default``, after
  ``threadpoolctl.threadpool_limits(<CPUs>)`` raised every BLAS and OpenMP
  pool in the process to the CPU count (what scientific stacks do);
  cnnfast only.

Ratios: default / 1 thread (sharing gracefully: >= 0.7 is the target) and
threadpool_limits / default (>= 0.9, with no "OpenBLAS Warning").  Settings
run round by round, interleaved; the table gives each setting's median over
the rounds, and each ratio is the median of the rounds' ratios.

The cnnfast processes load cnnfast's OpenMP runtime into the global symbol
scope before anything else (as happens when PyTorch is imported first), so
that OpenBLAS could see an OpenMP region and print its warning if cnnfast
ever let it use threads inside one: the warnings are counted.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from . import report as _report

WARMUP_STEPS = 5
TRAIN_BATCH = 64

#: Run first in a child, before cnnfast is imported: loads cnnfast's kernel
#: library, and with it its OpenMP runtime, into the global symbol scope.
OPENMP_GLOBAL = """
import ctypes, glob, importlib.util, os, sysconfig
for _path in glob.glob(os.path.join(importlib.util.find_spec("cnnfast").submodule_search_locations[0],
                                    "_kernels*" + sysconfig.get_config_var("EXT_SUFFIX"))):
    ctypes.CDLL(_path, mode=os.RTLD_GLOBAL)
"""


def settings_for(backends):
    """[(backend, label, threads or None for the default, raise threadpool limits)] to run."""
    rows = []
    for backend in backends:
        rows += [(backend, "default", None, False), (backend, "1 thread", 1, False)]
        if backend == "fast":
            rows.append((backend, "default + threadpool_limits", None, True))
    return rows


def _child_command(backend, threads, limits, seconds):
    config = json.dumps({"backend": backend, "threads": threads, "limits": limits, "seconds": seconds})
    prologue = OPENMP_GLOBAL if backend == "fast" else ""
    return [sys.executable, "-c", f"{prologue}\nfrom cnnfast.bench.sharing import child\nchild({config!r})"]


def child(config):
    """One process: build, warm up, say ``ready``, wait for ``go`` on stdin,
    train for the given seconds, print its figures as JSON."""
    config = json.loads(config)
    from . import cases
    from .runner import import_torch
    from .workloads import by_name

    workload = by_name(["lenet5"])[0]
    inputs = cases.make_inputs(workload)
    if config["backend"] == "torch":
        torch = import_torch()
        if config["threads"] is not None:
            torch.set_num_threads(config["threads"])
        step = cases.torch_case(workload, inputs, torch)["train"]
    else:
        import cnnfast

        if config["threads"] is not None:
            cnnfast.set_num_threads(config["threads"])
        step = cases.numpy_case(workload, inputs, "fast")["train"]
    if config["limits"]:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=os.cpu_count())  # kept for the life of the process
    for _ in range(WARMUP_STEPS):
        step()
    print("ready", flush=True)
    sys.stdin.readline()
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < config["seconds"]:
        step()
        steps += 1
    elapsed = time.perf_counter() - start
    result = {"images_per_s": steps * TRAIN_BATCH / elapsed, "steps": steps}
    if config["backend"] == "fast":
        from .. import _kernels

        result["thread_cap_at_end"] = _kernels.contention_cap()
    print(json.dumps(result), flush=True)


def run_together(processes, backend, threads, limits, seconds):
    """Start ``processes`` children, release them at once, return their
    results and the number of OpenBLAS warnings they printed."""
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)  # "default" means what a user gets with nothing set
    children = [subprocess.Popen(_child_command(backend, threads, limits, seconds), stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                for _ in range(processes)]
    try:
        for process in children:
            line = process.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"a {backend} process failed to start: {line}{process.stderr.read()}")
        for process in children:
            process.stdin.write("go\n")
            process.stdin.flush()
        results, warnings = [], 0
        for process in children:
            out, err = process.communicate(timeout=seconds * 20 + 120)
            if process.returncode != 0:
                raise RuntimeError(f"a {backend} process failed: {err}")
            results.append(json.loads(out.strip().splitlines()[-1]))
            warnings += err.count("OpenBLAS Warning")
        return results, warnings
    finally:
        for process in children:
            if process.poll() is None:
                process.kill()


def run(process_counts, backends, rounds, seconds, progress=None):
    """Every setting for every process count, ``rounds`` times, interleaved."""
    rows = settings_for(backends)
    samples = {(n, row): [] for n in process_counts for row in rows}
    details = {key: [] for key in samples}
    warnings = {key: 0 for key in samples}
    for _ in range(rounds):
        for processes in process_counts:
            for row in rows:
                results, count = run_together(processes, row[0], row[2], row[3], seconds)
                key = (processes, row)
                samples[key].append(sum(r["images_per_s"] for r in results))
                details[key].append(results)
                warnings[key] += count
                if progress:
                    progress(f"{processes} x {row[0]} {row[1]}")
    records = []
    for (processes, (backend, label, threads, limits)), values in samples.items():
        records.append({"processes": processes, "backend": backend, "setting": label, "threads": threads,
                        "threadpool_limits": os.cpu_count() if limits else None,
                        "images_per_s": statistics.median(values), "rounds": values,
                        "per_process": details[(processes, (backend, label, threads, limits))],
                        "openblas_warnings": warnings[(processes, (backend, label, threads, limits))]})
    return {"results": records, "ratios": ratios(records)}


def ratios(records):
    """The target figures, per process count: default / 1 thread for each
    backend, threadpool_limits / default for cnnfast.  Each is the median of
    the per-round ratios: the settings of one round ran one after the other,
    so a change in the machine's load between rounds cancels out."""
    index = {(r["processes"], r["backend"], r["setting"]): r["rounds"] for r in records}
    wanted = [("default / 1 thread", "default", "1 thread"),
              ("threadpool_limits / default", "default + threadpool_limits", "default")]
    out = []
    for (processes, backend, setting), rounds in index.items():
        for figure, top, bottom in wanted:
            if setting == top and (processes, backend, bottom) in index:
                per_round = [a / b for a, b in zip(rounds, index[(processes, backend, bottom)])]
                out.append({"processes": processes, "backend": backend, "figure": figure,
                            "ratio": statistics.median(per_round), "per_round": per_round})
    return out


def format_table(document):
    settings = document["settings"]
    title = (f"\ncnnfast bench --processes: LeNet-5 training steps (batch {TRAIN_BATCH}), processes started "
             f"together, {settings['seconds']:g} s each; summed images/s, median of {settings['rounds']} "
             f"round(s); {document['machine']['usable_cpus']} usable CPUs")
    header = (f"{'processes':>9} {'backend':<7} {'setting':<28} {'images/s':>10} {'per process':>12} "
              f"{'OpenBLAS warnings':>17}")
    lines = [title, header]
    for r in document["results"]:
        lines.append(f"{r['processes']:>9} {r['backend']:<7} {r['setting']:<28} {r['images_per_s']:>10,.0f} "
                     f"{r['images_per_s'] / r['processes']:>12,.0f} {r['openblas_warnings']:>17}")
    for r in document["ratios"]:
        rounds = ", ".join(f"{v:.2f}" for v in r["per_round"])
        lines.append(f"{r['processes']} process(es), {r['backend']}: {r['figure']} = {r['ratio']:.2f} "
                     f"(median of the rounds' {rounds})")
    lines += [f"note: {note}" for note in document["notes"]]
    return "\n".join(lines)


def main(args, argv=None):
    """``cnnfast bench --processes ...`` for parsed ``args``; returns the exit status."""
    from .runner import import_torch

    backends = [b for b in args.backends if b in ("fast", "torch")]
    notes = []
    if "torch" in backends and import_torch() is None:
        backends.remove("torch")
        notes.append("torch is not installed: the torch backend was skipped (pip install torch)")
    if not backends:
        print("cnnfast bench: --processes runs the fast and torch backends; none selected", file=sys.stderr)
        return 2
    rounds = 1 if args.quick else (args.repeats if args.repeats is not None else 3)
    seconds = args.seconds if args.seconds is not None else (0.5 if args.quick else 5.0)
    if rounds < 1 or seconds <= 0:
        print("cnnfast bench: --repeats must be >= 1 and --seconds > 0", file=sys.stderr)
        return 2
    load_before = _load_average()
    progress = None if args.no_progress else (lambda text: print(f"  done: {text}", file=sys.stderr, flush=True))
    report = run(args.processes, backends, rounds, seconds, progress)
    notes.append(f"load average (1 min) before / after: {load_before} / {_load_average()} "
                 "(other work on the machine lowers every figure)")
    document = {"command": _report.command_line(argv),
                "machine": _report.machine_description(import_torch() if "torch" in backends else None),
                "settings": {"processes": args.processes, "backends": backends, "rounds": rounds,
                             "seconds": seconds, "workload": "lenet5 train step, batch 64"},
                **report, "notes": notes}
    print(format_table(document))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=1))
        print(f"wrote {args.json}")
    return 0


def _load_average():
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None
