"""Plain-NumPy reference implementation of every cnnfast kernel.

Each function here has the signature and semantics of its compiled twin in
:mod:`cnnfast.functional` (which follow ``torch.nn.functional``), runs the
same argument checks (:mod:`cnnfast._checks`), and is written to be read: it
is the oracle the fast kernels are tested against and the baseline they are
benchmarked against.  Arrays are NCHW (linear's are (N, features)), float32
or float64, and results have the input dtype.
"""

from .conv import conv2d, conv2d_backward, conv_transpose2d, conv_transpose2d_backward
from .linear import linear, linear_backward
from .training import (batch_norm_affine, batch_norm_train, batch_norm_train_backward, relu, relu_backward,
                       sgd_update)
from .pool import (
    avg_pool2d,
    avg_pool2d_backward,
    global_avg_pool2d,
    global_avg_pool2d_backward,
    max_pool2d,
    max_pool2d_backward,
)

from . import conv, pool  # noqa: E402  (the submodules, for their __all__)
# The function `linear` hides its submodule's name here: take that __all__ directly.
from .linear import __all__ as _linear_all  # noqa: E402

# The training-step twins (batch norm, ReLU, SGD) are importable here but not in
# __all__, like their fast versions in cnnfast.functional.
__all__ = conv.__all__ + pool.__all__ + _linear_all
