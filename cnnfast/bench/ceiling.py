"""The sgemm ceiling: how fast cnnfast's own BLAS multiplies the GEMM that
im2col makes of a convolution.  A convolution by im2col + GEMM cannot beat it;
the ratio conv / sgemm says how much of it the convolution keeps."""

from __future__ import annotations

import ctypes
import statistics
import time

import numpy as np

from .. import _runtime
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
