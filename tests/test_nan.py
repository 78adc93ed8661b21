"""NaN and inf propagate as in NumPy; the max-pooling rule for NaN.

Max pooling, the rule (cnnfast, both backends): a window holding a NaN
yields NaN (as ``np.max`` and ``torch.nn.functional.max_pool2d``, which
propagates NaN like ``torch.max``), and its index is that of the *first* NaN
in row-major window order, as ``np.argmax``/``torch.argmax`` pick the first
NaN.  PyTorch does not document the index; its CPU kernel (checked with torch
2.13) keeps the *last* NaN, so with two or more NaNs in one window the
indices (and where backward routes the gradient) differ from torch's, while
the values agree.  With one NaN per window everything agrees with torch.
"""

import numpy as np
import pytest

from cnnfast import functional as F

BACKENDS = F.BACKENDS


def windows(x, k):
    """(N, C, Ho, Wo, k*k) non-overlapping k x k windows of x, row-major inside each window."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h // k, k, w // k, k).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // k, w // k, k * k)


def nan_input(seed, dtype, per_window_max=3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 8, 8)).astype(dtype)
    mask = rng.random(x.shape) < 0.15
    x[mask] = np.nan
    x[rng.random(x.shape) < 0.05] = np.inf
    x[rng.random(x.shape) < 0.05] = -np.inf
    return x


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_nan_rule_first_nan_wins_like_np_argmax(backend, dtype):
    x = nan_input(0, dtype)
    y, argmax = F.max_pool2d(x, 2, backend=backend)
    win = windows(x, 2)
    np.testing.assert_array_equal(y, np.max(win, axis=-1))  # NaN where any NaN, else the max (inf included)
    local = np.argmax(win, axis=-1)  # np.argmax: the first NaN, else the first maximum
    rows, cols = np.meshgrid(np.arange(4), np.arange(4), indexing="ij")
    expected = (2 * rows + local // 2) * 8 + 2 * cols + local % 2
    np.testing.assert_array_equal(argmax, expected)
    assert np.isnan(y).any() and (np.isnan(win).sum(-1) >= 2).any()  # the rule was exercised


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool_nan_values_match_torch_and_indices_with_one_nan_per_window(backend):
    torch = pytest.importorskip("torch")
    x = nan_input(1, np.float32)
    y, argmax = F.max_pool2d(x, 2, backend=backend)
    ty, tidx = torch.nn.functional.max_pool2d(torch.from_numpy(x), 2, return_indices=True)
    np.testing.assert_array_equal(y, ty.numpy())  # NaN propagates as in torch
    single = np.isnan(windows(x, 2)).sum(-1) <= 1
    np.testing.assert_array_equal(argmax[single], tidx.numpy()[single])
    # The backward routes to the chosen element, so where the indices agree, so do the gradients.
    grad = F.max_pool2d_backward(np.ones_like(y), argmax, x.shape, backend=backend)
    tx = torch.from_numpy(x).requires_grad_()
    torch.nn.functional.max_pool2d(tx, 2).backward(torch.ones_like(ty))
    keep = np.repeat(np.repeat(single, 2, axis=2), 2, axis=3)
    np.testing.assert_array_equal(grad[keep], tx.grad.numpy()[keep])


@pytest.mark.parametrize("backend", BACKENDS)
def test_avg_pool_and_global_pool_propagate_nan_and_inf(backend):
    x = nan_input(2, np.float64)
    with np.errstate(invalid="ignore"):
        expected = windows(x, 2).mean(-1)
        np.testing.assert_array_equal(F.avg_pool2d(x, 2, backend=backend), expected)
        np.testing.assert_array_equal(F.global_avg_pool2d(x, backend=backend), x.mean(axis=(2, 3)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv_and_linear_propagate_nan_and_inf_to_exactly_the_outputs_that_read_them(backend):
    x = np.ones((1, 1, 6, 6))
    x[0, 0, 2, 3] = np.nan
    x[0, 0, 5, 0] = np.inf
    y = F.conv2d(x, np.ones((1, 1, 3, 3)), padding=1, backend=backend)[0, 0]
    reads_nan = np.zeros((6, 6), bool)
    reads_nan[1:4, 2:5] = True
    np.testing.assert_array_equal(np.isnan(y), reads_nan)
    assert np.isposinf(y[4:6, 0:2]).all() and np.isfinite(y[~reads_nan & ~np.isinf(y)]).all()
    z = F.linear(np.array([[1.0, np.inf], [1.0, 2.0]]), np.array([[1.0, 1.0], [1.0, 0.0]]), backend=backend)
    np.testing.assert_array_equal(z, np.array([[1.0, np.inf], [1.0, 2.0]]) @ np.array([[1.0, 1.0], [1.0, 0.0]]).T)


def test_depthwise_padding_keeps_nan():
    # The direct depthwise kernel skips padded taps; NaN * (zero padding) must still be NaN.
    x = np.ones((1, 2, 1, 1), np.float32)
    w = np.array([np.nan, 1.0], np.float32).reshape(2, 1, 1, 1)
    fast = F.conv2d(x, w, padding=(0, 1), groups=2)
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(F.conv2d(x, w, padding=(0, 1), groups=2,
                                                                      backend="reference")))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_depthwise_3x3_padding_keeps_nan_in_every_gradient(dtype):
    # A NaN weight meets the zero padding in y and grad_x, a NaN grad_y in
    # grad_weight: NumPy (the reference) and PyTorch give NaN there.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 6, 5)).astype(dtype)
    w = rng.standard_normal((4, 1, 3, 3)).astype(dtype)
    w[1, 0, 0, 0] = np.nan
    args = dict(padding=1, groups=4)
    grad_y = rng.standard_normal((2, 4, 6, 5)).astype(dtype)
    grad_y[0, 2, 0, 0] = np.inf
    for backend_fast, backend_ref in [(F.conv2d(x, w, **args), F.conv2d(x, w, backend="reference", **args))] + \
            list(zip(F.conv2d_backward(grad_y, x, w, **args), F.conv2d_backward(grad_y, x, w, backend="reference", **args))):
        np.testing.assert_array_equal(np.isnan(backend_fast), np.isnan(backend_ref))
        np.testing.assert_array_equal(np.isinf(backend_fast), np.isinf(backend_ref))
