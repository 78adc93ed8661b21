"""Element-wise activations (and Softmax over axis 1).

Each maps x (N, ...) to y of the same shape and dtype.  The backward passes
reuse the forward's output where the derivative is a function of it (ReLU,
Tanh, Sigmoid, ScaledTanh, Softmax, ELU), so no second transcendental call
is made.  Inputs and grad_y are never modified in place.
"""

from __future__ import annotations

import numpy as np

from .. import _checks as check
from .. import functional as F
from .base import Layer, Parameter, grad_buffer, register

__all__ = ["ReLU", "LeakyReLU", "PReLU", "ELU", "Tanh", "Sigmoid", "Softmax", "ScaledTanh"]


@register
class ReLU(Layer):
    """y = max(x, 0).  x (N, ...) -> y, same shape."""

    def _forward(self, x, training):
        y = F.relu(x, backend=self.backend)
        if training:
            self._cache = y
        return y

    def _backward(self, grad_y):
        # dy/dx = 1 where y > 0 (x > 0), else 0 (also at x == 0, as torch).
        return F.relu_backward(grad_y, self._cache, backend=self.backend)


def _mask_blend(mask, dtype, at_one, elsewhere):
    """``mask * at_one + (1 - mask) * elsewhere`` as a ``dtype`` array (``elsewhere`` may broadcast).

    Arithmetic instead of np.where, whose data-dependent branches are several
    times slower on random signs.
    """
    result = mask.astype(dtype)
    result *= np.subtract(at_one, elsewhere, dtype=dtype)
    result += elsewhere
    return result


@register
class LeakyReLU(Layer):
    """y = x where x > 0, else negative_slope * x (torch.nn.LeakyReLU).  Same shape.

    Parameters
    ----------
    negative_slope : float
    name : str, optional
    """

    def __init__(self, negative_slope=0.01, name=None):
        super().__init__(name)
        self.negative_slope = check.finite("negative_slope", negative_slope)

    def _forward(self, x, training):
        slope = self.negative_slope
        y = x * slope
        # max(x, slope * x) is the leaky ReLU for slope <= 1, min(...) above 1.
        (np.maximum if slope <= 1.0 else np.minimum)(x, y, out=y)
        if training:
            self._cache = _mask_blend(x > 0, x.dtype, 1.0, slope)  # dy/dx
        return y

    def _backward(self, grad_y):
        return grad_y * self._cache

    def get_config(self):
        """The constructor's keyword arguments, JSON-able (see :meth:`Layer.get_config`)."""
        return {"negative_slope": self.negative_slope, "name": self.name}


@register
class PReLU(Layer):
    """y = x where x > 0, else weight * x, with a learned ``weight`` (torch.nn.PReLU).

    x (N, C, ...) -> y, same shape.

    Parameters
    ----------
    num_parameters : int or None
        1: one slope shared by all elements; more: one per channel (axis 1);
        None: one per channel, the count taken from the first input.
    init : float
        The initial slope.
    name : str, optional

    Attributes
    ----------
    weight : Parameter, shape (num_parameters,)
    """

    _owns_parameters = True

    def __init__(self, num_parameters=1, init=0.25, name=None):
        super().__init__(name)
        self.num_parameters = None if num_parameters is None else check.positive_int("num_parameters",
                                                                                      num_parameters)
        self.init = check.finite("init", init)
        # Per channel: the channel axis must exist and keep its size.
        if self.num_parameters is None or self.num_parameters > 1:
            self._min_input_ndim = 1
            self._fixed_axes = (0,)
        self.weight = None

    def output_shape(self, input_shape):
        """Same shape; with one slope per channel, input_shape[0] must equal num_parameters."""
        self._check_ndim(input_shape, f"input_shape {tuple(input_shape)} (batch dimension excluded)")
        if self.num_parameters not in (None, 1) and input_shape[0] != self.num_parameters:
            raise ValueError(f"{self._label()} has num_parameters={self.num_parameters} but input shape "
                             f"{tuple(input_shape)} has {input_shape[0]} channels")
        return tuple(input_shape)

    def _build(self, input_shape, rng):
        count = input_shape[0] if self.num_parameters is None else self.num_parameters
        self.weight = Parameter(np.full((count,), self.init, dtype=self.dtype))

    def _slope(self, ndim):
        """The weight shaped to broadcast along axis 1 of an ndim-D input."""
        w = self.weight.data
        return w if w.shape[0] == 1 else w.reshape((1, w.shape[0]) + (1,) * (ndim - 2))

    def _forward(self, x, training):
        derivative = _mask_blend(x > 0, x.dtype, 1.0, self._slope(x.ndim))  # 1 or the slope
        y = x * derivative
        if training:
            self._cache = (x, derivative)
        return y

    def _backward(self, grad_y):
        x, derivative = self._cache
        # dy/dweight = x where x <= 0, else 0, i.e. min(x, 0).
        contribution = np.minimum(x, 0)
        contribution *= grad_y
        axes = tuple(a for a in range(x.ndim) if a != 1) if self.weight.data.shape[0] > 1 else None
        np.copyto(grad_buffer(self.weight), np.sum(contribution, axis=axes).reshape(self.weight.data.shape))
        return grad_y * derivative

    def get_config(self):
        """The constructor's keyword arguments, JSON-able (see :meth:`Layer.get_config`)."""
        return {"num_parameters": self.num_parameters, "init": self.init, "name": self.name}


