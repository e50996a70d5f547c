"""Quantized networks as the compiler takes them: a graph of layers with their integer parameters.

Each layer holds exactly the parameters :mod:`sim.golden` takes and names its sources
(``"input"`` or an earlier layer), so a :class:`Network` is both what the compiler maps
onto a core and what the golden model runs (:meth:`Network.golden`).

Precisions. The network's ``bits`` (8, 4 or 2) is that of its input and the default of
every layer. Each layer may set its own output precision (its field ``bits``, ``None``
for the network's): a tensor is at the precision of the layer producing it, a layer reads
its operands at its source tensor's precision, its weights (symmetric, as the MAC array's
modes are) at that same precision, and requantizes, clamps and packs its output at its
own. NorthPole's ResNet-50 is int8 in the first and last layers and int4 inside. Both
operands of an ``ADD`` must have one precision.
"""

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from hdl.params import Precision
from sim import golden
from sim.golden.conv import REQUANTIZATIONS, output_size

__all__ = ["TensorSpec", "Conv2d", "FullyConnected", "MaxPool2d", "GlobalAvgPool", "Add", "ConvAdd",
           "Network", "convolution", "fuse_adds", "segments"]


#: What a :class:`GlobalAvgPool` computes: ``MEAN`` or a whole-input ``AVERAGE_POOL_2D``.
GLOBAL_POOL_KINDS = ("mean", "average_pool")


@dataclass(frozen=True)
class TensorSpec:
    """Shape ``(height, width, channels)`` and quantization of an activation tensor."""
    shape: tuple
    scale: float
    zero_point: int


def _check_bits(layer):
    """A layer's output precision: ``None`` (the network's) or 8, 4 or 2."""
    if layer.bits is not None and (isinstance(layer.bits, bool) or layer.bits not in (8, 4, 2)):
        raise ValueError(f"layer {layer.name} bits must be one of 8, 4, 2 or None, not {layer.bits!r}")


