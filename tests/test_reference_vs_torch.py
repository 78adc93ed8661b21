"""The reference functions against ``torch.nn.functional``, forward and backward.

Each family runs on seeded random configurations (batch, odd and non-square
sizes, stride 1-3, padding, dilation 1-3, groups including depthwise, 1x1
kernels, kernels as large as the padded input, output_padding; for linear,
batch 1, one input feature, one output unit, no bias) in float64 with tight
tolerances, plus a few in float32.  Gradients come from torch.autograd
with upstream gradient ``r``.  Max-pool inputs hold distinct values, so the
argmax is unambiguous and must match exactly.

Known difference, not tested here: for a window holding several NaNs torch
reports the last NaN as argmax, cnnfast the first.
"""

from dataclasses import dataclass

import numpy as np
import pytest

from cnnfast import reference as R

torch = pytest.importorskip("torch")
F = torch.nn.functional

from torch_twins import one_torch_thread  # noqa: E402,F401  (autouse fixture)

N_RANDOM = 60
RTOL64, ATOL64 = 1e-10, 1e-12
RTOL32, ATOL32 = 1e-4, 1e-4


def assert_close(actual, expected, dtype):
    """``actual`` (NumPy) equals ``expected`` (a tensor) to the tolerance of ``dtype``."""
    expected = expected.detach().numpy()
    assert actual.shape == expected.shape and actual.dtype == dtype == expected.dtype
    rtol, atol = (RTOL64, ATOL64) if dtype == np.float64 else (RTOL32, ATOL32)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def leaf(array):
    return torch.tensor(array, requires_grad=True)


def pair(rng, low, high):
    """Two random ints in [low, high]: (height, width)."""
    return tuple(int(v) for v in rng.integers(low, high + 1, size=2))


def spatial_size(rng, span, padding):
    """A size whose padded length holds a window of ``span``; exactly ``span``
    now and then (the kernel covers the whole padded input)."""
    smallest = max(1, span - 2 * padding)
    return smallest if rng.random() < 0.2 else smallest + int(rng.integers(0, 5))


# ---------------------------------------------------------------- configs


@dataclass(frozen=True)
class Conv:
    seed: int
    x_shape: tuple
    w_shape: tuple  # conv: (K, C/G, kh, kw); transposed: (C, K/G, kh, kw)
    stride: tuple
    padding: tuple
    dilation: tuple
    groups: int
    bias: bool
    output_padding: tuple = (0, 0)  # transposed only

    @property
    def kwargs(self):
        kwargs = dict(stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups)
        if self.output_padding != (0, 0):
            kwargs["output_padding"] = self.output_padding
        return kwargs

    def __str__(self):
        def dims(t):
            return "x".join(map(str, t))
        text = (f"x{dims(self.x_shape)}-w{dims(self.w_shape)}-s{dims(self.stride)}-p{dims(self.padding)}"
                f"-d{dims(self.dilation)}-g{self.groups}")
        text += f"-op{dims(self.output_padding)}" if self.output_padding != (0, 0) else ""
        return text + ("" if self.bias else "-nobias")


def groups_and_channels(rng):
    """(groups, input channels per group, output channels per group); a
    quarter are depthwise (one input channel per group, groups = channels)."""
    if rng.random() < 0.25:
        groups = int(rng.integers(2, 6))
        return groups, 1, int(rng.integers(1, 3))
    return int(rng.choice([1, 1, 2, 3])), int(rng.integers(1, 4)), int(rng.integers(1, 4))


def conv_config(seed):
    rng = np.random.default_rng(seed)
    groups, cg, kg = groups_and_channels(rng)
    kernel = (1, 1) if rng.random() < 0.15 else pair(rng, 1, 4)
    stride, padding, dilation = pair(rng, 1, 3), pair(rng, 0, 2), pair(rng, 1, 3)
    size = tuple(spatial_size(rng, d * (k - 1) + 1, p) for k, p, d in zip(kernel, padding, dilation))
    batch = int(rng.integers(1, 4))
    return Conv(seed, (batch, groups * cg) + size, (groups * kg, cg) + kernel, stride, padding, dilation,
                groups, bool(rng.random() < 0.8))


