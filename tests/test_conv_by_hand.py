"""Forward semantics checked against outputs worked out by hand.

Every other forward test compares two implementations: the fast kernels with
the NumPy reference, or both with PyTorch (which CI installs, but a user's
``pytest tests`` may not).  A meaning shared by both of our backends -- a
flipped kernel, padding on the wrong side, a swapped (height, width) pair,
groups that mix channels, a transposed weight read the wrong way round,
padding that wins a max, the wrong average divisor -- passes those.  Here the
inputs are a few small integers and each expected output is written out as
the arithmetic that produces it, so the test needs neither torch nor the
reference, and both backends must agree with the hand.  All values are
exact in float32 (small integers, quarters), so the comparisons are exact.
"""

import numpy as np
import pytest

from cnnfast import functional as F

BACKENDS = ("fast", "reference")
DTYPES = (np.float32, np.float64)

# 1 2 3
# 4 5 6
# 7 8 9
GRID = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]


def as_input(values, dtype):
    """Nested lists -> an (N, C, H, W) array of ``dtype``."""
    return np.array(values, dtype=dtype)


@pytest.fixture(params=DTYPES, ids=["float32", "float64"])
def dtype(request):
    return request.param


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


# ------------------------------------------------------------------ conv2d


def test_conv2d_is_cross_correlation_with_bias_over_a_batch(backend, dtype):
    # y[i, j] = 1 x[i, j] + 2 x[i, j+1] + 3 x[i+1, j] + 4 x[i+1, j+1] + 10
    # (no kernel flip: a true convolution would weight x[i, j] by 4).
    # The second image is the first negated: its output is -(y - 10) + 10.
    x = as_input([[GRID], [[[-v for v in row] for row in GRID]]], dtype)
    w = as_input([[[[1, 2], [3, 4]]]], dtype)
    b = as_input([10], dtype)
    y00, y01 = 1 * 1 + 2 * 2 + 3 * 4 + 4 * 5, 1 * 2 + 2 * 3 + 3 * 5 + 4 * 6
    y10, y11 = 1 * 4 + 2 * 5 + 3 * 7 + 4 * 8, 1 * 5 + 2 * 6 + 3 * 8 + 4 * 9
    assert (y00, y01, y10, y11) == (37, 47, 67, 77)
    expected = [[[[y00 + 10, y01 + 10], [y10 + 10, y11 + 10]]],
                [[[-y00 + 10, -y01 + 10], [-y10 + 10, -y11 + 10]]]]
    np.testing.assert_array_equal(F.conv2d(x, w, b, backend=backend), expected)


def test_conv2d_stride_2_padding_1_sums_zero_padded_neighbourhoods(backend, dtype):
    # A 3x3 kernel of ones, zero padding of 1, stride 2: Ho = (3 + 2 - 3) // 2 + 1 = 2.
    # The windows are centred on the input corners, where only 2x2 real pixels fall.
    x = as_input([[GRID]], dtype)
    w = np.ones((1, 1, 3, 3), dtype)
    expected = [[[[1 + 2 + 4 + 5, 2 + 3 + 5 + 6],
                  [4 + 5 + 7 + 8, 5 + 6 + 8 + 9]]]]
    np.testing.assert_array_equal(F.conv2d(x, w, stride=2, padding=1, backend=backend), expected)


def test_conv2d_height_and_width_arguments_are_not_swapped(backend, dtype):
    # x is 2x4, the kernel 1x2, stride (1, 2), padding (0, 1): each row is
    # padded to [0, r0, r1, r2, r3, 0] and read in pairs at columns -1, 1, 3.
    # Ho = (2 - 1) // 1 + 1 = 2, Wo = (4 + 2 - 2) // 2 + 1 = 3.
    x = as_input([[[[1, 2, 3, 4], [5, 6, 7, 8]]]], dtype)
    w = as_input([[[[1, 10]]]], dtype)
    expected = [[[[0 * 1 + 1 * 10, 2 * 1 + 3 * 10, 4 * 1 + 0 * 10],
                  [0 * 1 + 5 * 10, 6 * 1 + 7 * 10, 8 * 1 + 0 * 10]]]]
    got = F.conv2d(x, w, stride=(1, 2), padding=(0, 1), backend=backend)
    np.testing.assert_array_equal(got, expected)


def test_conv2d_dilation_spreads_the_taps(backend, dtype):
    # x[i, j] = 5 i + j on a 5x5 grid; a 2x2 kernel with dilation 2 reads
    # x[i, j], x[i, j+2], x[i+2, j], x[i+2, j+2]: Ho = 5 - 2 * (2 - 1) - 1 + 1 = 3.
    # y = 1 x[i, j] + 2 (x[i, j] + 2) + 3 (x[i, j] + 10) + 4 (x[i, j] + 12)
    #   = 10 x[i, j] + 4 + 30 + 48 = 50 i + 10 j + 82.
    x = as_input([[[[5 * i + j for j in range(5)] for i in range(5)]]], dtype)
    w = as_input([[[[1, 2], [3, 4]]]], dtype)
    expected = [[[[50 * i + 10 * j + 82 for j in range(3)] for i in range(3)]]]
    np.testing.assert_array_equal(F.conv2d(x, w, dilation=2, backend=backend), expected)


