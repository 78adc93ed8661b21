"""How many kernel threads each rank runs: its share of the cores of its node.

Ranks on one node that each ran as many threads as the node has cores would
oversubscribe it P times over: measured on 2 cores, 2 ranks with 2 threads each
trained LeNet-5 at 406 images/s, with 1 thread each at 17,000 (issue 16).  So
by default a rank runs ``its usable CPUs // the ranks of its node that share
them``.  The ranks of a node are found with ``Split_type(COMM_TYPE_SHARED)``;
"share" compares the CPU affinity masks, so that a launcher which already
binds each rank to its own cores (Open MPI binds to a core by default for two
ranks, ``srun --cpu-bind=cores``) gives each rank all of its own cores.
``OMP_NUM_THREADS`` (as ``mpiexec -genv OMP_NUM_THREADS 2`` or ``-x`` sets it)
and a count the user already set with ``cnnfast.set_num_threads`` win.
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


def share(mine, node_cpus):
    """Threads for a rank with CPUs ``mine`` among ranks whose CPU sets are ``node_cpus`` (``mine`` included).

    Parameters
    ----------
    mine : frozenset of int
    node_cpus : list of frozenset of int
        The CPU set of every rank of the node.

    Returns
    -------
    int >= 1
        ``len(mine)`` divided (rounding down) by the number of ranks whose
        sets overlap ``mine``: the ranks competing for the same cores.
    """
    competitors = sum(1 for cpus in node_cpus if cpus & mine)
    return max(1, len(mine) // max(1, competitors))


def per_rank_threads(world, environ=os.environ):
    """The default kernel threads of this rank, or None to leave the count as it is.

    Collective over the node: every rank of ``world`` calls it (once, in ``init``).

    Parameters
    ----------
    world : World
    environ : mapping
        ``OMP_NUM_THREADS`` set there wins (None is returned).

    Returns
    -------
    int or None
        None when ``OMP_NUM_THREADS`` is set or the thread count was already
        changed from the default (``cnnfast.set_num_threads``).
    """
    from .. import _runtime

    mine = usable_cpus()
    node_cpus = world.node.allgather(mine)  # collective: computed on every rank before deciding
    if environ.get("OMP_NUM_THREADS", "").strip():
        return None
    if _runtime.get_num_threads() != len(mine):  # someone chose a count already
        return None
    return share(mine, node_cpus)
