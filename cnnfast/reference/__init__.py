"""Plain-NumPy reference implementation of every cnnfast kernel.

Each function here has the signature and semantics of its compiled twin in
:mod:`cnnfast.functional` (which follow ``torch.nn.functional``), runs the
same argument checks (:mod:`cnnfast._checks`), and is written to be read: it
is the oracle the fast kernels are tested against and the baseline they are
benchmarked against.  Arrays are NCHW (linear's are (N, features)), float32
or float64, and results have the input dtype.
"""

# Each submodule's __all__ lists its functions: they are re-exported here as they are.
from . import conv, pool, training
from .conv import *  # noqa: F403
from .linear import *  # noqa: F403
from .linear import __all__ as _linear_all  # the function `linear` hides the submodule's name
from .pool import *  # noqa: F403
from .training import *  # noqa: F403
from .training import sgd_update  # noqa: F401  (not in __all__: in place, see training.py)

__all__ = conv.__all__ + pool.__all__ + _linear_all + training.__all__
