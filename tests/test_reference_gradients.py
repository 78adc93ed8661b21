"""The reference backward passes against central finite differences, in float64.

Each backward pass is checked as the gradient of the scalar loss
``L = sum(forward(...) * r)`` for a random ``r``, so the upstream gradient is
``grad_y = r``.  Convolutions and pooling are (piecewise) linear, so the
central difference has no truncation error and the tolerances can be tight;
``test_finite_differences_catch_a_small_error`` checks that they are.

The second half pins down semantics finite differences cannot see: max-pool
ties, padding, -inf and NaN; empty batches; dtypes.
"""

import numpy as np
import pytest

from cnnfast import reference as R

EPS = 1e-6
RTOL, ATOL = 1e-6, 1e-8


def numerical_gradient(loss, array):
    """Central-difference gradient of ``loss()`` with respect to every element
    of ``array``, which ``loss`` reads and which is perturbed in place."""
    grad = np.empty_like(array)
    flat, grad_flat = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + EPS
        up = loss()
        flat[i] = saved - EPS
        down = loss()
        flat[i] = saved
        grad_flat[i] = (up - down) / (2 * EPS)
    return grad


def check_gradients(forward, backward, arrays, rng):
    """Compare ``backward(r)`` (one gradient per entry of ``arrays``, in order)
    with finite differences of ``sum(forward() * r)``."""
    r = rng.standard_normal(forward().shape)
    analytic = backward(r)
    assert len(analytic) == len(arrays)
    for name, array, grad in zip(arrays, arrays.values(), analytic):
        expected = numerical_gradient(lambda: np.sum(forward() * r), array)
        assert grad.shape == array.shape and grad.dtype == np.float64, name
        np.testing.assert_allclose(grad, expected, rtol=RTOL, atol=ATOL, err_msg=name)


def distinct_values(shape, rng):
    """Values 0.1 apart in random order: no ties, and far apart compared with EPS."""
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 - 1.0


# ------------------------------------------------------------- convolution

CONV_CASES = {
    # id: (x shape, weight shape, keyword arguments)
    "3x3": ((2, 3, 5, 5), (4, 3, 3, 3), {}),
    "stride2-pad1": ((2, 3, 6, 5), (2, 3, 3, 3), dict(stride=2, padding=1)),
    "dilation2": ((1, 2, 7, 6), (3, 2, 3, 2), dict(dilation=2, padding=(1, 0))),
    "groups2": ((2, 4, 5, 4), (6, 2, 3, 3), dict(groups=2, padding=1)),
    "depthwise": ((2, 3, 5, 5), (3, 1, 3, 3), dict(groups=3, stride=(2, 1))),
    "1x1": ((2, 4, 4, 3), (5, 4, 1, 1), {}),
    "1x1-stride2-pad1": ((1, 3, 5, 5), (2, 3, 1, 1), dict(stride=2, padding=1)),
    "non-square": ((1, 2, 4, 7), (3, 2, 2, 4), dict(stride=(1, 2), padding=(1, 2), dilation=(2, 1))),
    "kernel=padded-input": ((1, 2, 3, 3), (2, 2, 5, 5), dict(padding=1)),
}


@pytest.mark.parametrize("x_shape, w_shape, kwargs", CONV_CASES.values(), ids=CONV_CASES.keys())
def test_conv2d_backward(x_shape, w_shape, kwargs):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    check_gradients(lambda: R.conv2d(x, w, b, **kwargs),
                    lambda r: R.conv2d_backward(r, x, w, **kwargs),
                    {"x": x, "weight": w, "bias": b}, rng)


