"""Ceilings: what the hardware and the BLAS can do, measured in the same run.

* The FMA peak: each ISA's register-resident loop of independent fused
  multiply-adds (the micro-kernels' own ``fma_peak``), on 1 and on N threads
  at once.  Nothing multiplies faster on this core; a convolution's or a
  model's GFLOP/s divided by it is its distance to the physical limit.
* The sgemm ceiling: how fast cnnfast's own BLAS multiplies the GEMM that
  im2col makes of a convolution; the ratio conv / sgemm says how much of it
  the convolution keeps.
"""

from __future__ import annotations

import ctypes
import statistics
import threading
import time

import numpy as np

from .. import _isa, _kernels, _runtime
from .threads import cnnfast_blas_threads

_ROW_MAJOR, _NO_TRANS = 101, 111  # CBLAS enum values
_INT = ctypes.c_int  # scipy-openblas32: 32-bit BLAS integers
_FLOAT_P = ctypes.POINTER(ctypes.c_float)


def _sgemm():
    sgemm = _runtime._openblas.scipy_cblas_sgemm
    sgemm.restype = None
    sgemm.argtypes = [_INT, _INT, _INT, _INT, _INT, _INT, ctypes.c_float, _FLOAT_P, _INT, _FLOAT_P, _INT,
                      ctypes.c_float, _FLOAT_P, _INT]
    return sgemm


def sgemm_gflops(m, n, k, threads, repeats=5):
    """GFLOP/s (2*m*n*k per call, median of ``repeats`` after a warm-up) of
    C (m, n) = A (m, k) @ B (k, n) in float32 on ``threads`` threads."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = np.empty((m, n), dtype=np.float32)
    sgemm = _sgemm()
    pointer = lambda array: array.ctypes.data_as(_FLOAT_P)

    def call():
        sgemm(_ROW_MAJOR, _NO_TRANS, _NO_TRANS, m, n, k, 1.0, pointer(a), k, pointer(b), n, 0.0, pointer(c), n)

    times = []
    with cnnfast_blas_threads(threads):
        call()
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
    np.testing.assert_allclose(c[:2, :2], a[:2] @ b[:, :2], rtol=1e-3, atol=1e-3 * np.sqrt(k))
    return 2.0 * m * n * k / statistics.median(times) / 1e9


def _fma_loop_rates(isa, threads, iterations):
    """Float32 flops per CPU second of each of `threads` threads running
    `iterations` rounds of the ISA's FMA loop at once (the binding releases the
    GIL).  CPU time, not wall time: on a shared machine a thread that loses its
    core for a while does not count that while against the core's peak."""
    start_line = threading.Barrier(threads)
    rates = []

    def worker():
        start_line.wait()
        begin = time.thread_time()
        flops = _kernels.fma_peak_flops(isa, "f", iterations)
        rates.append(flops / max(time.thread_time() - begin, 1e-9))

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return rates


def fma_peak_gflops(isa, threads, seconds=0.15, repeats=3):
    """Float32 GFLOP/s of ``isa``'s FMA loop on ``threads`` threads together
    (the sum of their rates): the best of ``repeats`` runs of about ``seconds``."""
    iterations = 1000
    while True:
        begin = time.thread_time()
        _kernels.fma_peak_flops(isa, "f", iterations)
        spent = time.thread_time() - begin
        if spent >= seconds / 8:
            break
        iterations *= 4
    iterations = max(1, int(iterations * seconds / max(spent, 1e-6)))
    return max(sum(_fma_loop_rates(isa, threads, iterations)) for _ in range(repeats)) / 1e9


def fma_peaks(thread_counts, quick=False):
    """[{"isa", "threads", "gflops"}] for every ISA available here and thread count
    (``quick``: one short run each, for tests)."""
    seconds, repeats = (0.01, 1) if quick else (0.15, 3)
    return [{"isa": isa, "threads": threads, "gflops": fma_peak_gflops(isa, threads, seconds, repeats)}
            for isa in _isa.available_isas() for threads in thread_counts]
