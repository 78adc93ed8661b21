"""Convolution, pooling, linear, batch-norm and ReLU functions, forward and backward (NCHW).

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

import math

import numpy as np

from . import _checks, _kernels, reference

# The same functions as the reference (tests iterate over this list); BACKENDS is public too.
__all__ = list(reference.__all__)

#: The implementations every function here (and every layer) can run on.
BACKENDS = ("fast", "reference")


def _is_reference(backend):
    return _checks.one_of("backend", backend, BACKENDS) == "reference"


# ----------------------------------------------------------------- convolution


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, backend="fast"):
    """2-D convolution (cross-correlation, as in PyTorch).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64
    weight : ndarray, shape (K, C // groups, kh, kw), x's dtype
    bias : ndarray, shape (K,), or None
    stride, dilation : int or (int, int)
    padding : int, (int, int), "valid" or "same"
        Zeros added on both sides of each axis; "valid" is 0; "same" keeps H
        and W (stride 1 only; when ``dilation * (kh - 1)`` is odd the extra
        row goes to the bottom, the extra column to the right, as in torch).
    groups : int
        Divides C and K.
    backend : {"fast", "reference"}

    Returns
    -------
    y : ndarray, shape (N, K, Ho, Wo), x's dtype
        ``Ho = (H + 2 * padding - dilation * (kh - 1) - 1) // stride + 1``, likewise Wo.

    Examples
    --------
    >>> from cnnfast import functional as F
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> w = np.ones((1, 1, 2, 2), np.float32)
    >>> F.conv2d(x, w, stride=2)        # each output: the sum of one 2 x 2 block
    array([[[[10., 18.],
             [42., 50.]]]], dtype=float32)
    >>> F.conv2d(x, np.ones((8, 1, 3, 3), np.float32), padding=1).shape
    (1, 8, 4, 4)
    """
    if _is_reference(backend):
        return reference.conv2d(x, weight, bias, stride, padding, dilation, groups)
    x, weight, bias, g = _checks.conv2d_args(x, weight, bias, stride, padding, dilation, groups)
    y = np.empty(g.output_shape, dtype=x.dtype)
    _kernels.conv2d_forward(g, x, weight, bias, y)
    return y


def conv2d_backward(grad_y, x, weight, stride=1, padding=0, dilation=1, groups=1, backend="fast",
                    input_grad=True):
    """Gradients of :func:`conv2d` given ``grad_y = dLoss/dy``.

    Parameters
    ----------
    grad_y : ndarray, shape (N, K, Ho, Wo)
        The gradient of conv2d's output.
    x, weight, stride, padding, dilation, groups, backend
        As given to :func:`conv2d`.
    input_grad : bool
        False skips ``grad_x`` (returned as None): the first layer of a
        network has no use for the gradient of its data.

    Returns
    -------
    grad_x : ndarray, shape (N, C, H, W), or None
    grad_weight : ndarray, shape (K, C // groups, kh, kw)
    grad_bias : ndarray, shape (K,)
    """
    if _is_reference(backend):
        return reference.conv2d_backward(grad_y, x, weight, stride, padding, dilation, groups, input_grad)
    grad_y, x, weight, g = _checks.conv2d_backward_args(grad_y, x, weight, stride, padding, dilation, groups)
    grad_x = np.empty(g.input_shape, dtype=x.dtype) if input_grad else None
    grad_weight = np.empty(weight.shape, dtype=x.dtype)
    grad_bias = np.empty(g.out_channels, dtype=x.dtype)
    _kernels.conv2d_backward(g, grad_y, x, weight, grad_x, grad_weight)
    _kernels.conv2d_bias_grad(g, grad_y, grad_bias)
    return _checks.same_crop(grad_x, padding, g), grad_weight, grad_bias


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                     backend="fast"):
    """2-D transposed convolution: the input gradient of :func:`conv2d` as a layer.

    Runs conv2d's input-gradient kernel with ``x`` in the place of ``grad_y``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64
    weight : ndarray, shape (C, K // groups, kh, kw), x's dtype
    bias : ndarray, shape (K,), or None
    stride, padding, output_padding, dilation : int or (int, int)
        ``output_padding`` must be smaller than the stride or the dilation.
    groups : int
    backend : {"fast", "reference"}

    Returns
    -------
    y : ndarray, shape (N, K, Ho, Wo), x's dtype
        ``Ho = (H - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1``.
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
    """Gradients of :func:`conv_transpose2d` given ``grad_y = dLoss/dy``.

    The adjoint of an input gradient is the forward convolution, so grad_x is
    ``conv2d(grad_y, weight)`` and grad_weight is conv2d's weight gradient with
    the roles of input and output gradient swapped.

    Parameters
    ----------
    grad_y : ndarray, shape (N, K, Ho, Wo)
    x, weight, stride, padding, output_padding, groups, dilation, backend
        As given to :func:`conv_transpose2d`.

    Returns
    -------
    grad_x : ndarray, shape (N, C, H, W)
    grad_weight : ndarray, shape (C, K // groups, kh, kw)
    grad_bias : ndarray, shape (K,)
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
    """Max pooling with the index of each maximum.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int or (int, int)
        At most half the window; padding never wins.
    backend : {"fast", "reference"}

    Returns
    -------
    y : ndarray, shape (N, C, Ho, Wo), x's dtype
        ``Ho = (H + 2 * padding - kh) // stride + 1``, likewise Wo.
    argmax : ndarray, shape (N, C, Ho, Wo), int64
        The flat index ``h * W + w`` of the maximum in its input plane; ties
        go to the first maximum in row-major window order, and a NaN in the
        window wins (the first NaN).

    Examples
    --------
    >>> from cnnfast import functional as F
    >>> x = np.array([[[[1, 5, 2, 0],
    ...                 [3, 4, 8, 1]]]], dtype=np.float32)
    >>> y, argmax = F.max_pool2d(x, 2)
    >>> y
    array([[[[5., 8.]]]], dtype=float32)
    >>> argmax                          # flat h * W + w in the 2 x 4 input plane
    array([[[[1, 6]]]])
    >>> F.max_pool2d_backward(np.ones_like(y), argmax, x.shape)
    array([[[[0., 1., 0., 0.],
             [0., 0., 1., 0.]]]], dtype=float32)
    """
    if _is_reference(backend):
        return reference.max_pool2d(x, kernel_size, stride, padding)
    x, g = _checks.pool2d_args(x, kernel_size, stride, padding)
    y = np.empty(g.output_shape, dtype=x.dtype)
    argmax = np.empty(g.output_shape, dtype=np.int64)
    _kernels.max_pool2d_forward(g, x, y, argmax)
    return y, argmax


def max_pool2d_backward(grad_y, argmax, x_shape, backend="fast"):
    """Gradient of :func:`max_pool2d`: ``grad_y`` routed to the ``argmax`` positions.

    Parameters
    ----------
    grad_y : ndarray, shape (N, C, Ho, Wo)
    argmax : ndarray of int, shape (N, C, Ho, Wo)
        From :func:`max_pool2d`; checked (integer dtype, shape of grad_y,
        indices inside the plane) before any kernel reads it.
    x_shape : (N, C, H, W)
    backend : {"fast", "reference"}

    Returns
    -------
    grad_x : ndarray, shape ``x_shape``, grad_y's dtype
    """
    if _is_reference(backend):
        return reference.max_pool2d_backward(grad_y, argmax, x_shape)
    grad_y, argmax, g = _checks.max_pool2d_backward_args(grad_y, argmax, x_shape)
    grad_x = np.empty(g.input_shape, dtype=grad_y.dtype)
    _kernels.max_pool2d_backward(g, grad_y, argmax, grad_x)
    return grad_x


def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True, backend="fast"):
    """Average pooling.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64
    kernel_size, stride, padding
        As for :func:`max_pool2d`.
    count_include_pad : bool
        The divisor is ``kh * kw`` when true, else the number of input
        (non-padding) elements in the window.
    backend : {"fast", "reference"}

    Returns
    -------
    y : ndarray, shape (N, C, Ho, Wo), x's dtype
    """
    if _is_reference(backend):
        return reference.avg_pool2d(x, kernel_size, stride, padding, count_include_pad)
    x, g = _checks.pool2d_args(x, kernel_size, stride, padding)
    y = np.empty(g.output_shape, dtype=x.dtype)
    _kernels.avg_pool2d_forward(g, bool(count_include_pad), x, y)
    return y


def avg_pool2d_backward(grad_y, x_shape, kernel_size, stride=None, padding=0, count_include_pad=True,
                        backend="fast"):
    """Gradient of :func:`avg_pool2d`: each output's gradient spread evenly over its window.

    Parameters
    ----------
    grad_y : ndarray, shape (N, C, Ho, Wo)
    x_shape : (N, C, H, W)
    kernel_size, stride, padding, count_include_pad, backend
        As given to :func:`avg_pool2d`.

    Returns
    -------
    grad_x : ndarray, shape ``x_shape``, grad_y's dtype
    """
    if _is_reference(backend):
        return reference.avg_pool2d_backward(grad_y, x_shape, kernel_size, stride, padding, count_include_pad)
    grad_y, g = _checks.pool2d_backward_args(grad_y, x_shape, kernel_size, stride, padding)
    grad_x = np.empty(g.input_shape, dtype=grad_y.dtype)
    _kernels.avg_pool2d_backward(g, bool(count_include_pad), grad_y, grad_x)
    return grad_x


def global_avg_pool2d(x, backend="fast"):
    """Mean over each plane.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64
    backend : {"fast", "reference"}

    Returns
    -------
    y : ndarray, shape (N, C), x's dtype
    """
    if _is_reference(backend):
        return reference.global_avg_pool2d(x)
    x, g = _checks.global_avg_pool2d_args(x)
    y = np.empty(g.output_shape, dtype=x.dtype)
    _kernels.avg_pool2d_forward(g, True, x, y)
    return y.reshape(g.batch, g.channels)


def global_avg_pool2d_backward(grad_y, x_shape, backend="fast"):
    """Gradient of :func:`global_avg_pool2d`.

    Parameters
    ----------
    grad_y : ndarray, shape (N, C)
    x_shape : (N, C, H, W)
    backend : {"fast", "reference"}

    Returns
    -------
    grad_x : ndarray, shape ``x_shape``, grad_y's dtype
    """
    if _is_reference(backend):
        return reference.global_avg_pool2d_backward(grad_y, x_shape)
    grad_y, g = _checks.global_avg_pool2d_backward_args(grad_y, x_shape)
    grad_x = np.empty(g.input_shape, dtype=grad_y.dtype)
    _kernels.avg_pool2d_backward(g, True, grad_y.reshape(g.output_shape), grad_x)
    return grad_x


# ---------------------------------------------------------------------- linear


def linear(x, weight, bias=None, backend="fast"):
    """Fully connected layer (torch.nn.functional.linear): ``y = x @ weight.T + bias``.

    The fast backend runs cnnfast's own GEMM on its OpenMP threads, never NumPy's BLAS.

    Parameters
    ----------
    x : ndarray, shape (N, in_features), float32 or float64
        Only 2-D: flatten any other axes first.
    weight : ndarray, shape (out_features, in_features), x's dtype
    bias : ndarray, shape (out_features,), or None
    backend : {"fast", "reference"}

    Returns
    -------
    y : ndarray, shape (N, out_features), x's dtype

    Examples
    --------
    >>> from cnnfast import functional as F
    >>> x = np.array([[1.0, 2.0]])
    >>> w = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, -1.0]])       # (out, in), as torch
    >>> F.linear(x, w, np.array([0.0, 0.0, 10.0]))
    array([[1., 3., 8.]])
    """
    if _is_reference(backend):
        return reference.linear(x, weight, bias)
    x, weight, bias = _checks.linear_args(x, weight, bias)
    y = np.empty((x.shape[0], weight.shape[0]), dtype=x.dtype)
    _kernels.linear_forward(x, weight, bias, y)
    return y


def linear_backward(grad_y, x, weight, backend="fast"):
    """Gradients of :func:`linear` given ``grad_y = dLoss/dy``.

    Parameters
    ----------
    grad_y : ndarray, shape (N, out_features)
    x, weight, backend
        As given to :func:`linear`.

    Returns
    -------
    grad_x : ndarray, shape (N, in_features)
    grad_weight : ndarray, shape (out_features, in_features)
    grad_bias : ndarray, shape (out_features,)
    """
    if _is_reference(backend):
        return reference.linear_backward(grad_y, x, weight)
    grad_y, x, weight = _checks.linear_backward_args(grad_y, x, weight)
    grad_x = np.empty(x.shape, dtype=x.dtype)
    grad_weight = np.empty(weight.shape, dtype=x.dtype)
    grad_bias = np.empty(weight.shape[0], dtype=x.dtype)
    _kernels.linear_backward(grad_y, x, weight, grad_x, grad_weight, grad_bias)
    return grad_x, grad_weight, grad_bias


# ------------------------------------------------- batch norm, ReLU, SGD


def _as_channels(array):
    """(N, C, ...) -> a (N, C, S) view, S the product of the spatial sizes (1 for (N, C))."""
    return array.reshape(array.shape[0], array.shape[1], math.prod(array.shape[2:]))  # not -1: N may be 0


def batch_norm_train(x, weight, bias, eps=1e-5, backend="fast"):
    """Batch normalisation with the batch's statistics (``torch.nn.functional.batch_norm``, training mode).

    Parameters
    ----------
    x : ndarray, shape (N, C, ...), float32 or float64
        More than one value per channel (N times the spatial size), as torch.
    weight : ndarray, shape (C,), x's dtype
    bias : ndarray, shape (C,), x's dtype, or None (zeros)
    eps : float > 0
        Added to the variance.
    backend : {"fast", "reference"}

    Returns
    -------
    y : ndarray, x's shape and dtype
        ``(x - mean) * inv_std * weight + bias`` per channel.
    mean, var : ndarray, shape (C,)
        The batch mean and the biased batch variance, over every axis but 1.
    inv_std : ndarray, shape (C,)
        ``1 / sqrt(var + eps)``, what :func:`batch_norm_train_backward` takes.

    Notes
    -----
    The fast backend makes three passes over x (mean, centred variance, output),
    the sums in float64, one channel per thread.
    """
    if _is_reference(backend):
        return reference.batch_norm_train(x, weight, bias, eps)
    x, weight, bias, eps = _checks.batch_norm_train_args(x, weight, bias, eps)
    y = np.empty_like(x)
    mean, var, inv_std = (np.empty(x.shape[1], dtype=x.dtype) for _ in range(3))
    _kernels.batchnorm_train_forward(_as_channels(x), weight, bias, eps, _as_channels(y), mean, var, inv_std)
    return y, mean, var, inv_std


def batch_norm_train_backward(grad_y, x, mean, inv_std, weight, backend="fast"):
    """Gradients of :func:`batch_norm_train`.

    Parameters
    ----------
    grad_y : ndarray, x's shape
        dLoss/dy.
    x : ndarray, shape (N, C, ...), float32 or float64
    mean, inv_std : ndarray, shape (C,)
        As :func:`batch_norm_train` returned them for this x.
    weight : ndarray, shape (C,)
    backend : {"fast", "reference"}

    Returns
    -------
    grad_x : ndarray, x's shape
    grad_weight, grad_bias : ndarray, shape (C,)
    """
    if _is_reference(backend):
        return reference.batch_norm_train_backward(grad_y, x, mean, inv_std, weight)
    grad_y, x, mean, inv_std, weight = _checks.batch_norm_train_backward_args(grad_y, x, mean, inv_std, weight)
    grad_x = np.empty_like(x)
    grad_weight, grad_bias = np.empty(x.shape[1], dtype=x.dtype), np.empty(x.shape[1], dtype=x.dtype)
    _kernels.batchnorm_train_backward(_as_channels(grad_y), _as_channels(x), mean, inv_std, weight,
                                      _as_channels(grad_x), grad_weight, grad_bias)
    return grad_x, grad_weight, grad_bias


def batch_norm_affine(x, scale, shift, backend="fast"):
    """Batch normalisation with fixed statistics (inference): ``x * scale + shift`` per channel.

    Parameters
    ----------
    x : ndarray, shape (N, C, ...), float32 or float64
    scale, shift : ndarray, shape (C,), x's dtype
        ``weight / sqrt(running_var + eps)`` and ``bias - running_mean * scale``.
    backend : {"fast", "reference"}

    Returns
    -------
    y : ndarray, x's shape and dtype
        Bitwise NumPy's ``x * scale + shift`` (two roundings, no fused multiply-add).
    """
    if _is_reference(backend):
        return reference.batch_norm_affine(x, scale, shift)
    x, scale, shift = _checks.batch_norm_affine_args(x, scale, shift)
    y = np.empty_like(x)
    _kernels.batchnorm_affine(_as_channels(x), scale, shift, _as_channels(y))
    return y


def relu(x, backend="fast"):
    """``max(x, 0)`` element-wise, NaN kept (as ``np.maximum`` and ``torch.relu``).

    Parameters
    ----------
    x : ndarray, any shape, float32 or float64
    backend : {"fast", "reference"}

    Returns
    -------
    y : ndarray, x's shape and dtype
    """
    if _is_reference(backend):
        return reference.relu(x)
    x = _checks.relu_args(x)
    y = np.empty_like(x)
    _kernels.relu_forward(x.reshape(-1), y.reshape(-1))
    return y


def relu_backward(grad_y, y, backend="fast"):
    """Gradient of :func:`relu` from its output: ``grad_y * (y > 0)``.

    Parameters
    ----------
    grad_y : ndarray, y's shape, float32 or float64
    y : ndarray
        The output of :func:`relu` (0 at x = 0: the gradient there is 0, as torch).
    backend : {"fast", "reference"}

    Returns
    -------
    grad_x : ndarray, y's shape and dtype
        NaN where grad_y is infinite and y is not positive, as NumPy's product.
    """
    if _is_reference(backend):
        return reference.relu_backward(grad_y, y)
    grad_y, y = _checks.relu_backward_args(grad_y, y)
    grad_x = np.empty_like(grad_y)
    _kernels.relu_backward(grad_y.reshape(-1), y.reshape(-1), grad_x.reshape(-1))
    return grad_x


def sgd_update(data, grad, buf, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0,
               first_step=False, backend="fast"):
    """One ``torch.optim.SGD`` step for one parameter, in place.

    Not in ``__all__``: it updates its arguments in place, so it takes only
    C-contiguous, writeable arrays (cnnfast.optim.SGD calls it).

    Parameters
    ----------
    data : ndarray, float32 or float64, C-contiguous, writeable
        The parameter, updated.
    grad : ndarray, data's shape and dtype, C-contiguous
    buf : ndarray like data, or None
        The momentum buffer, updated (None without momentum).
    lr, momentum, dampening, weight_decay : float
    nesterov, first_step : bool
        ``first_step``: the buffer is set to the gradient instead of decayed (torch's first step).
    backend : {"fast", "reference"}

    Notes
    -----
    The fast backend is one pass with subnormals flushed to zero: a buffer
    whose gradient stays zero decays into the subnormal range, where NumPy's
    arithmetic is a slow microcode assist.  Otherwise bitwise the reference.
    """
    if _is_reference(backend):
        return reference.sgd_update(data, grad, buf, lr, momentum, dampening, nesterov, weight_decay, first_step)
    for name, array in (("data", data), ("grad", grad), ("buf", buf)):
        if array is not None and not isinstance(array, np.ndarray):  # a converted copy would be updated, not it
            raise TypeError(f"{name} must be a NumPy array (updated in place), got {type(array).__name__}")
    if buf is None:
        data, grad = _checks.float_arrays(data=data, grad=grad)
    else:
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
