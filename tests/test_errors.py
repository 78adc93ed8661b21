"""Bad input is refused with the documented exception; odd but valid input is accepted.

Every public function of :mod:`cnnfast.functional` runs its arguments through
:mod:`cnnfast._checks`, whichever backend it uses, so every refusal here is
checked on both backends: the exception type *and* a message fragment that
names the offending argument.  The cases are tables of
``(function, changes, exception, match)``: ``changes`` edits a set of good
arguments (``good_args``), either replacing an argument or, when the value is
a callable, mapping its good value to a bad one.

Then:

* the run-time settings (``set_num_threads``, ``set_workspace_limit``);
* the Cython layer called directly, which re-checks array shapes and the
  geometry's own fields;
* acceptance: non-contiguous, negative-stride, Fortran-order and read-only
  arrays, nested lists, and empty batches all work and give the same answers.
"""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import cnnfast
from cnnfast import _checks, _kernels
from cnnfast import functional as F

BACKENDS = ("fast", "reference")
FUNCTIONS = tuple(F.__all__)

# The float arrays each function takes, in the order _checks.float_arrays sees them.
FLOAT_ARRAYS = {
    "conv2d": ("x", "weight", "bias"),
    "conv2d_backward": ("grad_y", "x", "weight"),
    "conv_transpose2d": ("x", "weight", "bias"),
    "conv_transpose2d_backward": ("grad_y", "x", "weight"),
    "max_pool2d": ("x",),
    "max_pool2d_backward": ("grad_y",),
    "avg_pool2d": ("x",),
    "avg_pool2d_backward": ("grad_y",),
    "global_avg_pool2d": ("x",),
    "global_avg_pool2d_backward": ("grad_y",),
    "linear": ("x", "weight", "bias"),
    "linear_backward": ("grad_y", "x", "weight"),
    "batch_norm_train": ("x", "weight", "bias"),
    "batch_norm_train_backward": ("grad_y", "x", "mean", "inv_std", "weight"),
    "batch_norm_affine": ("x", "scale", "shift"),
    "relu": ("x",),
    "relu_backward": ("grad_y", "y"),
}


# ------------------------------------------------------------ good arguments


def good_args(name, dtype=np.float64):
    """Fresh, valid keyword arguments for ``functional.<name>`` (small shapes).

    conv:        x (2, 4, 6, 6) * weight (3, 4, 3, 3) -> y (2, 3, 4, 4)
    transposed:  x (2, 4, 5, 5) * weight (4, 3, 3, 3) -> y (2, 3, 7, 7)
    pooling:     x (2, 3, 6, 6), window 2             -> y (2, 3, 3, 3)
    linear:      x (2, 5) @ weight (3, 5).T            -> y (2, 3)
    batch norm:  x (2, 3, 4, 4), per-channel arrays (3,)
    ReLU:        x (2, 3, 4, 4)
    """
    rng = np.random.default_rng(sum(map(ord, name)))

    def r(*shape):
        return rng.standard_normal(shape).astype(dtype)

    if name == "conv2d":
        return dict(x=r(2, 4, 6, 6), weight=r(3, 4, 3, 3), bias=r(3))
    if name == "conv2d_backward":
        return dict(grad_y=r(2, 3, 4, 4), x=r(2, 4, 6, 6), weight=r(3, 4, 3, 3))
    if name == "conv_transpose2d":
        return dict(x=r(2, 4, 5, 5), weight=r(4, 3, 3, 3), bias=r(3))
    if name == "conv_transpose2d_backward":
        return dict(grad_y=r(2, 3, 7, 7), x=r(2, 4, 5, 5), weight=r(4, 3, 3, 3))
    if name in ("max_pool2d", "avg_pool2d"):
        return dict(x=r(2, 3, 6, 6), kernel_size=2)
    if name == "max_pool2d_backward":
        return dict(grad_y=r(2, 3, 3, 3), argmax=rng.integers(0, 36, (2, 3, 3, 3)), x_shape=(2, 3, 6, 6))
    if name == "avg_pool2d_backward":
        return dict(grad_y=r(2, 3, 3, 3), x_shape=(2, 3, 6, 6), kernel_size=2)
    if name == "global_avg_pool2d":
        return dict(x=r(2, 3, 6, 6))
    if name == "global_avg_pool2d_backward":
        return dict(grad_y=r(2, 3), x_shape=(2, 3, 6, 6))
    if name == "linear":
        return dict(x=r(2, 5), weight=r(3, 5), bias=r(3))
    if name == "linear_backward":
        return dict(grad_y=r(2, 3), x=r(2, 5), weight=r(3, 5))
    if name == "batch_norm_train":
        return dict(x=r(2, 3, 4, 4), weight=r(3), bias=r(3))
    if name == "batch_norm_train_backward":
        return dict(grad_y=r(2, 3, 4, 4), x=r(2, 3, 4, 4), mean=r(3), inv_std=np.abs(r(3)) + 0.5, weight=r(3))
    if name == "batch_norm_affine":
        return dict(x=r(2, 3, 4, 4), scale=r(3), shift=r(3))
    if name == "relu":
        return dict(x=r(2, 3, 4, 4))
    if name == "relu_backward":
        return dict(grad_y=r(2, 3, 4, 4), y=r(2, 3, 4, 4))
    raise KeyError(name)


def apply_changes(args, changes):
    """``args`` with ``changes`` applied: a callable maps the old value, anything else replaces it."""
    args = dict(args)
    for key, change in changes.items():
        args[key] = change(args[key]) if callable(change) else change
    return args


def call(name, backend, args):
    return getattr(F, name)(**args, backend=backend)


def assert_refused(name, backend, changes, exception, match):
    args = apply_changes(good_args(name), changes)
    with pytest.raises(exception, match=match):
        call(name, backend, args)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_good_arguments_are_accepted(name, backend):
    """The baseline every error case edits is itself valid (so each refusal is caused by the edit)."""
    call(name, backend, good_args(name))
    call(name, backend, good_args(name, np.float32))


# -------------------------------------------------------------------- dtypes

BAD_DTYPES = [np.int32, np.int64, np.uint8, np.bool_, np.complex128, np.object_, np.float16]


def _dtype_cases():
    for name in FUNCTIONS:
        for array in FLOAT_ARRAYS[name]:
            for dtype in BAD_DTYPES:
                shown = np.dtype(dtype).name if dtype is not np.object_ else "object"
                yield pytest.param(
                    name, {array: (lambda a, dtype=dtype: a.astype(dtype))}, TypeError,
                    rf"{array} must be float32 or float64, got dtype {shown}",
                    id=f"{name}-{array}-{shown}",
                )


def _mixed_dtype_cases():
    for name in FUNCTIONS:
        first, *others = FLOAT_ARRAYS[name]
        for other in others:
            for first_dtype, other_dtype in (("float32", "float64"), ("float64", "float32")):
                changes = {array: lambda a, d=first_dtype: a.astype(d) for array in FLOAT_ARRAYS[name]}
                changes[other] = lambda a, d=other_dtype: a.astype(d)
                yield pytest.param(
                    name, changes, TypeError,
                    rf"{other} has dtype {other_dtype} but {first} has dtype {first_dtype}",
                    id=f"{name}-{first}:{first_dtype}-{other}:{other_dtype}",
                )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, changes, exception, match", [*_dtype_cases(), *_mixed_dtype_cases()])
def test_bad_dtype(name, changes, exception, match, backend):
    assert_refused(name, backend, changes, exception, match)


# ---------------------------------------------------- scalar geometry arguments
# stride, padding, dilation, groups, kernel_size, output_padding: _checks.pair
# refuses bools and floats with TypeError, out-of-range ints and tuples of the
# wrong length with ValueError.


