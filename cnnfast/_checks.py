"""Argument checks: the front door of every public function, layer and optimizer.

Two kinds live here.

* Scalar and array checks used everywhere (:func:`integer`,
  :func:`positive_int`, :func:`real`, :func:`pair`, :func:`one_of`,
  :func:`float_arrays`, ...): each returns the value in canonical form (a
  Python int or float, a tuple, an array) or raises ``TypeError`` /
  ``ValueError`` naming the argument and what it got.
* The argument checks of :mod:`cnnfast.functional` and :mod:`cnnfast.reference`
  (``conv2d_args``, ``pool2d_args``, ...): both backends run their inputs
  through them, so both accept and refuse exactly the same inputs.  They
  return C-contiguous arrays and a geometry record from
  :mod:`cnnfast._geometry`; nothing here computes a result.
"""

from __future__ import annotations

import math
import numbers
import operator

import numpy as np

from ._geometry import MAX_ELEMENTS as _MAX_ELEMENTS  # noqa: F401  (tests/test_overflow.py reads it)
from ._geometry import (
    MAX_WINDOW,
    ConvGeometry,
    PoolGeometry,
    check_blas_dims,
    check_size,
    conv_geometry,
    pool_geometry,
    same_padding,
    transposed_conv_geometry,
)

__all__ = [
    "FLOAT_DTYPES",
    "integer",
    "positive_int",
    "nonnegative_int",
    "real",
    "finite",
    "nonnegative",
    "boolean",
    "one_of",
    "pair",
    "spelled_twice",
    "float_dtype",
    "batch_free_shape",
    "shape4",
    "OPTIONAL_ARRAYS",
    "ndarray",
    "float_arrays",
    "contiguous",
    "ConvGeometry",
    "PoolGeometry",
    "conv_padding",
    "same_crop",
    "conv2d_args",
    "conv2d_backward_args",
    "conv_transpose2d_args",
    "conv_transpose2d_backward_args",
    "linear_args",
    "linear_backward_args",
    "pool2d_args",
    "pool2d_backward_args",
    "max_pool2d_backward_args",
    "global_avg_pool2d_args",
    "global_avg_pool2d_backward_args",
    "batch_norm_train_args",
    "batch_norm_train_backward_args",
    "batch_norm_affine_args",
    "relu_args",
    "relu_backward_args",
]

#: The dtypes every array of cnnfast holds.
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# --------------------------------------------------------------------- scalars


def integer(name, value):
    """``value`` as a Python int; bools, floats and strings are refused (TypeError)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    return operator.index(value)


def _at_most(name, result, value, maximum):
    if maximum is not None and result > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value!r}")
    return result


def positive_int(name, value, maximum=MAX_WINDOW):
    """``value`` as an int in [1, maximum] (``maximum=None``: no upper bound)."""
    result = integer(name, value)
    if result < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return _at_most(name, result, value, maximum)


def nonnegative_int(name, value, maximum=MAX_WINDOW):
    """``value`` as an int in [0, maximum] (``maximum=None``: no upper bound)."""
    result = integer(name, value)
    if result < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return _at_most(name, result, value, maximum)


def real(name, value):
    """``value`` as a Python float; infinities pass, NaN does not.

    A Python float and not a NumPy scalar, so that float32 arrays multiplied
    by it stay float32 (NEP 50).  Bools ("momentum=True" is a bug, not 1.0),
    strings and arrays are a TypeError.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    result = float(value)
    if math.isnan(result):
        raise ValueError(f"{name} must not be NaN")
    return result


def finite(name, value):
    """``value`` as a finite Python float (see :func:`real`)."""
    result = real(name, value)
    if math.isinf(result):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return result


def nonnegative(name, value):
    """``value`` as a Python float >= 0 (infinity allowed; see :func:`real`)."""
    result = real(name, value)
    if result < 0.0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return result


