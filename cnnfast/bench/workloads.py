"""The named benchmark workloads (float32, NCHW).

Later issues are judged on these names; keep them.  A workload knows its
shapes and its work (FLOPs, nominal bytes); how each backend runs it lives in
:mod:`cnnfast.bench.cases`.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

KERNEL_PASSES = ("forward", "backward", "both")
FLOAT32_BYTES = 4


@dataclass(frozen=True)
class ConvWorkload:
    """A convolution (or, with ``transposed``, a transposed convolution).

    For a transposed workload ``in_channels``/``out_channels`` are those of the
    transposed layer, whose weight is (in_channels, out_channels, k, k); its
    FLOPs equal those of the convolution it is the input gradient of.
    """

    name: str
    batch: int
    in_channels: int
    height: int
    width: int
    out_channels: int
    kernel: int
    stride: int = 1
    padding: int = 0
    groups: int = 1
    transposed: bool = False
    kind = "conv"
    passes = KERNEL_PASSES
    full_pass = "both"  # the pass whose peak memory is reported

    @property
    def input_shape(self):
        return (self.batch, self.in_channels, self.height, self.width)

    @property
    def weight_shape(self):
        if self.transposed:
            return (self.in_channels, self.out_channels // self.groups, self.kernel, self.kernel)
        return (self.out_channels, self.in_channels // self.groups, self.kernel, self.kernel)

    @property
    def output_shape(self):
        if self.transposed:
            size = lambda n: (n - 1) * self.stride - 2 * self.padding + self.kernel
        else:
            size = lambda n: (n + 2 * self.padding - self.kernel) // self.stride + 1
        return (self.batch, self.out_channels, size(self.height), size(self.width))

    @property
    def depthwise(self):
        return self.groups > 1 and self.groups == self.in_channels

    def forward_flops(self):
        """2 * N * K * (C / groups) * kh * kw * Ho * Wo, Ho x Wo the convolution's output.

        For a transposed workload the convolution's output is this layer's input.
        """
        spatial = self.height * self.width if self.transposed else self.output_shape[2] * self.output_shape[3]
        return (2 * self.batch * self.out_channels * (self.in_channels // self.groups)
                * self.kernel * self.kernel * spatial)

    def flops(self, pass_name):
        """Forward F, backward (input and weight gradients) 2F, both 3F."""
        return self.forward_flops() * {"forward": 1, "backward": 2, "both": 3}[pass_name]

    def nbytes(self, pass_name):
        """Nominal bytes moved: every float32 tensor read once and written once.

        forward reads x and w and writes y; backward reads grad_y, x and w and
        writes grad_x, grad_w and grad_b.
        """
        size = lambda shape: FLOAT32_BYTES * _product(shape)
        x, w, y = size(self.input_shape), size(self.weight_shape), size(self.output_shape)
        forward = x + w + y
        backward = y + x + w + x + w + FLOAT32_BYTES * self.out_channels
        return {"forward": forward, "backward": backward, "both": forward + backward}[pass_name]

    def conv_geometry(self):
        """The convolution's geometry as the kernels see it (for a transposed
        workload: the convolution whose input gradient it is)."""
        x, y = self.input_shape, self.output_shape
        if self.transposed:
            x, y = y, x
        kernel = (self.kernel,) * 2
        return SimpleNamespace(batch=self.batch, in_channels=x[1], in_height=x[2], in_width=x[3],
                               out_channels=y[1], out_height=y[2], out_width=y[3], kernel=kernel,
                               stride=(self.stride,) * 2, padding=(self.padding,) * 2, dilation=(1, 1),
                               groups=self.groups, input_shape=x, output_shape=y,
                               weight_shape=(y[1], x[1] // self.groups) + kernel)

    def gemm_shape(self):
        """(m, n, k) of the one GEMM per group that im2col makes of the forward
        pass over the whole batch, or None where GEMM is no ceiling (depthwise)."""
        if self.depthwise:
            return None
        taps = self.kernel * self.kernel
        if self.transposed:  # columns = weight^T @ x: (C_out*taps x C_in) @ (C_in x N*H*W)
            return (self.out_channels // self.groups * taps, self.batch * self.height * self.width,
                    self.in_channels // self.groups)
        _, _, ho, wo = self.output_shape
        return (self.out_channels // self.groups, self.batch * ho * wo, self.in_channels // self.groups * taps)


@dataclass(frozen=True)
class PoolWorkload:
    """Max or average pooling of a (batch, channels, height, width) tensor."""

    name: str
    op: str  # "max" | "avg"
    batch: int
    channels: int
    height: int
    width: int
    kernel: int
    stride: int
    padding: int = 0
    kind = "pool"
    passes = KERNEL_PASSES
    full_pass = "both"

    @property
    def input_shape(self):
        return (self.batch, self.channels, self.height, self.width)

    @property
    def output_shape(self):
        size = lambda n: (n + 2 * self.padding - self.kernel) // self.stride + 1
        return (self.batch, self.channels, size(self.height), size(self.width))

    def flops(self, pass_name):
        return None  # memory-bound: judged in GB/s

    def nbytes(self, pass_name):
        """Nominal bytes: forward reads x, writes y; backward reads grad_y, writes grad_x."""
        moved = FLOAT32_BYTES * (_product(self.input_shape) + _product(self.output_shape))
        return moved * (2 if pass_name == "both" else 1)

    def gemm_shape(self):
        return None


@dataclass(frozen=True)
class ModelWorkload:
    """A whole model from :mod:`cnnfast.models`, end to end.

    ``train``: one SGD step (momentum 0.9, lr 0.01) with softmax cross-entropy
    on a batch of ``train_batch``; ``inference``: logits of a batch of
    ``inference_batch``.  Rated in images per second.
    """

    name: str
    builder: str  # a function of cnnfast.models
    image_shape: tuple
    num_classes: int = 10
    train_batch: int = 64
    inference_batch: int = 256
    kind = "model"
    passes = ("train", "inference")
    full_pass = "train"

    def batch(self, pass_name):
        return self.train_batch if pass_name == "train" else self.inference_batch

    def flops(self, pass_name):
        return None

    def nbytes(self, pass_name):
        return None

    def gemm_shape(self):
        return None


def _product(shape):
    result = 1
    for n in shape:
        result *= n
    return result


CONV_WORKLOADS = [
    ConvWorkload("lenet-c1", 64, 1, 32, 32, 6, 5),
    ConvWorkload("lenet-c3", 64, 6, 14, 14, 16, 5),
    ConvWorkload("cifar-in", 64, 3, 32, 32, 32, 3, padding=1),
    ConvWorkload("res-64", 32, 64, 32, 32, 64, 3, padding=1),
    ConvWorkload("res-128", 32, 128, 16, 16, 128, 3, padding=1),
    ConvWorkload("down-s2", 32, 64, 32, 32, 128, 3, stride=2, padding=1),
    ConvWorkload("pw-1x1", 32, 256, 14, 14, 64, 1),
    ConvWorkload("stem-7x7", 8, 3, 224, 224, 64, 7, stride=2, padding=3),
    ConvWorkload("dw-3x3", 32, 128, 28, 28, 128, 3, padding=1, groups=128),
]

TRANSPOSED_WORKLOADS = [
    ConvWorkload("tconv-64", 32, 64, 32, 32, 64, 3, padding=1, transposed=True),
]

POOL_WORKLOADS = [
    PoolWorkload("max2x2", "max", 64, 64, 32, 32, 2, 2),
    PoolWorkload("max3x3s2", "max", 8, 64, 112, 112, 3, 2, padding=1),
    PoolWorkload("avg2x2", "avg", 64, 64, 32, 32, 2, 2),
]

MODEL_WORKLOADS = [
    ModelWorkload("lenet5", "lenet5", (1, 32, 32)),
    ModelWorkload("small_vgg", "small_vgg", (3, 32, 32)),
    ModelWorkload("resnet20", "resnet20", (3, 32, 32)),
]

WORKLOADS = CONV_WORKLOADS + TRANSPOSED_WORKLOADS + POOL_WORKLOADS + MODEL_WORKLOADS


def by_name(names=None):
    """The workloads called ``names`` (all when None), in suite order; unknown names are a ValueError."""
    if not names:
        return list(WORKLOADS)
    known = {w.name: w for w in WORKLOADS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown workload(s) {unknown}; known: {sorted(known)}")
    return [w for w in WORKLOADS if w.name in names]