def _scalar_cases(names, argument, minimum, none_allowed=False, strings=False):
    bad = [
        (minimum - 1, ValueError, rf"{argument} must be >= {minimum}, got {minimum - 1}"),
        ((1, minimum - 1), ValueError, rf"{argument} must be >= {minimum}"),
        (1.5, TypeError, rf"{argument} must be an integer, got 1\.5"),
        (np.float64(2.0), TypeError, rf"{argument} must be an integer, got np\.float64\(2\.0\)|{argument} must be an integer, got 2\.0"),
        (True, TypeError, rf"{argument} must be an integer, got True"),
        (np.True_, TypeError, rf"{argument} must be an integer, got (np\.)?True_?"),
        ("2", TypeError, rf"{argument} must be an integer, got '2'"),
        (None, TypeError, rf"{argument} must be an integer, got None"),
        ((1, 1.5), TypeError, rf"{argument} must be an integer, got 1\.5"),
        ((2, 2, 2), ValueError, rf"{argument} must be an int or a pair of ints, got \(2, 2, 2\)"),
        ([2], ValueError, rf"{argument} must be an int or a pair of ints, got \[2\]"),
        (np.array([2, 2]), TypeError, rf"{argument} must be an integer, got array"),
    ]
    if minimum > 0:
        bad.append((-3, ValueError, rf"{argument} must be >= {minimum}, got -3"))
    if none_allowed:  # pooling's stride=None means stride=kernel_size
        bad = [case for case in bad if case[0] is not None]
    if strings:  # conv2d's padding="valid" / "same": another string is a bad value, as in torch
        bad = [(value, ValueError, rf"{argument} must be an int, a pair, 'valid' or 'same', got '2'")
               if isinstance(value, str) else (value, exception, match) for value, exception, match in bad]
    for name in names:
        for value, exception, match in bad:
            yield pytest.param(name, {argument: value}, exception, match, id=f"{name}-{argument}={value!r}")


CONV = ("conv2d", "conv2d_backward", "conv_transpose2d", "conv_transpose2d_backward")
POOL = ("max_pool2d", "avg_pool2d", "avg_pool2d_backward")

