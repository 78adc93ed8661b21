"""How many kernel threads each rank runs: its share of the cores of its node.

Ranks on one node that each ran as many threads as the node has cores would
oversubscribe it P times over: measured on 2 cores, 2 ranks with 2 threads each
trained LeNet-5 at 406 images/s, with 1 thread each at 17,000 (issue 16).  So
by default a rank runs ``its cores // the ranks of its node that share them``,
where "its cores" is the default thread count decided in one place for every
process (:mod:`cnnfast._thread_count`: the affinity mask, the cgroup CPU quota,
``omp_get_max_threads()``).  The ranks of a node are found with
``Split_type(COMM_TYPE_SHARED)``; "share" compares the CPU affinity masks, so
that a launcher which already binds each rank to its own cores (Open MPI binds
to a core by default for two ranks, ``srun --cpu-bind=cores``) gives each rank
all of its own cores.  ``OMP_NUM_THREADS`` (as ``mpiexec -genv OMP_NUM_THREADS 2``
or ``-x`` sets it) and a count the user already set with
``cnnfast.set_num_threads`` (or ``cnnfast train --threads``) win.
"""

from __future__ import annotations

import os

__all__ = ["usable_cpus", "share", "per_rank_threads"]


def usable_cpus():
    """The CPUs this process may run on (its affinity mask), as a frozenset of CPU ids."""
    try:
        return frozenset(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no affinity mask to read
        return frozenset(range(os.cpu_count() or 1))


def share(cores, mine, node_cpus):
    """Threads for a rank that may use ``cores`` cores, on CPUs ``mine``, among ranks whose CPU sets are ``node_cpus``.

    Parameters
    ----------
    cores : int >= 1
        The threads this process would run alone (its default thread count).
    mine : frozenset of int
    node_cpus : list of frozenset of int
        The CPU set of every rank of the node (``mine`` included).

    Returns
    -------
    int >= 1
        ``cores`` divided (rounding down) by the number of ranks whose CPU
        sets overlap ``mine``: the ranks competing for the same cores.
    """
    competitors = sum(1 for cpus in node_cpus if cpus & mine)
    return max(1, cores // max(1, competitors))


def per_rank_threads(world, environ=None):
    """The default kernel threads of this rank, or None to leave the count as it is.

    Collective over the node: every rank of ``world`` calls it (once, in ``init``).

    Parameters
    ----------
    world : World
    environ : mapping, optional
        Default ``os.environ``; ``OMP_NUM_THREADS`` set there wins (None is returned).

    Returns
    -------
    int or None
        None when ``OMP_NUM_THREADS`` is set or the thread count was chosen
        with ``cnnfast.set_num_threads`` already.
    """
    from .. import _kernels, _runtime
    from .._thread_count import effective_num_threads

    mine = usable_cpus()
    node_cpus = world.node.allgather(mine)  # collective: computed on every rank before deciding
    decided = effective_num_threads(_kernels.default_num_threads(), os.environ if environ is None else environ)
    if decided.source == "OMP_NUM_THREADS":
        return None
    chosen = _runtime._threads_decided_by is None or _runtime.get_num_threads() != decided.count
    if chosen:  # set_num_threads(n) was called: the user's count stands
        return None
    return share(decided.count, mine, node_cpus)