def boolean(name, value):
    """``value`` as a Python bool; only real bools are accepted (0 and "no" are a TypeError)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def one_of(name, value, options):
    """``value`` when it is one of ``options`` (compared with ==), else ValueError listing them."""
    if isinstance(value, (str, int, type(None))) and value in options:
        return value
    raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")


def pair(name, value, minimum, maximum=MAX_WINDOW):
    """An int or a pair of ints as ``(height, width)``, each in [minimum, maximum]."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        result = (integer(name, value[0]), integer(name, value[1]))
    else:
        result = (integer(name, value),) * 2
    if min(result) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    _at_most(name, max(result), value, maximum)
    return result


def spelled_twice(name, value, default, other, other_value):
    """One argument with two spellings (torch's ``stride``, Keras's ``strides``): the one given.

    ``other_value`` is None when the second spelling was not used; giving
    both is a TypeError.
    """
    if other_value is None:
        return value
    if value is not default and value != default:
        raise TypeError(f"give {name} or {other}, not both")
    return other_value


def float_dtype(dtype):
    """``dtype`` as ``np.dtype(float32)`` or ``np.dtype(float64)`` (TypeError otherwise)."""
    try:
        result = np.dtype(dtype)
    except TypeError as error:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from error
    if result not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {result}")
    return result


def batch_free_shape(name, value):
    """A layer's input shape without the batch axis, as a tuple of ints >= 1."""
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"{name} must be a tuple of ints (batch dimension excluded), got {value!r}")
    result = tuple(integer(name, size) for size in value)
    if any(size < 1 for size in result):
        raise ValueError(f"{name} must hold sizes >= 1 (batch dimension excluded), got {value!r}")
    return result


def shape4(name, value):
    """A user-given NCHW shape as a tuple of 4 non-negative ints."""
    if not isinstance(value, (tuple, list)) or len(value) != 4:
        raise ValueError(f"{name} must be a 4-tuple (N, C, H, W), got {value!r}")
    shape = tuple(integer(name, v) for v in value)
    if min(shape) < 0:
        raise ValueError(f"{name} must not hold negative sizes, got {value!r}")
    check_size(name, shape)
    return shape


# ---------------------------------------------------------------------- arrays


#: The array arguments that may be None (no bias).
OPTIONAL_ARRAYS = ("bias",)


def ndarray(name, value):
    """``value`` as a NumPy array, else TypeError naming ``name`` and what it got.

    Arrays pass as they are; NumPy scalars and nested lists or tuples of
    numbers (array-likes) are converted.  Anything else (None, a Python
    number, a string, a torch tensor, any other object) is refused, as
    ``torch.nn.functional`` refuses what is not a tensor: converting it
    silently would hide a swapped or forgotten argument.
    """
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (np.generic, list, tuple)):
        try:
            return np.asarray(value)
        except ValueError as error:  # a ragged list
            raise ValueError(f"{name} is not a rectangular nested list: {error}") from None
    hint = " (for a torch tensor: t.detach().numpy())" if hasattr(value, "detach") else ""
    raise TypeError(f"{name} must be a NumPy array, got {type(value).__name__}{hint}")


def float_arrays(**arrays):
    """The named arrays as float32 or float64 arrays of one dtype, not yet copied.

    Each must be an array or array-like (:func:`ndarray`); only those named in
    :data:`OPTIONAL_ARRAYS` may be None, and are passed through.  Views,
    negative strides, Fortran order and read-only arrays are accepted;
    :func:`contiguous` copies them once, after every shape check, so that a
    malformed call with a huge view (a broadcast or zero-stride array of
    billions of elements) is refused before any memory is allocated for it.
    """
    converted = {}
    dtype = None
    first = None
    for name, value in arrays.items():
        if value is None and name in OPTIONAL_ARRAYS:
            converted[name] = None
            continue
        array = ndarray(name, value)
        if array.dtype not in FLOAT_DTYPES:
            raise TypeError(
                f"{name} must be float32 or float64, got dtype {array.dtype} with shape {array.shape}"
            )
        if dtype is None:
            dtype, first = array.dtype, name
        elif array.dtype != dtype:
            raise TypeError(
                f"{name} has dtype {array.dtype} but {first} has dtype {dtype}: "
                "all arrays must have the same float dtype"
            )
        converted[name] = array
    return tuple(converted.values())