SCALAR_CASES = [
    *_scalar_cases(CONV, "stride", 1),
    *_scalar_cases(("conv2d", "conv2d_backward"), "padding", 0, strings=True),
    *_scalar_cases(("conv_transpose2d", "conv_transpose2d_backward"), "padding", 0),
    *_scalar_cases(CONV, "dilation", 1),
    *_scalar_cases(("conv_transpose2d", "conv_transpose2d_backward"), "output_padding", 0),
    *_scalar_cases(POOL, "kernel_size", 1),
    *_scalar_cases(POOL, "stride", 1, none_allowed=True),
    *_scalar_cases(POOL, "padding", 0),
] + [
    pytest.param(name, {"groups": value}, exception, match, id=f"{name}-groups={value!r}")
    for name in CONV
    for value, exception, match in [
        (0, ValueError, r"groups must be >= 1, got 0"),
        (-1, ValueError, r"groups must be >= 1, got -1"),
        (1.0, TypeError, r"groups must be an integer, got 1\.0"),
        (True, TypeError, r"groups must be an integer, got True"),
        ((1, 1), TypeError, r"groups must be an integer, got \(1, 1\)"),
    ]
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, changes, exception, match", SCALAR_CASES)
def test_bad_scalar_argument(name, changes, exception, match, backend):
    assert_refused(name, backend, changes, exception, match)


# ------------------------------------------------------------ shapes and sizes


def shape(*s):
    """A replacement array of shape ``s`` (float64 zeros)."""
    return np.zeros(s)


def drop_axis(a):
    return a[0]


def add_axis(a):
    return a[None]


CONV_FORWARD_SHAPE_CASES = [
    # (changes, exception, match, id)
    ({"x": drop_axis}, ValueError, r"x must be 4-D \(N, C, H, W\), got shape \(4, \d, \d\)", "x-3d"),
    ({"x": add_axis}, ValueError, r"x must be 4-D", "x-5d"),
    ({"x": np.float64(1.0)}, ValueError, r"x must be 4-D", "x-0d"),
    ({"weight": drop_axis}, ValueError, r"weight must be 4-D", "weight-3d"),
    ({"weight": add_axis}, ValueError, r"weight must be 4-D", "weight-5d"),
    ({"x": shape(2, 0, 6, 6)}, ValueError, r"x must have non-zero sizes after axis 1", "x-zero-channels"),
    ({"x": shape(2, 4, 6, 0)}, ValueError, r"x must have non-zero sizes after axis 1", "x-zero-width"),
    ({"bias": shape(4)}, ValueError, r"bias must have shape \(3,\)", "bias-wrong-length"),
    ({"bias": shape(1, 3)}, ValueError, r"bias must have shape \(3,\)", "bias-2d"),
    ({"bias": np.float64(0.0)}, ValueError, r"bias must have shape \(3,\)", "bias-0d"),
]

CONV2D_CASES = [
    ({"weight": shape(3, 4, 0, 3)}, ValueError, r"weight must have non-zero sizes", "weight-zero-kernel"),
    ({"weight": shape(3, 2, 3, 3)}, ValueError,
     r"weight of shape \(3, 2, 3, 3\) expects 2 \* groups=1 = 2 input channels, but x of shape \(2, 4, 6, 6\) has 4",
     "channel-mismatch"),
    ({"groups": 3}, ValueError, r"groups=3 does not divide the 4 channels of x", "groups-not-dividing-C"),
    ({"groups": 2}, ValueError, r"weight of shape \(3, 4, 3, 3\) expects 4 \* groups=2 = 8 input channels",
     "weight-in-channels-times-groups"),
    ({"groups": 2, "weight": shape(3, 2, 3, 3)}, ValueError,
     r"groups=2 does not divide the 3 output channels of weight", "groups-not-dividing-K"),
    ({"weight": shape(3, 4, 7, 7)}, ValueError,
     r"kernel \(7, 7\) \(dilated height extent 7\) is larger than the padded input height 6 \+ 2 \* 0",
     "kernel-too-tall"),
    ({"weight": shape(3, 4, 3, 9), "padding": 1}, ValueError,
     r"kernel \(3, 9\) \(dilated width extent 9\) is larger than the padded input width 6 \+ 2 \* 1",
     "kernel-too-wide-padded"),
    ({"dilation": 3}, ValueError, r"dilated height extent 7\) is larger than the padded input height",
     "dilated-kernel-too-large"),
    ({"padding": 2**31 - 1}, ValueError,
     rf"output of shape \(2, 3, {6 + 2 * (2**31 - 1) - 2}, {6 + 2 * (2**31 - 1) - 2}\) has \d+ elements: too large",
     "padding-overflows-output"),
    ({"padding": 2**40}, ValueError, r"padding must be <= 2147483647, got 1099511627776", "padding-beyond-limit"),
    ({"x": shape(1, 2, 1, 1), "weight": shape(1, 2, 1, 1), "bias": None, "padding": 2**29 - 1}, ValueError,
     r"im2col patch matrix of shape \(2, 1152921502459363329\) has \d+ elements: too large",
     "patch-matrix-overflows"),
]

CONV2D_BACKWARD_CASES = [
    ({"grad_y": shape(2, 3, 4, 5)}, ValueError,
     r"grad_y must have shape \(2, 3, 4, 4\) \(the conv2d output for x \(2, 4, 6, 6\), weight \(3, 4, 3, 3\)\), got \(2, 3, 4, 5\)",
     "grad_y-wrong-width"),
    ({"grad_y": shape(1, 3, 4, 4)}, ValueError, r"grad_y must have shape \(2, 3, 4, 4\)", "grad_y-wrong-batch"),
    ({"grad_y": shape(2, 4, 4, 4)}, ValueError, r"grad_y must have shape \(2, 3, 4, 4\)", "grad_y-wrong-channels"),
    ({"stride": 2}, ValueError, r"grad_y must have shape \(2, 3, 2, 2\)", "grad_y-for-other-stride"),
    ({"grad_y": drop_axis}, ValueError, r"grad_y must be 4-D \(N, K, Ho, Wo\)", "grad_y-3d"),
    ({"x": drop_axis}, ValueError, r"x must be 4-D", "x-3d"),
    ({"x": shape(2, 0, 6, 6)}, ValueError, r"x must have non-zero sizes after axis 1", "x-zero-channels"),
    ({"weight": add_axis}, ValueError, r"weight must be 4-D", "weight-5d"),
    ({"weight": shape(3, 2, 3, 3)}, ValueError, r"weight of shape \(3, 2, 3, 3\) expects 2 \* groups=1", "channel-mismatch"),
    ({"groups": 3}, ValueError, r"groups=3 does not divide the 4 channels of x", "groups-not-dividing-C"),
    ({"weight": shape(3, 4, 7, 3)}, ValueError, r"kernel \(7, 3\) .* larger than the padded input height", "kernel-too-tall"),
    ({"padding": 2**31 - 1}, ValueError, r"output of shape .* elements: too large", "padding-overflows-output"),
]

CONV_TRANSPOSE_CASES = [
    ({"weight": shape(4, 3, 3, 0)}, ValueError, r"weight must have non-zero sizes", "weight-zero-kernel"),
    ({"weight": shape(3, 3, 3, 3)}, ValueError,
     r"weight of shape \(3, 3, 3, 3\) expects 3 input channels, but x of shape \(2, 4, 5, 5\) has 4",
     "channel-mismatch"),
    ({"groups": 3}, ValueError, r"groups=3 does not divide the 4 channels of x", "groups-not-dividing-C"),
    ({"output_padding": 1}, ValueError,
     r"output_padding \(1, 1\) must be smaller than stride \(1, 1\) or dilation \(1, 1\)", "output_padding-1-stride-1"),
    ({"output_padding": (0, 2), "stride": 2}, ValueError,
     r"output_padding \(0, 2\) must be smaller than stride \(2, 2\) or dilation \(1, 1\)", "output_padding-eq-stride"),
    ({"output_padding": 2, "stride": 2, "dilation": 2}, ValueError,
     r"output_padding \(2, 2\) must be smaller than stride \(2, 2\) or dilation \(2, 2\)",
     "output_padding-eq-stride-and-dilation"),
    ({"padding": 4}, ValueError,
     r"padding \(4, 4\) leaves no output for x of shape \(2, 4, 5, 5\) and weight of shape \(4, 3, 3, 3\)",
     "padding-leaves-no-output"),
    ({"stride": 2**31 - 1}, ValueError,
     rf"output of shape \(2, 3, {4 * (2**31 - 1) + 3}, {4 * (2**31 - 1) + 3}\) has \d+ elements: too large",
     "stride-overflows-output"),
    ({"stride": (1, 2**62)}, ValueError, r"stride must be <= 2147483647, got \(1, 4611686018427387904\)",
     "stride-beyond-limit"),
    ({"output_padding": (2**40, 0)}, ValueError, r"output_padding must be <= 2147483647",
     "output_padding-beyond-limit"),
]

CONV_TRANSPOSE2D_CASES = [
    ({"bias": shape(4)}, ValueError, r"bias must have shape \(3,\)", "bias-is-in-channels"),
    ({"groups": 2, "weight": shape(4, 3, 3, 3)}, ValueError, r"bias must have shape \(6,\)", "bias-with-groups"),
]

CONV_TRANSPOSE2D_BACKWARD_CASES = [
    ({"grad_y": shape(2, 3, 7, 8)}, ValueError,
     r"grad_y must have shape \(2, 3, 7, 7\) \(the conv_transpose2d output for x \(2, 4, 5, 5\), weight \(4, 3, 3, 3\)\)",
     "grad_y-wrong-width"),
    ({"grad_y": shape(2, 4, 7, 7)}, ValueError, r"grad_y must have shape \(2, 3, 7, 7\)", "grad_y-wrong-channels"),
    ({"stride": 2, "output_padding": 1}, ValueError, r"grad_y must have shape \(2, 3, 12, 12\)",
     "grad_y-for-other-stride"),
    ({"grad_y": drop_axis}, ValueError, r"grad_y must be 4-D", "grad_y-3d"),
    ({"x": drop_axis}, ValueError, r"x must be 4-D", "x-3d"),
    ({"weight": drop_axis}, ValueError, r"weight must be 4-D", "weight-3d"),
]

POOL_FORWARD_CASES = [
    ({"x": drop_axis}, ValueError, r"x must be 4-D \(N, C, H, W\), got shape \(3, 6, 6\)", "x-3d"),
    ({"x": add_axis}, ValueError, r"x must be 4-D", "x-5d"),
    ({"x": shape(2, 3, 0, 6)}, ValueError, r"x must have non-zero sizes after axis 2", "x-zero-height"),
    ({"kernel_size": 7}, ValueError,
     r"kernel_size \(7, 7\) is larger than the padded input height 6 \+ 2 \* 0 for input of shape \(2, 3, 6, 6\)",
     "kernel-too-large"),
    ({"kernel_size": (2, 9), "padding": (0, 1)}, ValueError,
     r"kernel_size \(2, 9\) is larger than the padded input width 6 \+ 2 \* 1", "kernel-too-wide-padded"),
    ({"padding": 2}, ValueError, r"padding \(2, 2\) must be at most half of kernel_size \(2, 2\)", "padding-over-half"),
    ({"kernel_size": (4, 3), "padding": (0, 2)}, ValueError,
     r"padding \(0, 2\) must be at most half of kernel_size \(4, 3\)", "padding-over-half-width"),
]

POOL_BACKWARD_SHAPE_CASES = [
    # Shared by every backward that takes x_shape: (N, C) must match grad_y.
    ({"x_shape": (2, 3, 6)}, ValueError, r"x_shape must be a 4-tuple \(N, C, H, W\), got \(2, 3, 6\)", "x_shape-3-tuple"),
    ({"x_shape": (2, 3, 6, 6, 1)}, ValueError, r"x_shape must be a 4-tuple", "x_shape-5-tuple"),
    ({"x_shape": np.array([2, 3, 6, 6])}, ValueError, r"x_shape must be a 4-tuple", "x_shape-ndarray"),
    ({"x_shape": None}, ValueError, r"x_shape must be a 4-tuple", "x_shape-None"),
    ({"x_shape": 6}, ValueError, r"x_shape must be a 4-tuple", "x_shape-int"),
    ({"x_shape": (2, 3, 6.0, 6)}, TypeError, r"x_shape must be an integer, got 6\.0", "x_shape-float"),
    ({"x_shape": (2, 3, -6, 6)}, ValueError, r"x_shape must not hold negative sizes", "x_shape-negative"),
    ({"x_shape": (2, 3, 0, 6)}, ValueError, r"x_shape must have non-zero height and width", "x_shape-zero-height"),
    ({"x_shape": (3, 3, 6, 6)}, ValueError, r"grad_y of shape \(2, 3(, \d, \d)?\) does not match x_shape \(3, 3, 6, 6\) in \(N, C\)",
     "x_shape-N-mismatch"),
    ({"x_shape": [2, 4, 6, 6]}, ValueError, r"does not match x_shape \(2, 4, 6, 6\) in \(N, C\)", "x_shape-C-mismatch"),
]

MAX_POOL2D_BACKWARD_CASES = [
    ({"argmax": lambda a: a.astype(np.float64)}, TypeError, r"argmax must be an integer array, got dtype float64",
     "argmax-float64"),
    ({"argmax": lambda a: a.astype(np.float32)}, TypeError, r"argmax must be an integer array, got dtype float32",
     "argmax-float32"),
    ({"argmax": lambda a: a.astype(bool)}, TypeError, r"argmax must be an integer array, got dtype bool", "argmax-bool"),
    ({"argmax": lambda a: a.astype(object)}, TypeError, r"argmax must be an integer array, got dtype object",
     "argmax-object"),
    ({"argmax": lambda a: a[..., :2]}, ValueError, r"argmax must have shape \(2, 3, 3, 3\) \(the shape of grad_y\), got \(2, 3, 3, 2\)",
     "argmax-wrong-shape"),
    ({"argmax": drop_axis}, ValueError, r"argmax must have shape \(2, 3, 3, 3\)", "argmax-3d"),
    ({"argmax": lambda a: np.where(a == a.flat[5], -1, a)}, ValueError,
     r"argmax holds indices outside \[0, 36\) for x_shape \(2, 3, 6, 6\): min -1", "argmax-negative"),
    ({"argmax": lambda a: np.where(a == a.flat[5], 36, a)}, ValueError,
     r"argmax holds indices outside \[0, 36\) for x_shape \(2, 3, 6, 6\): min \d+, max 36", "argmax-equals-plane"),
    ({"argmax": lambda a: np.where(a == a.flat[5], 2**40, a)}, ValueError, r"argmax holds indices outside \[0, 36\)",
     "argmax-huge"),
    ({"argmax": lambda a: np.where(a == a.flat[5], 2**63, a.astype(np.uint64))}, ValueError,
     r"argmax holds indices outside \[0, 36\)", "argmax-uint64-beyond-int64"),
    ({"x_shape": (2, 3, 2, 2)}, ValueError, r"argmax holds indices outside \[0, 4\) for x_shape \(2, 3, 2, 2\)",
     "argmax-outside-smaller-x_shape"),
    ({"grad_y": drop_axis}, ValueError, r"grad_y must be 4-D \(N, C, Ho, Wo\)", "grad_y-3d"),
    ({"grad_y": shape(2, 4, 3, 3)}, ValueError, r"grad_y of shape \(2, 4, 3, 3\) does not match x_shape", "grad_y-wrong-channels"),
]

AVG_POOL2D_BACKWARD_CASES = [
    ({"grad_y": shape(2, 3, 3, 4)}, ValueError,
     r"grad_y must have shape \(2, 3, 3, 3\) \(the pooled shape of x_shape \(2, 3, 6, 6\)\), got \(2, 3, 3, 4\)",
     "grad_y-wrong-width"),
    ({"stride": 1}, ValueError, r"grad_y must have shape \(2, 3, 5, 5\)", "grad_y-for-other-stride"),
    ({"grad_y": drop_axis}, ValueError, r"grad_y must be 4-D \(N, C, Ho, Wo\)", "grad_y-3d"),
    ({"kernel_size": 7}, ValueError, r"kernel_size \(7, 7\) is larger than the padded input height 6", "kernel-too-large"),
    ({"padding": 2}, ValueError, r"padding \(2, 2\) must be at most half of kernel_size \(2, 2\)", "padding-over-half"),
]

GLOBAL_AVG_POOL2D_CASES = [
    ({"x": drop_axis}, ValueError, r"x must be 4-D \(N, C, H, W\)", "x-3d"),
    ({"x": add_axis}, ValueError, r"x must be 4-D", "x-5d"),
    ({"x": shape(2, 3, 6, 0)}, ValueError, r"x must have non-zero sizes after axis 2", "x-zero-width"),
]

GLOBAL_AVG_POOL2D_BACKWARD_CASES = [
    ({"grad_y": shape(2, 3, 1, 1)}, ValueError, r"grad_y must be 2-D \(N, C\), got shape \(2, 3, 1, 1\)", "grad_y-4d"),
    ({"grad_y": shape(2)}, ValueError, r"grad_y must be 2-D", "grad_y-1d"),
    ({"grad_y": shape(2, 4)}, ValueError, r"grad_y of shape \(2, 4\) does not match x_shape \(2, 3, 6, 6\)",
     "grad_y-wrong-channels"),
]


LINEAR_OPERAND_CASES = [
    # Shared by linear and linear_backward: x (N, in) and weight (out, in).
    ({"x": drop_axis}, ValueError, r"x must be 2-D \(N, in_features\), got shape \(5,\)", "x-1d"),
    ({"x": add_axis}, ValueError, r"x must be 2-D \(N, in_features\), got shape \(1, 2, 5\)", "x-3d"),
    ({"x": np.float64(1.0)}, ValueError, r"x must be 2-D", "x-0d"),
    ({"x": shape(2, 0)}, ValueError, r"x must have non-zero sizes after axis 1, got shape \(2, 0\)", "x-no-features"),
    ({"weight": drop_axis}, ValueError, r"weight must be 2-D \(out_features, in_features\), got shape \(5,\)",
     "weight-1d"),
    ({"weight": add_axis}, ValueError, r"weight must be 2-D", "weight-3d"),
    ({"weight": shape(0, 5)}, ValueError, r"weight must have non-zero sizes, got shape \(0, 5\)", "weight-no-units"),
    ({"weight": shape(3, 4)}, ValueError,
     r"weight of shape \(3, 4\) expects 4 input features, but x of shape \(2, 5\) has 5", "feature-mismatch"),
    ({"weight": lambda w: w.T}, ValueError,
     r"weight of shape \(5, 3\) expects 3 input features, but x of shape \(2, 5\) has 5", "weight-transposed"),
]

LINEAR_CASES = [
    ({"bias": shape(4)}, ValueError, r"bias must have shape \(3,\) to match weight of shape \(3, 5\), got \(4,\)",
     "bias-wrong-length"),
    ({"bias": shape(1, 3)}, ValueError, r"bias must have shape \(3,\)", "bias-2d"),
    ({"bias": np.float64(0.0)}, ValueError, r"bias must have shape \(3,\)", "bias-0d"),
]

LINEAR_BACKWARD_CASES = [
    ({"grad_y": shape(2, 4)}, ValueError,
     r"grad_y must have shape \(2, 3\) \(the linear output for x \(2, 5\), weight \(3, 5\)\), got \(2, 4\)",
     "grad_y-wrong-units"),
    ({"grad_y": shape(3, 3)}, ValueError, r"grad_y must have shape \(2, 3\)", "grad_y-wrong-batch"),
    ({"grad_y": drop_axis}, ValueError, r"grad_y must be 2-D \(N, out_features\), got shape \(3,\)", "grad_y-1d"),
    ({"grad_y": add_axis}, ValueError, r"grad_y must be 2-D", "grad_y-3d"),
]


NORM = ("batch_norm_train", "batch_norm_train_backward", "batch_norm_affine")

NORM_SHAPE_CASES = [
    ({"x": np.zeros(4)}, ValueError, r"x must be \(N, C, \.\.\.\) with at least 2 axes, got shape \(4,\)", "x-1d"),
    ({"x": shape(2, 0, 4, 4)}, ValueError, r"x must have non-zero sizes after axis 1", "x-zero-channels"),
    ({"x": shape(2, 3, 4, 0)}, ValueError, r"x must have non-zero sizes after axis 1", "x-zero-width"),
    ({"x": shape(2, 4, 4, 4)}, ValueError, r"must have shape \(4,\) \(one value per channel of x \(2, 4, 4, 4\)\)",
     "x-other-channels"),
]
BATCH_NORM_TRAIN_CASES = [
    ({"x": shape(1, 3)}, ValueError, r"x must have more than 1 value per channel .* got shape \(1, 3\)", "one-value"),
    ({"x": shape(0, 3, 4, 4)}, ValueError, r"x must have more than 1 value per channel", "empty-batch"),
    ({"bias": shape(3, 1)}, ValueError, r"bias must have shape \(3,\)", "bias-2d"),
    ({"eps": 0.0}, ValueError, r"eps must be > 0, got 0\.0", "eps-0"),
    ({"eps": -1e-5}, ValueError, r"eps must be > 0", "eps-negative"),
    ({"eps": float("inf")}, ValueError, r"eps must be finite", "eps-inf"),
    ({"eps": float("nan")}, ValueError, r"eps must not be NaN", "eps-nan"),
    ({"eps": "1e-5"}, TypeError, r"eps must be a real number", "eps-str"),
    ({"eps": True}, TypeError, r"eps must be a real number, got True", "eps-bool"),
]
BATCH_NORM_TRAIN_BACKWARD_CASES = [
    ({"grad_y": shape(2, 3, 4, 5)}, ValueError, r"grad_y must have shape \(2, 3, 4, 4\) \(x's\), got \(2, 3, 4, 5\)",
     "grad_y-shape"),
    ({"inv_std": shape(2)}, ValueError, r"inv_std must have shape \(3,\)", "inv_std-size"),
    ({"mean": np.float64(0.0)}, ValueError, r"mean must have shape \(3,\)", "mean-0d"),
]
BATCH_NORM_AFFINE_CASES = [
    ({"scale": shape(1)}, ValueError, r"scale must have shape \(3,\)", "scale-size"),
]
RELU_BACKWARD_CASES = [
    ({"grad_y": shape(2, 3, 4)}, ValueError, r"grad_y must have shape \(2, 3, 4, 4\) \(y's\), got \(2, 3, 4\)",
     "grad_y-shape"),
]


def _table(names, cases):
    return [pytest.param(name, changes, exception, match, id=f"{name}-{case_id}")
            for name in names for changes, exception, match, case_id in cases]


SHAPE_CASES = [
    *_table(("conv2d", "conv_transpose2d"), CONV_FORWARD_SHAPE_CASES),
    *_table(("conv2d",), CONV2D_CASES),
    *_table(("conv2d_backward",), CONV2D_BACKWARD_CASES),
    *_table(("conv_transpose2d", "conv_transpose2d_backward"), CONV_TRANSPOSE_CASES),
    *_table(("conv_transpose2d",), CONV_TRANSPOSE2D_CASES),
    *_table(("conv_transpose2d_backward",), CONV_TRANSPOSE2D_BACKWARD_CASES),
    *_table(("max_pool2d", "avg_pool2d"), POOL_FORWARD_CASES),
    *_table(("max_pool2d_backward", "avg_pool2d_backward", "global_avg_pool2d_backward"), POOL_BACKWARD_SHAPE_CASES),
    *_table(("max_pool2d_backward",), MAX_POOL2D_BACKWARD_CASES),
    *_table(("avg_pool2d_backward",), AVG_POOL2D_BACKWARD_CASES),
    *_table(("global_avg_pool2d",), GLOBAL_AVG_POOL2D_CASES),
    *_table(("global_avg_pool2d_backward",), GLOBAL_AVG_POOL2D_BACKWARD_CASES),
    *_table(("linear", "linear_backward"), LINEAR_OPERAND_CASES),
    *_table(("linear",), LINEAR_CASES),
    *_table(("linear_backward",), LINEAR_BACKWARD_CASES),
    *_table(NORM, NORM_SHAPE_CASES),
    *_table(("batch_norm_train",), BATCH_NORM_TRAIN_CASES),
    *_table(("batch_norm_train_backward",), BATCH_NORM_TRAIN_BACKWARD_CASES),
    *_table(("batch_norm_affine",), BATCH_NORM_AFFINE_CASES),
    *_table(("relu_backward",), RELU_BACKWARD_CASES),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, changes, exception, match", SHAPE_CASES)
def test_bad_shape_or_size(name, changes, exception, match, backend):
    assert_refused(name, backend, changes, exception, match)


@pytest.mark.parametrize("backend", ["gpu", "Fast", "", None, 0, "reference "])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_unknown_backend(name, backend):
    with pytest.raises(ValueError, match=r"backend must be one of \('fast', 'reference'\), got "):
        call(name, backend, good_args(name))


# ------------------------------------------------------ limits of the arguments

HUGE = 2**64  # beyond C's Py_ssize_t: refused by both backends, naming the argument


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, changes, argument", [
    pytest.param("conv2d", {"stride": HUGE}, "stride", id="conv2d-stride"),
    pytest.param("conv2d", {"weight": shape(3, 4, 1, 1), "dilation": HUGE}, "dilation", id="conv2d-dilation"),
    pytest.param("conv2d_backward", {"stride": (1, HUGE), "grad_y": shape(2, 3, 4, 1)}, "stride",
                 id="conv2d_backward-stride"),
    pytest.param("conv_transpose2d", {"weight": shape(4, 3, 1, 1), "dilation": HUGE}, "dilation",
                 id="conv_transpose2d-dilation"),
    pytest.param("max_pool2d", {"stride": HUGE}, "stride", id="max_pool2d-stride"),
    pytest.param("avg_pool2d", {"stride": HUGE}, "stride", id="avg_pool2d-stride"),
])
def test_huge_stride_or_dilation_is_refused(name, changes, argument, backend):
    assert_refused(name, backend, changes, ValueError, rf"{argument} must be <= 2147483647")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, changes", [
    pytest.param("max_pool2d_backward", {"x_shape": (2, 3, 2**31, 2**31)}, id="max_pool2d_backward"),
    pytest.param("avg_pool2d_backward", {"x_shape": (2, 3, 2**40, 2**40), "kernel_size": 2**40 // 3},
                 id="avg_pool2d_backward"),
    pytest.param("global_avg_pool2d_backward", {"x_shape": (2, 3, 2**40, 2**40)}, id="global_avg_pool2d_backward"),
])
def test_x_shape_too_large(name, changes, backend):
    assert_refused(name, backend, changes, ValueError, r"x_shape .*too large")


