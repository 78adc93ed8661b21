"""Convolution, pooling and linear functions, forward and backward (NCHW).

Argument semantics follow ``torch.nn.functional``: ``stride``, ``padding``,
``dilation`` and ``kernel_size`` are an int or a ``(height, width)`` pair;
conv weights are ``(out_channels, in_channels // groups, kh, kw)``,
transposed-conv weights ``(in_channels, out_channels // groups, kh, kw)``,
linear weights ``(out_features, in_features)``.
float32 and float64 are supported; the output dtype is the input dtype.

Every function takes ``backend="fast"`` (the C kernels, default) or
``backend="reference"`` (:mod:`cnnfast.reference`, plain NumPy).  Both run the
same argument checks, so both refuse bad input with the same
``TypeError``/``ValueError``.
"""

from __future__ import annotations

import numpy as np

from . import _checks, _kernels, reference

__all__ = [
    "conv2d",
    "conv2d_backward",
    "conv_transpose2d",
    "conv_transpose2d_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "global_avg_pool2d",
    "global_avg_pool2d_backward",
    "linear",
    "linear_backward",
]

BACKENDS = ("fast", "reference")


def _is_reference(backend):
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return backend == "reference"


# ----------------------------------------------------------------- convolution


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, backend="fast"):
    """2-D convolution (cross-correlation, as in PyTorch).

    x (N, C, H, W), weight (K, C // groups, kh, kw), bias (K,) or None
    -> y (N, K, Ho, Wo) with Ho = (H + 2 * padding - dilation * (kh - 1) - 1) // stride + 1.
    """
    if _is_reference(backend):
        return reference.conv2d(x, weight, bias, stride, padding, dilation, groups)
    x, weight, bias, g = _checks.conv2d_args(x, weight, bias, stride, padding, dilation, groups)
    y = np.empty(g.output_shape, dtype=x.dtype)
    _kernels.conv2d_forward(g, x, weight, bias, y)
    return y


def conv2d_backward(grad_y, x, weight, stride=1, padding=0, dilation=1, groups=1, backend="fast",
                    input_grad=True):
    """Gradients of ``conv2d`` given grad_y (N, K, Ho, Wo) = dLoss/dy.

    -> (grad_x (N, C, H, W), grad_weight (K, C // groups, kh, kw), grad_bias (K,)).
    ``input_grad=False`` skips grad_x (returned as None): the first layer of a
    network has no use for the gradient of its data.
    """
    if _is_reference(backend):
        return reference.conv2d_backward(grad_y, x, weight, stride, padding, dilation, groups, input_grad)
    grad_y, x, weight, g = _checks.conv2d_backward_args(grad_y, x, weight, stride, padding, dilation, groups)
    grad_x = np.empty(g.input_shape, dtype=x.dtype) if input_grad else None
    grad_weight = np.empty(weight.shape, dtype=x.dtype)
    grad_bias = np.empty(g.out_channels, dtype=x.dtype)
    _kernels.conv2d_backward(g, grad_y, x, weight, grad_x, grad_weight)
    _kernels.conv2d_bias_grad(g, grad_y, grad_bias)
    return grad_x, grad_weight, grad_bias


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                     backend="fast"):
    """2-D transposed convolution: the input gradient of ``conv2d`` as a layer.

    x (N, C, H, W), weight (C, K // groups, kh, kw), bias (K,) or None
    -> y (N, K, Ho, Wo), Ho = (H - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1.
    Runs conv2d's input-gradient kernel with x in the place of grad_y.
    """
    if _is_reference(backend):
        return reference.conv_transpose2d(x, weight, bias, stride, padding, output_padding, groups, dilation)
    x, weight, bias, g = _checks.conv_transpose2d_args(x, weight, bias, stride, padding, output_padding,
                                                       groups, dilation)
    y = np.empty(g.input_shape, dtype=x.dtype)
    _kernels.conv2d_backward(g, x, None, weight, y, None)
    if bias is not None:
        y += bias[:, None, None]
    return y


