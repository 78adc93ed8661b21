"""Pooling layers: MaxPool2D, AvgPool2D, GlobalAvgPool2D and LeNet-5's trainable Subsampling2D."""

from __future__ import annotations

import numpy as np

from .. import _checks as check
from .. import _geometry
from .. import functional as F
from . import initializers
from .base import Layer, Parameter, grad_buffer, register

__all__ = ["MaxPool2D", "AvgPool2D", "GlobalAvgPool2D", "Subsampling2D", "MaxPooling2D", "AveragePooling2D",
           "GlobalAveragePooling2D"]


class _Pool2D(Layer):
    """Window arguments and output-shape arithmetic shared by the pooling layers."""

    _input_ndim = 3

    def __init__(self, pool_size, stride, padding, name, strides=None):
        super().__init__(name)
        self.pool_size = check.pair("pool_size", pool_size, 1)
        stride = check.spelled_twice("stride", stride, None, "strides", strides)
        self.stride = self.pool_size if stride is None else check.pair("stride", stride, 1)
        self._stride_given = stride is not None
        if isinstance(padding, str):
            if padding != "valid":
                raise ValueError(f"pooling padding must be an int, a pair or 'valid', got {padding!r} (Keras's "
                                 "'same' pads one side more than the other, which the kernels do not)")
            padding = 0
        self.padding = check.pair("padding", padding, 0)
        _geometry.check_pool_padding(self.padding, self.pool_size, "pool_size")

    def output_shape(self, input_shape):
        """(C, H, W) -> (C, Ho, Wo), Ho = (H + 2 * padding - pool) // stride + 1."""
        self._check_ndim(input_shape, f"input_shape {tuple(input_shape)} (batch dimension excluded)")
        return (input_shape[0], *(
            _geometry.output_size(input_shape[1 + axis], self.pool_size[axis], self.stride[axis],
                                  self.padding[axis], axis=kind, what=f"{self._label()} pool {self.pool_size}",
                                  input_shape=input_shape)
            for axis, kind in enumerate(("height", "width"))))

    def get_config(self):
        """The constructor's keyword arguments, JSON-able (see :meth:`Layer.get_config`)."""
        return {"pool_size": list(self.pool_size),
                "stride": list(self.stride) if self._stride_given else None,
                "padding": list(self.padding),
                "name": self.name}


@register
class MaxPool2D(_Pool2D):
    """Max pooling (torch.nn.MaxPool2d).

    x (N, C, H, W) -> y (N, C, Ho, Wo), ``Ho = (H + 2 * padding - pool) // stride + 1``.
    Training keeps the argmax of each window for the backward.

    Parameters
    ----------
    pool_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``pool_size``.  Also spelled ``strides`` (Keras).
    padding : int, (int, int) or "valid"
        At most half the window; "valid" is 0.
    name : str, optional

    Notes
    -----
    Keras's name ``MaxPooling2D`` is this class.
    """

    def __init__(self, pool_size=2, stride=None, padding=0, name=None, *, strides=None):
        super().__init__(pool_size, stride, padding, name, strides)

    def _forward(self, x, training):
        y, argmax = F.max_pool2d(x, self.pool_size, self.stride, self.padding, backend=self.backend)
        if training:
            self._cache = (argmax, x.shape)
        return y

    def _backward(self, grad_y):
        argmax, x_shape = self._cache
        return F.max_pool2d_backward(grad_y, argmax, x_shape, backend=self.backend)


@register
class AvgPool2D(_Pool2D):
    """Average pooling (torch.nn.AvgPool2d).

    x (N, C, H, W) -> y (N, C, Ho, Wo), sizes as :class:`MaxPool2D`'s.

    Parameters
    ----------
    count_include_pad : bool
        The divisor is pool_h * pool_w when true, else the number of
        non-padding elements in the window.
    pool_size, stride, padding, name, strides
        As for :class:`MaxPool2D`.

    Notes
    -----
    Keras's name ``AveragePooling2D`` is this class.
    """

    def __init__(self, pool_size=2, stride=None, padding=0, count_include_pad=True, name=None, *, strides=None):
        super().__init__(pool_size, stride, padding, name, strides)
        self.count_include_pad = check.boolean("count_include_pad", count_include_pad)

    def _forward(self, x, training):
        y = F.avg_pool2d(x, self.pool_size, self.stride, self.padding, self.count_include_pad,
                         backend=self.backend)
        if training:
            self._cache = x.shape
        return y

    def _backward(self, grad_y):
        return F.avg_pool2d_backward(grad_y, self._cache, self.pool_size, self.stride, self.padding,
                                     self.count_include_pad, backend=self.backend)

    def get_config(self):
        """The constructor's keyword arguments, JSON-able (see :meth:`Layer.get_config`)."""
        config = super().get_config()
        config["count_include_pad"] = self.count_include_pad
        return config


