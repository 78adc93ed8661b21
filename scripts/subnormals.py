"""Find out whether subnormal floats slow `cnnfast train` down late in training.

    python scripts/subnormals.py [--lr 0.05] [--epochs 12] [--numpy-sgd]

Trains LeNet-5 as `cnnfast train` does (bundled MNIST subset, SGD with Nesterov
momentum 0.9, cosine learning rate, batch 64) on one thread, one epoch at a
time, and prints per epoch: images per CPU second, the CPU seconds of the
optimizer steps, and how many subnormal values (0 < |v| < finfo.tiny) the
weights, the last gradients, the optimizer's state and the activations of a
batch hold.  CPU time of this thread: other processes on a shared machine do
not count against the epoch.  --numpy-sgd runs the optimizer's NumPy update
(the code before the SGD kernel) instead of functional.sgd_update.
Results: benchmarks/results/subnormals.md.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import cnnfast
from cnnfast import models, train
from cnnfast.optim import optimizers


def subnormal_count(array, tiny):
    return 0 if array is None else int(np.count_nonzero((array != 0) & (np.abs(array) < tiny)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--numpy-sgd", action="store_true", help="the NumPy SGD update, not the kernel")
    args = parser.parse_args()
    if args.numpy_sgd:
        optimizers._fused_sgd_update = lambda *unused: False
    cnnfast.set_num_threads(1)
    (x, y), _ = train.load("bundled")
    model = models.lenet5(seed=0)
    model.compile(optimizer="sgd", loss="cross_entropy", lr=args.lr, momentum=0.9, nesterov=True)
    tiny = np.finfo(np.float32).tiny
    optimizer_seconds = [0.0]
    step = model.optimizer.step

    def timed_step():
        start = time.thread_time()
        step()
        optimizer_seconds[0] += time.thread_time() - start

    model.optimizer.step = timed_step
    print(f"LeNet-5, lr {args.lr} (cosine), {'NumPy' if args.numpy_sgd else 'kernel'} SGD update, 1 thread")
    for epoch in range(args.epochs):
        model.optimizer.lr = args.lr * 0.5 * (1 + np.cos(np.pi * epoch / args.epochs))
        optimizer_seconds[0] = 0.0
        start = time.thread_time()
        model.fit(x, y, epochs=epoch + 1, initial_epoch=epoch, batch_size=64, shuffle=True, verbose=0)
        seconds = time.thread_time() - start
        params = model.parameters()
        weights = sum(subnormal_count(p.data, tiny) for p in params)
        grads = sum(subnormal_count(p.grad, tiny) for p in params)
        state = sum(
            subnormal_count(v, tiny) for s in model.optimizer.state for v in s.values() if isinstance(v, np.ndarray)
        )
        activations, total = 0, 0
        h = x[:256]
        for layer in model:
            h = layer.forward(h)
            activations += subnormal_count(h, tiny)
            total += h.size
        print(
            f"epoch {epoch + 1:2d}: {len(x) / seconds:6.0f} img/s, optimizer {optimizer_seconds[0]:.3f} s; "
            f"subnormal: weights {weights}, gradients {grads}, optimizer state {state} "
            f"(of {sum(p.size for p in params)}), activations {activations} (of {total})",
            flush=True,
        )


if __name__ == "__main__":
    main()