def _frozen_array(values, dtype=np.int64):
    array = np.array(values, dtype=dtype)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Conv2d:
    """``CONV_2D`` (:func:`sim.golden.conv2d`); ``w`` is OHWI.

    ``pack`` > 1: each position of the conv computes ``pack`` adjacent output columns,
    ``w`` holding their channels one column after the other (``w.shape[0]`` is ``pack``
    times the output's channels). Its ``(H, W, pack * C)`` result, in HWC order, is the
    ``(H, pack * W, C)`` tensor it stands for, which :meth:`output` gives (an unfolded
    stem's column groups, :mod:`gen.unfold`).
    """
    name: str
    source: str
    w: np.ndarray
    bias: np.ndarray
    w_scale: object
    y_scale: float
    y_zp: int
    stride: tuple = (1, 1)
    padding: tuple = (0, 0, 0, 0)
    relu: bool = False
    relu6: bool = False
    bits: int = None
    pack: int = 1

    def __post_init__(self):
        object.__setattr__(self, "w", _frozen_array(self.w))
        object.__setattr__(self, "bias", _frozen_array(self.bias))
        _check_bits(self)
        if isinstance(self.pack, bool) or not isinstance(self.pack, int) or self.pack < 1 \
                or self.w.shape[0] % self.pack:
            raise ValueError(f"layer {self.name} pack must be a positive integer dividing its "
                             f"{self.w.shape[0]} output channels, not {self.pack!r}")

    @property
    def sources(self):
        return (self.source,)

    def output(self, x):
        height, width, _ = x.shape
        out_channels, kh, kw, _ = self.w.shape
        top, bottom, left, right = self.padding
        return TensorSpec((output_size(height, kh, self.stride[0], top, bottom),
                           output_size(width, kw, self.stride[1], left, right) * self.pack,
                           out_channels // self.pack),
                          self.y_scale, self.y_zp)

    def golden(self, bits, x, spec, out_bits=None):
        y = golden.conv2d(x, self.w, self.bias, x_scale=spec.scale, x_zp=spec.zero_point,
                          w_scale=self.w_scale, y_scale=self.y_scale, y_zp=self.y_zp,
                          stride=self.stride, padding=self.padding, relu=self.relu, bits=bits,
                          relu6=self.relu6, out_bits=out_bits)
        batch, height, width, channels = y.shape
        return y.reshape(batch, height, width * self.pack, channels // self.pack)

    def macs(self, x):
        height, width, channels = self.output(x).shape
        return height * width * channels * int(np.prod(self.w.shape[1:]))


@dataclass(frozen=True, eq=False)
class FullyConnected:
    """``FULLY_CONNECTED`` on a 1x1xI tensor (:func:`sim.golden.fully_connected`); ``w`` is (O, I).

    ``requantization`` is TFLite's integer-only arithmetic (``"integer"``, the default, as
    TFLite Micro computes it) or LiteRT's double-precision reference kernel (``"fp64"``,
    what an imported ``.tflite`` model runs on LiteRT).
    """
    name: str
    source: str
    w: np.ndarray
    bias: np.ndarray
    w_scale: object
    y_scale: float
    y_zp: int
    relu: bool = False
    relu6: bool = False
    requantization: str = "integer"
    bits: int = None

    def __post_init__(self):
        object.__setattr__(self, "w", _frozen_array(self.w))
        object.__setattr__(self, "bias", _frozen_array(self.bias))
        _check_bits(self)
        if self.requantization not in REQUANTIZATIONS:
            raise ValueError(f"fully connected layer {self.name} requantization must be one of "
                             f"{', '.join(REQUANTIZATIONS)}, not {self.requantization!r}")

    @property
    def sources(self):
        return (self.source,)

    def output(self, x):
        if x.shape[:2] != (1, 1):
            raise ValueError(f"fully connected layer {self.name} needs a 1x1 input, "
                             f"not {x.shape[0]}x{x.shape[1]}")
        return TensorSpec((1, 1, self.w.shape[0]), self.y_scale, self.y_zp)

    def golden(self, bits, x, spec, out_bits=None):
        y = golden.fully_connected(x.reshape(x.shape[0], -1), self.w, self.bias,
                                   x_scale=spec.scale, x_zp=spec.zero_point, w_scale=self.w_scale,
                                   y_scale=self.y_scale, y_zp=self.y_zp, relu=self.relu, bits=bits,
                                   requantization=self.requantization, relu6=self.relu6,
                                   out_bits=out_bits)
        return y.reshape(x.shape[0], 1, 1, -1)

    def macs(self, x):
        return int(self.w.size)


@dataclass(frozen=True, eq=False)
class MaxPool2d:
    """``MAX_POOL_2D`` (:func:`sim.golden.max_pool2d`): the output keeps the input's quantization."""
    name: str
    source: str
    kernel: tuple
    stride: tuple
    padding: tuple = (0, 0, 0, 0)
    bits: int = None

    def __post_init__(self):
        _check_bits(self)

    @property
    def sources(self):
        return (self.source,)

    def output(self, x):
        height, width, channels = x.shape
        top, bottom, left, right = self.padding
        return TensorSpec((output_size(height, self.kernel[0], self.stride[0], top, bottom),
                           output_size(width, self.kernel[1], self.stride[1], left, right),
                           channels), x.scale, x.zero_point)

    def golden(self, bits, x, spec, out_bits=None):
        return golden.max_pool2d(x, kernel=self.kernel, stride=self.stride, padding=self.padding,
                                 bits=bits, out_bits=out_bits)

    def macs(self, x):
        return 0


@dataclass(frozen=True, eq=False)
class GlobalAvgPool:
    """``MEAN`` over H and W (:func:`sim.golden.global_avg_pool`), to a 1x1xC tensor.

    ``kind="average_pool"`` is an ``AVERAGE_POOL_2D`` whose window is the whole input
    (:func:`sim.golden.global_average_pool2d`, no requantization: ``y_scale`` and ``y_zp``
    must be the input's).
    """
    name: str
    source: str
    y_scale: float
    y_zp: int
    kind: str = "mean"
    bits: int = None

    def __post_init__(self):
        _check_bits(self)
        if self.kind not in GLOBAL_POOL_KINDS:
            raise ValueError(f"global pool {self.name} kind must be one of "
                             f"{', '.join(GLOBAL_POOL_KINDS)}, not {self.kind!r}")

    @property
    def sources(self):
        return (self.source,)

    def output(self, x):
        return TensorSpec((1, 1, x.shape[2]), self.y_scale, self.y_zp)

    def golden(self, bits, x, spec, out_bits=None):
        if self.kind == "average_pool":
            if (np.float32(spec.scale), spec.zero_point) != (np.float32(self.y_scale), self.y_zp):
                raise ValueError(f"global pool {self.name} of kind average_pool must keep its "
                                 f"input's quantization {(spec.scale, spec.zero_point)!r}, not "
                                 f"{(self.y_scale, self.y_zp)!r}")
            return golden.global_average_pool2d(x, bits=bits, out_bits=out_bits).reshape(
                x.shape[0], 1, 1, -1)
        y = golden.global_avg_pool(x, x_scale=spec.scale, x_zp=spec.zero_point,
                                   y_scale=self.y_scale, y_zp=self.y_zp, bits=bits,
                                   out_bits=out_bits)
        return y.reshape(x.shape[0], 1, 1, -1)

    def macs(self, x):
        return 0


@dataclass(frozen=True, eq=False)
class Add:
    """Element-wise ``ADD`` of two equal-shape tensors (:func:`sim.golden.add`)."""
    name: str
    sources: tuple
    y_scale: float
    y_zp: int
    relu: bool = False
    relu6: bool = False
    bits: int = None

    def __post_init__(self):
        _check_bits(self)

    def output(self, a, b):
        if a.shape != b.shape:
            raise ValueError(f"add {self.name} needs inputs of one shape, not {a.shape!r} "
                             f"and {b.shape!r}")
        return TensorSpec(a.shape, self.y_scale, self.y_zp)

    def golden(self, bits, a, b, a_spec, b_spec, out_bits=None):
        return golden.add(a, b, a_scale=a_spec.scale, a_zp=a_spec.zero_point, b_scale=b_spec.scale,
                          b_zp=b_spec.zero_point, y_scale=self.y_scale, y_zp=self.y_zp,
                          relu=self.relu, bits=bits, relu6=self.relu6, out_bits=out_bits)

    def macs(self, a):
        return 0


@dataclass(frozen=True, eq=False)
class ConvAdd:
    """A :class:`Conv2d` whose one reader is an :class:`Add`, fused (the ``MACADD`` instruction).

    Named as the add, reading the conv's source and the add's other operand ``residual``
    (``sources``). The conv's output, the residual and the result share one precision,
    the layer's (``bits``); :meth:`golden` is the conv's golden followed by the add's,
    with the operands in the add's order.
    """
    conv: Conv2d
    add: Add

    def __post_init__(self):
        if self.conv.name not in self.add.sources:
            raise ValueError(f"fused add {self.add.name} must read conv {self.conv.name}, "
                             f"not {self.add.sources!r}")
        if self.conv.pack != 1:
            raise ValueError(f"fused add {self.add.name}: conv {self.conv.name} computes "
                             f"{self.conv.pack} columns a position; a fused add takes one")

    @property
    def name(self):
        return self.add.name

    @property
    def bits(self):
        return self.add.bits

    @property
    def source(self):
        """The conv's input."""
        return self.conv.source

    @property
    def residual(self):
        """The add's other operand."""
        return next(source for source in self.add.sources if source != self.conv.name)

    @property
    def sources(self):
        return (self.conv.source, self.residual)

    def _ordered(self, convolved, residual):
        return (convolved, residual) if self.add.sources[0] == self.conv.name else (residual, convolved)

    def output(self, x, residual):
        return self.add.output(*self._ordered(self.conv.output(x), residual))

    def golden(self, bits, x, residual, x_spec, residual_spec, out_bits=None):
        convolved = self.conv.golden(bits, x, x_spec, out_bits=out_bits)
        values = self._ordered(convolved, residual)
        specs = self._ordered(self.conv.output(x_spec), residual_spec)
        return self.add.golden(out_bits, *values, *specs, out_bits=out_bits)

    def macs(self, x):
        return self.conv.macs(x)


LAYER_TYPES = (Conv2d, FullyConnected, MaxPool2d, GlobalAvgPool, Add, ConvAdd)


@dataclass(frozen=True, eq=False)
class Network:
    """A graph of layers over one input tensor.

    Parameters
    ----------
    input : TensorSpec
    layers : tuple of layers
        In an order where every source comes first; names distinct, not ``"input"``.
    bits : 8, 4 or 2
        The input's precision, and that of every layer whose ``bits`` is ``None``
        (:attr:`precision`); :meth:`tensor_precision` gives each tensor's.
    outputs : tuple of str
        Layers whose results the host reads (default: the last layer).
    unfolding : gen.unfold.Unfolding or None
        ``None``: the host writes its frames as they are (``input``). Else the host unfolds
        each frame (:attr:`frame`) into ``input`` (:func:`gen.unfold.unfold_stem`), so
        ``input.shape`` must be ``unfolding.shape``.
    """
    input: TensorSpec
    layers: tuple
    bits: int = 8
    outputs: tuple = field(default=())
    unfolding: object = None

    def __post_init__(self):
        Precision.from_bits(self.bits)
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers:
            raise ValueError("network must have at least one layer")
        seen = {"input"}
        for layer in self.layers:
            if not isinstance(layer, LAYER_TYPES):
                raise TypeError(f"unsupported layer {layer!r}: the core runs "
                                f"{', '.join(t.__name__ for t in LAYER_TYPES)}")
            if layer.name in seen:
                raise ValueError(f"layer name {layer.name!r} is used twice or is 'input'")
            for source in layer.sources:
                if source not in seen:
                    raise ValueError(f"layer {layer.name} reads {source!r}, which no earlier "
                                     f"layer produces")
            seen.add(layer.name)
            if isinstance(layer, ConvAdd):
                self._check_fused(layer)
            if isinstance(layer, Add):
                a, b = (self.tensor_precision(source) for source in layer.sources)
                if a != b:
                    raise ValueError(f"add {layer.name} reads {layer.sources[0]} at int{a.bits} and "
                                     f"{layer.sources[1]} at int{b.bits}; both operands of an ADD "
                                     f"must have one precision")
        outputs = tuple(self.outputs) or (self.layers[-1].name,)
        for name in outputs:
            if name not in seen - {"input"}:
                raise ValueError(f"output {name!r} is not a layer of the network")
        object.__setattr__(self, "outputs", outputs)
        if self.unfolding is not None and tuple(self.input.shape) != self.unfolding.shape:
            raise ValueError(f"input shape must be the unfolding's {self.unfolding.shape!r}, "
                             f"not {tuple(self.input.shape)!r}")

    @property
    def frame(self):
        """The :class:`TensorSpec` of the frames the host holds: :attr:`input`, or the
        unfolding's frame."""
        return self.input if self.unfolding is None else self.unfolding.frame

    def host_input(self, frame):
        """The input tensor (``input``'s shape) of ``frame`` (:attr:`frame`'s shape): the
        frame itself, or unfolded by the host when the network's input is unfolded."""
        return frame if self.unfolding is None else self.unfolding.apply(frame)

    def _check_fused(self, layer):
        """A fused add's conv output, residual and result must share one precision."""
        bits = {"conv": self.bits if layer.conv.bits is None else layer.conv.bits,
                "residual": self.tensor_precision(layer.residual).bits,
                "result": self.bits if layer.bits is None else layer.bits}
        if len(set(bits.values())) > 1:
            raise ValueError(f"fused add {layer.name} needs its conv's output, residual and result at one "
                             f"precision, not {', '.join(f'{k} int{v}' for k, v in bits.items())}")

    @property
    def precision(self):
        """The input's and default :class:`~hdl.params.Precision` (of ``bits``)."""
        return Precision.from_bits(self.bits)

    def tensor_precision(self, name):
        """The :class:`~hdl.params.Precision` of tensor ``name`` (``"input"`` or a layer):
        the network's for the input, else its layer's ``bits`` or the network's."""
        if name == "input":
            return self.precision
        for layer in self.layers:
            if layer.name == name:
                return Precision.from_bits(self.bits if layer.bits is None else layer.bits)
        raise ValueError(f"tensor {name!r} is neither the input nor a layer of the network")

    def specs(self):
        """The :class:`TensorSpec` of the input and of every layer's output, by name."""
        specs = {"input": self.input}
        for layer in self.layers:
            specs[layer.name] = layer.output(*(specs[source] for source in layer.sources))
        return specs

    def golden(self, x):
        """Every layer's output for frame ``x`` (H, W, C), by name, as (H, W, C) int arrays
        (``"input"``: the input tensor, :meth:`host_input` of ``x``)."""
        specs = self.specs()
        values = {"input": np.asarray(self.host_input(x)).astype(np.int8)[None]}
        for layer in self.layers:
            inputs = [values[source] for source in layer.sources]
            sources = [specs[source] for source in layer.sources]
            values[layer.name] = layer.golden(self.tensor_precision(layer.sources[0]).bits, *inputs,
                                              *sources,
                                              out_bits=self.tensor_precision(layer.name).bits)
        return {name: value[0] for name, value in values.items()}

    def macs(self):
        """Useful multiply-accumulates of one inference, by layer name."""
        specs = self.specs()
        return {layer.name: layer.macs(specs[layer.sources[0]]) for layer in self.layers}


def convolution(layer):
    """The :class:`Conv2d` ``layer`` runs: itself, a :class:`ConvAdd`'s conv, or ``None``."""
    if isinstance(layer, ConvAdd):
        return layer.conv
    return layer if isinstance(layer, Conv2d) else None


def fuse_adds(network):
    """``network`` with each :class:`Conv2d` read only by an :class:`Add` (and not an output)
    fused with it into a :class:`ConvAdd`, where the conv's output, the other operand and
    the add's result share one precision; the outputs are the same, byte for byte."""
    readers = {layer.name: [] for layer in network.layers}
    for layer in network.layers:
        for source in layer.sources:
            if source in readers:
                readers[source].append(layer)
    convs = {layer.name: layer for layer in network.layers if isinstance(layer, Conv2d) and layer.pack == 1}
    fused, dropped = {}, set()
    for layer in network.layers:
        if not isinstance(layer, Add) or layer.sources[0] == layer.sources[1]:
            continue
        conv = next((convs[s] for s in layer.sources if s in convs and readers[s] == [layer]
                     and s not in network.outputs and s not in dropped), None)
        if conv is None:
            continue
        resolved = dataclasses.replace(conv, bits=network.tensor_precision(conv.name).bits)
        candidate = ConvAdd(resolved, layer)
        residual = network.tensor_precision(candidate.residual).bits
        if resolved.bits == residual == network.tensor_precision(layer.name).bits:
            fused[layer.name], dropped = candidate, dropped | {conv.name}
    layers = [fused.get(layer.name, layer) for layer in network.layers if layer.name not in dropped]
    return Network(network.input, layers, network.bits, network.outputs)


def segments(network):
    """The layer names of each run of layers between two cuts, in order: a cut follows every
    layer past which one tensor (that layer's output) is all the later layers read, so only
    that tensor crosses it."""
    groups, current, produced = [], [], {"input"}
    consumers = {}
    for number, layer in enumerate(network.layers):
        for source in layer.sources:
            consumers[source] = number
    for number, layer in enumerate(network.layers):
        current.append(layer.name)
        produced.add(layer.name)
        live = {name for name in produced if consumers.get(name, -1) > number}
        if live <= {layer.name}:
            groups.append(current)
            current = []
    return groups
