"""Regenerate the small int8 ``.tflite`` models that check the golden model against LiteRT.

Needs TensorFlow and ai-edge-litert (only to regenerate; the tests need only ai-edge-litert)::

    pip install tensorflow-cpu==2.21.0 ai-edge-litert==2.3.0
    python tests/vectors/make_vectors.py

Each model is one layer built with Keras and converted to full-integer int8 TFLite
(``inference_input_type`` and ``inference_output_type`` int8) with a representative data
set. Everything the test needs (operator, options, quantization, weights) is read back
from the ``.tflite`` file itself.

The ``*_ties`` models are converted the same way and then edited: power-of-two scales,
small weights and biases, and chosen output zero points, so that requantization lands
exactly on rounding ties (and just off them) in a large fraction of the outputs, and a
fused ReLU clamps at a zero point above -128. Those are the cases where TFLite's rounding
variants part, which calibrated scales almost never reach.
"""

from pathlib import Path

import flatbuffers
import numpy as np
import tensorflow as tf
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter, OpResolverType

HERE = Path(__file__).resolve().parent
SEED = 20261125


def conv(size, channels, filters, kernel, stride, relu, batch=1):
    inputs = tf.keras.Input((size, size, channels), batch_size=batch)
    outputs = tf.keras.layers.Conv2D(filters, kernel, strides=stride, padding="same",
                                     activation="relu" if relu else None)(inputs)
    return tf.keras.Model(inputs, outputs)


def dense(inputs_, units, relu):
    inputs = tf.keras.Input((inputs_,), batch_size=1)
    outputs = tf.keras.layers.Dense(units, activation="relu" if relu else None)(inputs)
    return tf.keras.Model(inputs, outputs)


def residual_add(size, channels, relu):
    a = tf.keras.Input((size, size, channels), batch_size=1, name="a")
    b = tf.keras.Input((size, size, channels), batch_size=1, name="b")
    outputs = tf.keras.layers.Add()([a, b])
    if relu:
        outputs = tf.keras.layers.ReLU()(outputs)
    return tf.keras.Model([a, b], outputs)


def max_pool(size, channels):
    inputs = tf.keras.Input((size, size, channels), batch_size=1)
    outputs = tf.keras.layers.MaxPooling2D(3, strides=2, padding="same")(inputs)
    return tf.keras.Model(inputs, outputs)


def global_pool(size, channels):
    inputs = tf.keras.Input((size, size, channels), batch_size=1)
    outputs = tf.keras.layers.GlobalAveragePooling2D()(inputs)
    return tf.keras.Model(inputs, outputs)


def representative(model, rng):
    def dataset():
        for _ in range(64):
            # Inputs of unequal ranges, so that a two-input ADD gets unequal scales.
            yield [(rng.normal(size=tensor.shape) * (1.0 + 2.5 * index)).astype(np.float32)
                   for index, tensor in enumerate(model.inputs)]
    return dataset


def convert(model, rng, per_channel=True):
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative(model, rng)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    if not per_channel:
        converter._experimental_disable_per_channel = True
    return converter.convert()


def randomize(model, rng):
    """Random kernels and non-zero biases (Keras starts biases at zero, which the converter drops)."""
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            kernel, bias = weights
            fan_in = np.prod(kernel.shape[:-1])
            layer.set_weights([rng.normal(size=kernel.shape) / np.sqrt(fan_in),
                               rng.normal(size=bias.shape) * 0.3])


