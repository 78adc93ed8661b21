"""Data-parallel training over MPI: several processes, on one machine or many, training one model.

::

    pip install "cnnfast[mpi]"                 # mpi4py + the MPICH wheel (no compiler needed)
    mpiexec -n 4 python train.py               # or: mpiexec -n 4 cnnfast train --distributed

    # train.py
    model.fit(x, y, batch_size=256, epochs=10, distributed=True)   # 256 = the global batch
    if cnnfast.distributed.is_primary():
        model.save("model.npz")

Every process runs the same program on the same arrays.  ``fit(...,
distributed=True)`` gives each process its slice of every batch, averages the
gradients weighted by sample count in one allreduce per step, and so trains
the same model as one process would with that batch size (to floating-point
rounding).  Rank 0 prints, logs and writes the checkpoints.  See the README's
*Scaling out* section for launching on several machines, threads per process
and when it pays.

For hand-written loops: :func:`broadcast_model`, :class:`DistributedOptimizer`
and :func:`allreduce_mean`.

The functions here are collective unless said otherwise: every process calls
them, in the same order.  mpi4py is imported on first use only; without it,
:func:`init` and the collectives raise an ImportError saying what to install,
while :func:`rank`, :func:`size` and :func:`is_primary` answer for a single
process (0, 1, True) -- unless a launcher started several, which is an error too.
"""

from __future__ import annotations

from . import world as _world
from .collectives import allreduce_mean, barrier, broadcast_model
from .optimizer import DistributedOptimizer

__all__ = [
    "init",
    "rank",
    "size",
    "is_primary",
    "barrier",
    "broadcast_model",
    "allreduce_mean",
    "DistributedOptimizer",
    "library_version",
]


def init(timeout=None):
    """Join the job: initialise MPI (through mpi4py) and cnnfast's part of it.  Collective.

    Called implicitly by the first distributed ``fit``, ``train_on_batch``,
    ``evaluate`` or collective; call it yourself to set ``timeout``.  Calling
    it again only changes ``timeout``.

    Parameters
    ----------
    timeout : float > 0, optional
        Seconds a rank may go without reaching its next collective inside a
        distributed ``fit`` (one training step, a validation pass, a
        checkpoint save), or wait in one, before a watchdog aborts the whole
        job naming it.  Default 1800 (torch.distributed's default);
        ``float("inf")`` turns the watchdog off.

    Notes
    -----
    ``init`` also

    * makes an exception that reaches the top of any rank end the whole job
      at once (``MPI_Abort`` from ``sys.excepthook``): without it, the other
      ranks would wait for the failed one for ever;
    * sets this process's kernel threads to its share of its node's cores
      (the CPUs it may use divided by the ranks sharing them), unless
      ``OMP_NUM_THREADS`` is set or ``cnnfast.set_num_threads`` chose a count
      already; call ``set_num_threads`` after ``init`` to choose another.

    Raises
    ------
    ImportError
        mpi4py (or an MPI library) is missing; the message says what to install.
    """
    _world.current(timeout)


def rank():
    """The rank of this process, 0 to ``size() - 1`` (0 without MPI).  Not collective."""
    if _world.initialized():
        return _world.current().rank
    MPI = _mpi_unless_alone()
    return 0 if MPI is None else MPI.COMM_WORLD.Get_rank()


def size():
    """The number of processes training together (1 without MPI).  Not collective."""
    if _world.initialized():
        return _world.current().size
    MPI = _mpi_unless_alone()
    return 1 if MPI is None else MPI.COMM_WORLD.Get_size()


def is_primary():
    """Whether this is rank 0, the process that prints, logs and saves.  Not collective."""
    return rank() == 0


def library_version():
    """The MPI library's name and version, e.g. ``"MPICH 5.0.2 (mpi4py 4.1.2)"``.  Not collective."""
    MPI = _world.import_mpi()
    import mpi4py

    name, version = MPI.get_vendor()
    return f"{name} {'.'.join(map(str, version))} (mpi4py {mpi4py.__version__})"


def _mpi_unless_alone():
    """``mpi4py.MPI``; or None for a lone process without mpi4py.

    A process that a launcher started as one of several, without mpi4py, gets
    the ImportError: answering "rank 0 of 1" there would have every process
    print and save as if it were alone.
    """
    try:
        import mpi4py  # noqa: F401  (only whether it is there)
    except ImportError:
        launched = _world.launcher_size()
        if launched is not None and launched > 1:
            raise ImportError(
                f"this process is one of {launched} started by an MPI launcher, but mpi4py is not "
                f"installed: {_world.INSTALL_HINT}"
            ) from None
        return None
    return _world.import_mpi()