@register
class ELU(Layer):
    """y = x where x > 0, else alpha * (exp(x) - 1) (torch.nn.ELU).  Same shape.

    Parameters
    ----------
    alpha : float
    name : str, optional
    """

    def __init__(self, alpha=1.0, name=None):
        super().__init__(name)
        self.alpha = check.finite("alpha", alpha)

    def _forward(self, x, training):
        # expm1 only of the non-positive part: no overflow for large x.
        negative = np.expm1(np.minimum(x, 0))
        negative *= self.alpha
        y = np.maximum(x, 0)
        y += negative
        if training:
            # dy/dx = 1 for x > 0, alpha * exp(x) = negative + alpha for x <= 0.
            derivative = (x > 0).astype(x.dtype)
            derivative *= 1.0 - self.alpha
            derivative += negative
            derivative += self.alpha
            self._cache = derivative
        return y

    def _backward(self, grad_y):
        return grad_y * self._cache

    def get_config(self):
        """The constructor's keyword arguments, JSON-able (see :meth:`Layer.get_config`)."""
        return {"alpha": self.alpha, "name": self.name}


@register
class Tanh(Layer):
    """y = tanh(x).  Same shape."""

    def _forward(self, x, training):
        y = np.tanh(x)
        if training:
            self._cache = y
        return y

    def _backward(self, grad_y):
        y = self._cache
        grad_x = y * y
        np.subtract(1, grad_x, out=grad_x)
        grad_x *= grad_y
        return grad_x


@register
class ScaledTanh(Layer):
    """y = amplitude * tanh(slope * x); LeCun et al. (1998) use 1.7159 * tanh(2x / 3).  Same shape.

    Parameters
    ----------
    amplitude : float, non-zero
    slope : float
    name : str, optional
    """

    def __init__(self, amplitude=1.7159, slope=2.0 / 3.0, name=None):
        super().__init__(name)
        self.amplitude = check.finite("amplitude", amplitude)
        self.slope = check.finite("slope", slope)
        if self.amplitude == 0.0:
            raise ValueError("amplitude must be non-zero")

    def _forward(self, x, training):
        y = np.tanh(x * self.slope)
        y *= self.amplitude
        if training:
            self._cache = y
        return y

    def _backward(self, grad_y):
        # dy/dx = A * S * (1 - tanh^2) = (S / A) * (A^2 - y^2)
        y = self._cache
        grad_x = y * y
        np.subtract(self.amplitude * self.amplitude, grad_x, out=grad_x)
        grad_x *= grad_y
        grad_x *= self.slope / self.amplitude
        return grad_x

    def get_config(self):
        """The constructor's keyword arguments, JSON-able (see :meth:`Layer.get_config`)."""
        return {"amplitude": self.amplitude, "slope": self.slope, "name": self.name}


@register
class Sigmoid(Layer):
    """y = 1 / (1 + exp(-x)), computed without overflow for any x.  Same shape."""

    def _forward(self, x, training):
        # Neither exponential can overflow: y = exp(min(x, 0)) / (1 + exp(-|x|)),
        # which is 1 / (1 + exp(-x)) for x >= 0 and exp(x) / (1 + exp(x)) below.
        denominator = np.abs(x)
        np.negative(denominator, out=denominator)
        np.exp(denominator, out=denominator)
        denominator += 1
        y = np.minimum(x, 0)
        np.exp(y, out=y)
        y /= denominator
        if training:
            self._cache = y
        return y

    def _backward(self, grad_y):
        y = self._cache
        grad_x = 1 - y
        grad_x *= y
        grad_x *= grad_y
        return grad_x


@register
class Softmax(Layer):
    """Softmax over axis 1 (torch.nn.Softmax(dim=1)).  x (N, C, ...) -> y, same shape.

    For training a classifier, prefer raw logits with
    cnnfast.losses.CrossEntropyLoss, which fuses softmax and log-likelihood.
    """

    _min_input_ndim = 1

    def _forward(self, x, training):
        y = x - x.max(axis=1, keepdims=True)
        np.exp(y, out=y)
        y /= y.sum(axis=1, keepdims=True)
        if training:
            self._cache = y
        return y

    def _backward(self, grad_y):
        y = self._cache
        grad_x = grad_y - (grad_y * y).sum(axis=1, keepdims=True)
        grad_x *= y
        return grad_x
