"""The fast kernels against their NumPy reference twins, on many random shapes.

Each kernel family gets at least 300 seeded random configurations, drawn so
that the special cases appear every few draws: batch 1, the 1x1 pointwise
path, depthwise (and channel multipliers), a kernel exactly as large as the
padded input, and a tiny convolution workspace that forces one output row per
tile.  Every configuration is checked in float32 (rtol 1e-4) and float64
(rtol 1e-10), relative to the largest magnitude of the reference result.

Convolutions are checked on every implementation this machine can run
(``conv_variants``): the engine on each ISA's micro-kernels (cnnfast.set_isa),
im2col + OpenBLAS, and the per-shape choice between them, each forced for
every shape.

The linear family also runs each configuration at 1, 2 and 3 threads and
requires bitwise-equal results: its blocks depend on the shapes only.
"""

import os
from contextlib import contextmanager

import numpy as np
import pytest

import cnnfast
from cnnfast import _isa, _kernels
from cnnfast import functional as F

# .ci/sanitize runs a fast subset under AddressSanitizer (CNNFAST_TEST_CONFIGS=40).
CONFIGS_PER_FAMILY = int(os.environ.get("CNNFAST_TEST_CONFIGS", "300"))
TOLERANCE = {np.float32: 1e-4, np.float64: 1e-10}


def assert_close(fast, reference, dtype, what):
    assert fast.dtype == reference.dtype == dtype, what
    assert fast.shape == reference.shape, what
    scale = max(float(np.abs(reference).max(initial=0.0)), 1.0)
    error = float(np.abs(fast - reference).max(initial=0.0))
    assert error <= TOLERANCE[dtype] * scale, f"{what}: max error {error:.3g} (scale {scale:.3g})"


@pytest.fixture
def workspace_limit():
    """Set the conv workspace limit for one test, then restore it."""
    saved = cnnfast.get_workspace_limit()
    yield cnnfast.set_workspace_limit
    cnnfast.set_workspace_limit(saved)


