"""Model import: a full-integer int8 ``.tflite`` file to the compiler's layer graph.

The flatbuffer is read with the ``tflite`` package's generated schema (no interpreter).
Each operator becomes a layer of :class:`gen.network.Network` with exactly the integer
parameters LiteRT's reference kernels use, so that :meth:`Network.golden` of the imported
graph equals LiteRT's ``BUILTIN_REF`` output byte for byte:

- ``CONV_2D`` (per-tensor or per-channel weight scales, SAME or VALID, any stride, no
  dilation) to :class:`~gen.network.Conv2d`;
- ``FULLY_CONNECTED`` on a channel vector to :class:`~gen.network.FullyConnected` with
  LiteRT's double-precision requantization (``"fp64"``);
- ``ADD`` of two equal-shape tensors to :class:`~gen.network.Add`;
- ``MAX_POOL_2D`` to :class:`~gen.network.MaxPool2d`;
- ``MEAN`` over H and W, and ``AVERAGE_POOL_2D`` whose window is the whole input, to
  :class:`~gen.network.GlobalAvgPool`;
- ``PAD`` of H and W is folded into the padding of the convolution or max-pool reading
  it: a convolution's padding reads as the input zero point, which is what ``PAD`` fills
  int8 tensors with; a max-pool's padding never wins, which equals ``PAD``'s zero-point
  fill only when its input cannot lie below the zero point (a fused ReLU before it), so
  only then is it folded;
- ``RESHAPE`` that keeps a channel vector (every dimension but the last 1, as before a
  fully-connected layer) is dropped;
- ``QUANTIZE`` of a float32 graph input and ``DEQUANTIZE`` of a graph output, at the
  graph's edges only: the network runs from the int8 tensor after the one and up to the
  int8 tensor before the other (:meth:`Imported.quantize_input` and
  :meth:`Imported.dequantize_output` do their arithmetic outside the network).

Fused activations NONE, RELU and RELU6. Anything else (operator, data type, option,
shape) is refused with a :class:`ModelImportError` in one line naming the node, its
operator, the tensor and the supported set. A malformed file (an offset or index out of range,
a bad vtable, a constant whose bytes do not match its shape) is refused before anything is
read from it (:mod:`gen.flatbuffer`), with a :class:`MalformedModelError` naming the file.

Run as ``python -m gen.tflite model.tflite`` to print the imported layer graph.
"""

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tflite
from tflite.utils import BUILTIN_OPCODE2NAME

from sim.golden.checks import MAX_PADDING

from .entry import command
from .flatbuffer import FlatbufferError, Nested, Scalar, String, Table, Tables, Union, Vector, verify
from .network import Add, Conv2d, FullyConnected, GlobalAvgPool, MaxPool2d, Network, TensorSpec

__all__ = ["ModelImportError", "MalformedModelError", "Imported", "import_tflite", "SUPPORTED_OPERATORS",
           "SUPPORTED_ACTIVATIONS", "same_padding"]

logger = logging.getLogger(__name__)

#: Operators the importer takes.
SUPPORTED_OPERATORS = ("ADD", "AVERAGE_POOL_2D", "CONV_2D", "DEQUANTIZE", "FULLY_CONNECTED",
                       "MAX_POOL_2D", "MEAN", "PAD", "QUANTIZE", "RESHAPE")
#: Fused activations the importer takes.
SUPPORTED_ACTIVATIONS = ("NONE", "RELU", "RELU6")

_TYPE_NAMES = {value: name for name, value in vars(tflite.TensorType).items()
               if not name.startswith("_")}
_ACTIVATION_NAMES = {value: name for name, value in vars(tflite.ActivationFunctionType).items()
                     if not name.startswith("_")}
_OPTIONS = {"CONV_2D": tflite.Conv2DOptions, "MAX_POOL_2D": tflite.Pool2DOptions,
            "AVERAGE_POOL_2D": tflite.Pool2DOptions, "FULLY_CONNECTED": tflite.FullyConnectedOptions,
            "ADD": tflite.AddOptions, "MEAN": tflite.ReducerOptions}


class ModelImportError(ValueError):
    """The model cannot be imported; the message names the node, operator, tensor and what is supported."""


class MalformedModelError(ModelImportError):
    """The file is not a well-formed TFLite flatbuffer; the message names the file (when
    imported from one) and what is wrong: an offset out of range, a bad vtable, an index
    past its table, a constant whose data does not match its shape."""


