"""The named convolution workloads (float32, NCHW).  Later issues are judged on
these names; keep them."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ConvWorkload:
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

    @property
    def input_shape(self):
        return (self.batch, self.in_channels, self.height, self.width)

    @property
    def weight_shape(self):
        return (self.out_channels, self.in_channels // self.groups, self.kernel, self.kernel)

    def output_size(self):
        ho = (self.height + 2 * self.padding - self.kernel) // self.stride + 1
        wo = (self.width + 2 * self.padding - self.kernel) // self.stride + 1
        return ho, wo

    def forward_flops(self):
        """2 * N * K * (C / groups) * kh * kw * Ho * Wo."""
        ho, wo = self.output_size()
        return (2 * self.batch * self.out_channels * (self.in_channels // self.groups)
                * self.kernel * self.kernel * ho * wo)


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