def contiguous(*arrays):
    """C-contiguous versions of ``arrays`` (``None`` passed through): the last step of every check."""
    return tuple(None if a is None else np.ascontiguousarray(a) for a in arrays)


def _ndim(name, array, ndim, layout):
    if array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D {layout}, got shape {array.shape}")


def _nonempty(name, array, first_axis):
    if any(size == 0 for size in array.shape[first_axis:]):
        raise ValueError(f"{name} must have non-zero sizes after axis {first_axis}, got shape {array.shape}")


def _expect_shape(name, array, shape, why):
    if tuple(array.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)} ({why}), got {array.shape}")


# ----------------------------------------------------------------- convolution


def _conv_weight(name, weight, layout):
    _ndim(name, weight, 4, layout)
    if min(weight.shape) == 0:
        raise ValueError(f"{name} must have non-zero sizes, got shape {weight.shape}")


def _bias(bias, channels, weight):
    if bias is not None and bias.shape != (channels,):
        raise ValueError(
            f"bias must have shape ({channels},) to match weight of shape {weight.shape}, got {bias.shape}"
        )


def _input(x, first_axis, ndim=4, layout="(N, C, H, W)"):
    _ndim("x", x, ndim, layout)
    _nonempty("x", x, first_axis)


def conv_padding(padding, kernel, stride, dilation):
    """``padding`` as ``(both sides, extra bottom/right)`` pairs: an int, a pair, "valid" or "same".

    "same" keeps H and W; it needs stride 1 (as in torch), and when
    ``dilation * (kernel - 1)`` is odd the extra row / column goes to the
    bottom / right (torch's choice), given as ``extra``.  ``stride``,
    ``dilation`` and ``kernel`` are checked pairs.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"padding='same' needs stride 1 (as in torch), got stride {stride}")
            return same_padding(kernel, dilation)
        raise ValueError(f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    return pair("padding", padding, 0), (0, 0)


def _conv(x, weight, stride, padding, dilation, groups):
    """``(geometry, extra)`` of ``conv2d(x, weight, ...)``: the window arguments checked, then the shapes.

    ``extra``: the rows and columns "same" adds at the bottom/right of ``x``
    (the geometry is that of ``x`` so padded; see :func:`conv_padding`).
    """
    _input(x, 1)
    _conv_weight("weight", weight, "(out_channels, in_channels // groups, kh, kw)")
    stride, dilation = pair("stride", stride, 1), pair("dilation", dilation, 1)
    groups = positive_int("groups", groups)
    padding, extra = conv_padding(padding, weight.shape[2:], stride, dilation)
    # Checked on the caller's x (so the messages name its shape), with the extra row on both sides ...
    geometry = conv_geometry("x", x.shape, "weight", weight.shape, weight.shape[0], weight.shape[1], stride,
                             (padding[0] + extra[0], padding[1] + extra[1]), dilation, groups)
    if extra == (0, 0):
        return geometry, extra
    # ... then the geometry the kernels run: x with the extra row at the bottom only.
    padded = (*x.shape[:2], x.shape[2] + extra[0], x.shape[3] + extra[1])
    check_size("x padded for 'same'", padded)
    return conv_geometry("x", padded, "weight", weight.shape, weight.shape[0], weight.shape[1], stride, padding,
                         dilation, groups), extra


def _pad_bottom_right(x, extra):
    """``x`` with ``extra`` zero rows / columns at the bottom / right (x itself when there are none)."""
    if extra == (0, 0):
        return x
    return np.pad(x, ((0, 0), (0, 0), (0, extra[0]), (0, extra[1])))


def same_crop(grad_x, padding, geometry):
    """``grad_x`` of the padded input cut back to the caller's x, for ``padding="same"``.

    ``conv2d_backward`` computes the input gradient on the x that
    :func:`conv2d_backward_args` padded; the rows it added get no gradient
    in the caller's x.  Anything else (or None) is returned as it is.
    """
    if grad_x is None or not (isinstance(padding, str) and padding == "same"):
        return grad_x
    _, extra = same_padding(geometry.kernel, geometry.dilation)
    return grad_x[:, :, :geometry.in_height - extra[0], :geometry.in_width - extra[1]]


def conv2d_args(x, weight, bias, stride, padding, dilation, groups):
    """Checked ``(x, weight, bias, geometry)`` for ``conv2d`` (x padded at the bottom/right if "same" needs it)."""
    x, weight, bias = float_arrays(x=x, weight=weight, bias=bias)
    geometry, extra = _conv(x, weight, stride, padding, dilation, groups)
    _bias(bias, weight.shape[0], weight)
    return (*contiguous(_pad_bottom_right(x, extra), weight, bias), geometry)


def conv2d_backward_args(grad_y, x, weight, stride, padding, dilation, groups):
    """Checked ``(grad_y, x, weight, geometry)`` for ``conv2d_backward``.

    As :func:`conv2d_args`, x comes back padded when "same" needs it:
    :func:`same_crop` cuts the input gradient back.
    """
    grad_y, x, weight = float_arrays(grad_y=grad_y, x=x, weight=weight)
    _ndim("grad_y", grad_y, 4, "(N, K, Ho, Wo)")
    geometry, extra = _conv(x, weight, stride, padding, dilation, groups)
    _expect_shape("grad_y", grad_y, geometry.output_shape, f"the conv2d output for x {x.shape}, weight {weight.shape}")
    return (*contiguous(grad_y, _pad_bottom_right(x, extra), weight), geometry)


def _transposed(x, weight, stride, padding, output_padding, groups, dilation):
    """Geometry of the adjoint convolution (its input is the transposed output, its output ``x``)."""
    _input(x, 1)
    _conv_weight("weight", weight, "(in_channels, out_channels // groups, kh, kw)")
    stride, padding = pair("stride", stride, 1), pair("padding", padding, 0)
    dilation = pair("dilation", dilation, 1)
    output_padding = pair("output_padding", output_padding, 0)
    groups = positive_int("groups", groups)
    return transposed_conv_geometry(x.shape, weight.shape, stride, padding, output_padding, groups, dilation)


def conv_transpose2d_args(x, weight, bias, stride, padding, output_padding, groups, dilation):
    """Checked ``(x, weight, bias, geometry)`` for ``conv_transpose2d``; the geometry is the adjoint convolution's."""
    x, weight, bias = float_arrays(x=x, weight=weight, bias=bias)
    geometry = _transposed(x, weight, stride, padding, output_padding, groups, dilation)
    _bias(bias, geometry.in_channels, weight)
    return (*contiguous(x, weight, bias), geometry)


