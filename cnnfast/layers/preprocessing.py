"""Layers that prepare images inside the model: Reshape, ZeroPadding2D and Rescaling (Keras's names).

With them a saved model takes the images users have (``cnnfast train``'s
LeNet-5 takes 28 x 28 MNIST digits scaled to [0, 1] and pads and
standardises them itself).  Neither has parameters.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _checks as check
from .base import Layer, register

__all__ = ["Reshape", "ZeroPadding2D", "Rescaling"]


@register
class Reshape(Layer):
    """Give each sample another shape with the same number of values (Keras's Reshape).

    x (N, *input_shape) -> y (N, *target_shape), a view of x when x is
    contiguous; e.g. ``Reshape((1, 28, 28))`` turns MNIST's (N, 28, 28)
    digits into one-channel images.  torch: ``nn.Unflatten`` / ``x.reshape``.

    Parameters
    ----------
    target_shape : tuple of int
        Batch-free; one entry may be -1 (inferred).
    name : str, optional
    """

    def __init__(self, target_shape, name=None):
        super().__init__(name)
        if not isinstance(target_shape, (tuple, list)):
            raise TypeError(f"target_shape must be a tuple of ints, got {target_shape!r}")
        sizes = tuple(check.integer("target_shape", size) for size in target_shape)
        if sum(size == -1 for size in sizes) > 1 or any(size < 1 and size != -1 for size in sizes):
            raise ValueError(f"target_shape must hold sizes >= 1 and at most one -1, got {target_shape!r}")
        self.target_shape = sizes

    def output_shape(self, input_shape):
        """The target shape, its -1 filled in; ValueError when the sizes do not match."""
        count = math.prod(input_shape)
        known = math.prod(size for size in self.target_shape if size != -1)
        shape = tuple(count // known if size == -1 else size for size in self.target_shape)
        if math.prod(shape) != count:
            raise ValueError(
                f"{self._label()}: cannot reshape input shape {tuple(input_shape)} ({count} values) "
                f"to {self.target_shape}"
            )
        return shape

    def _forward(self, x, training):
        return x.reshape(x.shape[0], *self.output_shape(x.shape[1:]))

    def _backward(self, grad_y):
        return grad_y.reshape(grad_y.shape[0], *self.input_shape)

    def get_config(self):
        """The constructor's keyword arguments, JSON-able (see :meth:`Layer.get_config`)."""
        return {"target_shape": list(self.target_shape), "name": self.name}


def _padding(padding):
    """Keras's padding forms -> ((top, bottom), (left, right))."""
    if isinstance(padding, (tuple, list)) and len(padding) == 2 and all(isinstance(p, (tuple, list)) for p in padding):
        return tuple(check.pair("padding", side, 0) for side in padding)
    rows, cols = check.pair("padding", padding, 0)
    return (rows, rows), (cols, cols)


@register
class ZeroPadding2D(Layer):
    """Zeros around each image plane (Keras's ZeroPadding2D, torch's ``nn.ZeroPad2d``).

    x (N, C, H, W) -> y (N, C, top + H + bottom, left + W + right).

    Parameters
    ----------
    padding : int, (int, int) or ((int, int), (int, int))
        The same on every side; ``(rows, columns)`` symmetric; or
        ``((top, bottom), (left, right))``.  torch's ``nn.ZeroPad2d`` takes
        ``(left, right, top, bottom)``.
    name : str, optional
    """

    _input_ndim = 3

    def __init__(self, padding=1, name=None):
        super().__init__(name)
        self.padding = _padding(padding)

    def output_shape(self, input_shape):
        """(C, H, W) -> (C, H + top + bottom, W + left + right)."""
        self._check_ndim(input_shape, f"input_shape {tuple(input_shape)} (batch dimension excluded)")
        (top, bottom), (left, right) = self.padding
        return (input_shape[0], input_shape[1] + top + bottom, input_shape[2] + left + right)

    def _forward(self, x, training):
        (top, bottom), (left, right) = self.padding
        n, c, height, width = x.shape
        y = np.zeros((n, c, top + height + bottom, left + width + right), dtype=x.dtype)
        y[:, :, top : top + height, left : left + width] = x
        return y

    def _backward(self, grad_y):
        (top, _), (left, _) = self.padding
        height, width = self.input_shape[1], self.input_shape[2]
        return grad_y[:, :, top : top + height, left : left + width].copy()

    def get_config(self):
        """The constructor's keyword arguments, JSON-able (see :meth:`Layer.get_config`)."""
        return {"padding": [list(side) for side in self.padding], "name": self.name}


@register
class Rescaling(Layer):
    """``y = x * scale + offset`` (Keras's Rescaling): e.g. ``Rescaling(1 / 255)`` for uint8-valued pixels.

    x (N, ...) -> y, same shape and dtype.

    Parameters
    ----------
    scale : float, non-zero
    offset : float
    name : str, optional
    """

    def __init__(self, scale, offset=0.0, name=None):
        super().__init__(name)
        self.scale = check.finite("scale", scale)
        self.offset = check.finite("offset", offset)
        if self.scale == 0.0:
            raise ValueError("scale must be non-zero (the layer would erase its input)")

    def _forward(self, x, training):
        y = x * self.scale
        y += self.offset
        return y

    def _backward(self, grad_y):
        return grad_y * self.scale

    def get_config(self):
        """The constructor's keyword arguments, JSON-able (see :meth:`Layer.get_config`)."""
        return {"scale": self.scale, "offset": self.offset, "name": self.name}
