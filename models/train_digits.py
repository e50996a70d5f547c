"""Train the digits ResNet and convert it to a full-integer int8 ``.tflite`` model.

Needs TensorFlow and scikit-learn, only to regenerate the committed files (the project's
tests and tools need neither)::

    python3 -m venv tfenv
    tfenv/bin/pip install tensorflow-cpu==2.21.0 scikit-learn==1.9.1 ai-edge-litert==2.3.0
    tfenv/bin/python models/train_digits.py

The data is scikit-learn's handwritten digits (1797 images of 8x8 pixels, 0 to 16, shipped
with the package), split 80/20, stratified, with a fixed seed. The network is a small
ResNet on the 8x8x1 image:

- stem: 3x3 conv, 8 channels, ReLU;
- stage 1 (8x8x8): one basic block (two 3x3 convs, identity shortcut, ReLU after the add);
- stage 2 (4x4x16): one basic block whose first conv is an explicit zero padding and a 3x3
  stride-2 VALID conv (a ``PAD`` in the model), with a 1x1 stride-2 projection shortcut;
- stage 3 (2x2x32): one basic block, 3x3 stride-2 SAME conv, 1x1 stride-2 projection;
- global average pool, fully connected to the 10 classes (the int8 logits are the output).

Batch normalisation follows every conv in training and is folded into the convs by the
converter. The converter gets the training images as its representative data set and
makes every tensor int8, the input and output included. Writes, next to this script:

- ``digits_resnet.tflite``: the model;
- ``digits_test_images.npy``: the held-out images, int8 (N, 8, 8, 1), quantized with the
  model's input scale and zero point;
- ``digits_test_labels.npy``: their labels, int64 (N,);
- ``digits_resnet.json``: the float and LiteRT int8 (reference kernels) test accuracy.
"""

import json
from pathlib import Path

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent
SEED = 20261202
EPOCHS = 80


def conv_bn(x, filters, kernel, stride=1, padding="same", relu=True):
    x = tf.keras.layers.Conv2D(filters, kernel, strides=stride, padding=padding,
                               use_bias=False)(x)
    x = tf.keras.layers.BatchNormalization()(x)
    return tf.keras.layers.ReLU()(x) if relu else x


def basic_block(x, filters, stride, explicit_pad=False):
    """Two 3x3 convs; a 1x1 projection shortcut when the shape changes."""
    if explicit_pad:
        y = tf.keras.layers.ZeroPadding2D(((1, 1), (1, 1)))(x)
        y = conv_bn(y, filters, 3, stride, padding="valid")
    else:
        y = conv_bn(x, filters, 3, stride)
    y = conv_bn(y, filters, 3, relu=False)
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = conv_bn(x, filters, 1, stride, relu=False)
    return tf.keras.layers.ReLU()(tf.keras.layers.Add()([y, shortcut]))


def resnet(batch_size=None):
    inputs = tf.keras.Input((8, 8, 1), batch_size=batch_size, name="image")
    x = conv_bn(inputs, 8, 3)
    x = basic_block(x, 8, 1)
    x = basic_block(x, 16, 2, explicit_pad=True)
    x = basic_block(x, 32, 2)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    outputs = tf.keras.layers.Dense(10, name="logits")(x)
    return tf.keras.Model(inputs, outputs)


def data():
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]
    return train_test_split(images, digits.target, test_size=0.2, stratify=digits.target,
                            random_state=SEED)


def train(x_train, y_train):
    tf.keras.utils.set_random_seed(SEED)
    trainer = resnet()
    trainer.compile(optimizer=tf.keras.optimizers.Adam(3e-3),
                    loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    metrics=["accuracy"])
    schedule = tf.keras.callbacks.LearningRateScheduler(
        lambda epoch: 3e-3 * 0.5 * (1 + np.cos(np.pi * epoch / EPOCHS)))
    trainer.fit(x_train, y_train, batch_size=32, epochs=EPOCHS, verbose=2, callbacks=[schedule])
    # The same weights in a batch-1 model, for a converted model of one frame.
    model = resnet(batch_size=1)
    model.set_weights(trainer.get_weights())
    return model


def convert(model, x_train):
    def representative():
        for image in x_train[:400]:
            yield [image[None]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def quantize_input(interpreter, images):
    (detail,) = interpreter.get_input_details()
    scale, zero_point = detail["quantization"]
    return np.clip(np.round(images / scale) + zero_point, -128, 127).astype(np.int8)


def int8_predictions(data, images):
    interpreter = Interpreter(model_content=data,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    (input_detail,) = interpreter.get_input_details()
    (output_detail,) = interpreter.get_output_details()
    outputs = []
    for image in images:
        interpreter.set_tensor(input_detail["index"], image[None])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(output_detail["index"])[0])
    return np.array(outputs)


def main():
    x_train, x_test, y_train, y_test = data()
    model = train(x_train, y_train)
    float_accuracy = float((model.predict(x_test, batch_size=1, verbose=0).argmax(1)
                            == y_test).mean())
    tflite = convert(model, x_train)
    interpreter = Interpreter(model_content=tflite)
    interpreter.allocate_tensors()
    test_images = quantize_input(interpreter, x_test)
    int8_accuracy = float((int8_predictions(tflite, test_images).argmax(1) == y_test).mean())
    (HERE / "digits_resnet.tflite").write_bytes(tflite)
    np.save(HERE / "digits_test_images.npy", test_images)
    np.save(HERE / "digits_test_labels.npy", y_test.astype(np.int64))
    figures = {"test_images": int(len(y_test)), "float_accuracy": float_accuracy,
               "litert_int8_accuracy": int8_accuracy, "seed": SEED, "epochs": EPOCHS}
    (HERE / "digits_resnet.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
