"""Argument checks shared by the fast and the reference backends.

Every public function of :mod:`cnnfast.functional` and :mod:`cnnfast.reference`
runs its arguments through here first, so both backends accept and refuse
exactly the same inputs, with messages that name the argument and the shapes.
The checks return C-contiguous arrays and a geometry record; nothing here
computes a result.
"""

from __future__ import annotations

import numbers
import operator
import sys
from dataclasses import dataclass, replace

import numpy as np

__all__ = [
    "ConvGeometry",
    "PoolGeometry",
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
]

# No product of sizes may reach this: it is the largest Py_ssize_t divided by
# 8, so element counts times the element size fit too (on 32-bit platforms as
# well: sys.maxsize is this interpreter's Py_ssize_t).
_MAX_ELEMENTS = sys.maxsize // 8
# The kernels hand matrix sizes and leading dimensions to a 32-bit-int BLAS
# (cnnfast._kernels.BLAS_MAX_DIM); sizes beyond it are refused here, before
# the caller allocates anything, rather than by the binding after it has.
_MAX_BLAS_DIM = 2**31 - 1
# Stride, padding, dilation, kernel size, groups: far beyond any real layer,
# small enough that the kernels' index arithmetic cannot overflow.
_MAX_SCALAR = 2**31 - 1


@dataclass(frozen=True)
class ConvGeometry:
    """Shape of one 2-D convolution, NCHW; weight (out, in / groups, kh, kw)."""

    batch: int
    in_channels: int
    in_height: int
    in_width: int
    out_channels: int
    out_height: int
    out_width: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int

    @property
    def input_shape(self):
        return (self.batch, self.in_channels, self.in_height, self.in_width)

    @property
    def output_shape(self):
        return (self.batch, self.out_channels, self.out_height, self.out_width)

    @property
    def weight_shape(self):
        return (self.out_channels, self.in_channels // self.groups) + self.kernel


@dataclass(frozen=True)
class PoolGeometry:
    """Shape of one 2-D pooling, NCHW."""

    batch: int
    channels: int
    in_height: int
    in_width: int
    out_height: int
    out_width: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]

    @property
    def input_shape(self):
        return (self.batch, self.channels, self.in_height, self.in_width)

    @property
    def output_shape(self):
        return (self.batch, self.channels, self.out_height, self.out_width)


# --------------------------------------------------------------------- scalars


def _integer(name, value):
    """``value`` as a Python int; bools and floats are refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    return operator.index(value)


def pair(name, value, minimum):
    """An int or a pair of ints as ``(height, width)``, each at least ``minimum``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        result = (_integer(name, value[0]), _integer(name, value[1]))
    else:
        result = (_integer(name, value),) * 2
    if min(result) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    if max(result) > _MAX_SCALAR:
        raise ValueError(f"{name} must be <= {_MAX_SCALAR}, got {value!r}")
    return result


def positive_int(name, value, maximum=_MAX_SCALAR):
    """``value`` as an int in [1, maximum]."""
    result = _integer(name, value)
    if result < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    if result > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value!r}")
    return result


# ---------------------------------------------------------------------- arrays


def float_arrays(**arrays):
    """The named arrays as float32 or float64 arrays of one dtype, not yet copied.

    ``None`` values are passed through.  Views, negative strides, Fortran
    order and read-only arrays are accepted; :func:`contiguous` copies them
    once, after every shape check, so that a malformed call with a huge view
    (a broadcast or zero-stride array of billions of elements) is refused
    before any memory is allocated for it.
    """
    converted = {}
    dtype = None
    first = None
    for name, value in arrays.items():
        if value is None:
            converted[name] = None
            continue
        array = value if isinstance(value, np.ndarray) else np.asarray(value)
        if array.dtype not in (np.float32, np.float64):
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


def shape4(name, value):
    """A user-given NCHW shape as a tuple of 4 non-negative ints."""
    if not isinstance(value, (tuple, list)) or len(value) != 4:
        raise ValueError(f"{name} must be a 4-tuple (N, C, H, W), got {value!r}")
    shape = tuple(_integer(name, v) for v in value)
    if min(shape) < 0:
        raise ValueError(f"{name} must not hold negative sizes, got {value!r}")
    _check_size(name, shape)
    return shape


def _check_size(name, shape):
    total = 1
    for size in shape:
        total *= size
    if total > _MAX_ELEMENTS:
        raise ValueError(f"{name} of shape {tuple(shape)} has {total} elements: too large")