CONV_TRANSPOSE_CASES = {
    # id: (x shape, weight shape (in, out / groups, kh, kw), keyword arguments)
    "3x3": ((2, 3, 3, 4), (3, 2, 3, 3), {}),
    "stride2-pad1-outpad1": ((1, 2, 3, 3), (2, 3, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    "groups2": ((2, 4, 3, 3), (4, 2, 2, 3), dict(groups=2, stride=(2, 1), padding=(0, 1))),
    "dilation2": ((1, 2, 4, 3), (2, 2, 3, 2), dict(dilation=2, padding=1)),
    "outpad2>=stride1-dilation3": ((1, 2, 3, 4), (2, 1, 2, 2), dict(dilation=3, output_padding=2)),
    "depthwise-outpad": ((2, 3, 4, 4), (3, 1, 3, 3), dict(groups=3, stride=2, output_padding=(1, 0))),
    "non-square": ((1, 2, 2, 5), (2, 3, 3, 1), dict(stride=(3, 1), padding=(1, 0), output_padding=(2, 0))),
}


@pytest.mark.parametrize("x_shape, w_shape, kwargs", CONV_TRANSPOSE_CASES.values(),
                         ids=CONV_TRANSPOSE_CASES.keys())
def test_conv_transpose2d_backward(x_shape, w_shape, kwargs):
    rng = np.random.default_rng(1)
    out_channels = w_shape[1] * kwargs.get("groups", 1)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(out_channels)
    check_gradients(lambda: R.conv_transpose2d(x, w, b, **kwargs),
                    lambda r: R.conv_transpose2d_backward(r, x, w, **kwargs),
                    {"x": x, "weight": w, "bias": b}, rng)


# ------------------------------------------------------------------ linear

LINEAR_CASES = {
    # id: (x shape, weight shape)
    "5->4": ((3, 5), (4, 5)),
    "batch1": ((1, 6), (3, 6)),
    "in1": ((4, 1), (3, 1)),
    "out1": ((2, 7), (1, 7)),
}


@pytest.mark.parametrize("x_shape, w_shape", LINEAR_CASES.values(), ids=LINEAR_CASES.keys())
def test_linear_backward(x_shape, w_shape):
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    check_gradients(lambda: R.linear(x, w, b),
                    lambda r: R.linear_backward(r, x, w),
                    {"x": x, "weight": w, "bias": b}, rng)


# ----------------------------------------------------------------- pooling

POOL_CASES = {
    # id: (x shape, kernel_size, stride, padding)
    "k2": ((2, 2, 4, 4), 2, None, 0),
    "k3-s2-p1": ((1, 2, 5, 6), 3, 2, 1),
    "overlapping-s1-p1": ((1, 2, 4, 5), (3, 2), 1, 1),
    "non-square": ((2, 1, 5, 7), (2, 3), (1, 2), (1, 1)),
    "kernel=padded-input": ((1, 2, 2, 3), (4, 5), 1, (1, 2)),
    "k1-s2": ((1, 2, 3, 3), 1, 2, 0),
}


@pytest.mark.parametrize("x_shape, kernel, stride, padding", POOL_CASES.values(), ids=POOL_CASES.keys())
def test_max_pool2d_backward(x_shape, kernel, stride, padding):
    rng = np.random.default_rng(2)
    x = distinct_values(x_shape, rng)
    _, argmax = R.max_pool2d(x, kernel, stride, padding)
    check_gradients(lambda: R.max_pool2d(x, kernel, stride, padding)[0],
                    lambda r: (R.max_pool2d_backward(r, argmax, x.shape),),
                    {"x": x}, rng)


@pytest.mark.parametrize("count_include_pad", [True, False], ids=["count-pad", "exclude-pad"])
@pytest.mark.parametrize("x_shape, kernel, stride, padding", POOL_CASES.values(), ids=POOL_CASES.keys())
def test_avg_pool2d_backward(x_shape, kernel, stride, padding, count_include_pad):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(x_shape)
    check_gradients(lambda: R.avg_pool2d(x, kernel, stride, padding, count_include_pad),
                    lambda r: (R.avg_pool2d_backward(r, x.shape, kernel, stride, padding, count_include_pad),),
                    {"x": x}, rng)


@pytest.mark.parametrize("x_shape", [(2, 3, 4, 5), (1, 1, 1, 1), (1, 2, 1, 6)], ids=str)
def test_global_avg_pool2d_backward(x_shape):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(x_shape)
    check_gradients(lambda: R.global_avg_pool2d(x),
                    lambda r: (R.global_avg_pool2d_backward(r, x.shape),),
                    {"x": x}, rng)


def test_finite_differences_catch_a_small_error():
    """The tolerances are tight: a gradient wrong by 1e-5 in one element fails."""
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((1, 2, 4, 4)), rng.standard_normal((2, 2, 3, 3))

    def slightly_wrong_backward(r):
        grad_x, grad_w, _ = R.conv2d_backward(r, x, w)
        grad_x.flat[7] += 1e-5
        return grad_x, grad_w

    with pytest.raises(AssertionError):
        check_gradients(lambda: R.conv2d(x, w), slightly_wrong_backward, {"x": x, "weight": w}, rng)


# ---------------------------------------------------- max-pool semantics


def first_real_element(out_size, stride, padding):
    """Along one axis, for every window: the index of its first real (non-padding) element."""
    return np.maximum(np.arange(out_size) * stride - padding, 0)


@pytest.mark.parametrize("fill", [0.0, -np.inf], ids=["all-equal", "all-minus-inf"])
def test_max_pool2d_tie_goes_to_top_left_real_element(fill):
    """With every input equal the first element of each window wins -- the
    top-left real one, as padding never wins, not even against -inf."""
    x = np.full((2, 3, 5, 6), fill)
    y, argmax = R.max_pool2d(x, (3, 2), stride=(2, 1), padding=1)
    assert y.shape == (2, 3, 3, 7) and np.all(y == fill)
    rows = first_real_element(3, 2, 1)
    cols = first_real_element(7, 1, 1)
    np.testing.assert_array_equal(argmax, np.broadcast_to(rows[:, None] * 6 + cols[None, :], y.shape))


def test_max_pool2d_tie_inside_window_goes_to_first_maximum():
    x = np.array([[0.0, 5.0, 1.0],
                  [5.0, 5.0, 2.0],
                  [3.0, 4.0, 5.0]])[None, None]
    y, argmax = R.max_pool2d(x, 2, stride=1)
    np.testing.assert_array_equal(y[0, 0], [[5.0, 5.0], [5.0, 5.0]])
    np.testing.assert_array_equal(argmax[0, 0], [[1, 1], [3, 4]])


def test_max_pool2d_padding_loses_to_minus_inf():
    x = np.array([[-np.inf, -np.inf], [-np.inf, -1.0]])[None, None]
    y, argmax = R.max_pool2d(x, 2, stride=1, padding=1)
    np.testing.assert_array_equal(y[0, 0], [[-np.inf, -np.inf, -np.inf],
                                            [-np.inf, -1.0, -1.0],
                                            [-np.inf, -1.0, -1.0]])
    np.testing.assert_array_equal(argmax[0, 0], [[0, 0, 1], [0, 3, 3], [2, 3, 3]])


def test_max_pool2d_nan_wins_and_first_nan_is_the_argmax():
    nan = np.nan
    x = np.array([[1.0, nan, 9.0, nan],
                  [nan, 2.0, 3.0, 4.0]])[None, None]
    y, argmax = R.max_pool2d(x, 2, stride=(1, 1))
    # Windows (row-major): [1 nan / nan 2], [nan 9 / 2 3], [9 nan / 3 4].
    np.testing.assert_array_equal(y[0, 0], [[nan, nan, nan]])
    np.testing.assert_array_equal(argmax[0, 0], [[1, 1, 3]])


def test_max_pool2d_backward_adds_gradients_of_a_shared_winner():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 1.0
    grad_y = np.arange(9.0).reshape(1, 1, 3, 3)
    _, argmax = R.max_pool2d(x, 3, stride=1, padding=1)
    assert np.all(argmax == 4)
    grad_x = R.max_pool2d_backward(grad_y, argmax, x.shape)
    expected = np.zeros((3, 3))
    expected[1, 1] = grad_y.sum()
    np.testing.assert_array_equal(grad_x[0, 0], expected)


def test_avg_pool2d_divisor():
    x = np.ones((1, 1, 3, 3))
    np.testing.assert_allclose(R.avg_pool2d(x, 3, 1, 1, count_include_pad=False), 1.0, rtol=1e-15)
    np.testing.assert_allclose(R.avg_pool2d(x, 3, 1, 1, count_include_pad=True)[0, 0],
                               [[4 / 9, 6 / 9, 4 / 9], [6 / 9, 1.0, 6 / 9], [4 / 9, 6 / 9, 4 / 9]], rtol=1e-15)


# ------------------------------------------------------- batch norm and ReLU
# Batch norm is not linear: the central difference has an O(EPS**2) truncation
# error, far below the tolerances at these magnitudes.


@pytest.mark.parametrize("shape", [(3, 2, 2, 3), (5, 3), (2, 2, 4)], ids=str)
def test_batch_norm_train_backward(shape):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape) * 2 + 1  # off-centre: the mean's gradient matters
    weight, bias = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])

    def backward(r):
        _, mean, _, inv_std = R.batch_norm_train(x, weight, bias, 1e-5)
        return R.batch_norm_train_backward(r, x, mean, inv_std, weight)

    check_gradients(lambda: R.batch_norm_train(x, weight, bias, 1e-5)[0], backward,
                    {"x": x, "weight": weight, "bias": bias}, rng)