# ------------------------------------------------------------ runtime settings


@pytest.fixture
def restore_settings():
    threads, limit = cnnfast.get_num_threads(), cnnfast.get_workspace_limit()
    yield
    cnnfast.set_num_threads(threads)
    cnnfast.set_workspace_limit(limit)


@pytest.mark.parametrize("setter, value, exception, match", [
    (cnnfast.set_num_threads, 0, ValueError, r"num_threads must be >= 1, got 0"),
    (cnnfast.set_num_threads, -4, ValueError, r"num_threads must be >= 1, got -4"),
    (cnnfast.set_num_threads, 1.5, TypeError, r"num_threads must be an integer, got 1\.5"),
    (cnnfast.set_num_threads, 2.0, TypeError, r"num_threads must be an integer, got 2\.0"),
    (cnnfast.set_num_threads, True, TypeError, r"num_threads must be an integer, got True"),
    (cnnfast.set_num_threads, "2", TypeError, r"num_threads must be an integer, got '2'"),
    (cnnfast.set_num_threads, [2], TypeError, r"num_threads must be an integer, got \[2\]"),
    (cnnfast.set_workspace_limit, 0, ValueError, r"nbytes must be >= 1, got 0"),
    (cnnfast.set_workspace_limit, -1, ValueError, r"nbytes must be >= 1, got -1"),
    (cnnfast.set_workspace_limit, 1.5, TypeError, r"nbytes must be an integer, got 1\.5"),
    (cnnfast.set_workspace_limit, False, TypeError, r"nbytes must be an integer, got False"),
], ids=lambda v: getattr(v, "__name__", repr(v)))
def test_bad_setting_is_refused_and_changes_nothing(setter, value, exception, match, restore_settings):
    before = cnnfast.get_num_threads(), cnnfast.get_workspace_limit()
    with pytest.raises(exception, match=match):
        setter(value)
    assert (cnnfast.get_num_threads(), cnnfast.get_workspace_limit()) == before