def conv_transpose2d_backward(grad_y, x, weight, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                              backend="fast"):
    """Gradients of ``conv_transpose2d`` given grad_y (N, K, Ho, Wo).

    -> (grad_x (N, C, H, W), grad_weight (C, K // groups, kh, kw), grad_bias (K,)).
    The adjoint of an input gradient is the forward convolution, so grad_x is
    conv2d(grad_y, weight) and grad_weight is conv2d's weight gradient with
    the roles of input and output gradient swapped.
    """
    if _is_reference(backend):
        return reference.conv_transpose2d_backward(grad_y, x, weight, stride, padding, output_padding, groups,
                                                   dilation)
    grad_y, x, weight, g = _checks.conv_transpose2d_backward_args(grad_y, x, weight, stride, padding,
                                                                  output_padding, groups, dilation)
    grad_x = np.empty(x.shape, dtype=x.dtype)
    grad_weight = np.empty(weight.shape, dtype=x.dtype)
    _kernels.conv2d_forward(g, grad_y, weight, None, grad_x)
    _kernels.conv2d_backward(g, x, grad_y, weight, None, grad_weight)
    grad_bias = grad_y.sum(axis=(0, 2, 3))
    return grad_x, grad_weight, grad_bias


# --------------------------------------------------------------------- pooling


def max_pool2d(x, kernel_size, stride=None, padding=0, backend="fast"):
    """Max pooling.  x (N, C, H, W) -> (y, argmax), both (N, C, Ho, Wo).

    ``stride`` defaults to ``kernel_size``; ``padding`` is at most half the
    window and never wins.  ``argmax`` (int64) is the flat index ``h * W + w``
    of the maximum in its input plane; ties go to the first maximum in
    row-major window order, and a NaN in the window wins (the first NaN).
    """
    if _is_reference(backend):
        return reference.max_pool2d(x, kernel_size, stride, padding)
    x, g = _checks.pool2d_args(x, kernel_size, stride, padding)
    y = np.empty(g.output_shape, dtype=x.dtype)
    argmax = np.empty(g.output_shape, dtype=np.int64)
    _kernels.max_pool2d_forward(g, x, y, argmax)
    return y, argmax


def max_pool2d_backward(grad_y, argmax, x_shape, backend="fast"):
    """Gradient of ``max_pool2d``: grad_y (N, C, Ho, Wo) routed to ``argmax``.

    -> grad_x of shape ``x_shape``.  ``argmax`` is checked (integer dtype,
    shape of grad_y, indices inside the plane) before any kernel reads it.
    """
    if _is_reference(backend):
        return reference.max_pool2d_backward(grad_y, argmax, x_shape)
    grad_y, argmax, x_shape = _checks.max_pool2d_backward_args(grad_y, argmax, x_shape)
    n, c, h, w = x_shape
    ho, wo = grad_y.shape[2:]
    # The windows are unknown here: the kernel reads only the plane sizes.
    g = _checks.PoolGeometry(n, c, h, w, ho, wo, (1, 1), (1, 1), (0, 0))
    grad_x = np.empty(x_shape, dtype=grad_y.dtype)
    _kernels.max_pool2d_backward(g, grad_y, argmax, grad_x)
    return grad_x


def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True, backend="fast"):
    """Average pooling.  x (N, C, H, W) -> y (N, C, Ho, Wo).

    The divisor is ``kh * kw`` when ``count_include_pad``, else the number of
    input (non-padding) elements in the window.
    """
    if _is_reference(backend):
        return reference.avg_pool2d(x, kernel_size, stride, padding, count_include_pad)
    x, g = _checks.pool2d_args(x, kernel_size, stride, padding)
    y = np.empty(g.output_shape, dtype=x.dtype)
    _kernels.avg_pool2d_forward(g, bool(count_include_pad), x, y)
    return y


def avg_pool2d_backward(grad_y, x_shape, kernel_size, stride=None, padding=0, count_include_pad=True,
                        backend="fast"):
    """Gradient of ``avg_pool2d``: grad_y (N, C, Ho, Wo) -> grad_x of shape ``x_shape``."""
    if _is_reference(backend):
        return reference.avg_pool2d_backward(grad_y, x_shape, kernel_size, stride, padding, count_include_pad)
    grad_y, g = _checks.pool2d_backward_args(grad_y, x_shape, kernel_size, stride, padding)
    grad_x = np.empty(g.input_shape, dtype=grad_y.dtype)
    _kernels.avg_pool2d_backward(g, bool(count_include_pad), grad_y, grad_x)
    return grad_x


def global_avg_pool2d(x, backend="fast"):
    """Mean over each plane: x (N, C, H, W) -> y (N, C)."""
    if _is_reference(backend):
        return reference.global_avg_pool2d(x)
    x, g = _checks.global_avg_pool2d_args(x)
    y = np.empty(g.output_shape, dtype=x.dtype)
    _kernels.avg_pool2d_forward(g, True, x, y)
    return y.reshape(g.batch, g.channels)


