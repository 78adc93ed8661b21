"""Floating-point work of a whole model's pass, counted from the calls it makes.

A model's training step (or inference pass) is run once with the convolution
and dense functions of :mod:`cnnfast.functional` wrapped by counters, so the
count follows the model as it is built (residual blocks, shortcuts, a first
layer that skips its input gradient) without reading its layers' internals.
Counted: 2 multiply-adds' flops per product term of every convolution and
dense layer, forward and backward (each backward product as large as the
forward's, the input gradient only when it is computed).  BatchNorm,
activations, pooling, the loss and the optimizer are not counted: they are
not FMA work, and their time is what the share of peak then shows.
"""

from __future__ import annotations

from contextlib import contextmanager

from .. import functional as F


def _conv_flops(y_shape, weight_shape):
    # y (N, K, Ho, Wo) of weight (K, C/groups, kh, kw): 2 * N*K*Ho*Wo * (C/groups)*kh*kw
    n, k, ho, wo = y_shape
    _, per_group, kh, kw = weight_shape
    return 2 * n * k * ho * wo * per_group * kh * kw


def _transposed_flops(x_shape, weight_shape):
    # the convolution whose input gradient this is: output = x (N, C, H, W), weight (C, K/groups, kh, kw)
    n, c, h, w = x_shape
    _, per_group, kh, kw = weight_shape
    return 2 * n * c * h * w * per_group * kh * kw


@contextmanager
def counting():
    """Inside the block, ``total[0]`` accumulates the flops of every
    convolution and dense call made through cnnfast.functional."""
    total = [0]
    saved = {
        name: getattr(F, name)
        for name in (
            "conv2d",
            "conv2d_backward",
            "conv_transpose2d",
            "conv_transpose2d_backward",
            "linear",
            "linear_backward",
        )
    }

    def conv2d(x, weight, *args, **kwargs):
        y = saved["conv2d"](x, weight, *args, **kwargs)
        total[0] += _conv_flops(y.shape, weight.shape)
        return y

    def conv2d_backward(grad_y, x, weight, *args, **kwargs):
        grads = saved["conv2d_backward"](grad_y, x, weight, *args, **kwargs)
        total[0] += _conv_flops(grad_y.shape, weight.shape) * (1 + (grads[0] is not None))
        return grads

    def conv_transpose2d(x, weight, *args, **kwargs):
        total[0] += _transposed_flops(x.shape, weight.shape)
        return saved["conv_transpose2d"](x, weight, *args, **kwargs)

    def conv_transpose2d_backward(grad_y, x, weight, *args, **kwargs):
        grads = saved["conv_transpose2d_backward"](grad_y, x, weight, *args, **kwargs)
        total[0] += _transposed_flops(x.shape, weight.shape) * (1 + (grads[0] is not None))
        return grads

    def linear(x, weight, *args, **kwargs):
        total[0] += 2 * x.shape[0] * weight.shape[0] * weight.shape[1]
        return saved["linear"](x, weight, *args, **kwargs)

    def linear_backward(grad_y, x, weight, *args, **kwargs):
        grads = saved["linear_backward"](grad_y, x, weight, *args, **kwargs)
        total[0] += 2 * x.shape[0] * weight.shape[0] * weight.shape[1] * (1 + (grads[0] is not None))
        return grads

    wrappers = {
        "conv2d": conv2d,
        "conv2d_backward": conv2d_backward,
        "conv_transpose2d": conv_transpose2d,
        "conv_transpose2d_backward": conv_transpose2d_backward,
        "linear": linear,
        "linear_backward": linear_backward,
    }
    for name, wrapper in wrappers.items():
        setattr(F, name, wrapper)
    try:
        yield total
    finally:
        for name, function in saved.items():
            setattr(F, name, function)


def model_flops(case):
    """{pass name: flops of one call} for a model case of :mod:`cnnfast.bench.cases`
    (its ``train`` and ``inference`` callables).  Runs each pass once."""
    result = {}
    for pass_name in ("train", "inference"):
        with counting() as total:
            case[pass_name]()
        result[pass_name] = total[0]
    return result
