"""The default thread count of the kernels, decided in one place.

``OMP_NUM_THREADS`` when it is set (its first number, as OpenMP reads a
list); otherwise the smallest of

* the CPUs in this process's affinity mask (``taskset``, ``numactl``,
  cpuset cgroups, a batch scheduler's binding),
* its CPU quota, rounded up: cgroup v2 ``cpu.max`` or cgroup v1
  ``cpu.cfs_quota_us / cpu.cfs_period_us`` of this process's cgroup and of
  every cgroup above it (a container limited to 1 CPU on a 64-core host gets
  1 thread, not 64),
* ``omp_get_max_threads()``.

The same rule as scikit-learn's ``_openmp_effective_n_threads`` with loky's
``cpu_count``, except that the cgroups are found from ``/proc/self/cgroup``
and ``/proc/self/mountinfo`` rather than assumed at ``/sys/fs/cgroup``, and
that the quota of every ancestor counts.  Every reader takes a ``root`` so
that tests can point it at a simulated file tree.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from dataclasses import dataclass

# More threads than this only oversubscribes (and OpenMP may fail to create them).
MAX_THREADS = 1024


@dataclass(frozen=True)
class ThreadCount:
    """A default thread count and what decided it."""

    count: int
    source: str  # "OMP_NUM_THREADS", "CPU affinity", "cgroup CPU quota" or "omp_get_max_threads()"
    detail: str  # every input, for show_config


def omp_num_threads(environ):
    """The count ``OMP_NUM_THREADS`` asks for, or None when unset or invalid.

    Invalid values are ignored with a warning, as OpenMP ignores them.
    """
    value = environ.get("OMP_NUM_THREADS")
    if value is None or not value.strip():
        return None
    first = value.split(",")[0].strip()
    if first.isdigit() and int(first) >= 1:
        return min(int(first), MAX_THREADS)
    warnings.warn(f"cnnfast: ignoring OMP_NUM_THREADS={value!r}: not a positive integer", RuntimeWarning,
                  stacklevel=3)
    return None


def adaptive_from_environment(environ):
    """Whether the kernels may use fewer threads while the CPUs are contended.

    Yes unless ``OMP_DYNAMIC=false`` (OpenMP's switch for exactly that).
    """
    value = environ.get("OMP_DYNAMIC", "").strip().lower()
    if value in ("", "true"):
        return True
    if value == "false":
        return False
    warnings.warn(f"cnnfast: ignoring OMP_DYNAMIC={environ['OMP_DYNAMIC']!r}: not true or false",
                  RuntimeWarning, stacklevel=3)
    return True


def affinity_cpus():
    """CPUs this process may run on, or None where the OS does not say."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


# ------------------------------------------------------------------- cgroups

def _read(root, path):
    with open(os.path.join(root, path.lstrip("/"))) as f:
        return f.read()


def _unescape(field):
    """Undo mountinfo's octal escapes (of space, tab, newline and backslash)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _cpu_hierarchies(root):
    """The hierarchies that control CPU time, as [(version, this process's cgroup directory)].

    The v2 one and a v1 one with the ``cpu`` controller.
    """
    paths = {}  # 2 -> path (the "0::" line), 1 -> path (the line listing "cpu")
    for line in _read(root, "/proc/self/cgroup").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            paths[2] = path
        elif "cpu" in controllers.split(","):
            paths[1] = path
    found = []
    for line in _read(root, "/proc/self/mountinfo").splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        dash = fields.index("-")
        if dash < 5 or len(fields) < dash + 4:
            continue
        mount_root, mount_point = _unescape(fields[3]), _unescape(fields[4])
        fstype, super_options = fields[dash + 1], fields[dash + 3].split(",")
        version = 2 if fstype == "cgroup2" else 1 if fstype == "cgroup" and "cpu" in super_options else None
        if version is None or version not in paths:
            continue
        # The process's cgroup path is relative to the hierarchy's root; the
        # mount shows the part of the hierarchy below mount_root (a container
        # sees its own cgroup as "/" or as its full path, depending on the
        # cgroup namespace).
        path = paths[version]
        if mount_root != "/" and path.startswith(mount_root.rstrip("/") + "/"):
            relative = path[len(mount_root.rstrip("/")):]
        elif mount_root != "/" and path == mount_root:
            relative = "/"
        elif mount_root == "/":
            relative = path
        else:
            continue  # this cgroup is outside what the mount shows
        del paths[version]
        found.append((version, mount_point, relative))
    return found


def _quota_at(root, version, directory):
    """CPUs allowed by the files in ``directory``, or None for no limit."""
    try:
        if version == 2:
            quota, period = _read(root, os.path.join(directory, "cpu.max")).split()[:2]
            if quota == "max":
                return None
        else:
            quota = _read(root, os.path.join(directory, "cpu.cfs_quota_us")).strip()
            period = _read(root, os.path.join(directory, "cpu.cfs_period_us")).strip()
        quota, period = int(quota), int(period)
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def cgroup_cpu_quota(root="/"):
    """The process's CPU quota in CPUs (e.g. 1.5) and the file that sets it.

    None when no cgroup limits it.  The tightest of its cgroup and every
    ancestor, in every CPU hierarchy (v2 and v1 can both be mounted).
    """
    try:
        hierarchies = _cpu_hierarchies(root)
    except (OSError, UnicodeDecodeError):
        return None
    best = None
    for version, mount_point, relative in hierarchies:
        parts = [p for p in relative.split("/") if p]
        for depth in range(len(parts), -1, -1):
            directory = "/".join([mount_point.rstrip("/")] + parts[:depth]) or "/"
            cpus = _quota_at(root, version, directory)
            if cpus is not None and (best is None or cpus < best[0]):
                name = "cpu.max" if version == 2 else "cpu.cfs_quota_us"
                best = (cpus, os.path.join(directory, name))
    return best


# ------------------------------------------------------------------ decision

def effective_num_threads(openmp_max, environ=None, root="/", affinity=None):
    """The default thread count and what decided it.

    ``openmp_max`` is ``omp_get_max_threads()``; ``environ`` defaults to
    ``os.environ``; ``root`` and ``affinity`` (a CPU count) replace the real
    file tree and affinity mask in tests.
    """
    environ = os.environ if environ is None else environ
    requested = omp_num_threads(environ)
    if requested is not None:
        return ThreadCount(requested, "OMP_NUM_THREADS", f"OMP_NUM_THREADS={environ['OMP_NUM_THREADS']}")
    cpus = affinity_cpus() if affinity is None else affinity
    quota = cgroup_cpu_quota(root)
    # In this order, so that a tie names the more specific limit.
    candidates = []
    if cpus is not None:
        candidates.append((cpus, "CPU affinity"))
    if quota is not None:
        candidates.append((max(1, math.ceil(quota[0])), "cgroup CPU quota"))
    candidates.append((max(1, openmp_max), "omp_get_max_threads()"))
    count, source = min(candidates, key=lambda c: c[0])
    detail = "; ".join([
        f"affinity mask {cpus} CPUs" if cpus is not None else "affinity mask unknown",
        f"cgroup CPU quota {quota[0]:g} CPUs ({quota[1]})" if quota is not None else "no cgroup CPU quota",
        f"omp_get_max_threads() {openmp_max}",
    ])
    return ThreadCount(min(count, MAX_THREADS), source, detail)