def conv_transpose_config(seed):
    rng = np.random.default_rng(10_000 + seed)
    groups, cg, kg = groups_and_channels(rng)
    kernel = (1, 1) if rng.random() < 0.15 else pair(rng, 1, 4)
    stride, padding, dilation = pair(rng, 1, 3), pair(rng, 0, 2), pair(rng, 1, 3)
    output_padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
    size = []
    for k, s, p, d, op in zip(kernel, stride, padding, dilation, output_padding):
        n = int(rng.integers(1, 6))
        while (n - 1) * s - 2 * p + d * (k - 1) + op + 1 < 1:  # padding must leave an output
            n += 1
        size.append(n)
    batch = int(rng.integers(1, 4))
    return Conv(seed, (batch, groups * cg) + tuple(size), (groups * cg, kg) + kernel, stride, padding, dilation,
                groups, bool(rng.random() < 0.8), output_padding)


@dataclass(frozen=True)
class Pool:
    seed: int
    x_shape: tuple
    kernel: tuple
    stride: tuple  # or None: the kernel size
    padding: tuple
    count_include_pad: bool

    def __str__(self):
        def dims(t):
            return "x".join(map(str, t))
        stride = "None" if self.stride is None else dims(self.stride)
        return (f"x{dims(self.x_shape)}-k{dims(self.kernel)}-s{stride}-p{dims(self.padding)}"
                + ("" if self.count_include_pad else "-exclude-pad"))


def pool_config(seed):
    rng = np.random.default_rng(20_000 + seed)
    kernel = pair(rng, 1, 4)
    stride = None if rng.random() < 0.2 else pair(rng, 1, 3)
    padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
    size = tuple(spatial_size(rng, k, p) for k, p in zip(kernel, padding))
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 5))) + size
    return Pool(seed, shape, kernel, stride, padding, bool(rng.random() < 0.5))


def global_shape(seed):
    rng = np.random.default_rng(30_000 + seed)
    return tuple(int(rng.integers(1, high + 1)) for high in (3, 5, 8, 8))


@dataclass(frozen=True)
class Linear:
    seed: int
    x_shape: tuple
    w_shape: tuple  # (out_features, in_features)
    bias: bool

    def __str__(self):
        return f"x{self.x_shape[0]}x{self.x_shape[1]}-w{self.w_shape[0]}x{self.w_shape[1]}" + (
            "" if self.bias else "-nobias")


def linear_config(seed):
    rng = np.random.default_rng(40_000 + seed)
    batch, in_features, out_features = (int(v) for v in rng.integers(1, 40, 3))
    if seed % 4 == 1:
        batch = 1
    elif seed % 4 == 2:
        in_features = 1
    elif seed % 4 == 3:
        out_features = 1
    return Linear(seed, (batch, in_features), (out_features, in_features), bool(rng.random() < 0.8))


CONV_CONFIGS = [conv_config(seed) for seed in range(N_RANDOM)]
CONV_TRANSPOSE_CONFIGS = [conv_transpose_config(seed) for seed in range(N_RANDOM)]
POOL_CONFIGS = [pool_config(seed) for seed in range(N_RANDOM)]
GLOBAL_SHAPES = [global_shape(seed) for seed in range(N_RANDOM)]
LINEAR_CONFIGS = [linear_config(seed) for seed in range(N_RANDOM)]


def is_depthwise(cfg):
    return cfg.groups > 1 and cfg.groups == cfg.x_shape[1]


def kernel_fills_padded_input(cfg):
    dilated = [d * (k - 1) + 1 for k, d in zip(cfg.w_shape[2:], cfg.dilation)]
    return any(n + 2 * p == span for n, p, span in zip(cfg.x_shape[2:], cfg.padding, dilated))