# The part of TFLite's schema (``schema.fbs``) the importer reads, checked by
# :func:`gen.flatbuffer.verify` before any generated reader touches the file.
_BYTE, _INT, _LONG = Scalar(1), Scalar(4), Scalar(8)
#: The options tables of the operators taken, by name; each field the importer reads.
_OPTIONS_TABLES = {
    "Conv2DOptions": {0: ("padding", _BYTE), 1: ("stride_w", _INT), 2: ("stride_h", _INT),
                      3: ("fused_activation_function", _BYTE), 4: ("dilation_w_factor", _INT),
                      5: ("dilation_h_factor", _INT)},
    "Pool2DOptions": {0: ("padding", _BYTE), 1: ("stride_w", _INT), 2: ("stride_h", _INT),
                      3: ("filter_width", _INT), 4: ("filter_height", _INT),
                      5: ("fused_activation_function", _BYTE)},
    "FullyConnectedOptions": {0: ("fused_activation_function", _BYTE), 1: ("weights_format", _BYTE)},
    "AddOptions": {0: ("fused_activation_function", _BYTE)},
    "ReducerOptions": {0: ("keep_dims", _BYTE)}}
_SCHEMA = Table("Model", {
    0: ("version", _INT),
    1: ("operator_codes", Tables(Table("OperatorCode", {
        0: ("deprecated_builtin_code", _BYTE), 1: ("custom_code", String()), 2: ("version", _INT),
        3: ("builtin_code", _INT)}))),
    2: ("subgraphs", Tables(Table("SubGraph", {
        0: ("tensors", Tables(Table("Tensor", {
            0: ("shape", Vector(4)), 1: ("type", _BYTE), 2: ("buffer", _INT), 3: ("name", String()),
            4: ("quantization", Nested(Table("QuantizationParameters", {
                2: ("scale", Vector(4)), 3: ("zero_point", Vector(8)),
                6: ("quantized_dimension", _INT)})))}))),
        1: ("inputs", Vector(4)), 2: ("outputs", Vector(4)),
        3: ("operators", Tables(Table("Operator", {
            0: ("opcode_index", _INT), 1: ("inputs", Vector(4)), 2: ("outputs", Vector(4)),
            3: ("builtin_options_type", _BYTE),
            4: ("builtin_options", Union(3, {
                getattr(tflite.BuiltinOptions, name): Table(name, fields)
                for name, fields in _OPTIONS_TABLES.items()}))}))),
        4: ("name", String())}))),
    3: ("description", String()),
    4: ("buffers", Tables(Table("Buffer", {0: ("data", Vector(1)), 1: ("offset", _LONG),
                                           2: ("size", _LONG)})))})


def same_padding(size, kernel, stride):
    """TFLite's SAME padding of one axis (``ComputePaddingHeightWidth``): ``(before, after)``.

    ``ceil(size / stride)`` outputs; the odd padding pixel goes after.
    """
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


@dataclass(frozen=True)
class _Tensor:
    index: int
    name: str
    type: str
    shape: tuple
    data: object            # numpy array of a constant, else None
    scales: object          # float32 array, or None when not quantized
    zero_points: object     # int64 array, or None
    quantized_dimension: int


@dataclass(frozen=True)
class Imported:
    """An imported model: its layer graph and how to feed and read it as LiteRT does.

    Attributes
    ----------
    network : Network
        At 8 bits; its input is the model's int8 input tensor (after a ``QUANTIZE`` edge).
    input_shape : tuple
        The int8 input tensor's shape, batch first (``(1, H, W, C)``).
    input_quantization : (float, int)
        Its scale and zero point.
    float_input : bool
        The graph input is float32 and goes through a ``QUANTIZE``.
    outputs : tuple of (layer name, shape, (scale, zero point), dequantized)
        Per graph output: the layer computing it, the int8 tensor's shape as the model
        gives it, its quantization, and whether a ``DEQUANTIZE`` follows.
    """
    network: Network
    input_shape: tuple
    input_quantization: tuple
    float_input: bool
    outputs: tuple

    def quantize_input(self, x):
        """Float values to the int8 input, as LiteRT's ``QUANTIZE`` (``AffineQuantize``) does:
        ``round(x / scale) + zero_point`` (float32 division, a tie away from zero), clamped."""
        scale, zero_point = self.input_quantization
        quotient = np.asarray(x, np.float32) / np.float32(scale)
        magnitude = np.floor(np.abs(quotient.astype(np.float64)) + 0.5)  # exact for a float32
        rounded = np.sign(quotient) * magnitude + zero_point
        return np.clip(rounded, -128, 127).astype(np.int8)

    def dequantize_output(self, y, output=0):
        """int8 output ``output`` to float32, as ``DEQUANTIZE`` does: ``scale * (y - zero_point)``."""
        _, _, (scale, zero_point), _ = self.outputs[output]
        return (np.float32(scale) * (np.asarray(y, np.int32) - zero_point).astype(np.float32))

    def run(self, frame):
        """The int8 graph outputs of one int8 input ``frame`` (shaped as the input tensor,
        batch 1), from :meth:`Network.golden`, shaped as the model gives them."""
        frame = np.asarray(frame)
        if frame.shape != self.input_shape and frame.shape != self.input_shape[1:]:
            raise ValueError(f"frame must have shape {self.input_shape!r}, not {frame.shape!r}")
        values = self.network.golden(frame.reshape(self.network.input.shape))
        return [values[name].reshape(shape) for name, shape, _, _ in self.outputs]


