"""Dense, Flatten and Dropout."""

from __future__ import annotations

import math

from .. import _checks as check
from .. import functional as F
from . import initializers
from .activations import Activated
from .base import Layer, Parameter, _generator, register

__all__ = ["Dense", "Flatten", "Dropout"]


@register
class Dense(Activated, Layer):
    """Fully connected layer (torch.nn.Linear): ``y = activation(x @ weight.T + bias)``.

    x (N, in_features) -> y (N, units); in_features is inferred from the first input.

    Parameters
    ----------
    units : int
    activation : str or None
        A Keras name ("relu", "tanh", "sigmoid", "softmax", ...; see
        :func:`~cnnfast.layers.Activation`) applied to the output; None or
        "linear": none (the output is the logits).
    use_bias, kernel_initializer, bias_initializer, name
        As for :class:`~cnnfast.layers.Conv2D`.

    Attributes
    ----------
    weight : Parameter, shape (units, in_features)
    bias : Parameter, shape (units,), or None
    """

    _input_ndim = 1
    _fixed_axes = (0,)
    _owns_parameters = True

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="torch_default",
                 bias_initializer="torch_default", name=None):
        super().__init__(name)
        self.units = check.positive_int("units", units)
        self._set_activation(activation)
        self.use_bias = check.boolean("use_bias", use_bias)
        initializers.attach(self, kernel_initializer, bias_initializer)

    def output_shape(self, input_shape):
        """(in_features,) -> (units,)."""
        self._check_ndim(input_shape, f"input_shape {tuple(input_shape)} (batch dimension excluded)")
        return (self.units,)

    def _build(self, input_shape, rng):
        shape = (self.units, input_shape[0])
        fan_in, fan_out = initializers.fans(shape)
        self.weight = Parameter(self._kernel_init(shape, rng, self.dtype, fan_in, fan_out))
        self.bias = (Parameter(self._bias_init((self.units,), rng, self.dtype, fan_in, fan_out))
                     if self.use_bias else None)

    def _forward(self, x, training):
        return self._activate(self._forward_logits(x, training), training)

    def _forward_logits(self, x, training):
        # functional.linear, not x @ W.T: NumPy's own multi-threaded BLAS
        # would spin beside cnnfast's OpenMP threads (one pool busy at a time).
        y = F.linear(x, self.weight.data, None if self.bias is None else self.bias.data, backend=self.backend)
        if training:
            self._cache = x
        return y

    def _backward(self, grad_y):
        return self._backward_logits(self._activation_backward(grad_y), True)

    def _backward_logits(self, grad_z, input_grad):
        x = self._cache
        grad_x, grad_w, grad_b = F.linear_backward(grad_z, x, self.weight.data, backend=self.backend)
        self.weight.grad = grad_w
        if self.bias is not None:
            self.bias.grad = grad_b
        return grad_x if input_grad else None

    def get_config(self):
        """The constructor's keyword arguments, JSON-able (see :meth:`Layer.get_config`)."""
        return {
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
            **initializers.config(self),
            "name": self.name,
        }


@register
class Flatten(Layer):
    """Flatten all but the batch axis, in C order (torch.nn.Flatten()).

    x (N, d1, d2, ...) -> y (N, d1 * d2 * ...), a view of x when x is contiguous.

    Parameters
    ----------
    name : str, optional
    """

    def output_shape(self, input_shape):
        """(d1, d2, ...) -> (d1 * d2 * ...,)."""
        return (math.prod(input_shape),)

    def _forward(self, x, training):
        if training:
            self._cache = x.shape
        # Explicit size (not -1) so that an empty batch reshapes too.
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))

    def _backward(self, grad_y):
        return grad_y.reshape(self._cache)


@register
class Dropout(Layer):
    """Inverted dropout (torch.nn.Dropout).

    In training each element is zeroed with probability ``rate`` and the others
    are scaled by 1 / (1 - rate); at inference it is the identity (y is x
    itself).  x (N, ...) -> y of the same shape.  The masks are drawn from the
    rng given to build, so a seeded model drops the same elements run after run.

    Parameters
    ----------
    rate : float in [0, 1)
    name : str, optional
    """

    def __init__(self, rate, name=None):
        super().__init__(name)
        rate = check.finite("rate", rate)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"rate must be in [0, 1), got {rate!r}")
        self.rate = rate
        self._rng = None

    def _build(self, input_shape, rng):
        self._rng = rng

    def set_rng(self, rng):
        """Draw the masks from ``rng`` from now on (see :meth:`Layer.set_rng`)."""
        self._rng = _generator(rng)

    def _forward(self, x, training):
        if not training or self.rate == 0.0:
            if training:
                self._cache = None
            return x
        mask = (self._rng.random(x.shape, dtype=x.dtype) >= self.rate).astype(x.dtype)
        mask *= 1.0 / (1.0 - self.rate)
        self._cache = mask
        return x * mask

    def _backward(self, grad_y):
        mask = self._cache
        return grad_y if mask is None else grad_y * mask

    def get_config(self):
        """The constructor's keyword arguments, JSON-able (see :meth:`Layer.get_config`)."""
        return {"rate": self.rate, "name": self.name}
