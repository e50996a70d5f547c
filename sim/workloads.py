"""ResNet layers and blocks scaled to one core, with random quantized parameters.

Each case takes a layer of :mod:`sim.catalogue` (ResNet-18 and ResNet-50), keeps its
kernel, stride, ReLU and TFLite SAME padding rule, and shrinks its spatial size and
channel counts so that it fits one core; weights, biases, activations and quantization
parameters are drawn from a seeded generator so that outputs spread over the output range
(not clamped flat). The hardware tests and ``make bench`` run the same cases.
"""

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from gen.network import Add, Conv2d, FullyConnected, GlobalAvgPool, MaxPool2d, Network, TensorSpec
from hdl.params import Precision
from sim import catalogue

__all__ = ["Workload", "ParameterMaker", "LAYERS", "BLOCKS", "WORKLOADS", "build", "mixed_chain"]


@dataclass(frozen=True)
class Workload:
    """A named case: the catalogue layer it scales, and how to build it."""
    name: str
    source: str
    builder: object
    shape: tuple
    width: int


class ParameterMaker:
    """Draws layer parameters at one precision from one generator.

    A layer's weights are drawn at this precision (its input's); given ``out_bits``, its
    output zero point and scale are drawn for that output precision and the layer
    carries it (``bits``), else they are at this precision too.
    """

    def __init__(self, rng, bits):
        self.rng, self.precision = rng, Precision.from_bits(bits)

    def values(self, shape):
        p = self.precision
        return self.rng.integers(p.min, p.max + 1, shape)

    def zero_point(self, out_bits=None):
        p = self.precision if out_bits is None else Precision.from_bits(out_bits)
        return int(self.rng.integers(p.min // 2, p.max // 2 + 1))

    def spec(self, shape):
        return TensorSpec(tuple(shape), float(self.rng.uniform(0.01, 0.05)), self.zero_point())

    def _y_scale(self, x_scale, w_scale, fan_in, out_bits=None):
        """An output scale that maps the accumulators' spread onto about half the output range."""
        p = self.precision
        out = p if out_bits is None else Precision.from_bits(out_bits)
        spread = math.sqrt(fan_in) * (p.max - p.min) ** 2 / 12
        return float(x_scale * w_scale * spread / (out.max - out.min) * 2)

    def conv(self, name, source, x, out_channels, kernel, stride, relu, out_bits=None):
        """A square ``kernel`` x ``kernel`` convolution with TFLite SAME padding."""
        height, width, _ = x.shape
        padding = catalogue.same_padding(height, kernel, stride) + \
            catalogue.same_padding(width, kernel, stride)
        return self.conv2d(name, source, x, out_channels, (kernel, kernel), (stride, stride),
                           padding, relu, out_bits)

    def conv2d(self, name, source, x, out_channels, kernel, stride, padding, relu, out_bits=None):
        """A convolution of any ``kernel`` (kh, kw), ``stride`` and ``padding``."""
        channels = x.shape[2]
        w = self.values((out_channels, *kernel, channels))
        w_scale = self.rng.uniform(0.005, 0.02, out_channels)
        fan_in = kernel[0] * kernel[1] * channels
        y_scale = self._y_scale(x.scale, float(w_scale.mean()), fan_in, out_bits)
        bias = self.rng.integers(-4 * fan_in, 4 * fan_in + 1, out_channels)
        return Conv2d(name, source, w, bias, tuple(float(s) for s in w_scale), y_scale,
                      self.zero_point(out_bits), tuple(stride), tuple(padding), relu,
                      bits=out_bits)

    def fully_connected(self, name, source, x, out_features, out_bits=None):
        channels = x.shape[2]
        w = self.values((out_features, channels))
        w_scale = float(self.rng.uniform(0.005, 0.02))
        return FullyConnected(name, source, w, self.rng.integers(-64, 65, out_features), w_scale,
                              self._y_scale(x.scale, w_scale, channels, out_bits),
                              self.zero_point(out_bits), bits=out_bits)


def _spec_after(network_input, layers):
    return Network(network_input, layers).specs()


def _single(kind, **options):
    def build(maker, shape, width):
        x = maker.spec(shape)
        if kind == "conv":
            layers = [maker.conv("layer", "input", x, width, options["kernel"], options["stride"],
                                 options["relu"])]
        elif kind == "maxpool":
            height, columns, _ = shape
            padding = catalogue.same_padding(height, 3, 2) + catalogue.same_padding(columns, 3, 2)
            layers = [MaxPool2d("layer", "input", (3, 3), (2, 2), padding)]
        elif kind == "avgpool":
            layers = [GlobalAvgPool("layer", "input", x.scale * 0.6, maker.zero_point())]
        elif kind == "fc":
            layers = [maker.fully_connected("layer", "input", x, width)]
        else:   # residual add + ReLU of the input and a 1x1 conv of it
            main = maker.conv("main", "input", x, shape[2], 1, 1, False)
            y = _spec_after(x, [main])["main"]
            layers = [main, Add("layer", ("main", "input"), max(x.scale, y.scale) * 1.5,
                                maker.zero_point(), relu=True)]
        return Network(x, layers, maker.precision.bits, outputs=("layer",))
    return build


def _block(kind, stride):
    """A basic block (conv-ReLU-conv, shortcut, add-ReLU) or a bottleneck block."""
    def build(maker, shape, width):
        x = maker.spec(shape)
        layers = []

        def conv(name, source, out_channels, kernel, conv_stride, relu):
            spec = _spec_after(x, layers)[source] if layers else x
            if source == "input":
                spec = x
            layers.append(maker.conv(name, source, spec, out_channels, kernel, conv_stride, relu))
            return name

        if kind == "basic":
            main = conv("conv2", conv("conv1", "input", width, 3, stride, True), width, 3, 1, False)
            out_channels = width
        else:
            reduce = conv("conv1", "input", width, 1, 1, True)
            main = conv("conv3", conv("conv2", reduce, width, 3, stride, True), 4 * width, 1, 1, False)
            out_channels = 4 * width
        shortcut = "input"
        if stride != 1 or shape[2] != out_channels:
            shortcut = conv("downsample", "input", out_channels, 1, stride, False)
        specs = _spec_after(x, layers)
        scale = max(specs[main].scale, specs[shortcut].scale) * 1.5
        layers.append(Add("add", (main, shortcut), scale, maker.zero_point(), relu=True))
        return Network(x, layers, maker.precision.bits, outputs=("add",))
    return build


#: Single layers, each from the catalogue layer it names: (shape (H, W, C), output width).
LAYERS = {
    "stem_7x7_s2": Workload("stem_7x7_s2", "resnet18 conv1",
                            _single("conv", kernel=7, stride=2, relu=True), (16, 16, 3), 16),
    "conv_3x3_s1": Workload("conv_3x3_s1", "resnet18 layer1.0.conv1",
                            _single("conv", kernel=3, stride=1, relu=True), (8, 8, 16), 16),
    "conv_3x3_s2": Workload("conv_3x3_s2", "resnet18 layer2.0.conv1",
                            _single("conv", kernel=3, stride=2, relu=True), (8, 8, 16), 32),
    "conv_1x1_reduce": Workload("conv_1x1_reduce", "resnet50 layer1.1.conv1",
                                _single("conv", kernel=1, stride=1, relu=True), (8, 8, 32), 8),
    "conv_1x1_expand": Workload("conv_1x1_expand", "resnet50 layer1.0.conv3",
                                _single("conv", kernel=1, stride=1, relu=False), (8, 8, 8), 32),
    "projection_1x1_s2": Workload("projection_1x1_s2", "resnet50 layer2.0.downsample",
                                  _single("conv", kernel=1, stride=2, relu=False), (8, 8, 16), 32),
    "residual_add_relu": Workload("residual_add_relu", "resnet18 layer1.0.add",
                                  _single("add"), (8, 8, 16), 16),
    "maxpool_3x3_s2": Workload("maxpool_3x3_s2", "resnet18 maxpool", _single("maxpool"),
                               (8, 8, 16), 16),
    "global_avgpool": Workload("global_avgpool", "resnet18 avgpool", _single("avgpool"),
                               (4, 4, 32), 32),
    "fc": Workload("fc", "resnet18 fc", _single("fc"), (1, 1, 64), 16),
}

#: Whole blocks, run from one program with the intermediate tensors kept in the core.
BLOCKS = {
    "basic_block": Workload("basic_block", "resnet18 layer1.0", _block("basic", 1), (8, 8, 16), 16),
    "basic_block_s2": Workload("basic_block_s2", "resnet18 layer2.0", _block("basic", 2),
                               (8, 8, 16), 32),
    "bottleneck_block": Workload("bottleneck_block", "resnet50 layer1.0", _block("bottleneck", 1),
                                 (8, 8, 16), 8),
}

WORKLOADS = {**LAYERS, **BLOCKS}


def build(workload, bits, seed, *, shape=None, width=None):
    """The :class:`~gen.network.Network` of ``workload`` at ``bits`` with parameters from
    ``seed``, and a random input frame for it; ``shape`` and ``width`` override the case's."""
    rng = np.random.default_rng(seed)
    maker = ParameterMaker(rng, bits)
    network = workload.builder(maker, shape or workload.shape, width or workload.width)
    return network, maker.values(network.input.shape)


def mixed_chain(seed, shape=(8, 8, 16), width=16):
    """A chain through every precision pairing NorthPole's ResNet-50 needs, with parameters
    from ``seed``, and a random int8 input frame for it.

    ``conv1`` 3x3 int8 -> int4 (ReLU), ``conv2`` 1x1 int4 -> int2, ``conv3`` 3x3 int2 ->
    int4, ``add`` of ``conv3`` and ``conv1`` at int4 (ReLU), ``conv4`` 1x1 int4 -> int8,
    ``pool`` a global average pool of ``add`` int4 -> int8 and ``fc`` a fully connected
    layer at int8; every layer is an output of the :class:`~gen.network.Network` (input
    at int8).
    """
    rng = np.random.default_rng(seed)
    makers = {bits: ParameterMaker(rng, bits) for bits in (8, 4, 2)}
    x = makers[8].spec(shape)
    layers = []

    def spec(name):
        return Network(x, layers, 8).specs()[name] if layers else x

    def conv(bits, name, source, kernel, relu, out_bits):
        """A conv whose bias is within the accumulators' spread at ``bits`` (the makers' bias
        suits int8 accumulators and would swamp narrow ones)."""
        layer = makers[bits].conv(name, source, spec(source), width, kernel, 1, relu, out_bits)
        p, fan_in = makers[bits].precision, int(np.prod(layer.w.shape[1:]))
        spread = int(math.sqrt(fan_in) * (p.max - p.min) ** 2 / 12)
        layers.append(dataclasses.replace(layer, bias=rng.integers(-spread // 2, spread // 2 + 1, width)))

    conv(8, "conv1", "input", 3, True, 4)
    conv(4, "conv2", "conv1", 1, False, 2)
    conv(2, "conv3", "conv2", 3, False, 4)
    specs = Network(x, layers, 8).specs()
    layers.append(Add("add", ("conv3", "conv1"), max(specs["conv3"].scale, specs["conv1"].scale) * 1.5,
                      makers[4].zero_point(), relu=True, bits=4))
    conv(4, "conv4", "add", 1, False, 8)
    layers.append(GlobalAvgPool("pool", "add", spec("add").scale * 0.6, makers[8].zero_point(), bits=8))
    layers.append(makers[8].fully_connected("fc", "pool", spec("pool"), width, out_bits=8))
    network = Network(x, layers, 8, outputs=tuple(layer.name for layer in layers))
    return network, makers[8].values(shape)
