"""cnnfast: convolutional neural networks on the CPU, fast.

Layers of one idea each, data flowing one way::

    Sequential (layers + predict/save)  -> cnnfast.layers -> cnnfast.functional
      + cnnfast.training (compile/fit/evaluate: data, step, loop, metrics)
    cnnfast.functional  ->  cnnfast._kernels (Cython)  ->  csrc/ (C99 + OpenMP + BLAS)
    cnnfast.reference      plain-NumPy twins of every function: the oracle
    cnnfast._checks, cnnfast._geometry: the argument checks and the window arithmetic of all of them

Also: ``losses``, ``optim`` (optimizers, schedules, clipping), ``callbacks``,
``models`` (lenet5, small_vgg, resnet8/20), ``datasets`` (MNIST loaders, the
bundled subset, augmentation), ``gradcheck``, ``distributed`` (data-parallel
training over MPI; mpi4py is imported only when used).
Threads: ``set_num_threads``/``get_num_threads`` (from ``OMP_NUM_THREADS``).
"""

# The order matters: __version__ first, then _runtime (it loads BLAS), then the rest.
# isort: off
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("cnnfast")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

from ._runtime import (  # noqa: E402  (loads BLAS before any kernel can run)
    get_num_threads,
    get_workspace_limit,
    set_num_threads,
    set_workspace_limit,
    show_config,
)
from . import functional, reference  # noqa: E402
from . import callbacks, datasets, layers, losses, models, optim  # noqa: E402
from . import distributed, training  # noqa: E402
from .gradcheck import gradcheck  # noqa: E402
from .layers.sequential import Sequential, load_model  # noqa: E402

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
    "Sequential",
    "load_model",
    "gradcheck",
    "get_num_threads",
    "set_num_threads",
    "get_workspace_limit",
    "set_workspace_limit",
    "show_config",
]
