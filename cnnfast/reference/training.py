"""Reference twins of the training-step kernels: batch norm with batch
statistics, ReLU and the SGD update (torch.nn.BatchNorm, torch.relu,
torch.optim.SGD semantics), written as the NumPy the layers ran before the
kernels existed."""

from __future__ import annotations

import numpy as np

__all__ = ["batch_norm_affine", "batch_norm_train", "batch_norm_train_backward", "relu", "relu_backward",
           "sgd_update"]


def _channels(x):
    """x (N, C, ...) as (N, C, S)."""
    return x.reshape(x.shape[0], x.shape[1], -1)


def batch_norm_train(x, weight, bias, eps):
    """x (N, C, ...) -> (y, mean, var, inv_std): y = (x - mean) * inv_std * weight + bias
    per channel, mean and the biased var over every axis but 1, inv_std = 1 / sqrt(var + eps)."""
    x3 = _channels(x)
    mean = x3.mean(axis=(0, 2))
    centred = x3 - mean[:, None]
    var = np.mean(np.square(centred), axis=(0, 2))
    inv_std = 1.0 / np.sqrt(var + eps)
    y = centred * (inv_std * weight)[:, None] + bias[:, None]
    return y.reshape(x.shape).astype(x.dtype, copy=False), mean, var, inv_std.astype(x.dtype, copy=False)


def batch_norm_affine(x, scale, shift):
    """x * scale + shift per channel (axis 1)."""
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    y = x * scale.reshape(shape)
    y += shift.reshape(shape)
    return y


def batch_norm_train_backward(grad_y, x, mean, inv_std, weight):
    """-> (grad_x, grad_weight, grad_bias) of :func:`batch_norm_train`."""
    g3, x3 = _channels(grad_y), _channels(x)
    count = g3.shape[0] * g3.shape[2]
    x_hat = (x3 - mean[:, None]) * inv_std[:, None]
    grad_bias = g3.sum(axis=(0, 2))
    grad_weight = (g3 * x_hat).sum(axis=(0, 2))
    grad_x = (weight * inv_std)[:, None] * (g3 - (grad_bias[:, None] + x_hat * grad_weight[:, None]) / count)
    return grad_x.reshape(x.shape).astype(x.dtype, copy=False), grad_weight, grad_bias


def relu(x):
    """max(x, 0), NaN kept."""
    return np.maximum(x, 0)


def relu_backward(grad_y, y):
    """grad_y * (y > 0)."""
    return grad_y * (y > 0)


def sgd_update(data, grad, buf, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0,
               first_step=False):
    """One torch.optim.SGD step, in place on ``data`` (and ``buf``, the momentum buffer)."""
    g = grad + data * weight_decay if weight_decay != 0.0 else grad
    if momentum != 0.0:
        if first_step:
            np.copyto(buf, g)
        else:
            buf *= momentum
            buf += g * (1.0 - dampening) if dampening != 0.0 else g
        g = g + buf * momentum if nesterov else buf
    data += g * -lr