@register
class GlobalAvgPool2D(Layer):
    """Mean over each plane: x (N, C, H, W) -> y (N, C).

    torch: ``nn.AdaptiveAvgPool2d(1)`` followed by ``nn.Flatten()``.

    Parameters
    ----------
    name : str, optional
    """

    _input_ndim = 3

    def output_shape(self, input_shape):
        """(C, H, W) -> (C,)."""
        self._check_ndim(input_shape, f"input_shape {tuple(input_shape)} (batch dimension excluded)")
        return (input_shape[0],)

    def _forward(self, x, training):
        if training:
            self._cache = x.shape
        return F.global_avg_pool2d(x, backend=self.backend)

    def _backward(self, grad_y):
        return F.global_avg_pool2d_backward(grad_y, self._cache, backend=self.backend)


@register
class Subsampling2D(_Pool2D):
    """LeNet-5's trainable subsampling (LeCun et al. 1998, layers S2 and S4).

    The average of each pool_size window, times a trainable coefficient, plus
    a trainable bias, one pair per feature map:
    ``y[n, c] = weight[c] * avg_pool(x)[n, c] + bias[c]``.  x (N, C, H, W) ->
    y (N, C, H // 2, W // 2) for the default 2x2 window.  The paper's squashing
    function is a separate layer (ScaledTanh).

    Parameters
    ----------
    pool_size : int or (int, int)
    kernel_initializer, bias_initializer : str or callable
        By default "ones" and "zeros", so the layer starts as plain average pooling.
    name : str, optional

    Attributes
    ----------
    weight, bias : Parameter, shape (C,)
    """

    _fixed_axes = (0,)
    _owns_parameters = True

    def __init__(self, pool_size=2, kernel_initializer="ones", bias_initializer="zeros", name=None):
        super().__init__(pool_size, None, 0, name)
        initializers.attach(self, kernel_initializer, bias_initializer)

    def _build(self, input_shape, rng):
        channels = input_shape[0]
        # Each output sees one coefficient applied to pool_h * pool_w inputs.
        fan = self.pool_size[0] * self.pool_size[1]
        self.weight = Parameter(self._kernel_init((channels,), rng, self.dtype, fan, fan))
        self.bias = Parameter(self._bias_init((channels,), rng, self.dtype, fan, fan))

    def _forward(self, x, training):
        pooled = F.avg_pool2d(x, self.pool_size, self.stride, 0, True, backend=self.backend)
        y = pooled * self.weight.data[:, None, None]
        y += self.bias.data[:, None, None]
        if training:
            self._cache = (pooled, x.shape)
        return y

    def _backward(self, grad_y):
        pooled, x_shape = self._cache
        np.einsum("nchw,nchw->c", grad_y, pooled, out=grad_buffer(self.weight))
        np.sum(grad_y, axis=(0, 2, 3), out=grad_buffer(self.bias))
        grad_pooled = grad_y * self.weight.data[:, None, None]
        return F.avg_pool2d_backward(grad_pooled, x_shape, self.pool_size, self.stride, 0, True,
                                     backend=self.backend)

    def get_config(self):
        """The constructor's keyword arguments, JSON-able (see :meth:`Layer.get_config`)."""
        return {"pool_size": list(self.pool_size), **initializers.config(self), "name": self.name}


#: Keras's names of the same classes.
MaxPooling2D = MaxPool2D
AveragePooling2D = AvgPool2D
GlobalAveragePooling2D = GlobalAvgPool2D
