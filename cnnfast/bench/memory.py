"""Peak extra memory of one call, from the kernel's own peak-RSS counter.

Linux keeps a high-water mark of the resident set (VmHWM) and lets a process
reset it to the current RSS (``echo 5 > /proc/self/clear_refs``), so the peak
of a call is measured exactly, whoever allocates (C, OpenMP, BLAS, NumPy,
PyTorch).  glibc keeps freed blocks resident for reuse, and a call that
reuses them would look free, so ``exact_malloc_accounting()`` fixes glibc's
mmap threshold (every block over 128 KiB then comes from the system and goes
back on free) and each measurement first hands the heap's free pages back
(``malloc_trim(0)``).  That slows allocation a little, so it is switched on
only after all timing.  Elsewhere the figures are reported as unavailable.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"


def available():
    """Whether this system lets us reset and read the peak RSS."""
    try:
        with open(_CLEAR_REFS, "w") as f:
            f.write("5")
        return _read_status("VmHWM") is not None
    except OSError:
        return False


def _libc():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def exact_malloc_accounting():
    """Make glibc map every block over 128 KiB on its own (see the module doc)."""
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024)


def _release_free_heap():
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def _read_status(field):
    with open(_STATUS) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return None


def peak_extra_bytes(function):
    """Bytes by which the resident set grew at its peak while ``function()`` ran
    (its results included, as they are alive when it returns)."""
    _release_free_heap()
    before = _read_status("VmRSS")
    with open(_CLEAR_REFS, "w") as f:
        f.write("5")
    result = function()
    peak = _read_status("VmHWM")
    del result
    return max(0, peak - before)
