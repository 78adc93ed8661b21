"""Checks of constructor arguments and input shapes shared by the layers.

Every message names the argument and the value (or shape) it got, so a
mistake in a model definition points at the layer that holds it.
"""

from __future__ import annotations

import numbers
import operator

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def integer(name, value):
    """``value`` as a Python int; bools and floats are refused (TypeError)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    return operator.index(value)


def positive_int(name, value):
    """``value`` as an int >= 1."""
    result = integer(name, value)
    if result < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return result


def pair(name, value, minimum):
    """An int or a pair of ints as a ``(height, width)`` tuple, each >= ``minimum``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        result = (integer(name, value[0]), integer(name, value[1]))
    else:
        result = (integer(name, value),) * 2
    if min(result) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return result


def real(name, value):
    """``value`` as a finite Python float (NumPy scalars would promote float32 arrays)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    result = float(value)
    if not np.isfinite(result):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return result


def boolean(name, value):
    """``value`` as a Python bool; only real bools are accepted."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def float_dtype(dtype):
    """``dtype`` as np.float32 or np.float64 (TypeError otherwise)."""
    try:
        result = np.dtype(dtype)
    except TypeError as error:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from error
    if result not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {result}")
    return result


def shape(name, value):
    """A batch-free input shape as a tuple of ints >= 1."""
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"{name} must be a tuple of ints (batch dimension excluded), got {value!r}")
    result = tuple(integer(name, size) for size in value)
    if any(size < 1 for size in result):
        raise ValueError(f"{name} must hold sizes >= 1 (batch dimension excluded), got {value!r}")
    return result


def window_output(kind, size, span, stride, pad_total, input_shape, what):
    """Length of a sliding-window output along one axis; ValueError when the
    (padded) input is shorter than the window."""
    if size + pad_total < span:
        raise ValueError(f"{what} (extent {span} along {kind}) is larger than the padded input "
                         f"{kind} {size} + {pad_total} for input shape {tuple(input_shape)}")
    return (size + pad_total - span) // stride + 1
