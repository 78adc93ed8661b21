"""Weight initializers: PyTorch's default, He (Kaiming) and Glorot (Xavier).

An initializer is ``init(shape, rng, dtype, fan_in, fan_out) -> array``; it
draws from ``rng`` (the generator given to the layer's build) in float64 and
casts once, so a float32 and a float64 model built from the same seed start
from the same weights (up to rounding).  Fans follow torch's
``_calculate_fan_in_and_fan_out``: for a weight (out, in, *kernel),
fan_in = in * prod(kernel) and fan_out = out * prod(kernel).  Biases are
initialised with the fans of their layer's weight.

Every initializer takes ``(shape, rng, dtype, fan_in, fan_out)``: the array's
shape, the ``numpy.random.Generator`` to draw from, the dtype, and the fans
of the layer's weight (:func:`fans`); it returns an ndarray of that shape and dtype.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["fans", "get", "attach", "config", "torch_default", "he_uniform", "he_normal", "glorot_uniform",
           "glorot_normal", "zeros", "ones", "NAMES"]


def fans(weight_shape):
    """(fan_in, fan_out) of a weight shaped (out, in, *kernel), as torch computes them.

    For Conv2DTranspose's (in, out/groups, kh, kw) torch uses the same rule,
    so its fan_in is out/groups * kh * kw.

    Parameters
    ----------
    weight_shape : tuple of int

    Returns
    -------
    (int, int)
    """
    if len(weight_shape) < 2:
        raise ValueError(f"fans need a weight of at least 2 dimensions, got shape {tuple(weight_shape)}")
    receptive = math.prod(weight_shape[2:])
    return weight_shape[1] * receptive, weight_shape[0] * receptive


def _uniform(shape, rng, dtype, bound):
    return rng.uniform(-bound, bound, size=shape).astype(dtype, copy=False)


def _normal(shape, rng, dtype, std):
    return (rng.standard_normal(size=shape) * std).astype(dtype, copy=False)


def torch_default(shape, rng, dtype, fan_in, fan_out):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)), torch's default for Conv/Linear weights and biases.

    It is torch's ``kaiming_uniform(a=sqrt(5))``.

    Arguments and result: the initializer protocol (see the module docstring).
    """
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return _uniform(shape, rng, dtype, bound)


def he_uniform(shape, rng, dtype, fan_in, fan_out):
    """U(-sqrt(6/fan_in), sqrt(6/fan_in)) (torch ``kaiming_uniform_``, ReLU gain).

    Arguments and result: the initializer protocol (see the module docstring).
    """
    return _uniform(shape, rng, dtype, math.sqrt(6.0 / fan_in))


def he_normal(shape, rng, dtype, fan_in, fan_out):
    """N(0, 2/fan_in) (torch ``kaiming_normal_``, ReLU gain).

    Arguments and result: the initializer protocol (see the module docstring).
    """
    return _normal(shape, rng, dtype, math.sqrt(2.0 / fan_in))


def glorot_uniform(shape, rng, dtype, fan_in, fan_out):
    """U(-sqrt(6/(fan_in+fan_out)), sqrt(6/(fan_in+fan_out))) (torch ``xavier_uniform_``).

    Arguments and result: the initializer protocol (see the module docstring).
    """
    return _uniform(shape, rng, dtype, math.sqrt(6.0 / (fan_in + fan_out)))


def glorot_normal(shape, rng, dtype, fan_in, fan_out):
    """N(0, 2/(fan_in+fan_out)) (torch ``xavier_normal_``).

    Arguments and result: the initializer protocol (see the module docstring).
    """
    return _normal(shape, rng, dtype, math.sqrt(2.0 / (fan_in + fan_out)))


def zeros(shape, rng, dtype, fan_in, fan_out):
    """All zeros (draws nothing from rng).

    Arguments and result: the initializer protocol (see the module docstring).
    """
    return np.zeros(shape, dtype=dtype)


def ones(shape, rng, dtype, fan_in, fan_out):
    """All ones (draws nothing from rng).

    Arguments and result: the initializer protocol (see the module docstring).
    """
    return np.ones(shape, dtype=dtype)


_BY_NAME = {
    "torch_default": torch_default,
    "he_uniform": he_uniform,
    "kaiming_uniform": he_uniform,
    "he_normal": he_normal,
    "kaiming_normal": he_normal,
    "glorot_uniform": glorot_uniform,
    "xavier_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "xavier_normal": glorot_normal,
    "zeros": zeros,
    "ones": ones,
}
NAMES = tuple(_BY_NAME)


def get(identifier):
    """An initializer by name, or a callable passed through.

    Parameters
    ----------
    identifier : str or callable
        One of :data:`NAMES`, or a callable following the initializer protocol.

    Returns
    -------
    callable
    """
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    raise ValueError(f"unknown initializer {identifier!r}; expected one of {NAMES} or a callable")


def config_value(name, identifier):
    """``identifier`` as it goes into a layer's JSON config: names only."""
    if isinstance(identifier, str):
        return identifier
    raise TypeError(f"{name}={identifier!r} is a callable: only initializer names can be serialized")


def attach(layer, kernel_initializer, bias_initializer):
    """Give a layer with a ``weight`` and a ``bias`` its two initializers.

    Sets ``kernel_initializer`` and ``bias_initializer`` (as given, for the
    config), the resolved callables ``_kernel_init`` and ``_bias_init``, and
    ``weight = bias = None`` until the layer is built.
    """
    layer.kernel_initializer = kernel_initializer
    layer.bias_initializer = bias_initializer
    layer._kernel_init = get(kernel_initializer)
    layer._bias_init = get(bias_initializer)
    layer.weight = None
    layer.bias = None


def config(layer):
    """The ``kernel_initializer`` and ``bias_initializer`` entries of ``layer``'s config."""
    return {"kernel_initializer": config_value("kernel_initializer", layer.kernel_initializer),
            "bias_initializer": config_value("bias_initializer", layer.bias_initializer)}