def conv_transpose2d_backward_args(grad_y, x, weight, stride, padding, output_padding, groups, dilation):
    """Checked ``(grad_y, x, weight, geometry)`` for ``conv_transpose2d_backward``."""
    grad_y, x, weight = float_arrays(grad_y=grad_y, x=x, weight=weight)
    geometry = _transposed(x, weight, stride, padding, output_padding, groups, dilation)
    _ndim("grad_y", grad_y, 4, "(N, C, H, W)")
    _expect_shape("grad_y", grad_y, geometry.input_shape,
                  f"the conv_transpose2d output for x {x.shape}, weight {weight.shape}")
    return (*contiguous(grad_y, x, weight), geometry)


# ---------------------------------------------------------------------- linear


def _linear_operands(x, weight):
    """X (N, in) and weight (out, in) with non-zero feature sizes and matching in."""
    _input(x, 1, 2, "(N, in_features)")
    _ndim("weight", weight, 2, "(out_features, in_features)")
    if min(weight.shape) == 0:
        raise ValueError(f"weight must have non-zero sizes, got shape {weight.shape}")
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"weight of shape {weight.shape} expects {weight.shape[1]} input features, "
                         f"but x of shape {x.shape} has {x.shape[1]}")
    check_size("output", (x.shape[0], weight.shape[0]))
    check_blas_dims((("batch", x.shape[0]), ("in_features", x.shape[1]), ("out_features", weight.shape[0])),
                    f"x {x.shape}, weight {weight.shape}")