@pytest.mark.parametrize("setter, value, match", [
    (cnnfast.set_num_threads, 2**31, r"num_threads"),
    (cnnfast.set_workspace_limit, 2**64, r"nbytes"),
], ids=["num_threads", "nbytes"])
def test_setting_beyond_c_range(setter, value, match, restore_settings):
    with pytest.raises(ValueError, match=match):
        setter(value)


def test_huge_thread_count_does_not_kill_the_process():
    # In a child process, with its address space capped where the OS enforces
    # such a cap (Linux: macOS refuses or ignores RLIMIT_AS, Windows has no
    # resource module), so the failure is quick and harmless.
    code = textwrap.dedent("""
        import sys
        if sys.platform.startswith("linux"):
            import resource
            resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))
        import numpy as np, cnnfast
        print("imported", flush=True)
        try:
            cnnfast.set_num_threads(2**31 - 1)
        except ValueError as error:
            assert "num_threads" in str(error)
        else:
            cnnfast.functional.max_pool2d(np.ones((1, 1, 2, 2)), 2)
        print("survived")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            cwd=Path(cnnfast.__file__).parent.parent)
    if "imported" not in result.stdout:
        pytest.fail(f"the child process could not import cnnfast: {result.stderr[-500:]}")
    assert result.returncode == 0 and "survived" in result.stdout, result.stderr[-500:]


# ------------------------------------------------------------- Cython layer


def _conv_setup():
    x, weight, bias = np.ones((2, 4, 6, 6)), np.ones((3, 4, 3, 3)), np.ones(3)
    *_, g = _checks.conv2d_args(x, weight, bias, 1, 0, 1, 1)
    return dict(g=g, x=x, weight=weight, bias=bias, y=np.empty(g.output_shape),
                grad_y=np.ones(g.output_shape), grad_x=np.empty(g.input_shape),
                grad_weight=np.empty(g.weight_shape), grad_bias=np.empty(3))


def _pool_setup():
    x = np.ones((2, 3, 6, 6))
    _, g = _checks.pool2d_args(x, 2, None, 0)
    return dict(g=g, x=x, y=np.empty(g.output_shape), argmax=np.zeros(g.output_shape, np.int64),
                grad_y=np.ones(g.output_shape), grad_x=np.empty(g.input_shape))


def _linear_setup():
    x, weight = np.ones((4, 5)), np.ones((3, 5))
    return dict(x=x, weight=weight, bias=np.ones(3), y=np.empty((4, 3)), grad_y=np.ones((4, 3)),
                grad_x=np.empty((4, 5)), grad_weight=np.empty((3, 5)), grad_bias=np.empty(3))


def _linear_forward(a):
    _kernels.linear_forward(a["x"], a["weight"], a["bias"], a["y"])


def _linear_backward(a):
    _kernels.linear_backward(a["grad_y"], a["x"], a["weight"], a["grad_x"], a["grad_weight"], a["grad_bias"])


def _readonly(a):
    a = a.copy()
    a.setflags(write=False)
    return a


def _set(a, index, value):
    a = a.copy()
    a[index] = value
    return a


# (setup, kernel call on the dict of arrays, changes, exception, match)
KERNEL_CASES = [
    pytest.param(_conv_setup, lambda a: _kernels.conv2d_forward(a["g"], a["x"], a["weight"], a["bias"], a["y"]),
                 {"y": shape(2, 3, 4, 5)}, ValueError, r"y has shape \(2, 3, 4, 5\), expected \(2, 3, 4, 4\)",
                 id="conv2d_forward-y"),
    pytest.param(_conv_setup, lambda a: _kernels.conv2d_forward(a["g"], a["x"], a["weight"], a["bias"], a["y"]),
                 {"y": shape(2, 3, 5, 5)}, ValueError, r"y has shape \(2, 3, 5, 5\)", id="conv2d_forward-y-larger"),
    pytest.param(_conv_setup, lambda a: _kernels.conv2d_forward(a["g"], a["x"], a["weight"], a["bias"], a["y"]),
                 {"x": shape(2, 4, 6, 5)}, ValueError, r"x has shape \(2, 4, 6, 5\), expected \(2, 4, 6, 6\)",
                 id="conv2d_forward-x"),
    pytest.param(_conv_setup, lambda a: _kernels.conv2d_forward(a["g"], a["x"], a["weight"], a["bias"], a["y"]),
                 {"weight": shape(3, 4, 2, 3)}, ValueError, r"weight has shape \(3, 4, 2, 3\)", id="conv2d_forward-weight"),
    pytest.param(_conv_setup, lambda a: _kernels.conv2d_forward(a["g"], a["x"], a["weight"], a["bias"], a["y"]),
                 {"bias": shape(4)}, ValueError, r"bias has shape \(4,\), expected \(3,\)", id="conv2d_forward-bias"),
    pytest.param(_conv_setup, lambda a: _kernels.conv2d_forward(a["g"], a["x"], a["weight"], a["bias"], a["y"]),
                 {"y": shape(2, 3, 4)}, ValueError, r"Buffer has wrong number of dimensions", id="conv2d_forward-y-3d"),
    pytest.param(_conv_setup, lambda a: _kernels.conv2d_forward(a["g"], a["x"], a["weight"], a["bias"], a["y"]),
                 {"x": np.asfortranarray}, ValueError, r"not C-contiguous", id="conv2d_forward-x-fortran"),
    pytest.param(_conv_setup, lambda a: _kernels.conv2d_forward(a["g"], a["x"], a["weight"], a["bias"], a["y"]),
                 {"x": lambda x: x.astype(np.float32)}, ValueError, r"Buffer dtype mismatch", id="conv2d_forward-mixed"),
    pytest.param(_conv_setup, lambda a: _kernels.conv2d_forward(a["g"], a["x"], a["weight"], a["bias"], a["y"]),
                 {"y": _readonly}, ValueError, r"read-only", id="conv2d_forward-y-readonly"),
    pytest.param(_conv_setup,
                 lambda a: _kernels.conv2d_backward(a["g"], a["grad_y"], a["x"], a["weight"], a["grad_x"], a["grad_weight"]),
                 {"grad_y": shape(2, 3, 4, 3)}, ValueError, r"grad_y has shape \(2, 3, 4, 3\)", id="conv2d_backward-grad_y"),
    pytest.param(_conv_setup,
                 lambda a: _kernels.conv2d_backward(a["g"], a["grad_y"], a["x"], a["weight"], a["grad_x"], a["grad_weight"]),
                 {"grad_x": shape(2, 4, 6, 7)}, ValueError, r"grad_x has shape \(2, 4, 6, 7\)", id="conv2d_backward-grad_x"),
    pytest.param(_conv_setup,
                 lambda a: _kernels.conv2d_backward(a["g"], a["grad_y"], a["x"], a["weight"], a["grad_x"], a["grad_weight"]),
                 {"grad_weight": shape(3, 4, 3, 2)}, ValueError, r"grad_weight has shape \(3, 4, 3, 2\)",
                 id="conv2d_backward-grad_weight"),
    pytest.param(_conv_setup,
                 lambda a: _kernels.conv2d_backward(a["g"], a["grad_y"], a["x"], a["weight"], a["grad_x"], a["grad_weight"]),
                 {"x": None}, ValueError, r"conv2d_backward needs x for grad_weight", id="conv2d_backward-no-x"),
    pytest.param(_conv_setup,
                 lambda a: _kernels.conv2d_backward(a["g"], a["grad_y"], a["x"], a["weight"], a["grad_x"], a["grad_weight"]),
                 {"x": shape(1, 4, 6, 6)}, ValueError, r"x has shape \(1, 4, 6, 6\)", id="conv2d_backward-x"),
    pytest.param(_conv_setup, lambda a: _kernels.conv2d_bias_grad(a["g"], a["grad_y"], a["grad_bias"]),
                 {"grad_bias": shape(2)}, ValueError, r"grad_bias has shape \(2,\), expected \(3,\)",
                 id="conv2d_bias_grad-grad_bias"),
    pytest.param(_pool_setup, lambda a: _kernels.max_pool2d_forward(a["g"], a["x"], a["y"], a["argmax"]),
                 {"argmax": np.zeros((2, 3, 3, 2), np.int64)}, ValueError, r"argmax has shape \(2, 3, 3, 2\)",
                 id="max_pool2d_forward-argmax"),
    pytest.param(_pool_setup, lambda a: _kernels.max_pool2d_forward(a["g"], a["x"], a["y"], a["argmax"]),
                 {"x": shape(2, 3, 5, 6)}, ValueError, r"x has shape \(2, 3, 5, 6\)", id="max_pool2d_forward-x"),
    pytest.param(_pool_setup, lambda a: _kernels.max_pool2d_backward(a["g"], a["grad_y"], a["argmax"], a["grad_x"]),
                 {"argmax": lambda m: _set(m, (1, 2, 2, 2), -1)}, ValueError, r"argmax holds indices outside \[0, 36\)",
                 id="max_pool2d_backward-argmax-negative"),
    pytest.param(_pool_setup, lambda a: _kernels.max_pool2d_backward(a["g"], a["grad_y"], a["argmax"], a["grad_x"]),
                 {"argmax": lambda m: _set(m, (1, 2, 2, 2), 36)}, ValueError, r"argmax holds indices outside \[0, 36\)",
                 id="max_pool2d_backward-argmax-plane"),
    pytest.param(_pool_setup, lambda a: _kernels.max_pool2d_backward(a["g"], a["grad_y"], a["argmax"], a["grad_x"]),
                 {"argmax": lambda m: _set(m, (0, 0, 0, 0), 2**62)}, ValueError, r"argmax holds indices outside \[0, 36\)",
                 id="max_pool2d_backward-argmax-huge"),
    pytest.param(_pool_setup, lambda a: _kernels.max_pool2d_backward(a["g"], a["grad_y"], a["argmax"], a["grad_x"]),
                 {"argmax": lambda m: m.astype(np.int32)}, ValueError, r"Buffer dtype mismatch",
                 id="max_pool2d_backward-argmax-int32"),
    pytest.param(_pool_setup, lambda a: _kernels.max_pool2d_backward(a["g"], a["grad_y"], a["argmax"], a["grad_x"]),
                 {"grad_x": shape(2, 3, 6, 5)}, ValueError, r"grad_x has shape \(2, 3, 6, 5\)",
                 id="max_pool2d_backward-grad_x"),
    pytest.param(_pool_setup, lambda a: _kernels.avg_pool2d_forward(a["g"], True, a["x"], a["y"]),
                 {"y": shape(2, 3, 3, 4)}, ValueError, r"y has shape \(2, 3, 3, 4\), expected \(2, 3, 3, 3\)",
                 id="avg_pool2d_forward-y"),
    pytest.param(_pool_setup, lambda a: _kernels.avg_pool2d_backward(a["g"], True, a["grad_y"], a["grad_x"]),
                 {"grad_y": shape(2, 2, 3, 3)}, ValueError, r"grad_y has shape \(2, 2, 3, 3\)",
                 id="avg_pool2d_backward-grad_y"),
    pytest.param(_linear_setup, _linear_forward, {"y": shape(4, 4)}, ValueError,
                 r"y has shape \(4, 4\), expected \(4, 3\)", id="linear_forward-y"),
    pytest.param(_linear_setup, _linear_forward, {"weight": shape(3, 4)}, ValueError,
                 r"weight has shape \(3, 4\), expected \(3, 5\)", id="linear_forward-weight"),
    pytest.param(_linear_setup, _linear_forward, {"bias": shape(2)}, ValueError,
                 r"bias has shape \(2,\), expected \(3,\)", id="linear_forward-bias"),
    pytest.param(_linear_setup, _linear_forward, {"x": shape(4, 0), "weight": shape(3, 0)}, ValueError,
                 r"linear needs in_features and out_features >= 1, got 0 and 3", id="linear_forward-no-features"),
    pytest.param(_linear_setup, _linear_forward, {"x": None}, TypeError, r"No matching signature found|must not be None",
                 id="linear_forward-x-None"),
    pytest.param(_linear_setup, _linear_forward, {"x": np.asfortranarray}, ValueError, r"not C-contiguous",
                 id="linear_forward-x-fortran"),
    pytest.param(_linear_setup, _linear_forward, {"y": _readonly}, ValueError, r"read-only",
                 id="linear_forward-y-readonly"),
    pytest.param(_linear_setup, _linear_backward, {"grad_y": shape(4, 2)}, ValueError,
                 r"grad_y has shape \(4, 2\), expected \(4, 3\)", id="linear_backward-grad_y"),
    pytest.param(_linear_setup, _linear_backward, {"grad_x": shape(3, 5)}, ValueError,
                 r"grad_x has shape \(3, 5\), expected \(4, 5\)", id="linear_backward-grad_x"),
    pytest.param(_linear_setup, _linear_backward, {"grad_weight": shape(5, 3)}, ValueError,
                 r"grad_weight has shape \(5, 3\), expected \(3, 5\)", id="linear_backward-grad_weight"),
    pytest.param(_linear_setup, _linear_backward, {"grad_bias": shape(4)}, ValueError,
                 r"grad_bias has shape \(4,\), expected \(3,\)", id="linear_backward-grad_bias"),
    pytest.param(_linear_setup, _linear_backward, {"weight": None}, TypeError, r"No matching signature found|must not be None",
                 id="linear_backward-weight-None"),
]


@pytest.mark.parametrize("setup, kernel, changes, exception, match", KERNEL_CASES)
def test_kernel_refuses_mismatched_arrays(setup, kernel, changes, exception, match):
    arrays = setup()
    kernel(arrays)  # the unchanged arrays are accepted
    with pytest.raises(exception, match=match):
        kernel(apply_changes(arrays, changes))


def test_kernel_max_pool2d_backward_leaves_output_untouched_on_bad_argmax():
    arrays = _pool_setup()
    arrays["grad_x"][...] = 7.0
    with pytest.raises(ValueError, match=r"argmax holds indices outside"):
        _kernels.max_pool2d_backward(arrays["g"], arrays["grad_y"], _set(arrays["argmax"], (0, 0, 0, 0), -5),
                                     arrays["grad_x"])
    assert np.all(arrays["grad_x"] == 7.0)


# ------------------------------------------------------------------ acceptance


def assert_same(got, expected):
    if isinstance(expected, tuple):
        assert isinstance(got, tuple) and len(got) == len(expected)
        for g, e in zip(got, expected):
            assert_same(g, e)
        return
    got = np.asarray(got)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    if expected.dtype.kind in "iu":
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-13)


def _strided(a):
    """The same values through a view with a positive, non-unit last stride."""
    return np.repeat(a, 2, axis=-1)[..., ::2]


def _transposed(a):
    """The same values through a view with the last two axes' strides swapped."""
    if a.ndim < 2:
        return _strided(a)
    return np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2)