COVERAGE = {
    # feature: (configurations, predicate)
    "conv-batch1": (CONV_CONFIGS, lambda c: c.x_shape[0] == 1),
    "conv-odd-non-square": (CONV_CONFIGS, lambda c: c.x_shape[2] != c.x_shape[3] and c.x_shape[2] % 2 == 1),
    "conv-1x1": (CONV_CONFIGS, lambda c: c.w_shape[2:] == (1, 1)),
    "conv-stride3-dilation3": (CONV_CONFIGS, lambda c: 3 in c.stride and 3 in c.dilation),
    "conv-padding2": (CONV_CONFIGS, lambda c: c.padding == (2, 2)),
    "conv-groups": (CONV_CONFIGS, lambda c: c.groups > 1 and not is_depthwise(c)),
    "conv-depthwise": (CONV_CONFIGS, is_depthwise),
    "conv-kernel=padded-input": (CONV_CONFIGS, kernel_fills_padded_input),
    "conv-no-bias": (CONV_CONFIGS, lambda c: not c.bias),
    "transposed-batch1": (CONV_TRANSPOSE_CONFIGS, lambda c: c.x_shape[0] == 1),
    "transposed-1x1": (CONV_TRANSPOSE_CONFIGS, lambda c: c.w_shape[2:] == (1, 1)),
    "transposed-groups": (CONV_TRANSPOSE_CONFIGS, lambda c: c.groups > 1 and not is_depthwise(c)),
    "transposed-depthwise": (CONV_TRANSPOSE_CONFIGS, is_depthwise),
    "transposed-stride3-dilation3": (CONV_TRANSPOSE_CONFIGS, lambda c: 3 in c.stride and 3 in c.dilation),
    "transposed-output-padding": (CONV_TRANSPOSE_CONFIGS, lambda c: min(c.output_padding) > 0),
    "transposed-output-padding>=stride": (
        CONV_TRANSPOSE_CONFIGS, lambda c: any(op >= s for op, s in zip(c.output_padding, c.stride))),
    "transposed-no-bias": (CONV_TRANSPOSE_CONFIGS, lambda c: not c.bias),
    "pool-batch1": (POOL_CONFIGS, lambda c: c.x_shape[0] == 1),
    "pool-stride-None": (POOL_CONFIGS, lambda c: c.stride is None),
    "pool-stride3": (POOL_CONFIGS, lambda c: c.stride is not None and 3 in c.stride),
    "pool-padding2": (POOL_CONFIGS, lambda c: 2 in c.padding),
    "pool-padding-exclude-pad": (POOL_CONFIGS, lambda c: min(c.padding) > 0 and not c.count_include_pad),
    "pool-kernel=padded-input": (
        POOL_CONFIGS, lambda c: any(n + 2 * p == k for n, p, k in zip(c.x_shape[2:], c.padding, c.kernel))),
    "linear-batch1": (LINEAR_CONFIGS, lambda c: c.x_shape[0] == 1),
    "linear-in1": (LINEAR_CONFIGS, lambda c: c.x_shape[1] == 1),
    "linear-out1": (LINEAR_CONFIGS, lambda c: c.w_shape[0] == 1),
    "linear-no-bias": (LINEAR_CONFIGS, lambda c: not c.bias),
}


@pytest.mark.parametrize("configs, predicate", COVERAGE.values(), ids=COVERAGE.keys())
def test_random_configs_cover(configs, predicate):
    """The random configurations do hold every case the module docstring promises."""
    assert any(predicate(cfg) for cfg in configs)


# ------------------------------------------------------------ convolution


def run_conv2d(cfg, dtype):
    rng = np.random.default_rng(cfg.seed)
    x, w = rng.standard_normal(cfg.x_shape).astype(dtype), rng.standard_normal(cfg.w_shape).astype(dtype)
    b = rng.standard_normal(cfg.w_shape[0]).astype(dtype)
    xt, wt, bt = leaf(x), leaf(w), leaf(b if cfg.bias else np.zeros_like(b))
    yt = F.conv2d(xt, wt, bt, **cfg.kwargs)
    y = R.conv2d(x, w, b if cfg.bias else None, **cfg.kwargs)
    assert_close(y, yt, dtype)
    r = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(torch.from_numpy(r))
    for grad, tensor in zip(R.conv2d_backward(r, x, w, **cfg.kwargs), (xt, wt, bt)):
        assert_close(grad, tensor.grad, dtype)


