"""The group of processes: MPI brought in lazily, one communicator, and the rules that keep a job from hanging.

:func:`current` initialises once per process (``init`` in the package):

* mpi4py is imported only here, at the first use, so ``import cnnfast`` never
  needs it; when it is missing the error says what to install;
* cnnfast talks on its own duplicate of ``MPI.COMM_WORLD``, so its
  collectives never match a message of the user's own MPI code;
* an exception that reaches the top of one rank ends the whole job through
  ``MPI_Abort`` (``sys.excepthook``, as ChainerMN's ``global_except_hook``):
  a plain Python exit would leave the other ranks waiting in a collective,
  and the raising rank itself waiting in ``MPI_Finalize``;
* a :class:`~cnnfast.distributed.watchdog.Watchdog` aborts the job when a rank
  makes no progress for ``timeout`` seconds inside a distributed ``fit``;
* each rank's kernels take their share of the cores of its node
  (:mod:`.threads`).
"""

from __future__ import annotations

import faulthandler
import os
import sys
import threading

import numpy as np

from .threads import per_rank_threads

__all__ = ["World", "current", "initialized", "import_mpi", "launcher_size", "INSTALL_HINT", "DEFAULT_TIMEOUT"]

INSTALL_HINT = (
    'pip install "cnnfast[mpi]" (mpi4py and the MPICH wheel), or pip install mpi4py built against your cluster\'s MPI'
)

#: Seconds a rank may go without progress inside a distributed fit; torch.distributed's default too.
DEFAULT_TIMEOUT = 1800.0

# Environment variables by which launchers tell a process the size of its job:
# Hydra/MPICH and Slurm's PMI, Open MPI, PMIx.
_LAUNCHER_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE")


def launcher_size(environ=os.environ):
    """The number of processes a launcher (mpiexec, srun) started this job with, or None when not launched so."""
    for name in _LAUNCHER_SIZE_VARIABLES:
        value = environ.get(name, "")
        if value.isdigit():
            return int(value)
    return None


def import_mpi(timeout=DEFAULT_TIMEOUT):
    """``mpi4py.MPI`` (initialising MPI on first import), or an ImportError saying what to install.

    From the moment MPI is up in a job of several processes, an exception
    that reaches the top of this process ends the whole job (see the module).

    Parameters
    ----------
    timeout : float or None
        Bounds ``MPI_Init`` (None: no bound).  Under MPICH's
        ``mpiexec``, a process that fails before initialising MPI leaves the
        others waiting in ``MPI_Init`` for ever, holding the GIL, so no Python
        thread can help: a C watchdog (``faulthandler``) prints where this
        process waits and exits it once ``timeout`` has passed, which ends the job.
    """
    launched = launcher_size()
    guard = timeout is not None and launched is not None and launched > 1 and "mpi4py.MPI" not in sys.modules
    if guard:
        faulthandler.dump_traceback_later(timeout, exit=True)
    try:
        from mpi4py import MPI
    except (ImportError, RuntimeError) as error:  # RuntimeError: mpi4py present, no MPI library it can load
        raise ImportError(f"cnnfast.distributed needs mpi4py and an MPI library ({error}): {INSTALL_HINT}") from error
    finally:
        if guard:
            faulthandler.cancel_dump_traceback_later()
    _install_excepthook(MPI.COMM_WORLD)
    return MPI


