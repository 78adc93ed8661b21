"""cnnfast: convolutional neural networks on the CPU, fast.

Layers of one idea each, data flowing one way::

    Sequential (layers + predict/save)  -> cnnfast.layers -> cnnfast.functional
      + cnnfast.training (compile/fit/evaluate: data, step, loop, metrics)
    cnnfast.functional  ->  cnnfast._kernels (Cython)  ->  csrc/ (C99 + OpenMP + BLAS)
    cnnfast.reference      plain-NumPy twins of every function: the oracle
    cnnfast._checks, cnnfast._geometry: the argument checks and the window arithmetic of all of them

Also: ``losses``, ``optim`` (optimizers, schedules, clipping), ``callbacks``,
``models`` (lenet5, small_vgg, resnet8/20), ``datasets`` (MNIST loaders, the
bundled subset, augmentation), ``utils`` (``to_categorical``, ``to_torch``),
``gradcheck``, ``distributed`` (data-parallel training over MPI; mpi4py is
imported only when used).
Threads: ``set_num_threads``/``get_num_threads`` (default: ``OMP_NUM_THREADS``, else the CPUs
the process may use: affinity mask, cgroup CPU quota).
Micro-kernels: ``get_isa``/``set_isa`` (from ``CNNFAST_ISA``; the CPU's best by default).
"""

# The order matters: _runtime first (it loads BLAS), then the rest.
# isort: off
from ._runtime import (  # loads BLAS before any kernel can run
    get_num_threads,
    get_workspace_limit,
    set_num_threads,
    set_workspace_limit,
    show_config,
)
from ._isa import get_isa, set_isa  # noqa: E402
from ._version import __version__
from . import functional, reference  # noqa: E402
from . import callbacks, datasets, layers, losses, models, optim, utils  # noqa: E402
from . import distributed, training  # noqa: E402
from .gradcheck import gradcheck  # noqa: E402
from .layers.sequential import Input, Sequential, load_model  # noqa: E402

# isort: on

__all__ = [
    "__version__",
    "functional",
    "reference",
    "layers",
    "losses",
    "optim",
    "callbacks",
    "models",
    "datasets",
    "training",
    "distributed",
    "utils",
    "Sequential",
    "Input",
    "load_model",
    "gradcheck",
    "get_num_threads",
    "set_num_threads",
    "get_workspace_limit",
    "set_workspace_limit",
    "show_config",
    "get_isa",
    "set_isa",
]