def test_conv2d_groups_never_mix_channels_across_groups(backend, dtype):
    # 4 input channels of 1x2, groups=2: output 0 sees channels 0 and 1 only,
    # output 1 sees channels 2 and 3 only (weight (2, 4 // 2, 1, 1)).
    x = as_input([[[[1, 2]], [[3, 4]], [[5, 6]], [[7, 8]]]], dtype)
    w = as_input([[[[1]], [[10]]], [[[100]], [[1000]]]], dtype)
    expected = [[[[1 * 1 + 10 * 3, 1 * 2 + 10 * 4]],
                 [[100 * 5 + 1000 * 7, 100 * 6 + 1000 * 8]]]]
    np.testing.assert_array_equal(F.conv2d(x, w, groups=2, backend=backend), expected)


def test_depthwise_3x3_with_padding_1(backend, dtype):
    # groups = channels = 2 (the fast backend's direct depthwise kernel):
    # channel 0 with a 3x3 kernel of ones sums each zero-padded neighbourhood
    # of GRID; channel 1 with a lone centre tap of 2 doubles its input.
    x = as_input([[GRID, [[1, 0, 2], [0, 3, 0], [4, 0, 5]]]], dtype)
    w = np.zeros((2, 1, 3, 3), dtype)
    w[0] = 1
    w[1, 0, 1, 1] = 2
    sums = [[1 + 2 + 4 + 5, 1 + 2 + 3 + 4 + 5 + 6, 2 + 3 + 5 + 6],
            [1 + 2 + 4 + 5 + 7 + 8, 45, 2 + 3 + 5 + 6 + 8 + 9],
            [4 + 5 + 7 + 8, 4 + 5 + 6 + 7 + 8 + 9, 5 + 6 + 8 + 9]]
    expected = [[sums, [[2, 0, 4], [0, 6, 0], [8, 0, 10]]]]
    np.testing.assert_array_equal(F.conv2d(x, w, padding=1, groups=2, backend=backend), expected)


# -------------------------------------------------------- conv_transpose2d


def test_conv_transpose2d_stride_1_is_the_full_convolution(backend, dtype):
    # Each input pixel x[a, b] adds x[a, b] * w to the output block at (a, b):
    # y[i, j] = sum over a, b of x[a, b] w[i - a, j - b], with x = w = [[1, 2], [3, 4]].
    # Ho = (2 - 1) * 1 + (2 - 1) + 1 = 3.
    x = as_input([[[[1, 2], [3, 4]]]], dtype)
    w = as_input([[[[1, 2], [3, 4]]]], dtype)
    expected = [[[[1 * 1, 1 * 2 + 2 * 1, 2 * 2],
                  [1 * 3 + 3 * 1, 1 * 4 + 2 * 3 + 3 * 2 + 4 * 1, 2 * 4 + 4 * 2],
                  [3 * 3, 3 * 4 + 4 * 3, 4 * 4]]]]
    np.testing.assert_array_equal(F.conv_transpose2d(x, w, backend=backend), expected)


def test_conv_transpose2d_stride_2_tiles_padding_crops_output_padding_extends(backend, dtype):
    # Stride 2 with a 2x2 kernel: the blocks x[a, b] * w do not overlap.
    x = as_input([[[[1, 2], [3, 4]]]], dtype)
    w = as_input([[[[1, 10], [100, 1000]]]], dtype)
    tiled = [[1, 10, 2, 20],
             [100, 1000, 200, 2000],
             [3, 30, 4, 40],
             [300, 3000, 400, 4000]]
    np.testing.assert_array_equal(F.conv_transpose2d(x, w, stride=2, backend=backend), [[tiled]])
    # padding=1 removes one row and column on every side: Ho = 2 * 1 - 2 + 1 + 1 = 2.
    cropped = [row[1:3] for row in tiled[1:3]]
    assert cropped == [[1000, 200], [30, 4]]
    np.testing.assert_array_equal(F.conv_transpose2d(x, w, stride=2, padding=1, backend=backend), [[cropped]])
    # output_padding=1 adds one row and column at the far end, touched by no
    # input: there the output is the bias alone.
    extended = [row + [0] for row in tiled] + [[0] * 5]
    got = F.conv_transpose2d(x, w, as_input([7], dtype), stride=2, output_padding=1, backend=backend)
    np.testing.assert_array_equal(got, [[[[v + 7 for v in row] for row in extended]]])


def test_conv_transpose2d_weight_is_in_channels_by_out_channels(backend, dtype):
    # weight (C_in=1, C_out=3, 1, 1): output channel k is w[0, k] * x, the
    # transpose of conv2d's (C_out, C_in) layout.
    x = as_input([[[[1, 2]]]], dtype)
    w = as_input([[[[2]], [[3]], [[-1]]]], dtype)
    expected = [[[[2, 4]], [[3, 6]], [[-1, -2]]]]
    np.testing.assert_array_equal(F.conv_transpose2d(x, w, backend=backend), expected)