class _Importer:
    def __init__(self, data, source=None):
        self.data = data
        self.source = source
        try:
            verify(data, _SCHEMA, identifier=b"TFL3")
        except FlatbufferError as error:
            self.malformed(f"not a TFLite flatbuffer: {error}")
        self.model = tflite.Model.GetRootAs(data, 0)
        if self.model.SubgraphsLength() != 1:
            raise ModelImportError(f"model has {self.model.SubgraphsLength()} subgraphs; the "
                                   f"importer takes one")
        self.graph = self.model.Subgraphs(0)
        self.tensors = [self._tensor(i) for i in range(self.graph.TensorsLength())]
        self.operators = [self.graph.Operators(i) for i in range(self.graph.OperatorsLength())]
        self.opnames = [self._opname(node, op) for node, op in enumerate(self.operators)]
        # Which operators read each tensor.
        self.readers = {}
        for node, op in enumerate(self.operators):
            for index in self._indices(op.InputsAsNumpy() if op.InputsLength() else [],
                                       f"operator {node}'s input", optional=True):
                if index >= 0:
                    self.readers.setdefault(index, []).append(node)
            self._indices(op.OutputsAsNumpy() if op.OutputsLength() else [],
                          f"operator {node}'s output")
        self.graph_inputs = self._indices(self.graph.InputsAsNumpy() if self.graph.InputsLength()
                                          else [], "graph input")
        self.graph_outputs = self._indices(self.graph.OutputsAsNumpy()
                                           if self.graph.OutputsLength() else [], "graph output")
        self.names = {}         # tensor index -> network tensor name
        self.specs = {}         # network tensor name -> TensorSpec
        self.floors = {}        # network tensor name -> True when no value lies below its zero point
        self.pads = {}          # tensor index -> (source index, (top, bottom, left, right))
        self.layers = []

    def malformed(self, what):
        """Raise :class:`MalformedModelError`: ``what`` is wrong with the file."""
        raise MalformedModelError(what if self.source is None else f"{self.source}: {what}")

    # Reading the flatbuffer ---------------------------------------------------------------

    def _indices(self, indices, role, optional=False):
        """The tensor indices ``indices`` as a list, each checked to name a tensor (or to be
        -1, no tensor, when ``optional``)."""
        indices = [int(index) for index in indices]
        lowest = -1 if optional else 0
        for index in indices:
            if not lowest <= index < len(self.tensors):
                self.malformed(f"{role} names tensor {index}; the graph has tensors 0 to "
                               f"{len(self.tensors) - 1}" + (" (and -1, none)" if optional else ""))
        return indices

    _DTYPES = {"INT8": np.int8, "INT32": np.int32, "INT64": np.int64, "FLOAT32": np.float32,
               "UINT8": np.uint8, "INT16": np.int16}

    def _tensor(self, index):
        tensor = self.graph.Tensors(index)
        name = tensor.Name().decode() if tensor.Name() else f"#{index}"
        shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
        if any(d < 0 for d in shape):
            self.malformed(f"tensor {name!r} has shape {list(shape)}; a dimension cannot be negative")
        if tensor.Buffer() >= self.model.BuffersLength():
            self.malformed(f"tensor {name!r} reads buffer {tensor.Buffer()}; the model has "
                           f"{self.model.BuffersLength()} buffers")
        buffer = self.model.Buffers(tensor.Buffer())
        type_name = _TYPE_NAMES.get(tensor.Type(), str(tensor.Type()))
        raw = None
        if buffer.DataLength():
            raw = buffer.DataAsNumpy().tobytes()
        elif buffer.Offset() > 1:
            if buffer.Offset() + buffer.Size() > len(self.data):
                self.malformed(f"tensor {name!r} reads bytes {buffer.Offset()} to "
                               f"{buffer.Offset() + buffer.Size()} of a {len(self.data)}-byte file")
            raw = self.data[buffer.Offset():buffer.Offset() + buffer.Size()]
        data = None
        if raw is not None and type_name in self._DTYPES:
            dtype = np.dtype(self._DTYPES[type_name]).newbyteorder("<")
            if len(raw) != int(np.prod(shape, dtype=object)) * dtype.itemsize:
                self.malformed(f"tensor {name!r} of shape {list(shape)} and type {type_name} "
                               f"needs {int(np.prod(shape, dtype=object)) * dtype.itemsize} bytes; "
                               f"its buffer holds {len(raw)}")
            data = np.frombuffer(raw, dtype).reshape(shape)
        quantization = tensor.Quantization()
        scales = zero_points = None
        dimension = 0
        if quantization is not None and quantization.ScaleLength():
            scales = quantization.ScaleAsNumpy().astype(np.float32)
            zero_points = (quantization.ZeroPointAsNumpy().astype(np.int64)
                           if quantization.ZeroPointLength() else np.zeros(len(scales), np.int64))
            if len(zero_points) != len(scales):
                self.malformed(f"tensor {name!r} has {len(scales)} scales and {len(zero_points)} "
                               f"zero points; a quantized tensor has one zero point a scale")
            dimension = quantization.QuantizedDimension()
        return _Tensor(index, name, type_name, shape, data, scales, zero_points, dimension)

    def _opname(self, node, op):
        if op.OpcodeIndex() >= self.model.OperatorCodesLength():
            self.malformed(f"operator {node} has opcode index {op.OpcodeIndex()}; the model has "
                           f"{self.model.OperatorCodesLength()} operator codes")
        code = self.model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == tflite.BuiltinOperator.CUSTOM:
            custom = code.CustomCode().decode() if code.CustomCode() else "?"
            return f"CUSTOM({custom})"
        return BUILTIN_OPCODE2NAME.get(builtin, f"OPERATOR_{builtin}")

    def _inputs(self, node):
        op = self.operators[node]
        return op.InputsAsNumpy().tolist() if op.InputsLength() else []

    def _outputs(self, node):
        op = self.operators[node]
        return op.OutputsAsNumpy().tolist() if op.OutputsLength() else []

    def _options(self, node):
        op = self.operators[node]
        table = op.BuiltinOptions()
        options = _OPTIONS[self.opnames[node]]()
        if table is None:
            self.refuse(node, "has no builtin options", "the converter's options")
        expected = getattr(tflite.BuiltinOptions, type(options).__name__)
        if op.BuiltinOptionsType() != expected:
            self.malformed(f"operator {node} {self.opnames[node]} carries builtin options of type "
                           f"{op.BuiltinOptionsType()}; its options are of type {expected} "
                           f"({type(options).__name__})")
        options.Init(table.Bytes, table.Pos)
        return options

    # Refusals -----------------------------------------------------------------------------

    def refuse(self, node, what, supported, tensor=None):
        if tensor is None:
            outputs = self._outputs(node)
            tensor = outputs[0] if outputs else None
        where = f" (tensor {self.tensors[tensor].name!r})" if tensor is not None else ""
        raise ModelImportError(f"node {node} {self.opnames[node]}{where}: {what}; "
                               f"supported: {supported}")

    def _activation(self, node, options):
        code = options.FusedActivationFunction()
        name = _ACTIVATION_NAMES.get(code, str(code))
        if name not in SUPPORTED_ACTIVATIONS:
            self.refuse(node, f"fused activation {name} is not supported",
                        ", ".join(SUPPORTED_ACTIVATIONS))
        return {"relu": name == "RELU", "relu6": name == "RELU6"}

    def _int8(self, node, index, role="activation"):
        tensor = self.tensors[index]
        if tensor.type != "INT8":
            self.refuse(node, f"{role} data type {tensor.type} is not supported",
                        "INT8 activations and weights, INT32 biases", index)
        if tensor.scales is None:
            self.refuse(node, f"{role} is not quantized", "quantized int8 tensors", index)
        bad = [float(s) for s in tensor.scales if not (np.isfinite(s) and s > 0)]
        if bad:
            self.refuse(node, f"{role} scale {bad[0]!r}", "finite positive scales", index)
        bad = [int(z) for z in tensor.zero_points if not -128 <= z <= 127]
        if bad:
            self.refuse(node, f"{role} zero point {bad[0]}", "int8 zero points in [-128, 127]", index)
        return tensor

    def _per_tensor(self, node, index):
        tensor = self._int8(node, index)
        if len(tensor.scales) != 1:
            self.refuse(node, f"activation has {len(tensor.scales)} scales",
                        "per-tensor activation quantization", index)
        return float(tensor.scales[0]), int(tensor.zero_points[0])

    def _constant(self, node, index, role):
        tensor = self.tensors[index]
        if tensor.data is None:
            self.refuse(node, f"{role} is not a constant tensor", f"constant {role}s", index)
        return tensor

    def _source(self, node, index):
        """The network tensor name of activation ``index`` read by ``node``."""
        if index not in self.names:
            if index in self.pads:
                self.refuse(node, "reads a PAD output", "PAD folded into CONV_2D or MAX_POOL_2D",
                            index)
            self.refuse(node, "reads a tensor no supported operator produces",
                        "activations from the graph input or a supported operator", index)
        return self.names[index]

    def _hwc(self, node, index):
        """The (H, W, C) of a 4-D batch-1 activation."""
        shape = self.tensors[index].shape
        if len(shape) != 4 or shape[0] != 1:
            self.refuse(node, f"activation shape {list(shape)} is not supported",
                        "4-D NHWC activations of batch 1", index)
        return shape[1:]

    def _layer(self, node, layer, index, floor=False):
        self.layers.append(layer)
        self.names[index] = layer.name
        self.specs[layer.name] = None
        self.floors[layer.name] = floor

    def _name(self, node):
        return f"{self.opnames[node].lower()}_{node}"

    # Operators ----------------------------------------------------------------------------

    def _padded_source(self, node, index):
        """The source of ``index`` and the explicit padding of a PAD before it."""
        if index in self.pads:
            source, padding = self.pads[index]
            return source, padding
        return index, (0, 0, 0, 0)

    def _weighted_inputs(self, node):
        """The input, weights and bias tensor indices of a conv or FC node (bias -1 if none)."""
        inputs = self._inputs(node)
        if len(inputs) not in (2, 3):
            self.refuse(node, f"has {len(inputs)} inputs", "input, weights and optional bias")
        return inputs[0], inputs[1], inputs[2] if len(inputs) == 3 else -1

    def conv_2d(self, node):
        x_index, w_index, bias_index = self._weighted_inputs(node)
        options = self._options(node)
        if (options.DilationHFactor(), options.DilationWFactor()) != (1, 1):
            self.refuse(node, f"dilation {(options.DilationHFactor(), options.DilationWFactor())} "
                        f"is not supported", "dilation (1, 1)")
        source, explicit = self._padded_source(node, x_index)
        self._per_tensor(node, x_index)
        height, width, channels = self._hwc(node, x_index)
        w = self._weights(node, w_index, 4)
        out_channels, kh, kw, in_channels = w.data.shape
        if in_channels != channels:
            self.refuse(node, f"weights of {in_channels} input channels read {channels}",
                        "ungrouped convolutions", w_index)
        stride = (options.StrideH(), options.StrideW())
        if options.Padding() == tflite.Padding.SAME:
            same = same_padding(height, kh, stride[0]) + same_padding(width, kw, stride[1])
        else:
            same = (0, 0, 0, 0)
        padding = tuple(a + b for a, b in zip(explicit, same))
        y_index = self._single_output(node)
        y_scale, y_zp = self._per_tensor(node, y_index)
        activation = self._activation(node, options)
        layer = Conv2d(self._name(node), self._source(node, source), w.data.astype(np.int64),
                       self._bias(node, bias_index, out_channels), self._weight_scales(w),
                       y_scale, y_zp, stride=stride, padding=padding, **activation)
        self._layer(node, layer, y_index, floor=activation["relu"] or activation["relu6"])

    def _weights(self, node, index, rank):
        tensor = self._constant(node, index, "weights")
        self._int8(node, index, "weights")
        if len(tensor.shape) != rank:
            self.refuse(node, f"weights of shape {list(tensor.shape)}", f"{rank}-D weights", index)
        if np.any(tensor.zero_points != 0):
            self.refuse(node, "weights have a non-zero zero point", "symmetric weights", index)
        if len(tensor.scales) not in (1, tensor.shape[0]) or (
                len(tensor.scales) > 1 and tensor.quantized_dimension != 0):
            self.refuse(node, f"weights quantized along dimension {tensor.quantized_dimension} "
                        f"with {len(tensor.scales)} scales",
                        "per-tensor or per-output-channel weight scales", index)
        return tensor

    @staticmethod
    def _weight_scales(w):
        return float(w.scales[0]) if len(w.scales) == 1 else [float(s) for s in w.scales]

    def _bias(self, node, index, out_channels):
        if index < 0:
            return np.zeros(out_channels, np.int64)
        tensor = self._constant(node, index, "bias")
        if tensor.type != "INT32":
            self.refuse(node, f"bias data type {tensor.type} is not supported", "INT32 biases",
                        index)
        if tensor.shape != (out_channels,):
            self.refuse(node, f"bias of shape {list(tensor.shape)}",
                        f"one bias per output channel ({out_channels})", index)
        return tensor.data.astype(np.int64)

    def _single_output(self, node):
        outputs = self._outputs(node)
        if len(outputs) != 1:
            self.refuse(node, f"has {len(outputs)} outputs", "one output")
        return outputs[0]

    def fully_connected(self, node):
        x_index, w_index, bias_index = self._weighted_inputs(node)
        options = self._options(node)
        if options.WeightsFormat() != tflite.FullyConnectedOptionsWeightsFormat.DEFAULT:
            self.refuse(node, f"weights format {options.WeightsFormat()} is not supported",
                        "the DEFAULT weights format")
        self._per_tensor(node, x_index)
        w = self._weights(node, w_index, 2)
        out_channels, in_channels = w.data.shape
        shape = self.tensors[x_index].shape
        if int(np.prod(shape)) != in_channels or shape[-1] != in_channels:
            self.refuse(node, f"input of shape {list(shape)} for {in_channels} inputs",
                        "a batch-1 channel vector (every dimension but the last 1)", x_index)
        y_index = self._single_output(node)
        y_scale, y_zp = self._per_tensor(node, y_index)
        activation = self._activation(node, options)
        layer = FullyConnected(self._name(node), self._source(node, x_index),
                               w.data.astype(np.int64), self._bias(node, bias_index, out_channels),
                               self._weight_scales(w), y_scale, y_zp, requantization="fp64",
                               **activation)
        self._layer(node, layer, y_index, floor=activation["relu"] or activation["relu6"])

    def add(self, node):
        inputs = self._inputs(node)
        if len(inputs) != 2:
            self.refuse(node, f"has {len(inputs)} inputs", "two inputs")
        a, b = inputs
        for index in (a, b):
            self._per_tensor(node, index)
            if self.tensors[index].data is not None:
                self.refuse(node, "adds a constant", "the sum of two activations", index)
        if self.tensors[a].shape != self.tensors[b].shape:
            self.refuse(node, f"adds shapes {list(self.tensors[a].shape)} and "
                        f"{list(self.tensors[b].shape)}", "two tensors of one shape (no broadcast)")
        self._hwc(node, a)
        options = self._options(node)
        y_index = self._single_output(node)
        y_scale, y_zp = self._per_tensor(node, y_index)
        activation = self._activation(node, options)
        layer = Add(self._name(node), (self._source(node, a), self._source(node, b)), y_scale, y_zp,
                    **activation)
        self._layer(node, layer, y_index, floor=activation["relu"] or activation["relu6"])

    def _same_quantization(self, node, x_index, y_index):
        if self._per_tensor(node, x_index) != self._per_tensor(node, y_index):
            self.refuse(node, f"output quantization {self._per_tensor(node, y_index)} differs from "
                        f"the input's {self._per_tensor(node, x_index)}",
                        "an output quantized as its input", y_index)

    def max_pool_2d(self, node):
        (x_index,) = self._inputs(node)
        options = self._options(node)
        if self._activation(node, options) != {"relu": False, "relu6": False}:
            self.refuse(node, "a fused activation on a max-pool is not supported",
                        "fused activation NONE")
        source, explicit = self._padded_source(node, x_index)
        height, width, _ = self._hwc(node, x_index)
        y_index = self._single_output(node)
        self._same_quantization(node, x_index, y_index)
        kernel = (options.FilterHeight(), options.FilterWidth())
        stride = (options.StrideH(), options.StrideW())
        if options.Padding() == tflite.Padding.SAME:
            same = same_padding(height, kernel[0], stride[0]) + same_padding(width, kernel[1],
                                                                               stride[1])
        else:
            same = (0, 0, 0, 0)
        source_name = self._source(node, source)
        if any(explicit) and not self.floors.get(source_name, False):
            self.refuse(node, f"a PAD before it fills with the zero point, which can win over "
                        f"{source_name}'s values", "PAD before a max-pool only after a fused ReLU",
                        x_index)
        padding = tuple(a + b for a, b in zip(explicit, same))
        if max(padding[:2]) >= kernel[0] or max(padding[2:]) >= kernel[1]:
            self.refuse(node, f"padding {padding} reaches a whole window of {kernel}",
                        "padding smaller than the kernel")
        layer = MaxPool2d(self._name(node), source_name, kernel, stride, padding)
        self._layer(node, layer, y_index, floor=self.floors.get(source_name, False))

    def average_pool_2d(self, node):
        (x_index,) = self._inputs(node)
        options = self._options(node)
        height, width, _ = self._hwc(node, x_index)
        y_index = self._single_output(node)
        kernel = (options.FilterHeight(), options.FilterWidth())
        padding = (same_padding(height, kernel[0], options.StrideH())
                   + same_padding(width, kernel[1], options.StrideW())
                   if options.Padding() == tflite.Padding.SAME else (0, 0, 0, 0))
        if kernel != (height, width) or any(padding) or self.tensors[y_index].shape[1:3] != (1, 1):
            self.refuse(node, f"window {kernel} over {height}x{width} with padding {padding}",
                        "a global average pool (the window the whole input, no padding)")
        if self._activation(node, options) != {"relu": False, "relu6": False}:
            self.refuse(node, "a fused activation on an average pool is not supported",
                        "fused activation NONE")
        self._same_quantization(node, x_index, y_index)
        y_scale, y_zp = self._per_tensor(node, y_index)
        layer = GlobalAvgPool(self._name(node), self._source(node, x_index), y_scale, y_zp,
                              kind="average_pool")
        self._layer(node, layer, y_index)

    def mean(self, node):
        x_index, axis_index = self._inputs(node)
        self._per_tensor(node, x_index)
        self._hwc(node, x_index)
        axes = self._constant(node, axis_index, "axes").data
        if sorted(int(a) % 4 for a in np.ravel(axes)) != [1, 2]:
            self.refuse(node, f"mean over axes {np.ravel(axes).tolist()}",
                        "a mean over H and W (axes 1 and 2)", axis_index)
        y_index = self._single_output(node)
        y_scale, y_zp = self._per_tensor(node, y_index)
        layer = GlobalAvgPool(self._name(node), self._source(node, x_index), y_scale, y_zp)
        self._layer(node, layer, y_index)

    def pad(self, node):
        inputs = self._inputs(node)
        if len(inputs) != 2:
            self.refuse(node, f"has {len(inputs)} inputs", "input and constant paddings")
        x_index, paddings_index = inputs
        self._hwc(node, x_index)
        y_index = self._single_output(node)
        self._same_quantization(node, x_index, y_index)
        paddings = self._constant(node, paddings_index, "paddings").data
        paddings = np.asarray(paddings, np.int64).reshape(-1, 2)
        if (paddings.shape != (4, 2) or paddings[0].any() or paddings[3].any() or (paddings < 0).any()
                or (paddings > MAX_PADDING).any()):
            self.refuse(node, f"paddings {paddings.tolist()}",
                        f"padding of H and W only, 0 to {MAX_PADDING} a side", paddings_index)
        readers = self.readers.get(y_index, [])
        if (y_index in self.graph_outputs or not readers
                or any(self.opnames[r] not in ("CONV_2D", "MAX_POOL_2D") for r in readers)):
            self.refuse(node, "its output is read by "
                        f"{', '.join(self.opnames[r] for r in readers) or 'the host'}",
                        "PAD read only by CONV_2D or MAX_POOL_2D, into whose padding it folds",
                        y_index)
        if x_index in self.pads:
            self.refuse(node, "pads a PAD output", "one PAD before a layer", x_index)
        self._source(node, x_index)
        (top, bottom), (left, right) = paddings[1].tolist(), paddings[2].tolist()
        self.pads[y_index] = (x_index, (top, bottom, left, right))

    def reshape(self, node):
        inputs = self._inputs(node)
        x_index = inputs[0]
        y_index = self._single_output(node)
        x_shape, y_shape = self.tensors[x_index].shape, self.tensors[y_index].shape
        if (int(np.prod(x_shape[:-1])) != 1 or int(np.prod(y_shape[:-1])) != 1
                or x_shape[-1] != y_shape[-1]):
            self.refuse(node, f"reshape from {list(x_shape)} to {list(y_shape)}",
                        "reshapes of a channel vector (every dimension but the last 1)", x_index)
        self._same_quantization(node, x_index, y_index)
        self.names[y_index] = self._source(node, x_index)

    def quantize(self, node):
        (x_index,) = self._inputs(node)
        if x_index not in self.graph_inputs or self.tensors[x_index].type != "FLOAT32":
            self.refuse(node, "requantizes inside the graph",
                        "QUANTIZE of a float32 graph input only", x_index)
        # Handled in run() as the network's input.

    def dequantize(self, node):
        (x_index,) = self._inputs(node)
        y_index = self._single_output(node)
        if y_index not in self.graph_outputs or self.tensors[x_index].type != "INT8":
            self.refuse(node, "dequantizes inside the graph",
                        "DEQUANTIZE of an int8 tensor into a graph output only", x_index)
        self.names[y_index] = self._source(node, x_index)

    # The whole graph ----------------------------------------------------------------------

    def run(self):
        for node, name in enumerate(self.opnames):
            if name not in SUPPORTED_OPERATORS:
                self.refuse(node, "operator not supported", ", ".join(SUPPORTED_OPERATORS))
        inputs = [i for i in self.graph_inputs if self.tensors[i].data is None]
        if len(inputs) != 1:
            raise ModelImportError(f"model has {len(inputs)} graph inputs; the importer takes one")
        (graph_input,) = inputs
        tensor = self.tensors[graph_input]
        float_input = False
        readers = self.readers.get(graph_input, [])
        if tensor.type == "FLOAT32" and readers and all(self.opnames[r] == "QUANTIZE"
                                                         for r in readers):
            float_input = True
            first = readers[0]
            self._int8(first, self._outputs(first)[0])
            int8_inputs = {self._outputs(r)[0] for r in readers}
            if len(int8_inputs) != 1:
                self.refuse(readers[1], "quantizes the input twice", "one QUANTIZE of the input")
            (graph_input,) = int8_inputs
        elif readers:
            self._int8(readers[0], graph_input)
        tensor = self.tensors[graph_input]
        if len(tensor.shape) != 4 or tensor.shape[0] != 1:
            raise ModelImportError(f"input tensor {tensor.name!r} has shape {list(tensor.shape)}; "
                                   f"supported: 4-D NHWC of batch 1")
        if len(tensor.scales) != 1:
            raise ModelImportError(f"input tensor {tensor.name!r} has {len(tensor.scales)} scales; "
                                   f"supported: per-tensor quantization")
        input_quantization = (float(tensor.scales[0]), int(tensor.zero_points[0]))
        self.names[graph_input] = "input"
        self.floors["input"] = False
        for node, name in enumerate(self.opnames):
            try:
                getattr(self, name.lower())(node)
            except ModelImportError:
                raise
            except ValueError as error:     # a layer refusing the parameters the model gives it
                raise ModelImportError(f"node {node} {name}: {error}") from None
        outputs = []
        for index in self.graph_outputs:
            dequantized = False
            producer = [n for n in range(len(self.operators)) if index in self._outputs(n)]
            if producer and self.opnames[producer[0]] == "DEQUANTIZE":
                dequantized = True
                index = self._inputs(producer[0])[0]
            if index not in self.names or self.names[index] == "input":
                raise ModelImportError(f"graph output {self.tensors[index].name!r} is not "
                                       f"computed by a supported operator")
            tensor = self.tensors[index]
            outputs.append((self.names[index], tensor.shape,
                            (float(tensor.scales[0]), int(tensor.zero_points[0])), dequantized))
        network = Network(TensorSpec(tuple(self.tensors[graph_input].shape[1:]),
                                     *input_quantization),
                          self.layers, 8, tuple(dict.fromkeys(name for name, *_ in outputs)))
        self._check_shapes(network)
        return Imported(network, tuple(self.tensors[graph_input].shape), input_quantization,
                        float_input, tuple(outputs))

    def _check_shapes(self, network):
        """Every layer's output shape as the network computes it equals the model's tensor."""
        try:
            specs = network.specs()
        except ValueError as error:
            raise ModelImportError(f"the model's tensor shapes do not fit its layers: {error}") from None
        for index, name in self.names.items():
            if name == "input":
                continue
            shape = self.tensors[index].shape
            expected = specs[name].shape
            if int(np.prod(shape)) != int(np.prod(expected)) or shape[-1] != expected[-1]:
                raise ModelImportError(f"tensor {self.tensors[index].name!r} has shape "
                                       f"{list(shape)} where layer {name} computes {expected}")


