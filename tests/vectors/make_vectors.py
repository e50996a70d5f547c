"""Regenerate the small int8 TFLite models that check the golden model against LiteRT.

Needs TensorFlow (only to regenerate; the tests need only ai-edge-litert)::

    pip install tensorflow-cpu==2.21.0
    python tests/vectors/make_vectors.py

Each model is one layer built with Keras, converted to full-integer int8 TFLite with a
representative data set. ``models.json`` records what each model is (operator, stride,
padding mode, fused activation), the parts a TFLite interpreter does not expose;
weights and quantization parameters are read from the ``.tflite`` files themselves.
"""

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

HERE = Path(__file__).resolve().parent
SEED = 20261125


def conv(name, size, channels, filters, kernel, stride, relu):
    inputs = tf.keras.Input((size, size, channels), batch_size=1)
    outputs = tf.keras.layers.Conv2D(filters, kernel, strides=stride, padding="same",
                                     activation="relu" if relu else None)(inputs)
    return name, tf.keras.Model(inputs, outputs), {
        "op": "conv2d", "stride": stride, "kernel": kernel, "padding": "same", "relu": relu}


def dense(name, inputs_, units, relu):
    inputs = tf.keras.Input((inputs_,), batch_size=1)
    outputs = tf.keras.layers.Dense(units, activation="relu" if relu else None)(inputs)
    return name, tf.keras.Model(inputs, outputs), {"op": "fully_connected", "relu": relu}


def residual_add(name, size, channels, relu):
    a = tf.keras.Input((size, size, channels), batch_size=1, name="a")
    b = tf.keras.Input((size, size, channels), batch_size=1, name="b")
    outputs = tf.keras.layers.Add()([a, b])
    if relu:
        outputs = tf.keras.layers.ReLU()(outputs)
    return name, tf.keras.Model([a, b], outputs), {"op": "add", "relu": relu}


def max_pool(name, size, channels):
    inputs = tf.keras.Input((size, size, channels), batch_size=1)
    outputs = tf.keras.layers.MaxPooling2D(3, strides=2, padding="same")(inputs)
    return name, tf.keras.Model(inputs, outputs), {
        "op": "max_pool2d", "kernel": 3, "stride": 2, "padding": "same"}


def global_pool(name, size, channels):
    inputs = tf.keras.Input((size, size, channels), batch_size=1)
    outputs = tf.keras.layers.GlobalAveragePooling2D()(inputs)
    return name, tf.keras.Model(inputs, outputs), {"op": "global_avg_pool"}


MODELS = [
    conv("conv3x3_s1_even", 8, 8, 8, 3, 1, relu=False),
    conv("conv3x3_s1_odd_relu", 7, 8, 8, 3, 1, relu=True),
    conv("conv3x3_s2_even_relu", 8, 8, 16, 3, 2, relu=True),
    conv("conv3x3_s2_odd", 9, 8, 16, 3, 2, relu=False),
    conv("conv1x1_s2", 8, 16, 32, 1, 2, relu=False),
    conv("conv1x1_s1_relu", 6, 16, 8, 1, 1, relu=True),
    conv("stem7x7_s2_relu", 16, 3, 8, 7, 2, relu=True),
    conv("stem7x7_s2_odd", 15, 3, 8, 7, 2, relu=False),
    dense("fc", 32, 10, relu=False),
    dense("fc_relu", 24, 12, relu=True),
    residual_add("add", 4, 8, relu=False),
    residual_add("add_relu", 5, 8, relu=True),
    max_pool("maxpool3x3_s2_even", 8, 8),
    max_pool("maxpool3x3_s2_odd", 9, 4),
    global_pool("global_avg_pool", 5, 16),
    global_pool("global_avg_pool_7x7", 7, 8),
]


def representative(model, rng):
    def dataset():
        for _ in range(64):
            # Inputs of unequal ranges, so that a two-input ADD gets unequal scales.
            yield [(rng.normal(size=tensor.shape) * (1.0 + 2.5 * index)).astype(np.float32)
                   for index, tensor in enumerate(model.inputs)]
    return dataset


def convert(model, rng):
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative(model, rng)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
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


def main():
    tf.keras.utils.set_random_seed(SEED)
    rng = np.random.default_rng(SEED)
    manifest = {}
    for name, model, description in MODELS:
        randomize(model, rng)
        (HERE / f"{name}.tflite").write_bytes(convert(model, rng))
        manifest[name] = description
    (HERE / "models.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
