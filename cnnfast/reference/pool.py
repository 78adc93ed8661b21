"""Plain-NumPy 2-D max, average and global average pooling, forward and backward.

The readable twin of the compiled pooling kernels: the test oracle and the
benchmark baseline.  Semantics follow ``torch.nn.functional`` (NCHW, floor
output sizes, padding at most half the window; float32 or float64 in, the same
dtype out), except that a window holding NaN reports its *first* NaN as argmax.

A window is seen one kernel tap (p, q) at a time: the inputs that tap sees
for all output positions form a strided slice of the padded input (the
``_window`` helper shared with the convolutions).  Forward passes stack or
sum those slices; backward passes add into the same slices of a padded
gradient buffer, then drop its border.
"""

import numpy as np

from .. import _checks
from .conv import _pad, _unpad, _window

__all__ = [
    "max_pool2d",
    "max_pool2d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "global_avg_pool2d",
    "global_avg_pool2d_backward",
]


def _tap_windows(a, g):
    """``a``'s padded planes cut into windows: (..., Ho, Wo, kh*kw), taps in row-major order."""
    return np.stack([_window(a, tap, g) for tap in np.ndindex(*g.kernel)], axis=-1)


def _divisor(g, count_include_pad, dtype):
    """What each window's sum is divided by: a number, or an (Ho, Wo) array."""
    if count_include_pad:
        return g.kernel[0] * g.kernel[1]
    real = _pad(np.ones((g.in_height, g.in_width), dtype), g.padding)
    return _tap_windows(real, g).sum(axis=-1)


# ---------------------------------------------------------------------- max


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max pooling with indices (PyTorch's ``return_indices``).

    Arguments and results: those of :func:`cnnfast.functional.max_pool2d`
    (without ``backend``).
    ``Ho = (H + 2*P - kh) // s + 1``, likewise ``Wo``; argmax is the flat
    index ``h*W + w`` of the winner in its input plane.

    Notes
    -----
    ``y[n,c,i,j] = max_{p,q} x_pad[n, c, i*s + p, j*s + q]`` over the real
    (non-padding) elements.  Ties go to the first maximum in row-major window
    order; padding never wins, even against -inf; a window holding a NaN gives
    NaN, and argmax is its first NaN.
    """
    x, g = _checks.pool2d_args(x, kernel_size, stride, padding)
    values = _tap_windows(_pad(x, g.padding, -np.inf), g)         # (N, C, Ho, Wo, T)
    plane_index = np.arange(g.in_height * g.in_width).reshape(g.in_height, g.in_width)
    indices = _tap_windows(_pad(plane_index, g.padding, -1), g)   # (Ho, Wo, T), -1 = padding
    y = values.max(axis=-1)  # NaN propagates; padding's -inf never exceeds a real element
    # The winner is the first real element equal to the max -- or, when the
    # max is NaN, the first NaN (NaN == NaN is false, hence isnan).  Requiring
    # a real element keeps padding out even when every input is -inf.
    wins = (indices >= 0) & ((values == y[..., None]) | np.isnan(values))
    first = wins.argmax(axis=-1)  # argmax of booleans: the first True
    argmax = np.take_along_axis(np.broadcast_to(indices, values.shape), first[..., None], axis=-1)[..., 0]
    return y, argmax.astype(np.int64, copy=False)


def max_pool2d_backward(grad_y, argmax, x_shape):
    """Gradient of :func:`max_pool2d`.

    Arguments and results: those of :func:`cnnfast.functional.max_pool2d_backward` (without ``backend``).

    Notes
    -----
    Each output is a copy of one input element (the winner), so its gradient
    is routed back to that element alone: an up-sampling of ``grad_y``
    through ``argmax``.  Overlapping windows can pick the same winner, whose
    gradients then add up, hence ``np.add.at`` (plain fancy-index assignment
    would keep only one).
    """
    grad_y, argmax, g = _checks.max_pool2d_backward_args(grad_y, argmax, x_shape)
    planes, per_plane = g.batch * g.channels, g.out_height * g.out_width
    grad_x = np.zeros((planes, g.in_height * g.in_width), grad_y.dtype)
    rows = np.arange(planes)[:, None]
    np.add.at(grad_x, (rows, argmax.reshape(planes, per_plane)), grad_y.reshape(planes, per_plane))
    return grad_x.reshape(g.input_shape)


# ------------------------------------------------------------------ average


def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """Average pooling.

    Arguments and results: those of :func:`cnnfast.functional.avg_pool2d` (without ``backend``).
    Output sizes as :func:`max_pool2d`'s.

    Notes
    -----
    ``y[n,c,i,j] = sum_{p,q} x_pad[n, c, i*s + p, j*s + q] / D[i,j]`` with
    ``x_pad`` zero-padded and ``D = kh*kw`` when ``count_include_pad``, else
    the number of real (non-padding) elements in window (i, j).
    """
    x, g = _checks.pool2d_args(x, kernel_size, stride, padding)
    return _tap_windows(_pad(x, g.padding), g).sum(axis=-1) / _divisor(g, count_include_pad, x.dtype)


def avg_pool2d_backward(grad_y, x_shape, kernel_size, stride=None, padding=0, count_include_pad=True):
    """Gradient of :func:`avg_pool2d`.

    Arguments and results: those of :func:`cnnfast.functional.avg_pool2d_backward` (without ``backend``).

    Notes
    -----
    Each output is ``1/D[i,j]`` times the sum of its window, so every element
    of the window receives ``grad_y[n,c,i,j] / D[i,j]``: ``grad_y`` is
    up-sampled by spreading it evenly over its window, and overlapping
    windows add.  The share that falls on padding is dropped.
    """
    grad_y, g = _checks.pool2d_backward_args(grad_y, x_shape, kernel_size, stride, padding)
    share = grad_y / _divisor(g, count_include_pad, grad_y.dtype)
    grad_x = _pad(np.zeros(g.input_shape, grad_y.dtype), g.padding)
    for tap in np.ndindex(*g.kernel):
        window = _window(grad_x, tap, g)
        window += share
    return _unpad(grad_x, g.padding)


def global_avg_pool2d(x):
    """Mean over the whole plane: average pooling with one window covering it.

    Arguments and results: those of :func:`cnnfast.functional.global_avg_pool2d`
    (without ``backend``).
    ``y[n,c] = sum_{h,w} x[n,c,h,w] / (H*W)``.
    """
    x, _ = _checks.global_avg_pool2d_args(x)
    return x.mean(axis=(2, 3))


def global_avg_pool2d_backward(grad_y, x_shape):
    """Gradient of :func:`global_avg_pool2d`.

    Arguments and results: those of :func:`cnnfast.functional.global_avg_pool2d_backward`
    (without ``backend``).

    Notes
    -----
    Every element of a plane enters its mean with weight ``1/(H*W)``, so each
    receives ``grad_y[n,c] / (H*W)``: the gradient is spread evenly.
    """
    grad_y, g = _checks.global_avg_pool2d_backward_args(grad_y, x_shape)
    share = grad_y / (g.in_height * g.in_width)
    return np.broadcast_to(share[:, :, None, None], g.input_shape).copy()