def import_tflite(model):
    """Import a full-integer int8 ``.tflite`` model (a path or the file's bytes) as :class:`Imported`.

    Raises :class:`ModelImportError` in one line naming the node, operator, tensor and the
    supported set for anything the importer does not take.
    """
    if isinstance(model, (str, Path)):
        data = Path(model).read_bytes()
    elif isinstance(model, (bytes, bytearray)):
        data = bytes(model)
    else:
        raise TypeError(f"model must be a path or bytes, not {model!r}")
    return _Importer(data, model if isinstance(model, (str, Path)) else None).run()


def describe(imported):
    """The layer graph as text lines: one per layer, with its output shape and quantization."""
    network = imported.network
    specs = network.specs()
    spec = network.input
    lines = [f"input {spec.shape} scale {spec.scale:.6g} zero point {spec.zero_point}"
             + (" (float32 input through QUANTIZE)" if imported.float_input else "")]
    for layer in network.layers:
        spec = specs[layer.name]
        detail = ""
        if isinstance(layer, Conv2d):
            detail = (f"{layer.w.shape[1]}x{layer.w.shape[2]} stride {layer.stride} padding "
                      f"{layer.padding}")
        elif isinstance(layer, MaxPool2d):
            detail = f"{layer.kernel} stride {layer.stride} padding {layer.padding}"
        elif isinstance(layer, FullyConnected):
            detail = f"{layer.w.shape[1]} -> {layer.w.shape[0]} ({layer.requantization})"
        elif isinstance(layer, GlobalAvgPool):
            detail = layer.kind
        activation = " relu" if getattr(layer, "relu", False) else ""
        activation += " relu6" if getattr(layer, "relu6", False) else ""
        lines.append(f"{layer.name} {type(layer).__name__}({', '.join(layer.sources)}) {detail}"
                     f"{activation} -> {spec.shape} scale {spec.scale:.6g} zero point "
                     f"{spec.zero_point}")
    macs = sum(network.macs().values())
    lines.append(f"outputs {', '.join(network.outputs)}; {macs} MACs a frame")
    return lines


@command
def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gen.tflite",
                                     description="Import an int8 .tflite model and print its layer graph.")
    parser.add_argument("model", type=Path)
    arguments = parser.parse_args(argv)
    try:
        imported = import_tflite(arguments.model)
    except OSError as error:
        print(f"error: MODEL {str(arguments.model)!r} cannot be read ({error.strerror or error})",
              file=sys.stderr)
        return 1
    except ModelImportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("\n".join(describe(imported)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