def _expect_shape(name, array, shape, why):
    if tuple(array.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)} ({why}), got {array.shape}")


# ----------------------------------------------------------------- convolution


def _conv_output_size(kind, size, kernel, stride, padding, dilation, in_shape, kernel_shape):
    """Output length along one axis, refusing a kernel larger than the padded input."""
    span = dilation * (kernel - 1) + 1
    if size + 2 * padding < span:
        raise ValueError(
            f"kernel {kernel_shape} (dilated {kind} extent {span}) is larger than the padded "
            f"input {kind} {size} + 2 * {padding} for input of shape {in_shape}"
        )
    return (size + 2 * padding - span) // stride + 1


def _conv_geometry(x_name, x_shape, w_name, w_shape, out_channels, in_per_group, stride, padding,
                   dilation, groups):
    """Geometry of a convolution of an input shaped ``x_shape`` by a weight
    with ``out_channels`` outputs and ``in_per_group`` inputs per group."""
    stride = pair("stride", stride, 1)
    padding = pair("padding", padding, 0)
    dilation = pair("dilation", dilation, 1)
    groups = positive_int("groups", groups)
    batch, channels, height, width = x_shape
    if channels % groups:
        raise ValueError(f"groups={groups} does not divide the {channels} channels of {x_name} {x_shape}")
    if in_per_group * groups != channels:
        raise ValueError(
            f"{w_name} of shape {w_shape} expects {in_per_group} * groups={groups} = "
            f"{in_per_group * groups} input channels, but {x_name} of shape {x_shape} has {channels}"
        )
    if out_channels % groups:
        raise ValueError(f"groups={groups} does not divide the {out_channels} output channels of {w_name} {w_shape}")
    kernel = tuple(w_shape[2:])
    out_h = _conv_output_size("height", height, kernel[0], stride[0], padding[0], dilation[0], x_shape, kernel)
    out_w = _conv_output_size("width", width, kernel[1], stride[1], padding[1], dilation[1], x_shape, kernel)
    geometry = ConvGeometry(batch, channels, height, width, out_channels, out_h, out_w, kernel, stride,
                            padding, dilation, groups)
    _check_size("output", geometry.output_shape)
    _check_size("im2col patch matrix", (in_per_group * kernel[0] * kernel[1], out_h * out_w))
    for what, size in (("in_channels // groups * kh * kw", in_per_group * kernel[0] * kernel[1]),
                       ("out_channels // groups", out_channels // groups),
                       (f"{x_name} plane H * W", height * width),
                       ("output plane Ho * Wo", out_h * out_w)):
        _check_blas_dim(what, size, f"{x_name} {tuple(x_shape)}, {w_name} {tuple(w_shape)}")
    return geometry


def _check_blas_dim(what, size, context):
    if size > _MAX_BLAS_DIM:
        raise ValueError(f"{what} = {size} exceeds the 32-bit BLAS limit {_MAX_BLAS_DIM} for {context}")


def _conv_weight(name, weight):
    _ndim(name, weight, 4, "(out_channels, in_channels // groups, kh, kw)")
    if min(weight.shape) == 0:
        raise ValueError(f"{name} must have non-zero sizes, got shape {weight.shape}")


def _bias(bias, channels, weight):
    if bias is not None and bias.shape != (channels,):
        raise ValueError(
            f"bias must have shape ({channels},) to match weight of shape {weight.shape}, got {bias.shape}"
        )


def conv2d_args(x, weight, bias, stride, padding, dilation, groups):
    """Checked ``(x, weight, bias, geometry)`` for ``conv2d``."""
    x, weight, bias = float_arrays(x=x, weight=weight, bias=bias)
    _ndim("x", x, 4, "(N, C, H, W)")
    _nonempty("x", x, 1)
    _conv_weight("weight", weight)
    geometry = _conv_geometry("x", x.shape, "weight", weight.shape, weight.shape[0], weight.shape[1],
                              stride, padding, dilation, groups)
    _bias(bias, weight.shape[0], weight)
    return (*contiguous(x, weight, bias), geometry)


def conv2d_backward_args(grad_y, x, weight, stride, padding, dilation, groups):
    """Checked ``(grad_y, x, weight, geometry)`` for ``conv2d_backward``."""
    grad_y, x, weight = float_arrays(grad_y=grad_y, x=x, weight=weight)
    _ndim("x", x, 4, "(N, C, H, W)")
    _nonempty("x", x, 1)
    _conv_weight("weight", weight)
    _ndim("grad_y", grad_y, 4, "(N, K, Ho, Wo)")
    geometry = _conv_geometry("x", x.shape, "weight", weight.shape, weight.shape[0], weight.shape[1],
                              stride, padding, dilation, groups)
    _expect_shape("grad_y", grad_y, geometry.output_shape, f"the conv2d output for x {x.shape}, weight {weight.shape}")
    return (*contiguous(grad_y, x, weight), geometry)


def _transposed_geometry(x, weight, stride, padding, output_padding, groups, dilation):
    """Geometry of the convolution whose input gradient is this transposed
    convolution: its input is the transposed output, its output is ``x``."""
    _ndim("x", x, 4, "(N, C, H, W)")
    _nonempty("x", x, 1)
    _ndim("weight", weight, 4, "(in_channels, out_channels // groups, kh, kw)")
    if min(weight.shape) == 0:
        raise ValueError(f"weight must have non-zero sizes, got shape {weight.shape}")
    stride = pair("stride", stride, 1)
    padding = pair("padding", padding, 0)
    dilation = pair("dilation", dilation, 1)
    output_padding = pair("output_padding", output_padding, 0)
    groups = positive_int("groups", groups)
    batch, channels, height, width = x.shape
    if weight.shape[0] != channels:
        raise ValueError(f"weight of shape {weight.shape} expects {weight.shape[0]} input channels, "
                         f"but x of shape {x.shape} has {channels}")
    if channels % groups:
        raise ValueError(f"groups={groups} does not divide the {channels} channels of x {x.shape}")
    for axis in range(2):
        if output_padding[axis] >= max(stride[axis], dilation[axis]):
            raise ValueError(f"output_padding {output_padding} must be smaller than stride {stride} "
                             f"or dilation {dilation}")
    out_size = []
    for axis, size in enumerate((height, width)):
        full = ((size - 1) * stride[axis] + dilation[axis] * (weight.shape[2 + axis] - 1) + 1
                + output_padding[axis])
        if full - 2 * padding[axis] < 1:
            raise ValueError(f"padding {padding} leaves no output for x of shape {x.shape} and "
                             f"weight of shape {weight.shape}")
        out_size.append(full - 2 * padding[axis])
    conv_input = (batch, weight.shape[1] * groups) + tuple(out_size)
    _check_size("output", conv_input)
    geometry = _conv_geometry("output", conv_input, "weight", weight.shape, channels, weight.shape[1],
                              stride, padding, dilation, groups)
    # With output_padding >= stride (allowed when dilation is larger) the
    # adjoint convolution would produce an extra row or column; the transposed
    # convolution is the adjoint of the convolution cropped to x's size.
    return replace(geometry, out_height=height, out_width=width)


def conv_transpose2d_args(x, weight, bias, stride, padding, output_padding, groups, dilation):
    """Checked ``(x, weight, bias, geometry)`` for ``conv_transpose2d``; the
    geometry is that of the adjoint convolution (input = this output)."""
    x, weight, bias = float_arrays(x=x, weight=weight, bias=bias)
    geometry = _transposed_geometry(x, weight, stride, padding, output_padding, groups, dilation)
    _bias(bias, geometry.in_channels, weight)
    return (*contiguous(x, weight, bias), geometry)


def conv_transpose2d_backward_args(grad_y, x, weight, stride, padding, output_padding, groups, dilation):
    """Checked ``(grad_y, x, weight, geometry)`` for ``conv_transpose2d_backward``."""
    grad_y, x, weight = float_arrays(grad_y=grad_y, x=x, weight=weight)
    geometry = _transposed_geometry(x, weight, stride, padding, output_padding, groups, dilation)
    _ndim("grad_y", grad_y, 4, "(N, C, H, W)")
    _expect_shape("grad_y", grad_y, geometry.input_shape,
                  f"the conv_transpose2d output for x {x.shape}, weight {weight.shape}")
    return (*contiguous(grad_y, x, weight), geometry)


# ---------------------------------------------------------------------- linear


def _linear_operands(x, weight):
    """x (N, in) and weight (out, in) with non-zero feature sizes and matching in."""
    _ndim("x", x, 2, "(N, in_features)")
    _nonempty("x", x, 1)
    _ndim("weight", weight, 2, "(out_features, in_features)")
    if min(weight.shape) == 0:
        raise ValueError(f"weight must have non-zero sizes, got shape {weight.shape}")
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"weight of shape {weight.shape} expects {weight.shape[1]} input features, "
                         f"but x of shape {x.shape} has {x.shape[1]}")
    _check_size("output", (x.shape[0], weight.shape[0]))
    context = f"x {x.shape}, weight {weight.shape}"
    for what, size in (("batch", x.shape[0]), ("in_features", x.shape[1]), ("out_features", weight.shape[0])):
        _check_blas_dim(what, size, context)


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