# ----------------------------------------------------------------- pooling


def test_max_pool_ties_go_to_the_first_maximum_in_row_major_order(backend, dtype):
    x = as_input([[[[1, 5, 2, 2],
                    [5, 3, 2, 2],
                    [0, -1, 7, 7],
                    [-2, -3, 7, 6]]]], dtype)
    y, argmax = F.max_pool2d(x, 2, backend=backend)
    # Windows (row-major): [1, 5, 5, 3] -> 5, first at (0, 1); [2, 2, 2, 2] -> 2 at (0, 2);
    # [0, -1, -2, -3] -> 0 at (2, 0); [7, 7, 7, 6] -> 7 at (2, 2).  Flat index = h * 4 + w.
    np.testing.assert_array_equal(y, [[[[5, 2], [0, 7]]]])
    np.testing.assert_array_equal(argmax, [[[[0 * 4 + 1, 0 * 4 + 2], [2 * 4 + 0, 2 * 4 + 2]]]])


def test_max_pool_padding_never_wins_and_backward_adds_shared_winners(backend, dtype):
    # All-negative 2x2 input, kernel 2, stride 1, padding 1: Ho = (2 + 2 - 2) + 1 = 3.
    # Output (i, j) sees input rows i-1..i and columns j-1..j; padding is -inf, not 0.
    x = as_input([[[[-1, -2], [-3, -4]]]], dtype)
    y, argmax = F.max_pool2d(x, 2, stride=1, padding=1, backend=backend)
    np.testing.assert_array_equal(y, [[[[-1, -1, -2], [-1, -1, -2], [-3, -3, -4]]]])
    np.testing.assert_array_equal(argmax, [[[[0, 0, 1], [0, 0, 1], [2, 2, 3]]]])
    # A gradient of ones lands on each winner once per window it won:
    # x[0, 0] wins 4 windows, x[0, 1] 2, x[1, 0] 2, x[1, 1] 1.
    grad_x = F.max_pool2d_backward(np.ones_like(y), argmax, x.shape, backend=backend)
    np.testing.assert_array_equal(grad_x, [[[[4, 2], [2, 1]]]])


def test_avg_pool_count_include_pad_sets_the_divisor(backend, dtype):
    # 2x2 input, kernel 2, stride 1, padding 1: the window sums are
    #   1      1+2        2
    #   1+3    1+2+3+4    2+4
    #   3      3+4        4
    x = as_input([[[[1, 2], [3, 4]]]], dtype)
    sums = [[1, 1 + 2, 2], [1 + 3, 1 + 2 + 3 + 4, 2 + 4], [3, 3 + 4, 4]]
    real = [[1, 2, 1], [2, 4, 2], [1, 2, 1]]  # input pixels (not padding) in each window
    included = F.avg_pool2d(x, 2, stride=1, padding=1, count_include_pad=True, backend=backend)
    np.testing.assert_array_equal(included, [[[[s / 4 for s in row] for row in sums]]])
    excluded = F.avg_pool2d(x, 2, stride=1, padding=1, count_include_pad=False, backend=backend)
    np.testing.assert_array_equal(excluded, [[[[s / n for s, n in zip(srow, nrow)]
                                                for srow, nrow in zip(sums, real)]]])
    assert excluded[0, 0].tolist() == [[1, 1.5, 2], [2, 2.5, 3], [3, 3.5, 4]]


def test_avg_pool_default_stride_is_the_kernel(backend, dtype):
    x = as_input([[[[1, 2, 3, 4], [5, 6, 7, 8]]]], dtype)
    expected = [[[[(1 + 2 + 5 + 6) / 4, (3 + 4 + 7 + 8) / 4]]]]
    np.testing.assert_array_equal(F.avg_pool2d(x, 2, backend=backend), expected)


def test_global_avg_pool_is_the_mean_of_each_plane(backend, dtype):
    x = as_input([[[[1, 2], [3, 4]], [[-4, 0], [0, 8]]]], dtype)
    expected = [[(1 + 2 + 3 + 4) / 4, (-4 + 0 + 0 + 8) / 4]]
    np.testing.assert_array_equal(F.global_avg_pool2d(x, backend=backend), expected)


# ------------------------------------------------------------------ linear


def test_linear_weight_is_out_features_by_in_features(backend, dtype):
    # y = x @ W.T + b with W of shape (3, 2).
    x = as_input([[1, 2], [-1, 0]], dtype)
    w = as_input([[1, 0], [0, 1], [1, 1]], dtype)
    b = as_input([0, 0, 10], dtype)
    expected = [[1, 2, 1 + 2 + 10], [-1, 0, -1 + 0 + 10]]
    np.testing.assert_array_equal(F.linear(x, w, b, backend=backend), expected)
