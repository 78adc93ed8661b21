"""Plain-NumPy batch normalisation, ReLU and the SGD update, forward and backward.

The readable twins of the compiled training-step kernels (csrc/batchnorm.c,
csrc/elementwise.c): the test oracle and the benchmark baseline.  Semantics
follow ``torch.nn.functional.batch_norm`` (training mode, and the affine map
of inference mode), ``torch.relu`` and one ``torch.optim.SGD`` step; float32
or float64 in, the same dtype out.
"""

import math

import numpy as np

from .. import _checks

# sgd_update is not listed: it updates its arguments in place, so it cannot
# take the any-layout, nested-list arguments every listed function accepts
# (tests/test_errors.py); cnnfast.optim.SGD calls it.
__all__ = ["batch_norm_train", "batch_norm_train_backward", "batch_norm_affine", "relu", "relu_backward"]


def _channels(x):
    """X (N, C, ...) as (N, C, S)."""
    return x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:]))  # not -1: N may be 0


def batch_norm_train(x, weight, bias, eps=1e-5):
    """Batch normalisation with the batch's statistics.

    Arguments and results: those of :func:`cnnfast.functional.batch_norm_train` (without ``backend``).
    ``y = (x - mean) * inv_std * weight + bias`` per channel, ``inv_std = 1 / sqrt(var + eps)``.
    """
    x, weight, bias, eps = _checks.batch_norm_train_args(x, weight, bias, eps)
    x3 = _channels(x)
    mean = x3.mean(axis=(0, 2))
    centred = x3 - mean[:, None]
    var = np.mean(np.square(centred), axis=(0, 2))
    inv_std = 1.0 / np.sqrt(var + eps)
    y = centred * (inv_std * weight)[:, None] + bias[:, None]
    return y.reshape(x.shape), mean, var, inv_std


def batch_norm_train_backward(grad_y, x, mean, inv_std, weight):
    """Gradients of :func:`batch_norm_train` with respect to x, weight and bias.

    Arguments and results: those of :func:`cnnfast.functional.batch_norm_train_backward` (without ``backend``).

    Notes
    -----
    With ``x_hat = (x - mean) * inv_std`` and ``m`` values per channel,
    ``grad_bias = sum(grad_y)``, ``grad_weight = sum(grad_y * x_hat)`` and
    ``grad_x = weight * inv_std * (grad_y - grad_bias / m - x_hat * grad_weight / m)``
    (mean and var depend on x: the last two terms), computed per channel as
    ``k * grad_y + u * (x - mean) + w0``, the order the kernel uses.
    """
    grad_y, x, mean, inv_std, weight = _checks.batch_norm_train_backward_args(grad_y, x, mean, inv_std, weight)
    g3, x3 = _channels(grad_y), _channels(x)
    count = g3.shape[0] * g3.shape[2]
    if count == 0:  # an empty batch: no values, no gradient (whatever mean and inv_std hold)
        zeros = np.zeros(x.shape[1], dtype=x.dtype)
        return np.empty_like(x), zeros, zeros.copy()
    centred = x3 - mean[:, None]
    grad_bias = g3.sum(axis=(0, 2))
    grad_weight = (g3 * centred).sum(axis=(0, 2)) * inv_std
    k = weight * inv_std
    u = -k * inv_std * grad_weight / count
    w0 = -k * grad_bias / count
    grad_x = k[:, None] * g3 + u[:, None] * centred + w0[:, None]
    return grad_x.reshape(x.shape), grad_weight, grad_bias


def batch_norm_affine(x, scale, shift):
    """Batch normalisation with fixed statistics: ``x * scale + shift`` per channel (axis 1).

    Arguments and results: those of :func:`cnnfast.functional.batch_norm_affine` (without ``backend``).
    """
    x, scale, shift = _checks.batch_norm_affine_args(x, scale, shift)
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    y = x * scale.reshape(shape)
    y += shift.reshape(shape)
    return y


def relu(x):
    """``max(x, 0)`` element-wise, NaN kept.

    Arguments and results: those of :func:`cnnfast.functional.relu` (without ``backend``).
    """
    x = _checks.relu_args(x)
    return np.maximum(x, 0)


def relu_backward(grad_y, y):
    """``grad_y * (y > 0)``: the gradient of :func:`relu` given its output ``y``.

    Arguments and results: those of :func:`cnnfast.functional.relu_backward` (without ``backend``).
    """
    grad_y, y = _checks.relu_backward_args(grad_y, y)
    return grad_y * (y > 0)


def sgd_update(data, grad, buf, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0, first_step=False):
    """One ``torch.optim.SGD`` step, in place on ``data`` (and ``buf``, the momentum buffer).

    Arguments: those of :func:`cnnfast.functional.sgd_update` (without ``backend``).
    """
    g = grad + data * weight_decay if weight_decay != 0.0 else grad
    if momentum != 0.0:
        if first_step:
            np.copyto(buf, g)
        else:
            buf *= momentum
            buf += g * (1.0 - dampening) if dampening != 0.0 else g
        g = g + buf * momentum if nesterov else buf
    data += g * -lr