def run_conv_transpose2d(cfg, dtype):
    rng = np.random.default_rng(cfg.seed)
    x, w = rng.standard_normal(cfg.x_shape).astype(dtype), rng.standard_normal(cfg.w_shape).astype(dtype)
    b = rng.standard_normal(cfg.w_shape[1] * cfg.groups).astype(dtype)
    xt, wt, bt = leaf(x), leaf(w), leaf(b if cfg.bias else np.zeros_like(b))
    yt = F.conv_transpose2d(xt, wt, bt, **cfg.kwargs)
    y = R.conv_transpose2d(x, w, b if cfg.bias else None, **cfg.kwargs)
    assert_close(y, yt, dtype)
    r = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(torch.from_numpy(r))
    for grad, tensor in zip(R.conv_transpose2d_backward(r, x, w, **cfg.kwargs), (xt, wt, bt)):
        assert_close(grad, tensor.grad, dtype)


@pytest.mark.parametrize("cfg", CONV_CONFIGS, ids=str)
def test_conv2d(cfg):
    run_conv2d(cfg, np.float64)


@pytest.mark.parametrize("cfg", CONV_TRANSPOSE_CONFIGS, ids=str)
def test_conv_transpose2d(cfg):
    run_conv_transpose2d(cfg, np.float64)


# ----------------------------------------------------------------- pooling


def pool_input(cfg, dtype):
    """Distinct values (no ties, exact in float32) in random order, centred."""
    rng = np.random.default_rng(cfg.seed)
    x = rng.permutation(int(np.prod(cfg.x_shape))).reshape(cfg.x_shape) - np.prod(cfg.x_shape) / 2
    return x.astype(dtype), rng


def run_max_pool2d(cfg, dtype):
    x, rng = pool_input(cfg, dtype)
    xt = leaf(x)
    yt, argmax_t = F.max_pool2d(xt, cfg.kernel, cfg.stride, cfg.padding, return_indices=True)
    y, argmax = R.max_pool2d(x, cfg.kernel, cfg.stride, cfg.padding)
    assert_close(y, yt, dtype)
    assert argmax.dtype == np.int64
    np.testing.assert_array_equal(argmax, argmax_t.numpy())
    r = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(torch.from_numpy(r))
    assert_close(R.max_pool2d_backward(r, argmax, x.shape), xt.grad, dtype)


def run_avg_pool2d(cfg, dtype):
    x, rng = pool_input(cfg, dtype)
    xt = leaf(x)
    args = (cfg.kernel, cfg.stride, cfg.padding)
    yt = F.avg_pool2d(xt, *args, count_include_pad=cfg.count_include_pad)
    y = R.avg_pool2d(x, *args, count_include_pad=cfg.count_include_pad)
    assert_close(y, yt, dtype)
    r = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(torch.from_numpy(r))
    assert_close(R.avg_pool2d_backward(r, x.shape, *args, count_include_pad=cfg.count_include_pad),
                 xt.grad, dtype)


def run_global_avg_pool2d(shape, dtype):
    rng = np.random.default_rng(shape)
    x = rng.standard_normal(shape).astype(dtype)
    xt = leaf(x)
    yt = F.adaptive_avg_pool2d(xt, 1).reshape(shape[:2])
    y = R.global_avg_pool2d(x)
    assert_close(y, yt, dtype)
    r = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(torch.from_numpy(r))
    assert_close(R.global_avg_pool2d_backward(r, shape), xt.grad, dtype)


@pytest.mark.parametrize("cfg", POOL_CONFIGS, ids=str)
def test_max_pool2d(cfg):
    run_max_pool2d(cfg, np.float64)


@pytest.mark.parametrize("cfg", POOL_CONFIGS, ids=str)
def test_avg_pool2d(cfg):
    run_avg_pool2d(cfg, np.float64)


@pytest.mark.parametrize("shape", GLOBAL_SHAPES, ids=str)
def test_global_avg_pool2d(shape):
    run_global_avg_pool2d(shape, np.float64)


# ------------------------------------------------------------------ linear


def run_linear(cfg, dtype):
    rng = np.random.default_rng(cfg.seed)
    x, w = rng.standard_normal(cfg.x_shape).astype(dtype), rng.standard_normal(cfg.w_shape).astype(dtype)
    b = rng.standard_normal(cfg.w_shape[0]).astype(dtype)
    xt, wt, bt = leaf(x), leaf(w), leaf(b if cfg.bias else np.zeros_like(b))
    yt = F.linear(xt, wt, bt)
    y = R.linear(x, w, b if cfg.bias else None)
    assert_close(y, yt, dtype)
    r = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(torch.from_numpy(r))
    for grad, tensor in zip(R.linear_backward(r, x, w), (xt, wt, bt)):
        assert_close(grad, tensor.grad, dtype)


