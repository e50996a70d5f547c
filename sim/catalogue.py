"""The layer shapes of the real ResNet-18 and ResNet-50 (ImageNet, 224 x 224 x 3 input).

As torchvision defines them (ResNet-50 is v1.5: the stride-2 of a bottleneck sits on its
3x3 conv): every convolution with its input size, channels, kernel, stride and explicit
symmetric padding (the stem's 7x7 stride 2 pads 3), the residual joins, the stem's max-pool,
the global average pool and the classifier. Standard library only; later tests, the
compiler and the benchmarks take their shapes from here.
"""

from dataclasses import dataclass

__all__ = ["Conv", "MaxPool", "ResidualAdd", "GlobalAvgPool", "FullyConnected",
           "RESNET18", "RESNET50", "macs"]


@dataclass(frozen=True)
class Conv:
    """A convolution; ``padding`` is (top, bottom, left, right), ``relu`` a fused ReLU."""
    name: str
    input_size: tuple          # (H, W)
    in_channels: int
    out_channels: int
    kernel: tuple              # (kh, kw)
    stride: tuple              # (sh, sw)
    padding: tuple
    relu: bool

    @property
    def output_size(self):
        (h, w), (kh, kw), (sh, sw) = self.input_size, self.kernel, self.stride
        top, bottom, left, right = self.padding
        return (h + top + bottom - kh) // sh + 1, (w + left + right - kw) // sw + 1

    @property
    def macs(self):
        oh, ow = self.output_size
        return oh * ow * self.out_channels * self.in_channels * self.kernel[0] * self.kernel[1]


@dataclass(frozen=True)
class MaxPool:
    name: str
    input_size: tuple
    channels: int
    kernel: tuple
    stride: tuple
    padding: tuple

    @property
    def output_size(self):
        (h, w), (kh, kw), (sh, sw) = self.input_size, self.kernel, self.stride
        top, bottom, left, right = self.padding
        return (h + top + bottom - kh) // sh + 1, (w + left + right - kw) // sw + 1


@dataclass(frozen=True)
class ResidualAdd:
    """The join of a block's main path and its shortcut, followed by ReLU."""
    name: str
    size: tuple
    channels: int
    relu: bool = True


@dataclass(frozen=True)
class GlobalAvgPool:
    name: str
    input_size: tuple
    channels: int


@dataclass(frozen=True)
class FullyConnected:
    name: str
    in_features: int
    out_features: int

    @property
    def macs(self):
        return self.in_features * self.out_features


def _conv(name, size, cin, cout, kernel, stride, relu=True):
    pad = (kernel - 1) // 2
    return Conv(name, size, cin, cout, (kernel, kernel), (stride, stride), (pad,) * 4, relu)


def _stem(layers):
    stem = _conv("conv1", (224, 224), 3, 64, 7, 2)
    pool = MaxPool("maxpool", stem.output_size, 64, (3, 3), (2, 2), (1, 1, 1, 1))
    layers += [stem, pool]
    return pool.output_size, 64


def _basic_block(layers, name, size, cin, cout, stride):
    conv1 = _conv(f"{name}.conv1", size, cin, cout, 3, stride)
    conv2 = _conv(f"{name}.conv2", conv1.output_size, cout, cout, 3, 1, relu=False)
    layers += [conv1, conv2]
    if stride != 1 or cin != cout:
        layers.append(_conv(f"{name}.downsample", size, cin, cout, 1, stride, relu=False))
    layers.append(ResidualAdd(f"{name}.add", conv2.output_size, cout))
    return conv2.output_size, cout


def _bottleneck(layers, name, size, cin, width, stride):
    cout = 4 * width
    conv1 = _conv(f"{name}.conv1", size, cin, width, 1, 1)
    conv2 = _conv(f"{name}.conv2", size, width, width, 3, stride)
    conv3 = _conv(f"{name}.conv3", conv2.output_size, width, cout, 1, 1, relu=False)
    layers += [conv1, conv2, conv3]
    if stride != 1 or cin != cout:
        layers.append(_conv(f"{name}.downsample", size, cin, cout, 1, stride, relu=False))
    layers.append(ResidualAdd(f"{name}.add", conv3.output_size, cout))
    return conv3.output_size, cout


def _resnet(block, blocks_per_stage, widths):
    layers = []
    size, channels = _stem(layers)
    for stage, (blocks, width) in enumerate(zip(blocks_per_stage, widths), start=1):
        for index in range(blocks):
            stride = 2 if stage > 1 and index == 0 else 1
            size, channels = block(layers, f"layer{stage}.{index}", size, channels, width, stride)
    layers.append(GlobalAvgPool("avgpool", size, channels))
    layers.append(FullyConnected("fc", channels, 1000))
    return tuple(layers)


#: ResNet-18: basic blocks [2, 2, 2, 2].
RESNET18 = _resnet(_basic_block, (2, 2, 2, 2), (64, 128, 256, 512))
#: ResNet-50 (v1.5): bottleneck blocks [3, 4, 6, 3].
RESNET50 = _resnet(_bottleneck, (3, 4, 6, 3), (64, 128, 256, 512))


def macs(network):
    """Multiply-accumulates of one 224 x 224 frame through ``network``."""
    return sum(layer.macs for layer in network if isinstance(layer, (Conv, FullyConnected)))