def linear_args(x, weight, bias):
    """Checked ``(x, weight, bias)`` for ``linear``: x (N, in), weight (out, in), bias (out,) or None."""
    x, weight, bias = float_arrays(x=x, weight=weight, bias=bias)
    _linear_operands(x, weight)
    _bias(bias, weight.shape[0], weight)
    return contiguous(x, weight, bias)


def linear_backward_args(grad_y, x, weight):
    """Checked ``(grad_y, x, weight)`` for ``linear_backward``: grad_y (N, out)."""
    grad_y, x, weight = float_arrays(grad_y=grad_y, x=x, weight=weight)
    _linear_operands(x, weight)
    _ndim("grad_y", grad_y, 2, "(N, out_features)")
    _expect_shape("grad_y", grad_y, (x.shape[0], weight.shape[0]),
                  f"the linear output for x {x.shape}, weight {weight.shape}")
    return contiguous(grad_y, x, weight)


# --------------------------------------------------------------------- pooling


def _pool(shape, kernel_size, stride, padding):
    kernel = pair("kernel_size", kernel_size, 1)
    stride = kernel if stride is None else pair("stride", stride, 1)
    return pool_geometry(shape, kernel, stride, pair("padding", padding, 0))


def pool2d_args(x, kernel_size, stride, padding):
    """Checked ``(x, geometry)`` for ``max_pool2d``/``avg_pool2d``."""
    (x,) = float_arrays(x=x)
    _input(x, 2)
    geometry = _pool(x.shape, kernel_size, stride, padding)
    return (*contiguous(x), geometry)


def _input_shape(x_shape, grad_y):
    shape = shape4("x_shape", x_shape)
    if any(size == 0 for size in shape[2:]):
        raise ValueError(f"x_shape must have non-zero height and width, got {x_shape!r}")
    if shape[:2] != grad_y.shape[:2]:
        raise ValueError(f"grad_y of shape {grad_y.shape} does not match x_shape {shape} in (N, C)")
    return shape


def pool2d_backward_args(grad_y, x_shape, kernel_size, stride, padding):
    """Checked ``(grad_y, geometry)`` for ``avg_pool2d_backward``."""
    (grad_y,) = float_arrays(grad_y=grad_y)
    _ndim("grad_y", grad_y, 4, "(N, C, Ho, Wo)")
    geometry = _pool(_input_shape(x_shape, grad_y), kernel_size, stride, padding)
    _expect_shape("grad_y", grad_y, geometry.output_shape, f"the pooled shape of x_shape {tuple(x_shape)}")
    return (*contiguous(grad_y), geometry)


def max_pool2d_backward_args(grad_y, argmax, x_shape):
    """Checked ``(grad_y, argmax as int64, geometry)`` for ``max_pool2d_backward``.

    ``argmax`` comes from the user: its dtype, shape and range are all checked
    here, before any kernel indexes memory with it.  The geometry's windows
    are unknown (1 x 1 placeholders): the backward reads only the plane sizes.
    """
    (grad_y,) = float_arrays(grad_y=grad_y)
    _ndim("grad_y", grad_y, 4, "(N, C, Ho, Wo)")
    shape = _input_shape(x_shape, grad_y)
    argmax = ndarray("argmax", argmax)
    if argmax.dtype.kind not in "iu":
        raise TypeError(f"argmax must be an integer array, got dtype {argmax.dtype}")
    _expect_shape("argmax", argmax, grad_y.shape, "the shape of grad_y")
    plane = shape[2] * shape[3]
    if argmax.size and (argmax.min() < 0 or argmax.max() >= plane):
        raise ValueError(f"argmax holds indices outside [0, {plane}) for x_shape {shape}: "
                         f"min {argmax.min()}, max {argmax.max()}")
    geometry = PoolGeometry(*shape, *grad_y.shape[2:], (1, 1), (1, 1), (0, 0))
    return (*contiguous(grad_y), np.ascontiguousarray(argmax, dtype=np.int64), geometry)


