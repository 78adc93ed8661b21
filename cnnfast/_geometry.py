"""Convolution and pooling geometry: output sizes, window rules and size bounds.

The one place that knows how a sliding window maps an input length to an
output length.  :mod:`cnnfast._checks` (and through it :mod:`cnnfast.functional`
and :mod:`cnnfast.reference`), the layers' ``output_shape`` and the bindings'
memory-safety check all call :func:`output_size`, so a shape that one of them
accepts the others accept too.

Everything here works on sizes that are already Python ints (the argument
checks in :mod:`cnnfast._checks` normalise user input first); it imports
nothing from cnnfast.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace

__all__ = [
    "MAX_ELEMENTS",
    "MAX_BLAS_DIM",
    "MAX_WINDOW",
    "ConvGeometry",
    "PoolGeometry",
    "output_size",
    "transposed_output_size",
    "same_padding",
    "check_pool_padding",
    "check_output_padding",
    "check_size",
    "check_blas_dims",
    "conv_geometry",
    "transposed_conv_geometry",
    "pool_geometry",
]

#: No product of sizes may reach this: the largest Py_ssize_t divided by 8, so
#: element counts times the element size fit too (on 32-bit platforms as well:
#: ``sys.maxsize`` is this interpreter's Py_ssize_t).
MAX_ELEMENTS = sys.maxsize // 8
#: The kernels hand matrix sizes and leading dimensions to a 32-bit-int BLAS;
#: larger sizes are refused before the caller allocates anything.
MAX_BLAS_DIM = 2**31 - 1
#: Stride, padding, dilation, kernel size, groups: far beyond any real layer,
#: small enough that the kernels' index arithmetic cannot overflow.
MAX_WINDOW = 2**31 - 1


@dataclass(frozen=True)
class ConvGeometry:
    """Shape of one 2-D convolution, NCHW; weight (out, in / groups, kh, kw).

    The fields are the sizes the kernels read (the C struct ``conv2d_geometry``
    mirrors them); ``kernel``, ``stride``, ``padding`` and ``dilation`` are
    ``(height, width)`` pairs.
    """

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
        """(N, C, H, W) of the input."""
        return (self.batch, self.in_channels, self.in_height, self.in_width)

    @property
    def output_shape(self):
        """(N, K, Ho, Wo) of the output."""
        return (self.batch, self.out_channels, self.out_height, self.out_width)

    @property
    def weight_shape(self):
        """(K, C // groups, kh, kw) of the weight."""
        return (self.out_channels, self.in_channels // self.groups) + self.kernel


@dataclass(frozen=True)
class PoolGeometry:
    """Shape of one 2-D pooling, NCHW; ``kernel``, ``stride``, ``padding`` are (height, width) pairs."""

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
        """(N, C, H, W) of the input."""
        return (self.batch, self.channels, self.in_height, self.in_width)

    @property
    def output_shape(self):
        """(N, C, Ho, Wo) of the output."""
        return (self.batch, self.channels, self.out_height, self.out_width)


# ------------------------------------------------------------ output sizes

_AXES = ("height", "width")


def output_size(size, window, stride, padding, dilation=None, *, axis, what, input_shape):
    """Length of a sliding-window output along one axis (floor mode, as torch).

    Parameters
    ----------
    size : int
        Input length along the axis.
    window : int
        Kernel (or pooling window) length.
    stride : int
    padding : int or (int, int)
        Zero padding on both sides, or ``(before, after)``.
    dilation : int or None
        Spacing of a convolution kernel's taps; None for a pooling window,
        whose elements are contiguous.
    axis : {"height", "width"}
        Named in the error message, as are ``what`` and ``input_shape``.
    what : str
        The window, e.g. ``"kernel (3, 3)"``.
    input_shape : tuple of int
        The whole input's shape.

    Returns
    -------
    int
        ``(size + padding_total - extent) // stride + 1`` where ``extent =
        dilation * (window - 1) + 1`` is the span the window covers.

    Raises
    ------
    ValueError
        When the window is longer than the padded input.
    """
    before, after = (padding, padding) if isinstance(padding, int) else padding
    extent = (1 if dilation is None else dilation) * (window - 1) + 1
    if size + before + after < extent:
        padded = f"2 * {before}" if before == after else f"{before} + {after}"
        spans = "" if dilation is None else f" (dilated {axis} extent {extent})"
        raise ValueError(f"{what}{spans} is larger than the padded input {axis} {size} + {padded} "
                         f"for input of shape {tuple(input_shape)}")
    return (size + before + after - extent) // stride + 1


def transposed_output_size(size, window, stride, padding, dilation, output_padding, *, what, where):
    """Length of a transposed convolution's output along one axis.

    Returns ``(size - 1) * stride - 2 * padding + dilation * (window - 1) +
    output_padding + 1``: the input length of the convolution whose input
    gradient the transposed convolution is.

    Raises
    ------
    ValueError
        ``"{what} leaves no output {where}"`` when that length is below 1
        (``what`` names the padding, ``where`` the shapes).
    """
    full = (size - 1) * stride + dilation * (window - 1) + 1 + output_padding
    if full - 2 * padding < 1:
        raise ValueError(f"{what} leaves no output {where}")
    return full - 2 * padding


def same_padding(kernel, dilation):
    """Padding for ``padding="same"`` at stride 1, as torch pads.

    Returns ``(before, extra)``: per axis, ``before = total // 2`` rows or
    columns on both sides, plus ``extra`` (0 or 1) on the bottom/right, where
    ``total = dilation * (kernel - 1)``.
    """
    before, extra = [], []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        before.append(total // 2)
        extra.append(total - 2 * (total // 2))
    return tuple(before), tuple(extra)


def check_pool_padding(padding, kernel, kernel_name="kernel_size"):
    """ValueError unless each padding is at most half the window (no window is all padding)."""
    for axis in range(2):
        if 2 * padding[axis] > kernel[axis]:
            raise ValueError(f"padding {padding} must be at most half of {kernel_name} {kernel}")


def check_output_padding(output_padding, stride, dilation):
    """ValueError unless each output_padding is smaller than the stride or the dilation (as torch)."""
    for axis in range(2):
        if output_padding[axis] >= max(stride[axis], dilation[axis]):
            raise ValueError(f"output_padding {output_padding} must be smaller than stride {stride} "
                             f"or dilation {dilation}")


def check_size(name, shape):
    """ValueError when an array of ``shape`` would hold MAX_ELEMENTS or more elements."""
    total = 1
    for size in shape:
        total *= size
    if total > MAX_ELEMENTS:
        raise ValueError(f"{name} of shape {tuple(shape)} has {total} elements: too large")


def _check_blas_dim(what, size, context):
    if size > MAX_BLAS_DIM:
        raise ValueError(f"{what} = {size} exceeds the 32-bit BLAS limit {MAX_BLAS_DIM} for {context}")


def check_blas_dims(sizes, context):
    """ValueError when any ``(what, size)`` of ``sizes`` exceeds MAX_BLAS_DIM."""
    for what, size in sizes:
        _check_blas_dim(what, size, context)


# ---------------------------------------------------------------- records


def conv_geometry(x_name, x_shape, w_name, w_shape, out_channels, in_per_group, stride, padding, dilation,
                  groups):
    """The :class:`ConvGeometry` of a convolution of an input shaped ``x_shape``.

    The weight (``w_shape``) has ``out_channels`` outputs and ``in_per_group``
    inputs per group; ``stride``, ``padding``, ``dilation`` are checked pairs,
    ``groups`` a checked int.  Raises ValueError naming ``x_name`` and
    ``w_name`` when the channels, groups or sizes do not fit.
    """
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
    out_h, out_w = (output_size(size, kernel[axis], stride[axis], padding[axis], dilation[axis],
                                axis=_AXES[axis], what=f"kernel {kernel}", input_shape=x_shape)
                    for axis, size in enumerate((height, width)))
    geometry = ConvGeometry(batch, channels, height, width, out_channels, out_h, out_w, kernel, stride,
                            padding, dilation, groups)
    check_size("output", geometry.output_shape)
    check_size("im2col patch matrix", (in_per_group * kernel[0] * kernel[1], out_h * out_w))
    check_blas_dims((("in_channels // groups * kh * kw", in_per_group * kernel[0] * kernel[1]),
                     ("out_channels // groups", out_channels // groups),
                     (f"{x_name} plane H * W", height * width),
                     ("output plane Ho * Wo", out_h * out_w)),
                    f"{x_name} {tuple(x_shape)}, {w_name} {tuple(w_shape)}")
    return geometry


def transposed_conv_geometry(x_shape, w_shape, stride, padding, output_padding, groups, dilation):
    """The geometry of the convolution whose input gradient is this transposed convolution.

    Its input is the transposed convolution's output, its output is ``x``
    (``x_shape``); ``w_shape`` is (in_channels, out_channels // groups, kh, kw).
    The scalar arguments are checked pairs / ints.
    """
    batch, channels, height, width = x_shape
    if w_shape[0] != channels:
        raise ValueError(f"weight of shape {w_shape} expects {w_shape[0]} input channels, "
                         f"but x of shape {x_shape} has {channels}")
    if channels % groups:
        raise ValueError(f"groups={groups} does not divide the {channels} channels of x {x_shape}")
    check_output_padding(output_padding, stride, dilation)
    where = f"for x of shape {x_shape} and weight of shape {w_shape}"
    out_size = tuple(transposed_output_size(size, w_shape[2 + axis], stride[axis], padding[axis], dilation[axis],
                                            output_padding[axis], what=f"padding {padding}", where=where)
                     for axis, size in enumerate((height, width)))
    conv_input = (batch, w_shape[1] * groups) + out_size
    check_size("output", conv_input)
    geometry = conv_geometry("output", conv_input, "weight", w_shape, channels, w_shape[1], stride, padding,
                             dilation, groups)
    # With output_padding >= stride (allowed when dilation is larger) the
    # adjoint convolution would produce an extra row or column; the transposed
    # convolution is the adjoint of the convolution cropped to x's size.
    return replace(geometry, out_height=height, out_width=width)


def pool_geometry(shape, kernel, stride, padding):
    """The :class:`PoolGeometry` of pooling an input shaped ``shape`` (checked pairs for the rest)."""
    check_pool_padding(padding, kernel)
    batch, channels, height, width = shape
    out_h, out_w = (output_size(size, kernel[axis], stride[axis], padding[axis], axis=_AXES[axis],
                                what=f"kernel_size {kernel}", input_shape=shape)
                    for axis, size in enumerate((height, width)))
    return PoolGeometry(batch, channels, height, width, out_h, out_w, kernel, stride, padding)
