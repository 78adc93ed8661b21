"""The main job until the layer API lands: convolve and pool a batch with the
fast kernels and the NumPy reference, check they agree, and print the speed ratio.

    python -m cnnfast.demo [--batch 64] [--threads N]
"""

import argparse
import time

import numpy as np

import cnnfast
from cnnfast import functional as F


def step(backend, x, weight, bias):
    """Conv 3x3 + max pool 2x2 forward, then both backward passes."""
    y = F.conv2d(x, weight, bias, padding=1, backend=backend)
    pooled, argmax = F.max_pool2d(y, 2, backend=backend)
    grad_y = F.max_pool2d_backward(np.ones_like(pooled), argmax, y.shape, backend=backend)
    return (pooled,) + F.conv2d_backward(grad_y, x, weight, padding=1, backend=backend)


def best_time(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.threads is not None:
        cnnfast.set_num_threads(args.threads)
    cnnfast.show_config()

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, 32, 32, 32), dtype=np.float32)
    weight = rng.standard_normal((64, 32, 3, 3), dtype=np.float32) / (32 * 9) ** 0.5
    bias = rng.standard_normal(64, dtype=np.float32)

    fast = step("fast", x, weight, bias)
    reference = step("reference", x, weight, bias)
    error = max(float(np.abs(a - b).max() / max(np.abs(b).max(), 1.0)) for a, b in zip(fast, reference))
    fast_seconds = best_time(lambda: step("fast", x, weight, bias), args.repeats)
    reference_seconds = best_time(lambda: step("reference", x, weight, bias), max(1, args.repeats // 2))
    images = args.batch
    print(f"\nconv 3x3 (32->64 channels, 32x32) + max pool 2x2, forward and backward, batch {images}, float32")
    print(f"fast      {fast_seconds * 1e3:8.2f} ms  {images / fast_seconds:9.0f} images/s")
    print(f"reference {reference_seconds * 1e3:8.2f} ms  {images / reference_seconds:9.0f} images/s")
    print(f"fast / reference speed ratio: {reference_seconds / fast_seconds:.1f}x;"
          f" largest relative difference {error:.1e}")
    if error > 1e-4:
        raise SystemExit("the fast kernels disagree with the reference")


if __name__ == "__main__":
    main()