def _negative_stride(a):
    """The same values through a view with a negative stride (x[:, :, ::-1] of a flipped copy)."""
    axis = 2 if a.ndim >= 3 else -1
    return np.flip(np.flip(a, axis).copy(), axis)


LAYOUTS = {
    "transposed": _transposed,
    "negative-stride": _negative_stride,
    "strided": _strided,
    "fortran": np.asfortranarray,
    "read-only": _readonly,
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_any_memory_layout_gives_the_same_answer(name, layout, backend):
    args = good_args(name)
    expected = call(name, backend, args)
    changed = {key: LAYOUTS[layout](value) if isinstance(value, np.ndarray) else value
               for key, value in args.items()}
    main = changed[FLOAT_ARRAYS[name][0]]
    if layout == "read-only":
        assert not main.flags.writeable
    else:
        assert not main.flags.c_contiguous
    if layout == "negative-stride":
        assert min(main.strides) < 0
    got = call(name, backend, changed)
    assert_same(got, expected)
    for key, value in args.items():  # inputs are never written to
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(changed[key], value)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_nested_lists_are_accepted_as_float64(name, backend):
    args = good_args(name)
    expected = call(name, backend, args)
    as_lists = {key: value.tolist() if isinstance(value, np.ndarray) else value for key, value in args.items()}
    if "x_shape" in as_lists:
        as_lists["x_shape"] = list(as_lists["x_shape"])
    assert_same(call(name, backend, as_lists), expected)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_lists_mixed_with_arrays_keep_the_array_dtype_rule(backend):
    """A list becomes float64, so beside a float32 array it is a dtype mismatch, named as such."""
    args = good_args("conv2d", np.float32)
    args["weight"] = args["weight"].tolist()
    with pytest.raises(TypeError, match=r"weight has dtype float64 but x has dtype float32"):
        call("conv2d", backend, args)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_batch(backend, dtype):
    x = np.zeros((0, 4, 6, 6), dtype)
    weight = np.ones((3, 4, 3, 3), dtype)
    bias = np.ones(3, dtype)

    y = F.conv2d(x, weight, bias, padding=1, backend=backend)
    assert y.shape == (0, 3, 6, 6) and y.dtype == dtype

    grad_x, grad_weight, grad_bias = F.conv2d_backward(np.zeros((0, 3, 4, 4), dtype), x, weight, backend=backend)
    assert grad_x.shape == (0, 4, 6, 6) and grad_x.dtype == dtype
    assert grad_weight.shape == (3, 4, 3, 3) and grad_weight.dtype == dtype
    assert grad_bias.shape == (3,) and grad_bias.dtype == dtype
    assert not grad_weight.any() and not grad_bias.any()

    y, argmax = F.max_pool2d(x, 3, stride=2, padding=1, backend=backend)
    assert y.shape == argmax.shape == (0, 4, 3, 3)
    assert y.dtype == dtype and argmax.dtype == np.int64

    grad_x = F.max_pool2d_backward(np.zeros((0, 4, 3, 3), dtype), argmax, (0, 4, 6, 6), backend=backend)
    assert grad_x.shape == (0, 4, 6, 6) and grad_x.dtype == dtype

    x, weight = np.zeros((0, 5), dtype), np.ones((3, 5), dtype)
    y = F.linear(x, weight, bias, backend=backend)
    assert y.shape == (0, 3) and y.dtype == dtype
    grad_x, grad_weight, grad_bias = F.linear_backward(np.zeros((0, 3), dtype), x, weight, backend=backend)
    assert grad_x.shape == (0, 5) and grad_weight.shape == (3, 5) and grad_bias.shape == (3,)
    assert grad_x.dtype == grad_weight.dtype == grad_bias.dtype == dtype
    assert not grad_weight.any() and not grad_bias.any()


@pytest.mark.parametrize("backend", BACKENDS)
def test_output_padding_below_dilation_is_accepted(backend):
    """output_padding may reach the stride when the dilation is larger (the refusal needs both)."""
    args = good_args("conv_transpose2d")
    y = F.conv_transpose2d(**args, stride=1, dilation=2, output_padding=1, backend=backend)
    assert y.shape == (2, 3, 5 + 2 * 2 + 1, 5 + 2 * 2 + 1)


def test_cython_refuses_a_pool_geometry_with_empty_windows():
    """Hand-made geometries must not make the C read outside the input."""
    x = np.ones((1, 1, 2, 2))
    g = _checks.PoolGeometry(1, 1, 2, 2, 10**6, 1, (2, 2), (2, 2), (0, 0))
    y, argmax = np.empty(g.output_shape), np.empty(g.output_shape, np.int64)
    with pytest.raises(ValueError, match="invalid pooling geometry"):
        _kernels.max_pool2d_forward(g, x, y, argmax)
    with pytest.raises(ValueError, match="invalid pooling geometry"):
        _kernels.avg_pool2d_forward(g, True, x, y)


@pytest.mark.parametrize("field, value, match", [
    ("stride", (0, 0), "invalid convolution geometry"),
    ("dilation", (1, 0), "invalid convolution geometry"),
    ("padding", (-1, 0), "invalid convolution geometry"),
    ("out_height", 5, "output size too large"),
])
def test_cython_refuses_a_conv_geometry_the_c_cannot_run(field, value, match):
    from dataclasses import replace

    s = _conv_setup()
    g = replace(s["g"], **{field: value})
    y = np.empty(g.output_shape)
    with pytest.raises(ValueError, match=match):
        _kernels.conv2d_forward(g, s["x"], s["weight"], None, y)


# ------------------------------------------------------------ not an array at all

# Each is refused as a TypeError naming the argument (issue 15: F.conv2d(None, w) raised AttributeError).
NOT_ARRAYS = [None, 3.0, 7, "x", b"x", object(), {"a": 1}]


def _array_arguments(name):
    """Every array argument of ``name``: the float arrays, plus max_pool2d_backward's argmax."""
    return FLOAT_ARRAYS[name] + (("argmax",) if name == "max_pool2d_backward" else ())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_an_argument_that_is_not_an_array_is_a_type_error_naming_it(name, backend):
    for argument in _array_arguments(name):
        for value in NOT_ARRAYS:
            if value is None and argument in _checks.OPTIONAL_ARRAYS:
                continue
            args = good_args(name)
            args[argument] = value
            with pytest.raises(TypeError, match=rf"^{argument} must be a NumPy array, got {type(value).__name__}"):
                call(name, backend, args)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_torch_tensor_is_refused_with_a_hint(backend):
    torch = pytest.importorskip("torch")
    args = good_args("conv2d")
    args["x"] = torch.from_numpy(args["x"])
    with pytest.raises(TypeError, match=r"x must be a NumPy array, got Tensor \(for a torch tensor: t\.detach"):
        call("conv2d", backend, args)


def _every_layer():
    from cnnfast import layers as L

    return [getattr(L, name) for name in sorted(L.__all__)
            if isinstance(getattr(L, name), type) and issubclass(getattr(L, name), L.Layer)
            and getattr(L, name) is not L.Layer]


def _a_layer(cls):
    from cnnfast import layers as L

    needs = {"Conv2D": (2, 3), "Conv2DTranspose": (2, 3), "Convolution2D": (2, 3), "Dense": (3,),
             "Dropout": (0.5,), "Rescaling": (1.0,), "Reshape": ((2,),), "Residual": (L.ReLU(),)}
    return cls(*needs.get(cls.__name__, ()))


@pytest.mark.parametrize("cls", _every_layer(), ids=lambda cls: cls.__name__)
def test_every_layer_refuses_an_input_that_is_not_an_array(cls):
    for value in NOT_ARRAYS + [[[1.0, 2.0]]]:
        layer = _a_layer(cls)
        with pytest.raises(TypeError, match=rf"x must be a NumPy array, got {type(value).__name__}"):
            layer.forward(value)
        with pytest.raises(TypeError, match=rf"x must be a NumPy array, got {type(value).__name__}"):
            layer(value)