class Edit:
    """Changes to one converted single-operator model (see the module docstring)."""

    def __init__(self, data):
        self.model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
        self.graph = self.model.subgraphs[0]
        (self.op,) = self.graph.operators

    def quantize(self, index, scale, zero_point=None):
        """Set tensor ``index``'s scale(s) (one or one per channel) and zero point(s)."""
        quantization = self.graph.tensors[index].quantization
        count = len(quantization.scale)
        quantization.scale = np.broadcast_to(np.float32(scale), (count,)).astype(np.float32)
        if zero_point is not None:
            quantization.zeroPoint = np.broadcast_to(np.int64(zero_point), (count,)).astype(np.int64)

    def constant(self, index, values):
        """Replace the data of constant tensor ``index`` (same shape and dtype)."""
        tensor = self.graph.tensors[index]
        dtype = {schema.TensorType.INT8: np.int8, schema.TensorType.INT32: np.int32}[tensor.type]
        little_endian = np.dtype(dtype).newbyteorder("<")
        values = np.asarray(values, dtype=little_endian).reshape(tuple(tensor.shape))
        self.model.buffers[tensor.buffer].data = np.frombuffer(values.tobytes(), np.uint8)

    def relu(self):
        self.op.builtinOptions.fusedActivationFunction = schema.ActivationFunctionType.RELU

    def pack(self):
        builder = flatbuffers.Builder(0)
        builder.Finish(self.model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


def weighted_ties(data, rng, *, w_shifts, y_exponent, y_zp, relu, w_range=2):
    """A conv or FC with x_scale 2**-4, w_scale 2**-shift per channel, y_scale 2**y_exponent."""
    edit = Edit(data)
    x, w, bias = edit.op.inputs
    (y,) = edit.op.outputs
    channels = edit.graph.tensors[w].shape[0]
    w_scales = np.float32(2.0) ** -np.resize(np.array(w_shifts), channels)
    edit.quantize(x, 2.0 ** -4)
    edit.quantize(w, w_scales, 0)
    edit.quantize(bias, 2.0 ** -4 * w_scales, 0)
    edit.quantize(y, 2.0 ** y_exponent, y_zp)
    edit.constant(w, rng.integers(-w_range, w_range + 1, size=edit.graph.tensors[w].shape))
    edit.constant(bias, rng.integers(-40, 41, size=channels))
    if relu:
        edit.relu()
    return edit.pack()


def add_ties(data, *, relu, y_zp):
    """ADD with a_scale 2**-4, b_scale 2**-5, y_scale 2**-4: outputs a' + b'/2, exact halves."""
    edit = Edit(data)
    a, b = edit.op.inputs
    (y,) = edit.op.outputs
    edit.quantize(a, 2.0 ** -4)
    edit.quantize(b, 2.0 ** -5)
    edit.quantize(y, 2.0 ** -4, y_zp)
    if relu:
        edit.relu()
    return edit.pack()


def mean_ties(data, *, keep_dims):
    """MEAN with equal power-of-two input and output scales and zero points (sum / 16 ties)."""
    edit = Edit(data)
    x, _ = edit.op.inputs
    (y,) = edit.op.outputs
    edit.quantize(x, 2.0 ** -5, 3)
    edit.quantize(y, 2.0 ** -5, 3)
    if keep_dims:
        edit.op.builtinOptions.keepDims = True
        shape = edit.graph.tensors[x].shape
        edit.graph.tensors[y].shape = np.array([shape[0], 1, 1, shape[3]], dtype=np.int32)
    return edit.pack()


def models(rng):
    """``(name, tflite bytes)`` of every model, in a fixed order (the generator is shared)."""
    def built(model, per_channel=True):
        randomize(model, rng)
        return convert(model, rng, per_channel)

    yield "conv3x3_s1_even_batch2", built(conv(8, 8, 8, 3, 1, relu=False, batch=2))
    yield "conv3x3_s1_odd_relu", built(conv(7, 8, 8, 3, 1, relu=True))
    yield "conv3x3_s2_even_relu", built(conv(8, 8, 16, 3, 2, relu=True))
    yield "conv3x3_s2_odd", built(conv(9, 8, 16, 3, 2, relu=False))
    yield "conv3x3_s2_even_per_tensor", built(conv(8, 8, 8, 3, 2, relu=False), per_channel=False)
    yield "conv1x1_s2", built(conv(8, 16, 32, 1, 2, relu=False))
    yield "conv1x1_s2_odd_relu", built(conv(7, 16, 16, 1, 2, relu=True))
    yield "conv1x1_s1_relu", built(conv(6, 16, 8, 1, 1, relu=True))
    yield "stem7x7_s2_relu", built(conv(16, 3, 8, 7, 2, relu=True))
    yield "stem7x7_s2_odd", built(conv(15, 3, 8, 7, 2, relu=False))
    yield "fc", built(dense(32, 10, relu=False))
    yield "fc_relu", built(dense(24, 12, relu=True))
    yield "fc_per_tensor", built(dense(32, 16, relu=False), per_channel=False)
    yield "add", built(residual_add(4, 8, relu=False))
    yield "add_relu", built(residual_add(5, 8, relu=True))
    yield "maxpool3x3_s2_even", built(max_pool(8, 8))
    yield "maxpool3x3_s2_odd", built(max_pool(9, 4))
    yield "global_avg_pool", built(global_pool(5, 16))
    yield "global_avg_pool_7x7", built(global_pool(7, 8))

    yield "conv3x3_s2_ties", weighted_ties(built(conv(8, 8, 8, 3, 2, relu=False)), rng,
                                           w_shifts=[6, 7], y_exponent=-7, y_zp=7, relu=False,
                                           w_range=1)
    yield "conv3x3_s1_ties_relu", weighted_ties(built(conv(6, 8, 8, 3, 1, relu=False)), rng,
                                                w_shifts=[6, 5], y_exponent=-7, y_zp=-20,
                                                relu=True, w_range=1)
    yield "fc_ties", weighted_ties(built(dense(32, 10, relu=False)), rng, w_shifts=[6, 7],
                                   y_exponent=-7, y_zp=3, relu=False)
    yield "fc_ties_relu", weighted_ties(built(dense(32, 10, relu=False)), rng, w_shifts=[6],
                                        y_exponent=-7, y_zp=5, relu=True)
    yield "add_ties_relu", add_ties(built(residual_add(4, 8, relu=False)), relu=True, y_zp=10)
    yield "global_avg_pool_ties", mean_ties(built(global_pool(4, 16)), keep_dims=False)
    yield "global_avg_pool_ties_keep_dims", mean_ties(built(global_pool(4, 16)), keep_dims=True)
    yield "add_ties", add_ties(built(residual_add(4, 8, relu=False)), relu=False, y_zp=10)


def main():
    tf.keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    for old in HERE.glob("*.tflite"):
        old.unlink()
    for name, data in models(rng):
        path = HERE / f"{name}.tflite"
        path.write_bytes(data)
        interpreter = Interpreter(model_path=str(path),
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        interpreter.allocate_tensors()          # every model must load on the reference kernels
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