def global_avg_pool2d_args(x):
    """Checked ``(x, geometry)`` for ``global_avg_pool2d``: a window of the whole plane."""
    (x,) = float_arrays(x=x)
    _input(x, 2)
    geometry = pool_geometry(x.shape, x.shape[2:], (1, 1), (0, 0))
    return (*contiguous(x), geometry)


def global_avg_pool2d_backward_args(grad_y, x_shape):
    """Checked ``(grad_y, geometry)`` for ``global_avg_pool2d_backward``."""
    (grad_y,) = float_arrays(grad_y=grad_y)
    _ndim("grad_y", grad_y, 2, "(N, C)")
    shape = _input_shape(x_shape, grad_y)
    geometry = pool_geometry(shape, shape[2:], (1, 1), (0, 0))
    return (*contiguous(grad_y), geometry)


# ------------------------------------------------- batch norm, ReLU


def _per_channel(x, **arrays):
    """Each of ``arrays`` (C,) for x (N, C, ...)."""
    for name, array in arrays.items():
        _expect_shape(name, array, (x.shape[1],), f"one value per channel of x {x.shape}")


def _channels_input(name, x):
    """``x`` (N, C, ...) with non-zero sizes after the batch axis."""
    if x.ndim < 2:
        raise ValueError(f"{name} must be (N, C, ...) with at least 2 axes, got shape {x.shape}")
    _nonempty(name, x, 1)
    check_size(name, x.shape)


def batch_norm_train_args(x, weight, bias, eps):
    """Checked ``(x, weight, bias, eps)`` for ``batch_norm_train``: x (N, C, ...), weight and bias (C,), eps > 0.

    ``bias=None`` is zeros (torch's meaning).

    As torch, more than one value per channel (N times the spatial size) is needed:
    the variance of one value is 0 and the normalised output would be 0 whatever x.
    """
    x, weight, bias = float_arrays(x=x, weight=weight, bias=bias)
    _channels_input("x", x)
    if bias is None:  # no shift, as torch's batch_norm(bias=None)
        bias = np.zeros(x.shape[1], dtype=x.dtype)
    _per_channel(x, weight=weight, bias=bias)
    eps = finite("eps", eps)
    if eps <= 0.0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    if x.size // x.shape[1] < 2:
        raise ValueError(f"x must have more than 1 value per channel (over N and the spatial axes), "
                         f"got shape {x.shape}")
    return (*contiguous(x, weight, bias), eps)


def batch_norm_train_backward_args(grad_y, x, mean, inv_std, weight):
    """Checked ``(grad_y, x, mean, inv_std, weight)`` for ``batch_norm_train_backward``: grad_y as x, the rest (C,)."""
    grad_y, x, mean, inv_std, weight = float_arrays(grad_y=grad_y, x=x, mean=mean, inv_std=inv_std, weight=weight)
    _channels_input("x", x)
    _per_channel(x, mean=mean, inv_std=inv_std, weight=weight)
    _expect_shape("grad_y", grad_y, x.shape, "x's")
    return contiguous(grad_y, x, mean, inv_std, weight)


def batch_norm_affine_args(x, scale, shift):
    """Checked ``(x, scale, shift)`` for ``batch_norm_affine``: x (N, C, ...), scale and shift (C,)."""
    x, scale, shift = float_arrays(x=x, scale=scale, shift=shift)
    _channels_input("x", x)
    _per_channel(x, scale=scale, shift=shift)
    return contiguous(x, scale, shift)


def relu_args(x):
    """Checked ``x`` for ``relu``: any shape."""
    (x,) = float_arrays(x=x)
    check_size("x", x.shape)
    return contiguous(x)[0]


def relu_backward_args(grad_y, y):
    """Checked ``(grad_y, y)`` for ``relu_backward``: one shape."""
    grad_y, y = float_arrays(grad_y=grad_y, y=y)
    _expect_shape("grad_y", grad_y, y.shape, "y's")
    check_size("y", y.shape)
    return contiguous(grad_y, y)