def global_avg_pool2d_backward(grad_y, x_shape, backend="fast"):
    """Gradient of ``global_avg_pool2d``: grad_y (N, C) -> grad_x of shape ``x_shape``."""
    if _is_reference(backend):
        return reference.global_avg_pool2d_backward(grad_y, x_shape)
    grad_y, g = _checks.global_avg_pool2d_backward_args(grad_y, x_shape)
    grad_x = np.empty(g.input_shape, dtype=grad_y.dtype)
    _kernels.avg_pool2d_backward(g, True, grad_y.reshape(g.output_shape), grad_x)
    return grad_x


# ---------------------------------------------------------------------- linear


def linear(x, weight, bias=None, backend="fast"):
    """Fully connected layer (torch.nn.functional.linear): y = x @ weight.T + bias.

    x (N, in_features), weight (out_features, in_features), bias (out_features,)
    or None -> y (N, out_features).  Only 2-D x: flatten any other axes first.
    The fast backend runs cnnfast's own GEMM on its OpenMP threads, never NumPy's BLAS.
    """
    if _is_reference(backend):
        return reference.linear(x, weight, bias)
    x, weight, bias = _checks.linear_args(x, weight, bias)
    y = np.empty((x.shape[0], weight.shape[0]), dtype=x.dtype)
    _kernels.linear_forward(x, weight, bias, y)
    return y


def linear_backward(grad_y, x, weight, backend="fast"):
    """Gradients of ``linear`` given grad_y (N, out_features) = dLoss/dy.

    -> (grad_x (N, in_features), grad_weight (out_features, in_features), grad_bias (out_features,))
    """
    if _is_reference(backend):
        return reference.linear_backward(grad_y, x, weight)
    grad_y, x, weight = _checks.linear_backward_args(grad_y, x, weight)
    grad_x = np.empty(x.shape, dtype=x.dtype)
    grad_weight = np.empty(weight.shape, dtype=x.dtype)
    grad_bias = np.empty(weight.shape[0], dtype=x.dtype)
    _kernels.linear_backward(grad_y, x, weight, grad_x, grad_weight, grad_bias)
    return grad_x, grad_weight, grad_bias


# ------------------------------------------------- training-step kernels
#
# Used by the layers (BatchNorm, ReLU) and the optimizer (SGD), with NumPy twins
# in cnnfast.reference.training; not (yet) in __all__: the public functions'
# contract (tests/test_errors.py: any memory layout, nested lists, empty
# batches, ...) is the next step for them.


def _channels(name, array, dtype):
    """(N, C, ...) as a C-contiguous (N, C, S) array of ``dtype``."""
    if array.ndim < 2:
        raise ValueError(f"{name} must be (N, C, ...), got shape {array.shape}")
    return np.ascontiguousarray(array, dtype=dtype).reshape(array.shape[0], array.shape[1], -1)


def _per_channel(channels, dtype, **arrays):
    out = []
    for name, value in arrays.items():
        value = np.ascontiguousarray(value, dtype=dtype)
        if value.shape != (channels,):
            raise ValueError(f"{name} must have shape ({channels},), got {value.shape}")
        out.append(value)
    return out


def batch_norm_train(x, weight, bias, eps, backend="fast"):
    """Batch normalisation with the batch's statistics (torch.nn.BatchNorm in training mode).

    x (N, C, ...), weight and bias (C,) -> (y (N, C, ...), mean (C,), var (C,), inv_std (C,)):
    y = (x - mean) * inv_std * weight + bias per channel, mean and the biased
    variance var over every axis but 1, inv_std = 1 / sqrt(var + eps).  The
    fast backend makes three passes over x (NumPy eight) on every thread.
    """
    if _is_reference(backend):
        return reference.batch_norm_train(x, weight, bias, eps)
    x, weight, bias = _checks.float_arrays(x=x, weight=weight, bias=bias)
    x3 = _channels("x", x, x.dtype)
    weight, bias = _per_channel(x3.shape[1], x.dtype, weight=weight, bias=bias)
    y = np.empty_like(x3)
    mean, var, inv_std = (np.empty(x3.shape[1], dtype=x.dtype) for _ in range(3))
    _kernels.batchnorm_train_forward(x3, weight, bias, float(eps), y, mean, var, inv_std)
    return y.reshape(x.shape), mean, var, inv_std