def test_batch_norm_train_statistics_and_affine_map():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 5)) * 3 - 2
    weight, bias = rng.standard_normal(3), rng.standard_normal(3)
    y, mean, var, inv_std = R.batch_norm_train(x, weight, bias, 0.25)
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2)), rtol=1e-14)
    np.testing.assert_allclose(var, x.var(axis=(0, 2)), rtol=1e-13)  # biased, as torch normalises
    np.testing.assert_allclose(inv_std, 1 / np.sqrt(x.var(axis=(0, 2)) + 0.25), rtol=1e-14)
    # With the batch's statistics frozen, training-mode batch norm is the affine map.
    scale = weight * inv_std
    np.testing.assert_allclose(R.batch_norm_affine(x, scale, bias - mean * scale), y, rtol=1e-12, atol=1e-12)
    # bias=None: no shift, as torch.
    np.testing.assert_array_equal(R.batch_norm_train(x, weight, None)[0], R.batch_norm_train(x, weight, 0 * bias)[0])


def test_relu_backward():
    rng = np.random.default_rng(4)
    x = distinct_values((2, 3, 4), rng) + 0.05  # no value at the kink 0
    check_gradients(lambda: R.relu(x), lambda r: (R.relu_backward(r, R.relu(x)),), {"x": x}, rng)


