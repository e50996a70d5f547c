"""The golden model agrees byte for byte with LiteRT's reference kernels (``BUILTIN_REF``).

The ``.tflite`` files in ``tests/vectors/`` were made by ``make_vectors.py`` with
TensorFlow; this test needs only ai-edge-litert. Quantization parameters, weights and
biases are read from each model through the interpreter's public API; ``models.json``
gives what the interpreter does not expose (operator, stride, padding mode, activation).
Inputs are random (seeded; set ``SEED`` to replay), including the int8 extremes.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter, OpResolverType

import sim.golden as golden

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
MODELS = json.loads((VECTORS / "models.json").read_text())
FRAMES = 40


def same_padding(size, kernel, stride):
    """TFLite's SAME padding of one axis: (before, after), the odd pixel after."""
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Model:
    """One single-layer ``.tflite`` model, run on LiteRT's reference kernels."""

    def __init__(self, name):
        self.interpreter = Interpreter(model_path=str(VECTORS / f"{name}.tflite"),
                                       experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        self.interpreter.allocate_tensors()
        self.inputs = sorted(self.interpreter.get_input_details(), key=lambda d: d["name"])
        self.output = self.interpreter.get_output_details()[0]
        io = {d["index"] for d in self.inputs} | {self.output["index"]}
        self.constants = {d["dtype"]: d for d in self.interpreter.get_tensor_details()
                          if d["index"] not in io and len(d["shape"]) > 0
                          and d["dtype"] in (np.int8, np.int32)}

    @staticmethod
    def quantization(detail):
        params = detail["quantization_parameters"]
        return params["scales"], params["zero_points"]

    def scale_zp(self, detail):
        scales, zero_points = self.quantization(detail)
        return float(scales[0]), int(zero_points[0])

    def constant(self, dtype):
        return self.interpreter.get_tensor(self.constants[dtype]["index"])

    def run(self, frames):
        for detail, frame in zip(self.inputs, frames):
            self.interpreter.set_tensor(detail["index"], frame)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])


def golden_output(model, description, frames):
    (x_scale, x_zp), (y_scale, y_zp) = model.scale_zp(model.inputs[0]), \
        model.scale_zp(model.output)
    x = frames[0]
    op = description["op"]
    if op in ("conv2d", "fully_connected"):
        w = model.constant(np.int8)
        bias = model.constant(np.int32) if np.int32 in model.constants else \
            np.zeros(w.shape[0], np.int32)
        w_scale, _ = model.quantization(model.constants[np.int8])
        common = dict(x_scale=x_scale, x_zp=x_zp, w_scale=w_scale, y_scale=y_scale, y_zp=y_zp,
                      relu=description["relu"])
        if op == "fully_connected":
            return golden.fully_connected(x, w, bias, **common)
        stride, kernel = description["stride"], description["kernel"]
        padding = same_padding(x.shape[1], kernel, stride) + same_padding(x.shape[2], kernel,
                                                                          stride)
        return golden.conv2d(x, w, bias, stride=(stride, stride), padding=padding, **common)
    if op == "add":
        (a_scale, a_zp), (b_scale, b_zp) = (model.scale_zp(d) for d in model.inputs)
        return golden.add(frames[0], frames[1], a_scale=a_scale, a_zp=a_zp, b_scale=b_scale,
                          b_zp=b_zp, y_scale=y_scale, y_zp=y_zp, relu=description["relu"])
    if op == "max_pool2d":
        kernel, stride = description["kernel"], description["stride"]
        padding = same_padding(x.shape[1], kernel, stride) + same_padding(x.shape[2], kernel,
                                                                          stride)
        return golden.max_pool2d(x, kernel=(kernel, kernel), stride=(stride, stride),
                                 padding=padding)
    if op == "global_avg_pool":
        return golden.global_avg_pool(x, x_scale=x_scale, x_zp=x_zp, y_scale=y_scale, y_zp=y_zp)
    raise AssertionError(f"models.json names an unknown operator {op!r}")


def random_frames(model, rng, index):
    frames = []
    for detail in model.inputs:
        shape = tuple(detail["shape"])
        if index == 0:
            frames.append(np.full(shape, -128, np.int8))            # the low extreme
        elif index == 1:
            frames.append(np.full(shape, 127, np.int8))             # the high extreme
        else:
            frames.append(rng.integers(-128, 128, size=shape).astype(np.int8))
    return frames


def mismatch_report(name, expected, got):
    lines = [f"{name}: coordinate {tuple(int(i) for i in at)}: expected {expected[tuple(at)]}, "
             f"got {got[tuple(at)]}" for at in np.argwhere(expected != got)[:10]]
    return "\n".join(lines)


@pytest.fixture
def seed():
    value = int(os.environ.get("SEED", np.random.SeedSequence().entropy % (1 << 32)))
    print(f"seed {value} (replay with SEED={value})")
    return value


@pytest.mark.parametrize("name", sorted(MODELS))
def test_golden_matches_litert(name, seed):
    model = Model(name)
    rng = np.random.default_rng(seed)
    compared = 0
    for index in range(FRAMES):
        frames = random_frames(model, rng, index)
        got = golden_output(model, MODELS[name], frames)
        expected = model.run(frames)
        assert got.shape == expected.shape, f"{name}: shape {got.shape} != {expected.shape}"
        assert got.dtype == np.int8
        assert np.array_equal(got, expected), \
            f"seed {seed}, frame {index}:\n" + mismatch_report(name, expected, got)
        compared += expected.size
    assert compared > 0