def batch_norm_affine(x, scale, shift, backend="fast"):
    """Batch normalisation with fixed statistics (inference): x (N, C, ...) ->
    x * scale + shift per channel (scale, shift (C,)), one pass on every thread."""
    if _is_reference(backend):
        return reference.batch_norm_affine(x, scale, shift)
    x, scale, shift = _checks.float_arrays(x=x, scale=scale, shift=shift)
    x3 = _channels("x", x, x.dtype)
    scale, shift = _per_channel(x3.shape[1], x.dtype, scale=scale, shift=shift)
    y = np.empty_like(x3)
    _kernels.batchnorm_affine(x3, scale, shift, y)
    return y.reshape(x.shape)


def batch_norm_train_backward(grad_y, x, mean, inv_std, weight, backend="fast"):
    """Gradients of :func:`batch_norm_train` given grad_y = dLoss/dy, x and the
    forward's mean and inv_std -> (grad_x, grad_weight (C,), grad_bias (C,))."""
    if _is_reference(backend):
        return reference.batch_norm_train_backward(grad_y, x, mean, inv_std, weight)
    grad_y, x, mean, inv_std, weight = _checks.float_arrays(grad_y=grad_y, x=x, mean=mean, inv_std=inv_std,
                                                             weight=weight)
    if grad_y.shape != x.shape:
        raise ValueError(f"grad_y has shape {grad_y.shape}, expected x's {x.shape}")
    x3, g3 = _channels("x", x, x.dtype), _channels("grad_y", grad_y, x.dtype)
    mean, inv_std, weight = _per_channel(x3.shape[1], x.dtype, mean=mean, inv_std=inv_std, weight=weight)
    grad_x = np.empty_like(x3)
    grad_weight, grad_bias = np.empty(x3.shape[1], dtype=x.dtype), np.empty(x3.shape[1], dtype=x.dtype)
    _kernels.batchnorm_train_backward(g3, x3, mean, inv_std, weight, grad_x, grad_weight, grad_bias)
    return grad_x.reshape(x.shape), grad_weight, grad_bias


def relu(x, backend="fast"):
    """max(x, 0) element-wise (NaN kept, as np.maximum), one pass on every thread."""
    if _is_reference(backend):
        return reference.relu(x)
    (x,) = _checks.float_arrays(x=x)
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    _kernels.relu_forward(x.reshape(-1), y.reshape(-1))
    return y


def relu_backward(grad_y, y, backend="fast"):
    """grad_y * (y > 0), y the output of :func:`relu`."""
    if _is_reference(backend):
        return reference.relu_backward(grad_y, y)
    grad_y, y = _checks.float_arrays(grad_y=grad_y, y=y)
    if grad_y.shape != y.shape:
        raise ValueError(f"grad_y has shape {grad_y.shape}, y has shape {y.shape}")
    grad_y, y = np.ascontiguousarray(grad_y), np.ascontiguousarray(y)
    grad_x = np.empty_like(grad_y)
    _kernels.relu_backward(grad_y.reshape(-1), y.reshape(-1), grad_x.reshape(-1))
    return grad_x


def sgd_update(data, grad, buf, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0,
               first_step=False, backend="fast"):
    """One torch.optim.SGD step, in place: ``data`` (and the momentum buffer
    ``buf``, None without momentum) of one parameter, given its ``grad``.

    The fast backend is one pass with subnormals flushed to zero: a buffer
    whose gradient stays zero decays into the subnormal range, where NumPy's
    arithmetic is a slow microcode assist.  data, grad and buf must be
    C-contiguous arrays of one float dtype and shape (they are updated in place).
    """
    if _is_reference(backend):
        return reference.sgd_update(data, grad, buf, lr, momentum, dampening, nesterov, weight_decay, first_step)
    data, grad, buf = _checks.float_arrays(data=data, grad=grad, buf=buf)
    for name, array in (("data", data), ("grad", grad), ("buf", buf)):
        if array is not None and (array.shape != data.shape or not array.flags.c_contiguous):
            raise ValueError(f"{name} must be C-contiguous with data's shape {data.shape}, got {array.shape}")
    if not data.flags.writeable or (buf is not None and not buf.flags.writeable):
        raise ValueError("data and buf are updated in place: they must be writeable")
    if momentum != 0.0 and buf is None:
        raise ValueError("momentum needs a buffer")
    _kernels.sgd_update(data.reshape(-1), grad.reshape(-1), None if buf is None else buf.reshape(-1), float(lr),
                        float(momentum), float(dampening), bool(nesterov), float(weight_decay), bool(first_step))
