"""Regenerate the small ``.tflite`` models of ``tests/vectors/import/`` that test the model importer.

Needs TensorFlow and ai-edge-litert (only to regenerate; the tests need neither TensorFlow
nor this script)::

    pip install tensorflow-cpu==2.21.0 ai-edge-litert==2.3.0
    python tests/vectors/make_import_vectors.py

Models the importer takes (``gen.tflite``), each a few layers built with Keras, given
random weights and converted to full-integer int8 TFLite with a representative data set:

- ``stem_pool``: 7x7 stride-2 SAME conv with ReLU on 15x15x3, then a 3x3 stride-2 SAME
  max-pool (the ResNet stem on an odd size);
- ``pad_conv_pool``: 3x3 conv with ReLU, explicit zero padding, 3x3 stride-2 VALID
  max-pool; explicit padding, 3x3 stride-2 VALID conv (a ``PAD`` before each);
- ``reshape_fc``: 1x1 conv on a 1x1x8 input, then (edited in) a ``RESHAPE`` to a vector,
  fully connected;
- ``average_pool``: 1x1 conv, a 4x4 ``AVERAGE_POOL_2D`` over the whole 4x4 input;
- ``float_edges``: float32 input and output (``QUANTIZE`` and ``DEQUANTIZE`` at the edges);
- ``relu6_conv``, ``relu6_fc``: a conv and a fully-connected layer with fused ReLU6, whose
  output scale is then edited so that the quantized 6.0 lies well inside int8 and the
  clamp shows.

Models the importer refuses: ``softmax_inside`` (a ``SOFTMAX`` between two fully-connected
layers), ``depthwise`` (a ``DEPTHWISE_CONV_2D``), ``float_model`` (not quantized at all),
``pad_pool_no_relu`` (a ``PAD`` before a max-pool whose input can lie below the zero point).
"""

import sys
from pathlib import Path

import flatbuffers
import numpy as np
import tensorflow as tf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from make_vectors import Edit, randomize  # noqa: E402

OUT = HERE / "import"
SEED = 20261203


def keras(shape, body):
    inputs = tf.keras.Input(shape, batch_size=1)
    return tf.keras.Model(inputs, body(inputs))


def stem_pool(x):
    x = tf.keras.layers.Conv2D(8, 7, strides=2, padding="same", activation="relu")(x)
    return tf.keras.layers.MaxPooling2D(3, strides=2, padding="same")(x)


def pad_conv_pool(x):
    x = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = tf.keras.layers.ZeroPadding2D(1)(x)
    x = tf.keras.layers.MaxPooling2D(3, strides=2, padding="valid")(x)
    x = tf.keras.layers.ZeroPadding2D(((1, 1), (1, 1)))(x)
    return tf.keras.layers.Conv2D(16, 3, strides=2, padding="valid")(x)


def pad_pool_no_relu(x):
    x = tf.keras.layers.Conv2D(8, 3, padding="same")(x)
    x = tf.keras.layers.ZeroPadding2D(1)(x)
    return tf.keras.layers.MaxPooling2D(3, strides=2, padding="valid")(x)


def reshape_fc(x):
    x = tf.keras.layers.Conv2D(8, 1, activation="relu")(x)
    return tf.keras.layers.Dense(10)(x)


def average_pool(x):
    x = tf.keras.layers.Conv2D(8, 1)(x)
    return tf.keras.layers.AveragePooling2D(4)(x)


def small_classifier(x):
    x = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    return tf.keras.layers.Dense(10)(x)


def softmax_inside(x):
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    x = tf.keras.layers.Dense(8, activation="softmax")(x)
    return tf.keras.layers.Dense(4)(x)


def depthwise(x):
    return tf.keras.layers.DepthwiseConv2D(3, padding="same")(x)


def relu6_conv(x):
    return tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu6")(x)


def relu6_fc(x):
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    return tf.keras.layers.Dense(16, activation="relu6")(x)