@pytest.mark.parametrize("cfg", LINEAR_CONFIGS, ids=str)
def test_linear(cfg):
    run_linear(cfg, np.float64)


# ----------------------------------------------------------------- float32

FLOAT32_COUNT = 6


@pytest.mark.parametrize("cfg", CONV_CONFIGS[:FLOAT32_COUNT], ids=str)
def test_conv2d_float32(cfg):
    run_conv2d(cfg, np.float32)


@pytest.mark.parametrize("cfg", CONV_TRANSPOSE_CONFIGS[:FLOAT32_COUNT], ids=str)
def test_conv_transpose2d_float32(cfg):
    run_conv_transpose2d(cfg, np.float32)


@pytest.mark.parametrize("cfg", POOL_CONFIGS[:FLOAT32_COUNT], ids=str)
def test_pool2d_float32(cfg):
    run_max_pool2d(cfg, np.float32)
    run_avg_pool2d(cfg, np.float32)


@pytest.mark.parametrize("shape", GLOBAL_SHAPES[:FLOAT32_COUNT], ids=str)
def test_global_avg_pool2d_float32(shape):
    run_global_avg_pool2d(shape, np.float32)


@pytest.mark.parametrize("cfg", LINEAR_CONFIGS[:FLOAT32_COUNT], ids=str)
def test_linear_float32(cfg):
    run_linear(cfg, np.float32)


# ------------------------------------------------------- string padding (both backends)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")  # torch's, about its copy
@pytest.mark.parametrize("backend", ["fast", "reference"])
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("kernel, dilation", [((3, 3), (1, 1)), ((4, 2), (1, 1)), ((2, 5), (1, 2)),
                                              ((3, 4), (2, 1)), ((1, 1), (1, 1))])
def test_conv2d_string_padding_matches_torch(backend, padding, kernel, dilation):
    """padding="same" (odd and even dilated extents: the extra row/column at the bottom/right) and "valid"."""
    from cnnfast import functional as CF

    rng = np.random.default_rng(sum(kernel) * 10 + sum(dilation))
    x = rng.standard_normal((2, 3, 9, 11))
    w = rng.standard_normal((4, 3, *kernel))
    b = rng.standard_normal(4)
    tx, tw, tb = leaf(x), leaf(w), leaf(b)
    ty = F.conv2d(tx, tw, tb, padding=padding, dilation=dilation)
    y = CF.conv2d(x, w, b, padding=padding, dilation=dilation, backend=backend)
    assert_close(y, ty, np.float64)
    if padding == "same":
        assert y.shape[2:] == x.shape[2:]
    r = rng.standard_normal(y.shape)
    ty.backward(torch.tensor(r))
    grad_x, grad_w, grad_b = CF.conv2d_backward(r, x, w, padding=padding, dilation=dilation, backend=backend)
    for mine, theirs in ((grad_x, tx.grad), (grad_w, tw.grad), (grad_b, tb.grad)):
        assert_close(mine, theirs, np.float64)
    # input_grad=False still crops nothing it should not: grad_x is None, the weight gradient the same.
    none, grad_w2, _ = CF.conv2d_backward(r, x, w, padding=padding, dilation=dilation, backend=backend,
                                          input_grad=False)
    assert none is None
    np.testing.assert_array_equal(grad_w2, grad_w)


@pytest.mark.parametrize("backend", ["fast", "reference"])
def test_conv2d_same_padding_refuses_a_stride_as_torch_does(backend):
    from cnnfast import functional as CF

    x, w = np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3))
    with pytest.raises(RuntimeError, match="strided"):
        F.conv2d(torch.tensor(x), torch.tensor(w), stride=2, padding="same")
    with pytest.raises(ValueError, match=r"padding='same' needs stride 1 \(as in torch\), got stride \(2, 2\)"):
        CF.conv2d(x, w, stride=2, padding="same", backend=backend)
    with pytest.raises(ValueError, match=r"padding must be an int, a pair, 'valid' or 'same', got 'full'"):
        CF.conv2d(x, w, padding="full", backend=backend)
