"""Run-time settings of the kernels: BLAS, threads, workspace, configuration report.

Thread policy (one pool busy at a time): the kernels parallelise with OpenMP
over independent work (images, groups, row tiles, planes) and call BLAS from
inside those regions, so BLAS runs each of those calls on one thread (see
csrc/blas.h).  ``set_num_threads`` is the one knob; its default is decided in
:mod:`._thread_count` (``OMP_NUM_THREADS``, else the CPUs the process may use).
Every kernel starts at most that many threads, fewer for small calls, and
fewer while the CPUs are contended (csrc/threads.h), unless ``OMP_DYNAMIC=false``.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
import warnings

import numpy as np

from . import _isa, _kernels
from ._checks import positive_int
from ._thread_count import MAX_THREADS, adaptive_from_environment, effective_num_threads
from ._version import __version__

__all__ = ["set_num_threads", "get_num_threads", "set_workspace_limit", "get_workspace_limit",
           "show_config"]


def _zen5_or_newer():
    """Whether this is an AMD CPU of family 26 (Zen 5) or later with AVX-512.

    OpenBLAS 0.3.34 does not recognise these and falls back to its AVX2
    (Haswell) kernels: half the speed its AVX-512 (SkylakeX) kernels reach
    here (measured: sgemm 2048^2 on one core, 128 vs 245 GFLOP/s).
    """
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read(1 << 16)
    except OSError:
        return False
    fields = dict(line.split(":", 1) for line in info.split("\n\n")[0].splitlines() if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    flags = set(fields.get("flags", "").split())
    try:
        family = int(fields.get("cpu family", "0"))
    except ValueError:
        return False
    return (fields.get("vendor_id") == "AuthenticAMD" and family >= 26
            and {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags)


def _load_openblas():
    """Open scipy-openblas32's library, pin it to one thread and register it with the kernels.

    The kernels get its GEMMs and its thread-count getter and setter (they
    re-pin it to one thread whenever someone, e.g. threadpoolctl, raised it).

    Run-time dispatch: on a CPU that OpenBLAS does not recognise but that has
    AVX-512, ask it for its AVX-512 kernels (unless the user chose a core with
    OPENBLAS_CORETYPE).  The variable is read once, when the library loads.
    """
    override = "OPENBLAS_CORETYPE" not in os.environ and _zen5_or_newer()
    if override:
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
    try:
        import scipy_openblas32
    finally:
        if override:
            del os.environ["OPENBLAS_CORETYPE"]
    lib_dir = scipy_openblas32.get_lib_dir()
    names = sorted(name for name in os.listdir(lib_dir)
                   if name.startswith("libscipy_openblas") and name.endswith((".so", ".dylib", ".dll")))
    if not names:
        raise ImportError(f"cnnfast: no OpenBLAS library found in {lib_dir}")
    library = ctypes.CDLL(os.path.join(lib_dir, names[0]))
    library.scipy_openblas_set_num_threads(1)
    library.scipy_openblas_get_config.restype = ctypes.c_char_p
    library.scipy_openblas_get_corename.restype = ctypes.c_char_p
    address = lambda symbol: ctypes.cast(getattr(library, symbol), ctypes.c_void_p).value
    _kernels.register_blas(address("scipy_cblas_sgemm"), address("scipy_cblas_dgemm"),
                           address("scipy_openblas_get_num_threads"), address("scipy_openblas_set_num_threads"))
    return library, scipy_openblas32.__version__


_openblas, _openblas_version = _load_openblas()

# What set the thread count, for show_config: a ThreadCount, or None after set_num_threads(n).
_threads_decided_by = None


def set_num_threads(num_threads=None):
    """Set the number of threads every cnnfast kernel uses at most.

    Small calls still run on one thread, and while other processes keep the
    CPUs busy the kernels use fewer threads (unless ``OMP_DYNAMIC=false``);
    results are bitwise the same at any thread count.

    Parameters
    ----------
    num_threads : int in [1, 1024] or None
        None restores the default: ``OMP_NUM_THREADS`` when it is set, else
        the smallest of the CPUs in the affinity mask, the cgroup CPU quota
        and ``omp_get_max_threads()`` (``show_config()`` says which).

    Examples
    --------
    >>> cnnfast.set_num_threads(1)
    >>> cnnfast.get_num_threads()
    1
    >>> cnnfast.set_num_threads(None)   # back to the default
    """
    global _threads_decided_by
    if num_threads is None:
        decided = effective_num_threads(_kernels.default_num_threads())
        _kernels.set_num_threads(decided.count)
        _threads_decided_by = decided
        return
    num_threads = positive_int("num_threads", num_threads, MAX_THREADS)
    if num_threads > 1 and not _kernels.openmp_enabled():
        warnings.warn("cnnfast was built without OpenMP: kernels run on one thread", RuntimeWarning,
                      stacklevel=2)
    _kernels.set_num_threads(num_threads)
    _threads_decided_by = None


def get_num_threads():
    """The number of threads cnnfast kernels use at most."""
    return _kernels.get_num_threads()


def set_workspace_limit(nbytes):
    """Cap, in bytes, on the scratch memory of one convolution call (default 64 MiB).

    The im2col patch buffers of all threads, and the weight-gradient partial
    sums, stay under it whatever the batch size (one output row per thread is
    the floor).
    """
    nbytes = positive_int("nbytes", nbytes, 2**62)
    _kernels.set_workspace_limit(nbytes)


def get_workspace_limit():
    """The current convolution workspace cap in bytes."""
    return _kernels.get_workspace_limit()


def _threads_line():
    """The thread count and what decided it."""
    decided = _threads_decided_by
    if decided is None or decided.count != get_num_threads():
        return f"{get_num_threads()} (set_num_threads)"
    return f"{decided.count} (from {decided.source}: {decided.detail})"


def _adaptive_line():
    if not _kernels.openmp_enabled():
        return "off (no OpenMP)"
    if not _kernels.adaptive_enabled():
        why = "OMP_DYNAMIC=false" if not adaptive_from_environment(os.environ) else "no per-thread schedstat in /proc"
        return f"off ({why})"
    cap = _kernels.contention_cap()
    state = f"now {cap} of {get_num_threads()}" if cap < get_num_threads() else "not capped now"
    return f"on (fewer threads while the CPUs are contended; {state})"


def config():
    """The build and run-time configuration as a dict (what ``show_config`` prints)."""
    openmp = _kernels.openmp_enabled()
    return {
        "cnnfast": __version__,
        "compiler": _kernels.compiler(),
        "openmp": f"on (OpenMP {_kernels.openmp_version()})" if openmp else "OFF (built without OpenMP: one thread)",
        "threads": _threads_line(),
        "adaptive threads": _adaptive_line(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "unset"),
        "workspace limit": f"{get_workspace_limit() / 2**20:.1f} MiB",
        "numpy": np.__version__,
        "blas": f"scipy-openblas32 {_openblas_version} "
                f"({_openblas.scipy_openblas_get_config().decode()}; "
                f"kernels for {_openblas.scipy_openblas_get_corename().decode()}), "
                f"{_openblas.scipy_openblas_get_num_threads()} thread(s) now; one inside the kernels, "
                "which parallelise with OpenMP",
        "python": sys.version.split()[0],
        "platform": f"{platform.system()} {platform.machine()}",
        **_isa.config(),
    }


def show_config(file=None):
    """Print version, compiler, OpenMP, threads, NumPy and BLAS."""
    for key, value in config().items():
        print(f"{key + ':':<18}{value}", file=file)


set_num_threads(None)
_kernels.set_adaptive(adaptive_from_environment(os.environ))
