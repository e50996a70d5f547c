"""The layer shapes of the real ResNet-18 and ResNet-50 (ImageNet, 224 x 224 x 3 input).

The layout is torchvision's (He et al. 2016; ResNet-50 is "v1.5", with a bottleneck's
stride on its 3x3 conv rather than its first 1x1), with the padding that TFLite's SAME
gives each layer (``ceil(size / stride)`` outputs, an odd padding pixel at the bottom or
right), as a network converted with ``padding="same"`` runs: the 7x7 stride-2 stem pads
(2, 3, 2, 3), a 3x3 stride-2 conv or max-pool on an even size (0, 1, 0, 1).

Each network is a tuple of frozen dataclasses in execution order: every convolution
(with its fused ReLU, if any), the stem's max-pool, every residual join (an ADD followed
by ReLU), the global average pool and the classifier. Each layer names the layer(s) it
reads (``"input"`` for the image), so the list is also the graph. Standard library only;
tests, the compiler and the benchmarks take their shapes from here.
:func:`resnet_layers` builds the same structure at any input size and widths.
"""

from dataclasses import dataclass

__all__ = ["INPUT", "INPUT_SHAPE", "CLASSES", "WIDTHS", "BLOCKS", "same_padding", "Conv", "MaxPool",
           "ResidualAdd", "GlobalAvgPool", "FullyConnected", "resnet_layers", "RESNET18", "RESNET50",
           "macs"]

#: Name of the network input (224 x 224 x 3) in the ``source`` fields.
INPUT = "input"
#: Shape of the network input, (H, W, C).
INPUT_SHAPE = (224, 224, 3)
#: Classes of the classifier (ImageNet).
CLASSES = 1000
#: Width of each stage's blocks (a bottleneck's output is four times it); the stem's is the first.
WIDTHS = (64, 128, 256, 512)


def same_padding(size, kernel, stride):
    """TFLite's SAME padding of one axis: ``(before, after)``, the odd pixel after."""
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _window_output(size, kernel, stride, padding):
    (h, w), (kh, kw), (sh, sw) = size, kernel, stride
    top, bottom, left, right = padding
    return (h + top + bottom - kh) // sh + 1, (w + left + right - kw) // sw + 1


def _check_positive(layer, *names):
    for name in names:
        value = getattr(layer, name)
        values = value if isinstance(value, tuple) else (value,)
        if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                 for v in values):
            raise ValueError(f"{type(layer).__name__} {name} must be positive integers, "
                             f"not {value!r}")


@dataclass(frozen=True)
class Conv:
    """A convolution (OHWI weights, int32 bias, fused ``relu`` or none).

    ``input_size`` is (H, W); ``padding`` is (top, bottom, left, right).
    """
    name: str
    source: str
    input_size: tuple
    in_channels: int
    out_channels: int
    kernel: tuple
    stride: tuple
    padding: tuple
    relu: bool

    def __post_init__(self):
        _check_positive(self, "input_size", "in_channels", "out_channels", "kernel", "stride")

    @property
    def output_size(self):
        """(H, W) of the output."""
        return _window_output(self.input_size, self.kernel, self.stride, self.padding)

    @property
    def output_shape(self):
        """(H, W, C) of the output."""
        return (*self.output_size, self.out_channels)

    @property
    def macs(self):
        """Multiply-accumulates of one frame (padding taps included, as the hardware runs them)."""
        oh, ow = self.output_size
        return oh * ow * self.out_channels * self.in_channels * self.kernel[0] * self.kernel[1]


@dataclass(frozen=True)
class MaxPool:
    """A max-pool; ``padding`` positions never win."""
    name: str
    source: str
    input_size: tuple
    channels: int
    kernel: tuple
    stride: tuple
    padding: tuple

    def __post_init__(self):
        _check_positive(self, "input_size", "channels", "kernel", "stride")

    @property
    def output_size(self):
        return _window_output(self.input_size, self.kernel, self.stride, self.padding)

    @property
    def output_shape(self):
        return (*self.output_size, self.channels)


@dataclass(frozen=True)
class ResidualAdd:
    """The join of a block's main path and its shortcut (``sources``), then ReLU."""
    name: str
    sources: tuple
    size: tuple
    channels: int
    relu: bool = True

    def __post_init__(self):
        _check_positive(self, "size", "channels")

    @property
    def output_shape(self):
        return (*self.size, self.channels)


@dataclass(frozen=True)
class GlobalAvgPool:
    """The mean over H and W (int8 ``MEAN`` over axes 1, 2 in TFLite)."""
    name: str
    source: str
    input_size: tuple
    channels: int

    def __post_init__(self):
        _check_positive(self, "input_size", "channels")

    @property
    def output_shape(self):
        return (self.channels,)