def conv_config(index):
    """A random convolution; every few indices one of the special cases."""
    rng = np.random.default_rng(1000 + index)
    case = index % 6
    batch = 1 if case == 0 else int(rng.integers(1, 5))
    groups = int(rng.choice([1, 1, 2, 3]))
    group_in, group_out = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    kernel = tuple(int(k) for k in rng.integers(1, 5, 2))
    stride = tuple(int(s) for s in rng.integers(1, 4, 2))
    padding = tuple(int(p) for p in rng.integers(0, 3, 2))
    dilation = tuple(int(d) for d in rng.integers(1, 4, 2))
    if case == 1:  # pointwise: the GEMM reads the image directly
        kernel, stride, padding = (1, 1), (1, 1), (0, 0)
    if case == 2:  # depthwise, with a channel multiplier now and then
        group_in, groups = 1, int(rng.integers(2, 7))
    spans = [dilation[a] * (kernel[a] - 1) + 1 for a in range(2)]
    size = [max(spans[a] - 2 * padding[a], 1) + int(rng.integers(0, 9)) for a in range(2)]
    if case == 3:  # the kernel covers the whole padded input
        padding = tuple(min(p, (s - 1) // 2) for p, s in zip(padding, spans))
        size = [spans[a] - 2 * padding[a] for a in range(2)]
    if case == 5:  # a large batch of small planes: several images share one GEMM
        batch = int(rng.integers(9, 40))
    shape = (batch, groups * group_in, size[0], size[1])
    weight_shape = (groups * group_out, group_in) + kernel
    tiny_workspace = case == 4
    return dict(shape=shape, weight_shape=weight_shape, stride=stride, padding=padding, dilation=dilation,
                groups=groups, tiny_workspace=tiny_workspace, seed=index)


def conv_id(index):
    c = conv_config(index)
    return (f"x{c['shape']}-w{c['weight_shape']}-s{c['stride']}-p{c['padding']}-d{c['dilation']}"
            f"-g{c['groups']}{'-tiny_ws' if c['tiny_workspace'] else ''}").replace(" ", "")


def random_arrays(seed, dtype, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(dtype) for shape in shapes]


def conv_variants():
    """Every way a convolution can run here, as (path, isa): the engine on each
    ISA this CPU has, im2col + OpenBLAS, and the per-shape rule ("auto")."""
    return ([("engine", isa) for isa in _isa.available_isas()] + [("blas", _isa.get_isa()),
                                                                   ("auto", _isa.get_isa())])


@contextmanager
def conv_kernels(path, isa):
    """Run convolutions on one implementation inside the block, then restore."""
    saved_path, saved_isa = _kernels.get_conv_path(), cnnfast.get_isa()
    try:
        _kernels.set_conv_path(path)
        cnnfast.set_isa(isa)
        yield
    finally:
        _kernels.set_conv_path(saved_path)
        cnnfast.set_isa(saved_isa)


def check_conv_family(forward, backward, c, bias_size, args):
    """forward and backward of one convolution function, fast (every variant)
    vs reference, both dtypes."""
    for dtype in (np.float32, np.float64):
        x, weight, bias = random_arrays(c["seed"], dtype, c["shape"], c["weight_shape"], bias_size)
        y_reference = forward(x, weight, bias, backend="reference", **args)
        grad_y = random_arrays(c["seed"] + 1, dtype, y_reference.shape)[0]
        reference = backward(grad_y, x, weight, backend="reference", **args)
        for path, isa in conv_variants():
            with conv_kernels(path, isa):
                assert_close(forward(x, weight, bias, **args), y_reference, dtype, f"y ({path}, {isa})")
                fast = backward(grad_y, x, weight, **args)
            for name, got, want in zip(("grad_x", "grad_weight", "grad_bias"), fast, reference):
                assert_close(got, want, dtype, f"{name} ({path}, {isa})")


@pytest.mark.parametrize("index", range(CONFIGS_PER_FAMILY), ids=conv_id)
def test_conv2d(index, workspace_limit):
    c = conv_config(index)
    if c["tiny_workspace"]:
        workspace_limit(1)  # one output row per tile, one image per weight slot
    args = dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"], groups=c["groups"])
    check_conv_family(F.conv2d, F.conv2d_backward, c, c["weight_shape"][0], args)
    # Without the input gradient: None, and the same parameter gradients.
    x, weight = random_arrays(c["seed"], np.float32, c["shape"], c["weight_shape"])
    grad_y = random_arrays(c["seed"] + 1, np.float32, F.conv2d(x, weight, **args).shape)[0]
    for backend in ("fast", "reference"):
        full = F.conv2d_backward(grad_y, x, weight, backend=backend, **args)
        grad_x, *params = F.conv2d_backward(grad_y, x, weight, backend=backend, input_grad=False, **args)
        assert grad_x is None
        for got, want in zip(params, full[1:]):
            np.testing.assert_array_equal(got, want)


def transposed_config(index):
    """A random transposed convolution: a conv config read the other way round,
    with an output_padding below max(stride, dilation)."""
    c = conv_config(index)
    rng = np.random.default_rng(5000 + index)
    out_per_group, in_per_group = c["weight_shape"][:2]
    groups = c["groups"]
    out_per_group //= groups
    c["weight_shape"] = (groups * in_per_group, out_per_group) + c["weight_shape"][2:]
    c["shape"] = (c["shape"][0], groups * in_per_group) + tuple(int(s) for s in rng.integers(1, 7, 2))
    c["output_padding"] = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(c["stride"], c["dilation"]))
    # keep the output non-empty: padding must leave at least one row and column
    span = [c["dilation"][a] * (c["weight_shape"][2 + a] - 1) + 1 for a in range(2)]
    c["padding"] = tuple(min(p, ((c["shape"][2 + a] - 1) * c["stride"][a] + span[a] - 1) // 2)
                         for a, p in enumerate(c["padding"]))
    return c


@pytest.mark.parametrize("index", range(CONFIGS_PER_FAMILY))
def test_conv_transpose2d(index, workspace_limit):
    c = transposed_config(index)
    if c["tiny_workspace"]:
        workspace_limit(1)
    args = dict(stride=c["stride"], padding=c["padding"], output_padding=c["output_padding"],
                groups=c["groups"], dilation=c["dilation"])
    check_conv_family(F.conv_transpose2d, F.conv_transpose2d_backward, c, c["weight_shape"][1] * c["groups"],
                      args)


def pool_config(index):
    rng = np.random.default_rng(9000 + index)
    kernel = tuple(int(k) for k in rng.integers(1, 5, 2))
    stride = tuple(int(s) for s in rng.integers(1, 4, 2))
    padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
    size = tuple(max(k - 2 * p, 1) + int(rng.integers(0, 8)) for k, p in zip(kernel, padding))
    batch = 1 if index % 5 == 0 else int(rng.integers(1, 4))
    shape = (batch, int(rng.integers(1, 5))) + size
    stride_arg = None if index % 7 == 0 else stride  # None: stride = kernel_size
    return shape, kernel, stride_arg, padding


@pytest.mark.parametrize("index", range(CONFIGS_PER_FAMILY))
def test_max_pool2d(index):
    shape, kernel, stride, padding = pool_config(index)
    rng = np.random.default_rng(index)
    for dtype in (np.float32, np.float64):
        # Every third configuration draws from few values: many ties, which go
        # to the first maximum in both backends.
        x = (rng.integers(0, 3, shape) if index % 3 == 0 else rng.standard_normal(shape)).astype(dtype)
        y, argmax = F.max_pool2d(x, kernel, stride, padding)
        y_ref, argmax_ref = F.max_pool2d(x, kernel, stride, padding, backend="reference")
        assert_close(y, y_ref, dtype, "y")
        np.testing.assert_array_equal(argmax, argmax_ref)
        assert argmax.dtype == np.int64
        grad_y = rng.standard_normal(y.shape).astype(dtype)
        assert_close(F.max_pool2d_backward(grad_y, argmax, shape),
                     F.max_pool2d_backward(grad_y, argmax, shape, backend="reference"), dtype, "grad_x")


@pytest.mark.parametrize("index", range(CONFIGS_PER_FAMILY))
def test_avg_pool2d(index):
    shape, kernel, stride, padding = pool_config(index)
    rng = np.random.default_rng(index)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal(shape).astype(dtype)
        for include_pad in (True, False):
            y = F.avg_pool2d(x, kernel, stride, padding, include_pad)
            assert_close(y, F.avg_pool2d(x, kernel, stride, padding, include_pad, backend="reference"), dtype, "y")
            grad_y = rng.standard_normal(y.shape).astype(dtype)
            assert_close(F.avg_pool2d_backward(grad_y, shape, kernel, stride, padding, include_pad),
                         F.avg_pool2d_backward(grad_y, shape, kernel, stride, padding, include_pad,
                                               backend="reference"), dtype, "grad_x")


@pytest.mark.parametrize("index", range(CONFIGS_PER_FAMILY))
def test_global_avg_pool2d(index):
    shape = pool_config(index)[0]
    rng = np.random.default_rng(index)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal(shape).astype(dtype)
        y = F.global_avg_pool2d(x)
        assert y.shape == shape[:2]
        assert_close(y, F.global_avg_pool2d(x, backend="reference"), dtype, "y")
        grad_y = rng.standard_normal(shape[:2]).astype(dtype)
        assert_close(F.global_avg_pool2d_backward(grad_y, shape),
                     F.global_avg_pool2d_backward(grad_y, shape, backend="reference"), dtype, "grad_x")


@pytest.fixture
def num_threads():
    """Set the kernels' thread count within one test, then restore it."""
    saved = cnnfast.get_num_threads()
    yield cnnfast.set_num_threads
    cnnfast.set_num_threads(saved)


def linear_config(index):
    """(batch, in_features, out_features, bias?) with, every few indices, batch 1,
    one input feature, one output unit, or a product large enough for threads."""
    rng = np.random.default_rng(13_000 + index)
    case = index % 5
    batch, in_features, out_features = (int(v) for v in rng.integers(1, 80, 3))
    if case == 0:
        batch = 1
    elif case == 1:
        in_features = 1
    elif case == 2:
        out_features = 1
    elif case == 3:  # above the kernel's one-thread threshold: several blocks on several threads
        batch, in_features, out_features = (int(rng.integers(lo, hi)) for lo, hi in ((100, 300), (120, 300),
                                                                                     (40, 200)))
    return batch, in_features, out_features, index % 3 != 0


def linear_id(index):
    batch, in_features, out_features, bias = linear_config(index)
    return f"{batch}x{in_features}->{out_features}{'' if bias else '-nobias'}"


@pytest.mark.parametrize("index", range(CONFIGS_PER_FAMILY), ids=linear_id)
def test_linear(index, num_threads):
    batch, in_features, out_features, with_bias = linear_config(index)
    for dtype in (np.float32, np.float64):
        x, weight, bias, grad_y = random_arrays(index, dtype, (batch, in_features), (out_features, in_features),
                                                (out_features,), (batch, out_features))
        bias = bias if with_bias else None
        y_ref = F.linear(x, weight, bias, backend="reference")
        grads_ref = F.linear_backward(grad_y, x, weight, backend="reference")
        results = {}
        for threads in (1, 2, 3):
            num_threads(threads)
            results[threads] = (F.linear(x, weight, bias),) + F.linear_backward(grad_y, x, weight)
        for name, got, want in zip(("y", "grad_x", "grad_weight", "grad_bias"), results[1], (y_ref,) + grads_ref):
            assert_close(got, want, dtype, name)
        for threads in (2, 3):
            for name, got, want in zip(("y", "grad_x", "grad_weight", "grad_bias"), results[threads], results[1]):
                np.testing.assert_array_equal(got, want, err_msg=f"{name}: {threads} threads vs 1")


def test_linear_configs_cover_the_special_cases():
    configs = [linear_config(i) for i in range(CONFIGS_PER_FAMILY)]
    assert any(c[0] == 1 for c in configs) and any(c[1] == 1 for c in configs) and any(c[2] == 1 for c in configs)
    assert any(not c[3] for c in configs) and any(c[0] % 2 and c[1] % 2 and c[2] % 2 for c in configs)
    assert any(c[0] * c[1] * c[2] > 1_000_000 for c in configs)  # well above the one-thread threshold


def test_max_pool_nan_wins_like_reference():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = np.nan
    x[0, 0, 0, 1] = np.nan
    for backend in ("fast", "reference"):
        y, argmax = F.max_pool2d(x, 2, backend=backend)
        assert np.isnan(y[0, 0, 0, 0]) and argmax[0, 0, 0, 0] == 1, backend
        assert y[0, 0, 1, 1] == 0 and argmax[0, 0, 1, 1] == 10, backend


def test_max_pool_padding_never_wins():
    x = np.full((1, 2, 3, 3), -np.inf, dtype=np.float32)
    y, argmax = F.max_pool2d(x, 3, stride=1, padding=1)
    assert np.all(y == -np.inf)
    assert argmax.min() >= 0 and argmax.max() < 9
    # the first real element of each window, in row-major order
    assert argmax[0, 0, 0, 0] == 0 and argmax[0, 0, 2, 2] == 4


# The pooling kernels have row kernels specialised for 2x2 / stride 2 and
# 3x3 / stride 2 windows (and a write-once backward for stride == kernel),
# which the small random configurations above reach only a few times and with
# rows too short to fill a vector: these run them on wide, odd and even
# planes, with ties, NaNs and -inf.
SPECIAL_POOL_GEOMETRIES = [
    # (shape, kernel, stride, padding)
    ((2, 3, 32, 32), 2, 2, 0),
    ((1, 2, 33, 37), 2, 2, 0),
    ((3, 1, 9, 70), 2, None, 0),
    ((2, 2, 2, 2), 2, 2, 0),
    ((2, 3, 56, 56), 3, 2, 1),
    ((1, 2, 57, 41), 3, 2, 1),
    ((2, 2, 30, 31), 3, 2, 0),
    ((1, 1, 3, 3), 3, 2, 1),
    ((2, 2, 20, 38), 3, 3, 0),
    ((1, 3, 21, 34), (2, 3), (2, 3), (1, 1)),
    ((2, 2, 17, 40), (3, 2), 2, (1, 0)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("data", ["normal", "ties", "nan"])
@pytest.mark.parametrize("geometry", SPECIAL_POOL_GEOMETRIES, ids=str)
def test_pool_special_geometries(geometry, data, dtype):
    shape, kernel, stride, padding = geometry
    rng = np.random.default_rng(sum(shape))
    if data == "ties":
        x = rng.integers(0, 3, shape).astype(dtype)
    else:
        x = rng.standard_normal(shape).astype(dtype)
    if data == "nan":
        flat = x.reshape(-1)
        flat[rng.integers(0, flat.size, max(1, flat.size // 50))] = np.nan
        flat[rng.integers(0, flat.size, max(1, flat.size // 50))] = -np.inf
    y, argmax = F.max_pool2d(x, kernel, stride, padding)
    y_ref, argmax_ref = F.max_pool2d(x, kernel, stride, padding, backend="reference")
    np.testing.assert_array_equal(y, y_ref)  # a max is exact, NaN included
    np.testing.assert_array_equal(argmax, argmax_ref)
    grad_y = rng.standard_normal(y.shape).astype(dtype)
    assert_close(F.max_pool2d_backward(grad_y, argmax, shape),
                 F.max_pool2d_backward(grad_y, argmax, shape, backend="reference"), dtype, "grad_x")
    if data == "nan":
        return
    for include_pad in (True, False):
        y = F.avg_pool2d(x, kernel, stride, padding, include_pad)
        assert_close(y, F.avg_pool2d(x, kernel, stride, padding, include_pad, backend="reference"), dtype, "y")
        assert_close(F.avg_pool2d_backward(grad_y, shape, kernel, stride, padding, include_pad),
                     F.avg_pool2d_backward(grad_y, shape, kernel, stride, padding, include_pad,
                                           backend="reference"), dtype, "grad_x")


# Depthwise 3x3 / stride 1 has its own kernels (a flat stencil when the
# padding is 1 and the width is kept, row kernels for other paddings), which
# the random configurations above almost never draw (3x3 and stride 1 and
# dilation 1 and depthwise): these cover them, with planes down to 1 x 1,
# channel multipliers, and the transposed convolution that runs the same
# input-gradient kernel.
DEPTHWISE_3X3_CASES = [
    # (shape, multiplier, padding)
    ((2, 5, 28, 28), 1, 1),
    ((1, 3, 13, 7), 1, 1),
    ((3, 4, 9, 17), 1, (1, 0)),
    ((2, 3, 6, 11), 1, (0, 1)),
    ((2, 2, 8, 9), 1, 0),
    ((1, 4, 7, 10), 1, 2),
    ((2, 3, 1, 1), 1, 1),
    ((2, 3, 2, 2), 1, 1),
    ((1, 2, 1, 6), 1, 1),
    ((1, 2, 5, 1), 1, 1),
    ((2, 2, 3, 3), 1, 1),
    ((2, 3, 10, 12), 2, 1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", DEPTHWISE_3X3_CASES, ids=str)
def test_depthwise_3x3_paths(case, dtype):
    shape, multiplier, padding = case
    channels = shape[1]
    c = dict(shape=shape, weight_shape=(channels * multiplier, 1, 3, 3), seed=sum(shape) + multiplier)
    args = dict(stride=1, padding=padding, dilation=1, groups=channels)
    check_conv_family(F.conv2d, F.conv2d_backward, c, channels * multiplier, args)
    if multiplier == 1:
        t = dict(shape=shape, weight_shape=(channels, 1, 3, 3), seed=c["seed"] + 7)
        check_conv_family(F.conv_transpose2d, F.conv_transpose2d_backward, t, channels,
                          dict(stride=1, padding=padding, groups=channels))


# Training-step kernels: batch norm (batch statistics, and fixed ones), ReLU, the SGD update.
def training_config(index):
    rng = np.random.default_rng(17_000 + index)
    spatial = () if index % 4 == 0 else tuple(int(v) for v in rng.integers(1, 12, int(rng.integers(1, 3))))
    batch = int(rng.integers(1, 6))
    shape = (batch, int(rng.integers(1, 9))) + spatial
    if batch * int(np.prod(spatial)) < 2:  # batch norm needs two values per channel
        shape = (2,) + shape[1:]
    return shape, index


@pytest.mark.parametrize("index", range(CONFIGS_PER_FAMILY // 3))
def test_batch_norm_relu_sgd(index):
    shape, seed = training_config(index)
    rng = np.random.default_rng(seed)
    for dtype in (np.float32, np.float64):
        # An offset mean: the kernels must centre before they scale.
        x = (rng.standard_normal(shape) * 3 + rng.integers(-50, 50)).astype(dtype)
        weight, bias = rng.standard_normal((2, shape[1])).astype(dtype)
        grad_y = rng.standard_normal(shape).astype(dtype)
        fast = F.batch_norm_train(x, weight, bias, 1e-5)
        reference = F.batch_norm_train(x, weight, bias, 1e-5, backend="reference")
        for name, got, want in zip(("y", "mean", "var", "inv_std"), fast, reference):
            assert_close(got, np.asarray(want, dtype=dtype), dtype, name)
        fast = F.batch_norm_train_backward(grad_y, x, *reference[1:2], reference[3], weight)
        reference = F.batch_norm_train_backward(grad_y, x, reference[1], reference[3], weight, backend="reference")
        for name, got, want in zip(("grad_x", "grad_weight", "grad_bias"), fast, reference):
            assert_close(got, np.asarray(want, dtype=dtype), dtype, name)
        # Fixed statistics (inference): bitwise NumPy's x * scale + shift.
        np.testing.assert_array_equal(F.batch_norm_affine(x, weight, bias),
                                      F.batch_norm_affine(x, weight, bias, backend="reference"))
        centred = x - x.mean()
        np.testing.assert_array_equal(F.relu(centred), F.relu(centred, backend="reference"))
        np.testing.assert_array_equal(F.relu_backward(grad_y, centred),
                                      F.relu_backward(grad_y, centred, backend="reference"))
        # SGD: bitwise the NumPy update (the same operations in the same order).
        for momentum, dampening, nesterov, decay, first in ((0.9, 0.0, True, 1e-3, False), (0.9, 0.2, False, 0.0, True),
                                                            (0.0, 0.0, False, 0.1, False)):
            data, buf = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
            data_ref, buf_ref = data.copy(), buf.copy()
            F.sgd_update(data, grad_y, buf if momentum else None, 0.05, momentum, dampening, nesterov, decay, first)
            F.sgd_update(data_ref, grad_y, buf_ref if momentum else None, 0.05, momentum, dampening, nesterov, decay,
                         first, backend="reference")
            np.testing.assert_array_equal(data, data_ref)
            np.testing.assert_array_equal(buf, buf_ref)


def test_relu_keeps_nan_and_its_backward_multiplies():
    x = np.array([np.nan, -1.0, 0.0, 2.0, -0.0], np.float32)
    grad_y = np.array([1.0, np.inf, np.inf, 3.0, 1.0], np.float32)
    for backend in ("fast", "reference"):
        y = F.relu(x, backend=backend)
        assert np.isnan(y[0]) and list(y[1:]) == [0.0, 0.0, 2.0, 0.0]
        with np.errstate(invalid="ignore"):
            grad_x = F.relu_backward(grad_y, y, backend=backend)
        assert np.isnan(grad_x[1]) and np.isnan(grad_x[2]) and grad_x[3] == 3.0  # inf * 0 is NaN, as NumPy


def test_sgd_update_flushes_a_decaying_buffer_to_zero():
    """A zero gradient decays the momentum buffer by 0.9 a step: NumPy walks it
    into the subnormal range (slow arithmetic); the kernel flushes it to 0."""
    tiny = np.finfo(np.float32).tiny
    data, grad = np.ones(4, np.float32), np.zeros(4, np.float32)
    fast, reference = np.full(4, tiny * 4, np.float32), np.full(4, tiny * 4, np.float32)
    for _ in range(20):
        F.sgd_update(data.copy(), grad, fast, 0.1, 0.9)
        F.sgd_update(data.copy(), grad, reference, 0.1, 0.9, backend="reference")
    assert np.all(reference != 0) and np.all(np.abs(reference) < tiny)  # subnormal in NumPy
    assert not fast.any()