def _pool_geometry(shape, kernel_size, stride, padding):
    kernel = pair("kernel_size", kernel_size, 1)
    stride = kernel if stride is None else pair("stride", stride, 1)
    padding = pair("padding", padding, 0)
    for axis in range(2):
        if 2 * padding[axis] > kernel[axis]:
            raise ValueError(f"padding {padding} must be at most half of kernel_size {kernel}")
    batch, channels, height, width = shape
    out = []
    for axis, kind, size in ((0, "height", height), (1, "width", width)):
        if size + 2 * padding[axis] < kernel[axis]:
            raise ValueError(f"kernel_size {kernel} is larger than the padded input {kind} "
                             f"{size} + 2 * {padding[axis]} for input of shape {tuple(shape)}")
        out.append((size + 2 * padding[axis] - kernel[axis]) // stride[axis] + 1)
    return PoolGeometry(batch, channels, height, width, out[0], out[1], kernel, stride, padding)


def pool2d_args(x, kernel_size, stride, padding):
    """Checked ``(x, geometry)`` for ``max_pool2d``/``avg_pool2d``."""
    (x,) = float_arrays(x=x)
    _ndim("x", x, 4, "(N, C, H, W)")
    _nonempty("x", x, 2)
    geometry = _pool_geometry(x.shape, kernel_size, stride, padding)
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
    geometry = _pool_geometry(_input_shape(x_shape, grad_y), kernel_size, stride, padding)
    _expect_shape("grad_y", grad_y, geometry.output_shape, f"the pooled shape of x_shape {tuple(x_shape)}")
    return (*contiguous(grad_y), geometry)


def max_pool2d_backward_args(grad_y, argmax, x_shape):
    """Checked ``(grad_y, argmax as int64, x_shape)`` for ``max_pool2d_backward``.

    ``argmax`` comes from the user: its dtype, shape and range are all checked
    here, before any kernel indexes memory with it.
    """
    (grad_y,) = float_arrays(grad_y=grad_y)
    _ndim("grad_y", grad_y, 4, "(N, C, Ho, Wo)")
    shape = _input_shape(x_shape, grad_y)
    argmax = argmax if isinstance(argmax, np.ndarray) else np.asarray(argmax)
    if argmax.dtype.kind not in "iu":
        raise TypeError(f"argmax must be an integer array, got dtype {argmax.dtype}")
    _expect_shape("argmax", argmax, grad_y.shape, "the shape of grad_y")
    plane = shape[2] * shape[3]
    if argmax.size and (argmax.min() < 0 or argmax.max() >= plane):
        raise ValueError(f"argmax holds indices outside [0, {plane}) for x_shape {shape}: "
                         f"min {argmax.min()}, max {argmax.max()}")
    return (*contiguous(grad_y), np.ascontiguousarray(argmax, dtype=np.int64), shape)


def global_avg_pool2d_args(x):
    """Checked ``(x, geometry)`` for ``global_avg_pool2d``: a window of the whole plane."""
    (x,) = float_arrays(x=x)
    _ndim("x", x, 4, "(N, C, H, W)")
    _nonempty("x", x, 2)
    geometry = _pool_geometry(x.shape, x.shape[2:], 1, 0)
    return (*contiguous(x), geometry)


def global_avg_pool2d_backward_args(grad_y, x_shape):
    """Checked ``(grad_y, geometry)`` for ``global_avg_pool2d_backward``."""
    (grad_y,) = float_arrays(grad_y=grad_y)
    _ndim("grad_y", grad_y, 2, "(N, C)")
    shape = _input_shape(x_shape, grad_y)
    geometry = _pool_geometry(shape, shape[2:], 1, 0)
    return (*contiguous(grad_y), geometry)
