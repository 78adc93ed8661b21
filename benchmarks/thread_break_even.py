"""Where does a second thread start to pay?  The measurement behind each
``*_THREAD_WORK`` constant in csrc/ (see cnnfast_threads_for in csrc/threads.h).

For each kernel family, over growing sizes: the time of one call on 1 thread
and on 2 threads forced (the size rule switched off, the contention monitor
off), interleaved, median of ``--repeats`` rounds.  The work column counts
what the kernel's rule counts (multiply-adds, window taps, elements); the
break-even is the smallest work where 2 threads are faster, and the
constant is half of it (each of 2 threads must get at least that much).

    python benchmarks/thread_break_even.py [--only NAME ...] [--repeats 15]

Run it on an otherwise idle machine: other work on the CPUs moves every
break-even up.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import cnnfast
from cnnfast import _checks, _kernels

RNG = np.random.default_rng(0)


def array(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# Each family: size n -> (one call, its work as the kernel's rule counts it).

def max_pool_forward(n):  # n planes of 28x28, 2x2 / stride 2: taps
    x, g = _checks.pool2d_args(array(n, 1, 28, 28), 2, 2, 0)
    y, argmax = np.empty(g.output_shape, np.float32), np.empty(g.output_shape, np.int64)
    return (lambda: _kernels.max_pool2d_forward(g, x, y, argmax)), n * 14 * 14 * 4


def avg_pool_forward(n):
    x, g = _checks.pool2d_args(array(n, 1, 28, 28), 2, 2, 0)
    y = np.empty(g.output_shape, np.float32)
    return (lambda: _kernels.avg_pool2d_forward(g, True, x, y)), n * 14 * 14 * 4


def max_pool_backward(n):  # elements of grad_x zeroed + of grad_y added
    x, g = _checks.pool2d_args(array(n, 1, 28, 28), 2, 2, 0)
    y, argmax = np.empty(g.output_shape, np.float32), np.empty(g.output_shape, np.int64)
    _kernels.max_pool2d_forward(g, x, y, argmax)
    grad_x = np.empty_like(x)
    return (lambda: _kernels.max_pool2d_backward(g, y, argmax, grad_x)), n * (28 * 28 + 14 * 14)


def avg_pool_backward(n):  # elements of grad_x written + taps
    grad_y, g = _checks.pool2d_backward_args(array(n, 1, 14, 14), (n, 1, 28, 28), 2, 2, 0)
    grad_x = np.empty(g.input_shape, np.float32)
    return (lambda: _kernels.avg_pool2d_backward(g, True, grad_y, grad_x)), n * (28 * 28 + 14 * 14 * 4)


def depthwise_forward(n):  # n images of 8 channels 14x14, 3x3: multiply-adds
    x, w, _, g = _checks.conv2d_args(array(n, 8, 14, 14), array(8, 1, 3, 3), None, 1, 1, 1, 8)
    y = np.empty(g.output_shape, np.float32)
    return (lambda: _kernels.conv2d_forward(g, x, w, None, y)), n * 8 * 14 * 14 * 9


def depthwise_backward(n):  # grad_x and grad_weight: twice the forward's
    grad_y, x, w, g = _checks.conv2d_backward_args(array(n, 8, 14, 14), array(n, 8, 14, 14), array(8, 1, 3, 3),
                                                   1, 1, 1, 8)
    grad_x, grad_w = np.empty_like(x), np.empty_like(w)
    return (lambda: _kernels.conv2d_backward(g, grad_y, x, w, grad_x, grad_w)), 2 * n * 8 * 14 * 14 * 9


def depthwise_backward_5x5(n):  # the general loops
    grad_y, x, w, g = _checks.conv2d_backward_args(array(n, 8, 14, 14), array(n, 8, 14, 14), array(8, 1, 5, 5),
                                                   1, 2, 1, 8)
    grad_x, grad_w = np.empty_like(x), np.empty_like(w)
    return (lambda: _kernels.conv2d_backward(g, grad_y, x, w, grad_x, grad_w)), 2 * n * 8 * 14 * 14 * 25


def bias_gradient(n):  # n images of LeNet-5's C3 output, 16 x 10 x 10: elements
    grad_y, _, _, g = _checks.conv2d_backward_args(array(n, 16, 10, 10), array(n, 6, 14, 14), array(16, 6, 5, 5),
                                                   1, 0, 1, 1)
    grad_bias = np.empty(16, np.float32)
    return (lambda: _kernels.conv2d_bias_grad(g, grad_y, grad_bias)), n * 16 * 100


def conv_forward(n):  # n images of LeNet-5's C3: multiply-adds
    x, w, _, g = _checks.conv2d_args(array(n, 6, 14, 14), array(16, 6, 5, 5), None, 1, 0, 1, 1)
    y = np.empty(g.output_shape, np.float32)
    return (lambda: _kernels.conv2d_forward(g, x, w, None, y)), n * 16 * 100 * 150


def linear_forward(n):  # n rows of LeNet-5's F6: multiply-adds
    x, w, y = array(16 * n, 120), array(84, 120), np.empty((16 * n, 84), np.float32)
    return (lambda: _kernels.linear_forward(x, w, None, y)), 16 * n * 120 * 84


FAMILIES = {f.__name__: f for f in (max_pool_forward, avg_pool_forward, max_pool_backward, avg_pool_backward,
                                    depthwise_forward, depthwise_backward, depthwise_backward_5x5,
                                    bias_gradient, conv_forward, linear_forward)}


def seconds_per_call(call, calls):
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - start) / calls


def sweep(name, sizes, repeats):
    print(f"\n{name}: work, 1 thread us, 2 threads us, speed-up")
    break_even = None
    for n in sizes:
        call, work = FAMILIES[name](n)
        call()
        calls = max(1, min(2000, int(2e-3 / max(seconds_per_call(call, 1), 1e-7))))
        one, two = [], []
        for _ in range(repeats):
            cnnfast.set_num_threads(1)
            one.append(seconds_per_call(call, calls))
            cnnfast.set_num_threads(2)
            two.append(seconds_per_call(call, calls))
        a, b = statistics.median(one), statistics.median(two)
        if break_even is None and a > b:
            break_even = work
        print(f"{work:>12,d} {a * 1e6:9.2f} {b * 1e6:9.2f} {a / b:6.2f}", flush=True)
    print(f"{name}: 2 threads first faster at {break_even:,} (constant: half)" if break_even
          else f"{name}: 2 threads never faster in this range")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=sorted(FAMILIES), default=sorted(FAMILIES))
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    saved = cnnfast.get_num_threads()
    _kernels.set_adaptive(False)
    _kernels._force_parallel(True)
    try:
        for name in args.only:
            sweep(name, [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128], args.repeats)
    finally:
        _kernels._force_parallel(False)
        cnnfast.set_num_threads(saved)


if __name__ == "__main__":
    main()
