"""Element-wise activations (and Softmax over axis 1), and Keras's activation names.

Each maps x (N, ...) to y of the same shape and dtype.  The backward passes
reuse the forward's output where the derivative is a function of it (ReLU,
Tanh, Sigmoid, ScaledTanh, Softmax, ELU), so no second transcendental call
is made.  Inputs and grad_y are never modified in place.

The parameter-free ones have a Keras name (:data:`NAMES`): ``Activation("tanh")``
is ``Tanh()``, and ``Dense``/``Conv2D`` take ``activation="relu"``
(:class:`Activated`).  Each is its own :attr:`~Layer.final_activation`, with
the identity as its logits (``forward_logits(x) == x``), which is how a model
ending in Softmax or Sigmoid is trained from its logits.
"""

from __future__ import annotations

import numpy as np

from .. import _checks as check
from .. import functional as F
from .base import Layer, Parameter, grad_buffer, register

__all__ = ["ReLU", "LeakyReLU", "PReLU", "ELU", "Tanh", "Sigmoid", "Softmax", "ScaledTanh", "Activation", "NAMES",
           "Activated"]


class _Named(Layer):
    """An activation with a Keras name: it is its own final activation, its logits are its input."""

    def _forward_logits(self, x, training):
        return x

    def _backward_logits(self, grad_z, input_grad):
        return grad_z if input_grad else None


@register
class ReLU(_Named):
    """y = max(x, 0).  x (N, ...) -> y, same shape."""

    final_activation = "relu"

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
class LeakyReLU(_Named):
    """y = x where x > 0, else negative_slope * x (torch.nn.LeakyReLU).  Same shape.

    Parameters
    ----------
    negative_slope : float
    name : str, optional
    """

    final_activation = "leaky_relu"

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
class ELU(_Named):
    """y = x where x > 0, else alpha * (exp(x) - 1) (torch.nn.ELU).  Same shape.

    Parameters
    ----------
    alpha : float
    name : str, optional
    """

    final_activation = "elu"

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
class Tanh(_Named):
    """y = tanh(x).  Same shape."""

    final_activation = "tanh"

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
class ScaledTanh(_Named):
    """y = amplitude * tanh(slope * x); LeCun et al. (1998) use 1.7159 * tanh(2x / 3).  Same shape.

    Parameters
    ----------
    amplitude : float, non-zero
    slope : float
    name : str, optional
    """

    final_activation = "scaled_tanh"

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
class Sigmoid(_Named):
    """y = 1 / (1 + exp(-x)), computed without overflow for any x.  Same shape.

    Ending a model, with ``loss="binary_crossentropy"`` (probabilities), it is
    folded into the loss: training computes the loss from its input (see
    :class:`cnnfast.losses.BinaryCrossentropy`).
    """

    final_activation = "sigmoid"

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
class Softmax(_Named):
    """Softmax over axis 1 (torch.nn.Softmax(dim=1)).  x (N, C, ...) -> y, same shape.

    Ending a classifier, it goes with Keras's probabilities losses,
    ``loss="categorical_crossentropy"`` (one-hot targets) or
    ``"sparse_categorical_crossentropy"`` (integer labels): training folds it
    into the loss, computing the loss from its input (the logits), as Keras
    does, which is exact and stable.  With the logits loss ``"cross_entropy"``
    it would be applied twice (``fit`` warns).
    """

    final_activation = "softmax"
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


#: Keras's activation names -> the layer each builds.  "leaky_relu" is not one of them:
#: Keras's string means slope 0.2, torch's LeakyReLU 0.01; write LeakyReLU(negative_slope).
NAMES = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "softmax": Softmax, "elu": ELU,
         "scaled_tanh": ScaledTanh}


def Activation(activation, name=None):  # noqa: N802  (Keras's class name)
    """The activation layer named ``activation``: Keras's ``Activation("tanh")``.

    Parameters
    ----------
    activation : {"relu", "tanh", "sigmoid", "softmax", "elu", "scaled_tanh"}
    name : str, optional

    Returns
    -------
    Layer
        A new ``ReLU``, ``Tanh``, ... (that class, so it is saved, loaded and
        matched to torch as itself).

    Raises
    ------
    ValueError
        An unknown name (the known ones are listed).
    """
    if not isinstance(activation, str):
        raise TypeError(f"activation must be a name such as 'relu', got {type(activation).__name__}")
    key = activation.lower()
    if key == "leaky_relu":
        raise ValueError("activation 'leaky_relu' is ambiguous (Keras's slope is 0.2, torch's 0.01): add a "
                         "LeakyReLU(negative_slope) layer")
    if key not in NAMES:
        raise ValueError(f"unknown activation {activation!r}; known: {', '.join(NAMES)} (and 'linear' or None "
                         "for none, as activation= of Dense and Conv2D)")
    return NAMES[key](name=name)


class Activated:
    """What ``Dense`` and ``Conv2D`` share for Keras's ``activation=`` argument.

    The activation runs after the layer's own output (its logits) and is part
    of the layer: no child, so ``state_dict`` keeps torch's names for the
    affine layer alone (torch writes the activation as a module of its own).
    """

    def _set_activation(self, activation):
        """Keep the activation named ``activation`` (None or "linear": none) and set ``final_activation``."""
        if activation is None or activation == "linear":
            self.final_activation, layer = None, None
        else:
            layer = Activation(activation)
            self.final_activation = layer.final_activation
        object.__setattr__(self, "_activation_layer", layer)  # not registered: torch's module has no such child

    @property
    def activation(self):
        """The activation's name, or None."""
        return self.final_activation

    def _activate(self, z, training):
        layer = self._activation_layer
        return z if layer is None else layer.forward(z, training)

    def _activation_backward(self, grad_y):
        layer = self._activation_layer
        return grad_y if layer is None else layer.backward(grad_y)