def convert(model, rng, *, quantize=True, float_edges=False):
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]

        def representative():
            for _ in range(64):
                yield [rng.normal(size=model.inputs[0].shape).astype(np.float32) * 2.0]

        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if not float_edges:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    return converter.convert()


class LastEdit(Edit):
    """:class:`make_vectors.Edit` of the last operator of a model of several."""

    def __init__(self, data):
        from ai_edge_litert import schema_py_generated as schema
        self.model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
        self.graph = self.model.subgraphs[0]
        self.op = self.graph.operators[-1]


def insert_reshape(data):
    """Put a ``RESHAPE`` to ``[1, C]`` between the first operator and the second (the
    converter drops Keras' reshapes of a channel vector, which other exporters keep)."""
    from ai_edge_litert import schema_py_generated as schema
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    graph = model.subgraphs[0]
    first, second = graph.operators[:2]
    (source,) = first.outputs
    old = graph.tensors[source]
    vector = schema.TensorT()
    vector.name, vector.type = b"reshaped", old.type
    vector.shape = np.array([1, old.shape[-1]], np.int32)
    vector.quantization = old.quantization
    vector.buffer = len(model.buffers)
    model.buffers.append(schema.BufferT())
    shape = schema.TensorT()
    shape.name, shape.type = b"new_shape", schema.TensorType.INT32
    shape.shape = np.array([2], np.int32)
    shape.buffer = len(model.buffers)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(np.array([1, old.shape[-1]], "<i4").tobytes(), np.uint8)
    model.buffers.append(buffer)
    graph.tensors += [vector, shape]
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.RESHAPE
    code.version = 1
    model.operatorCodes.append(code)
    reshape = schema.OperatorT()
    reshape.opcodeIndex = len(model.operatorCodes) - 1
    reshape.inputs = np.array([source, len(graph.tensors) - 1], np.int32)
    reshape.outputs = np.array([len(graph.tensors) - 2], np.int32)
    second.inputs = np.array([len(graph.tensors) - 2 if i == source else i
                              for i in second.inputs], np.int32)
    graph.operators.insert(1, reshape)
    # The fully-connected layer keeps its number of dimensions: [1, C] in, [1, O] out.
    (output,) = second.outputs
    graph.tensors[output].shape = np.array([1, graph.tensors[output].shape[-1]], np.int32)
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def relu6_scale(data):
    """The last operator's output gets scale 0.1 and zero point -100: the quantized 6.0 is
    -100 + 60 = -40, well inside int8 (calibrated, it would be 127)."""
    edit = LastEdit(data)
    (y,) = edit.op.outputs
    edit.quantize(y, 0.1, -100)
    return edit.pack()


def models(rng):
    def built(shape, body, **options):
        model = keras(shape, body)
        randomize(model, rng)
        return convert(model, rng, **options)

    yield "stem_pool", built((15, 15, 3), stem_pool)
    yield "pad_conv_pool", built((8, 8, 4), pad_conv_pool)
    yield "reshape_fc", insert_reshape(built((1, 1, 8), reshape_fc))
    yield "average_pool", built((4, 4, 8), average_pool)
    yield "float_edges", built((6, 6, 2), small_classifier, float_edges=True)
    yield "relu6_conv", relu6_scale(built((6, 6, 4), relu6_conv))
    yield "relu6_fc", relu6_scale(built((2, 2, 24), relu6_fc))
    yield "softmax_inside", built((4, 4, 8), softmax_inside)
    yield "depthwise", built((6, 6, 8), depthwise)
    yield "float_model", built((6, 6, 2), small_classifier, quantize=False)
    yield "pad_pool_no_relu", built((6, 6, 4), pad_pool_no_relu)


def main():
    OUT.mkdir(exist_ok=True)
    for name, data in models(np.random.default_rng(SEED)):
        (OUT / f"{name}.tflite").write_bytes(data)
        print(f"{name}.tflite: {len(data)} bytes")


if __name__ == "__main__":
    main()