class World:
    """The processes of the job, as cnnfast sees them.

    Parameters
    ----------
    MPI : module
        ``mpi4py.MPI``.
    timeout : float > 0 or None
        See :func:`current`.

    Attributes
    ----------
    comm : mpi4py.MPI.Comm
        cnnfast's duplicate of ``COMM_WORLD``.
    node : mpi4py.MPI.Comm
        The ranks on this node (``Split_type(COMM_TYPE_SHARED)``).
    rank, size : int
    watchdog : Watchdog or None
        None with one process or no timeout.
    """

    def __init__(self, MPI, timeout):
        from .watchdog import Watchdog

        self.MPI = MPI
        self.comm = MPI.COMM_WORLD.Dup()
        self.node = self.comm.Split_type(MPI.COMM_TYPE_SHARED)
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.timeout = timeout
        self.watchdog = Watchdog(self) if timeout is not None and self.size > 1 else None

    # ------------------------------------------------------------ collectives
    # Every collective cnnfast runs goes through these, so the watchdog knows
    # when this rank waits for the others and when it computes.

    def allreduce(self, buffer, op="sum", what="allreduce"):
        """Reduce ``buffer`` (a contiguous ndarray) over the ranks, in place; returns it."""
        mpi_op = {"sum": self.MPI.SUM, "max": self.MPI.MAX}[op]
        with self.waiting(what):
            self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=mpi_op)
        return buffer

    def broadcast(self, buffer, root=0, what="broadcast"):
        """Overwrite ``buffer`` (a contiguous ndarray) with rank ``root``'s."""
        with self.waiting(what):
            self.comm.Bcast(buffer, root=root)
        return buffer

    def allgather_object(self, value, what="allgather"):
        """Every rank's ``value`` (a small picklable object), in rank order."""
        with self.waiting(what):
            return self.comm.allgather(value)

    def broadcast_object(self, value, root=0, what="broadcast"):
        """Rank ``root``'s ``value`` (a small picklable object)."""
        with self.waiting(what):
            return self.comm.bcast(value, root=root)

    def barrier(self, what="barrier"):
        """Wait until every rank gets here."""
        with self.waiting(what):
            self.comm.Barrier()

    def waiting(self, what):
        """Context: this rank waits for the others in collective ``what`` (for the watchdog)."""
        return self.watchdog.waiting(what) if self.watchdog is not None else _NOTHING

    def busy(self, what):
        """Context: a stretch (a distributed fit) in which this rank must reach its collectives in time."""
        return self.watchdog.busy(what) if self.watchdog is not None else _NOTHING

    # ------------------------------------------------------------------ abort

    def abort(self, message, code=1):
        """Print ``message`` (naming this rank) to stderr, then end every process of the job."""
        sys.stdout.flush()
        sys.stderr.write(f"\ncnnfast.distributed: rank {self.rank} of {self.size}: {message}\n")
        sys.stderr.flush()
        self.comm.Abort(code)


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_NOTHING = _Nothing()
_world = None
_lock = threading.Lock()
_previous_excepthook = None


def initialized():
    """Whether :func:`current` has run in this process."""
    return _world is not None


def current(timeout=None):
    """The :class:`World`, initialising MPI and cnnfast's part of it on the first call.

    Collective on the first call: every process of the job must make it.

    Parameters
    ----------
    timeout : float > 0 or None, optional
        Seconds a rank may go without progress inside a distributed ``fit``
        (between two of its collectives, or waiting in one) before the
        watchdog aborts the job.  Given on the first call: that value
        (None: the default, :data:`DEFAULT_TIMEOUT`); on later calls, it
        replaces the current one.  ``float("inf")`` turns the watchdog off.
    """
    global _world
    with _lock:
        if _world is None:
            timeout = _checked_timeout(DEFAULT_TIMEOUT if timeout is None else timeout)
            _world = World(import_mpi(timeout), timeout)
            _set_threads(_world)
        elif timeout is not None:
            _world.timeout = _checked_timeout(timeout)
            if _world.watchdog is None and _world.timeout is not None and _world.size > 1:
                from .watchdog import Watchdog

                _world.watchdog = Watchdog(_world)
        return _world


def _checked_timeout(timeout):
    try:
        timeout = float(timeout)
    except (TypeError, ValueError):
        raise TypeError(f"timeout must be a number of seconds, got {timeout!r}") from None
    if not timeout > 0:  # also refuses NaN
        raise ValueError(f"timeout must be > 0 seconds (float('inf') for no watchdog), got {timeout}")
    return None if np.isinf(timeout) else timeout


def _install_excepthook(comm):
    """Abort the whole job when an exception reaches the top of this process (only with several processes)."""
    global _previous_excepthook
    if _previous_excepthook is not None or comm.Get_size() == 1:
        return
    _previous_excepthook = sys.excepthook
    rank, size = comm.Get_rank(), comm.Get_size()

    def abort_on_uncaught_exception(kind, value, traceback):
        try:
            _previous_excepthook(kind, value, traceback)
        finally:
            sys.stdout.flush()
            sys.stderr.write(
                f"\ncnnfast.distributed: rank {rank} of {size}: uncaught {kind.__name__} (traceback "
                "above); ending the job with MPI_Abort so that the other processes do not wait for "
                "this one for ever\n"
            )
            sys.stderr.flush()
            comm.Abort(1)

    sys.excepthook = abort_on_uncaught_exception


def _set_threads(world):
    """Each rank takes its share of its node's cores, unless OMP_NUM_THREADS or the user chose already."""
    from .. import _runtime

    threads = per_rank_threads(world)
    if threads is not None:
        _runtime.set_num_threads(threads)
