"""Give every backend the same thread count, one library at a time.

cnnfast's kernels take ``cnnfast.set_num_threads`` (its own OpenBLAS stays at
one thread inside them); the NumPy reference's BLAS is limited through
threadpoolctl; PyTorch takes ``torch.set_num_threads``.
"""

from __future__ import annotations

import os
from contextlib import contextmanager, nullcontext

from .. import _runtime


def other_blas_controllers():
    """threadpoolctl controllers of every BLAS in the process except cnnfast's
    own (which stays pinned to one thread); empty without threadpoolctl."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return []
    ours = os.path.realpath(_runtime._openblas._name)
    return [c for c in ThreadpoolController().lib_controllers
            if c.user_api == "blas" and os.path.realpath(c.filepath) != ours]


def blas_limiter():
    """``limit(threads)``: a context manager that runs NumPy's BLAS (and any
    other BLAS but cnnfast's) with ``threads`` threads and restores it after."""
    controllers = other_blas_controllers()
    if not controllers:
        return lambda threads: nullcontext()

    @contextmanager
    def limit(threads):
        saved = [c.num_threads for c in controllers]
        for controller in controllers:
            controller.set_num_threads(threads)
        try:
            yield
        finally:
            for controller, count in zip(controllers, saved):
                controller.set_num_threads(count)
    return limit


@contextmanager
def cnnfast_blas_threads(threads):
    """Let cnnfast's own OpenBLAS use ``threads`` threads (for the sgemm
    ceiling, which runs outside any OpenMP region), then pin it back to one."""
    _runtime._openblas.scipy_openblas_set_num_threads(threads)
    try:
        yield
    finally:
        _runtime._openblas.scipy_openblas_set_num_threads(1)
