"""Plain-NumPy fully connected layer, forward and backward.

The readable twin of the compiled linear kernels (csrc/linear.c): the test
oracle and the benchmark baseline.  Semantics follow
``torch.nn.functional.linear``: ``x`` (N, in), ``weight`` (out, in),
``bias`` (out,); float32 or float64 in, the same dtype out.
"""

from .. import _checks

__all__ = ["linear", "linear_backward"]


def linear(x, weight, bias=None):
    """Fully connected layer: ``y = x @ weight.T + bias``.

    Arguments and results: those of :func:`cnnfast.functional.linear`
    (without ``backend``).
    ``y[n, o] = b[o] + sum_i x[n, i] * W[o, i]``.
    """
    x, weight, bias = _checks.linear_args(x, weight, bias)
    y = x @ weight.T
    if bias is not None:
        y += bias
    return y


def linear_backward(grad_y, x, weight):
    """Gradients of :func:`linear`, all three always computed.

    Arguments and results: those of :func:`cnnfast.functional.linear_backward` (without ``backend``).

    Notes
    -----
    Differentiating ``y[n, o] = b[o] + sum_i x[n, i] * W[o, i]``:

    * ``x[n, i]`` meets every ``W[o, i]``: ``grad_x = grad_y @ W``;
    * ``W[o, i]`` meets every ``x[n, i]``: ``grad_W = grad_y.T @ x``,
      summed over the batch by the product;
    * ``b[o]`` enters every row with coefficient 1: ``grad_b = sum_n grad_y[n]``.
    """
    grad_y, x, weight = _checks.linear_backward_args(grad_y, x, weight)
    return grad_y @ weight, grad_y.T @ x, grad_y.sum(axis=0)