# ------------------------------------------------- empty batch and dtypes


def every_function(dtype, batch):
    """``{name: (call, expected shapes)}`` exercising every reference function."""
    rng = np.random.default_rng(6)

    def array(*shape):
        return rng.standard_normal(shape).astype(dtype)

    x, w, b = array(batch, 4, 5, 6), array(6, 2, 3, 3), array(6)
    conv = dict(stride=2, padding=1, groups=2)
    y_conv = (batch, 6, 3, 3)
    wt, bt = array(4, 3, 3, 3), array(6)
    transposed = dict(stride=2, padding=1, output_padding=1, groups=2)
    y_t = (batch, 6, 10, 12)
    pool = dict(kernel_size=3, stride=2, padding=1)
    y_pool = (batch, 4, 3, 3)
    argmax = np.zeros(y_pool, np.int64)
    xl, wl, bl = array(batch, 5), array(3, 5), array(3)
    xb, wb, bb = array(batch, 3, 2, 2), array(3), array(3)
    mean, inv_std = array(3), np.abs(array(3)) + 1
    return {
        "conv2d": (lambda: R.conv2d(x, w, b, **conv), [y_conv]),
        "conv2d_backward": (lambda: R.conv2d_backward(array(*y_conv), x, w, **conv), [x.shape, w.shape, b.shape]),
        "conv_transpose2d": (lambda: R.conv_transpose2d(x, wt, bt, **transposed), [y_t]),
        "conv_transpose2d_backward": (lambda: R.conv_transpose2d_backward(array(*y_t), x, wt, **transposed),
                                      [x.shape, wt.shape, bt.shape]),
        "max_pool2d": (lambda: R.max_pool2d(x, **pool), [y_pool, y_pool]),
        "max_pool2d_backward": (lambda: R.max_pool2d_backward(array(*y_pool), argmax, x.shape), [x.shape]),
        "avg_pool2d": (lambda: R.avg_pool2d(x, **pool, count_include_pad=False), [y_pool]),
        "avg_pool2d_backward": (lambda: R.avg_pool2d_backward(array(*y_pool), x.shape, **pool), [x.shape]),
        "global_avg_pool2d": (lambda: R.global_avg_pool2d(x), [(batch, 4)]),
        "global_avg_pool2d_backward": (lambda: R.global_avg_pool2d_backward(array(batch, 4), x.shape), [x.shape]),
        "linear": (lambda: R.linear(xl, wl, bl), [(batch, 3)]),
        "linear_backward": (lambda: R.linear_backward(array(batch, 3), xl, wl), [xl.shape, wl.shape, bl.shape]),
        "batch_norm_train": (lambda: R.batch_norm_train(xb, wb, bb, 1e-5), [xb.shape, (3,), (3,), (3,)]),
        "batch_norm_train_backward": (lambda: R.batch_norm_train_backward(array(*xb.shape), xb, mean, inv_std, wb),
                                      [xb.shape, (3,), (3,)]),
        "batch_norm_affine": (lambda: R.batch_norm_affine(xb, wb, bb), [xb.shape]),
        "relu": (lambda: R.relu(xb), [xb.shape]),
        "relu_backward": (lambda: R.relu_backward(array(*xb.shape), xb), [xb.shape]),
    }


FUNCTION_NAMES = list(every_function(np.float64, 1))


def as_tuple(result):
    return result if isinstance(result, tuple) else (result,)


def test_every_function_is_covered():
    assert sorted(FUNCTION_NAMES) == sorted(R.__all__)


@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_empty_batch_gives_empty_results(name):
    call, shapes = every_function(np.float64, 0)[name]
    if name == "batch_norm_train":  # no values: no batch statistics (torch refuses one value per channel)
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            call()
        return
    results = as_tuple(call())
    assert [r.shape for r in results] == shapes
    for r in results:
        if r.shape[0] != 0:  # grad_weight and grad_bias: no images, no gradient
            assert np.all(r == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", FUNCTION_NAMES)
def test_output_dtype_is_input_dtype(name, dtype):
    call, shapes = every_function(dtype, 2)[name]
    results = as_tuple(call())
    assert [r.shape for r in results] == shapes
    expected = [np.int64 if name == "max_pool2d" and i == 1 else dtype for i in range(len(results))]
    assert [r.dtype for r in results] == expected
