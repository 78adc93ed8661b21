"""Profile a training step of small_vgg and resnet20 (batch 64, SGD momentum 0.9).

    python scripts/profile_step.py [threads=1] [steps=10]

Times the whole step, then the same steps with every leaf layer's forward and
backward and the optimizer step wrapped by timers (the layer types summed; a
Residual or Sequential counts only through its children), so the table shows
where a step goes: convolutions, BatchNorm, ReLU, pooling, the optimizer, and
the rest (the loss, the residual additions, Python).  One thread: CPU time of
this thread; more: wall time.  Results: benchmarks/results/profile.md.
"""

import collections
import sys
import time

import numpy as np

import cnnfast
from cnnfast import models, optim
from cnnfast.layers import base

CONTAINERS = ("Sequential", "Residual")
BATCH = 64


def timed(totals, clock, kind, method):
    """``method`` (Layer.forward or .backward) adding its time to totals["Type.kind"]."""

    def wrapper(self, *args, **kwargs):
        name = type(self).__name__
        if name in CONTAINERS:  # counted through its children
            return method(self, *args, **kwargs)
        start = clock()
        result = method(self, *args, **kwargs)
        totals[f"{name}.{kind}"] += clock() - start
        return result

    return wrapper


def seconds_per_step(model, x, y, clock, steps):
    start = clock()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return (clock() - start) / steps


def profile(name, clock, steps):
    """(whole step, instrumented step, {"Type.pass": seconds per step}) of model ``name``."""
    model = getattr(models, name)(seed=0)
    model.compile(optimizer=optim.SGD(model.parameters(), lr=0.01, momentum=0.9), loss="cross_entropy", metrics=())
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, BATCH)
    model.train_on_batch(x, y)  # warm-up: workspaces, the optimizer's state
    step = seconds_per_step(model, x, y, clock, steps)

    totals = collections.defaultdict(float)
    forward, backward, optimizer_step = base.Layer.forward, base.Layer.backward, model.optimizer.step

    def timed_optimizer_step():
        start = clock()
        optimizer_step()
        totals["optimizer.step"] += clock() - start

    base.Layer.forward = timed(totals, clock, "forward", forward)
    base.Layer.backward = timed(totals, clock, "backward", backward)
    model.optimizer.step = timed_optimizer_step
    try:
        instrumented = seconds_per_step(model, x, y, clock, steps)
    finally:
        base.Layer.forward, base.Layer.backward, model.optimizer.step = forward, backward, optimizer_step
    return step, instrumented, {key: value / steps for key, value in totals.items()}


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    cnnfast.set_num_threads(threads)
    clock = time.thread_time if threads == 1 else time.perf_counter
    for name in ("small_vgg", "resnet20"):
        step, instrumented, totals = profile(name, clock, steps)
        print(
            f"\n{name}: training step {step * 1e3:.1f} ms ({BATCH / step:.0f} img/s) at {threads} thread(s); "
            f"instrumented {instrumented * 1e3:.1f} ms"
        )
        for key, value in sorted(totals.items(), key=lambda item: -item[1]):
            print(f"  {key:28s} {value * 1e3:7.2f} ms  {100 * value / instrumented:5.1f}%")
        other = instrumented - sum(totals.values())
        print(f"  {'other (loss, Python)':28s} {other * 1e3:7.2f} ms  {100 * other / instrumented:5.1f}%")


if __name__ == "__main__":
    main()