@dataclass(frozen=True)
class FullyConnected:
    """The classifier: [out, in] weights, int32 bias, no activation."""
    name: str
    source: str
    in_features: int
    out_features: int

    def __post_init__(self):
        _check_positive(self, "in_features", "out_features")

    @property
    def output_shape(self):
        return (self.out_features,)

    @property
    def macs(self):
        return self.in_features * self.out_features


def _conv(name, source, shape, out_channels, kernel, stride, relu=True):
    h, w, channels = shape
    padding = same_padding(h, kernel, stride) + same_padding(w, kernel, stride)
    return Conv(name, source, (h, w), channels, out_channels, (kernel, kernel),
                (stride, stride), padding, relu)


def _stem(layers, input_shape, width):
    stem = _conv("conv1", INPUT, input_shape, width, 7, 2)
    h, w, channels = stem.output_shape
    pool = MaxPool("maxpool", stem.name, (h, w), channels, (3, 3), (2, 2),
                   same_padding(h, 3, 2) + same_padding(w, 3, 2))
    layers += [stem, pool]
    return pool


def _join(layers, name, main, shortcut):
    join = ResidualAdd(f"{name}.add", (main.name, shortcut.name), main.output_size,
                       main.out_channels)
    layers.append(join)
    return join


def _shortcut(layers, name, source, out_channels, stride):
    """The block's input, or a 1x1 projection of it when the shape changes."""
    if stride == 1 and source.output_shape[2] == out_channels:
        return source
    projection = _conv(f"{name}.downsample", source.name, source.output_shape, out_channels, 1,
                       stride, relu=False)
    layers.append(projection)
    return projection


def _basic_block(layers, name, source, width, stride):
    conv1 = _conv(f"{name}.conv1", source.name, source.output_shape, width, 3, stride)
    conv2 = _conv(f"{name}.conv2", conv1.name, conv1.output_shape, width, 3, 1, relu=False)
    layers += [conv1, conv2]
    shortcut = _shortcut(layers, name, source, width, stride)
    return _join(layers, name, conv2, shortcut)


def _bottleneck(layers, name, source, width, stride):
    conv1 = _conv(f"{name}.conv1", source.name, source.output_shape, width, 1, 1)
    conv2 = _conv(f"{name}.conv2", conv1.name, conv1.output_shape, width, 3, stride)
    conv3 = _conv(f"{name}.conv3", conv2.name, conv2.output_shape, 4 * width, 1, 1, relu=False)
    layers += [conv1, conv2, conv3]
    shortcut = _shortcut(layers, name, source, 4 * width, stride)
    return _join(layers, name, conv3, shortcut)


#: The residual blocks :func:`resnet_layers` builds, by name.
BLOCKS = {"basic": _basic_block, "bottleneck": _bottleneck}


def resnet_layers(block, blocks_per_stage, input_shape=INPUT_SHAPE, widths=WIDTHS, classes=CLASSES):
    """A ResNet's layers: the stem (7x7 stride-2 conv of ``widths[0]`` channels, 3x3 stride-2
    max-pool), stage ``s`` of ``blocks_per_stage[s]`` ``block`` blocks (a key of
    :data:`BLOCKS`) of width ``widths[s]``, the first of every stage but the first of stride
    2, the global average pool and a classifier of ``classes`` outputs, for an
    ``input_shape`` (H, W, C) input. The real networks are :data:`RESNET18` and
    :data:`RESNET50`; smaller ones keep their structure at a size a few small cores hold."""
    if block not in BLOCKS:
        raise ValueError(f"block must be one of {', '.join(BLOCKS)}, not {block!r}")
    if len(blocks_per_stage) != len(widths):
        raise ValueError(f"blocks_per_stage must have one entry per width of {widths!r}, "
                         f"not {blocks_per_stage!r}")
    layers = []
    source = _stem(layers, tuple(input_shape), widths[0])
    for stage, (blocks, width) in enumerate(zip(blocks_per_stage, widths), start=1):
        for index in range(blocks):
            stride = 2 if stage > 1 and index == 0 else 1
            source = BLOCKS[block](layers, f"layer{stage}.{index}", source, width, stride)
    h, w, channels = source.output_shape
    pool = GlobalAvgPool("avgpool", source.name, (h, w), channels)
    layers += [pool, FullyConnected("fc", pool.name, channels, classes)]
    return tuple(layers)


#: ResNet-18: basic blocks [2, 2, 2, 2].
RESNET18 = resnet_layers("basic", (2, 2, 2, 2))
#: ResNet-50 (v1.5): bottleneck blocks [3, 4, 6, 3].
RESNET50 = resnet_layers("bottleneck", (3, 4, 6, 3))


def macs(network):
    """Multiply-accumulates of one 224 x 224 frame: every conv and the classifier."""
    return sum(layer.macs for layer in network if isinstance(layer, (Conv, FullyConnected)))
