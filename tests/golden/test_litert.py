"""The golden model agrees byte for byte with LiteRT's reference kernels (``BUILTIN_REF``).

The ``.tflite`` files in ``tests/vectors/`` were made by ``make_vectors.py`` with
TensorFlow; this test needs only ai-edge-litert. Each holds one operator. Its options
(stride, padding mode, fused activation, pool size, ``keep_dims``) are read from the
flatbuffer with LiteRT's own schema module; quantization parameters, weights and biases
through the interpreter's public API. Inputs are random (seeded; set ``SEED`` to
replay), including the int8 extremes, and every output byte is compared.

Only the reference kernels are the contract. LiteRT's default resolver (XNNPACK, and
without it the optimized kernels) computes some conv, fully-connected and keep_dims MEAN
outputs differently by one, so a comparison against ``Interpreter()`` with its default
resolver would fail on these same models.
"""

import os
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter, OpResolverType

import sim.golden as golden

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
MODELS = sorted(path.stem for path in VECTORS.glob("*.tflite"))
FRAMES = 40

CONV_2D = schema.BuiltinOperator.CONV_2D
FULLY_CONNECTED = schema.BuiltinOperator.FULLY_CONNECTED
ADD = schema.BuiltinOperator.ADD
MAX_POOL_2D = schema.BuiltinOperator.MAX_POOL_2D
MEAN = schema.BuiltinOperator.MEAN


def padding(mode, size, kernel, stride):
    """TFLite's padding of one axis (``ComputePaddingHeightWidth``): ``(before, after)``.

    SAME: ``ceil(size / stride)`` outputs, the odd padding pixel after. VALID: none.
    """
    if mode == schema.Padding.VALID:
        return 0, 0
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Model:
    """One single-operator ``.tflite`` model, run on LiteRT's reference kernels."""

    def __init__(self, name):
        self.name = name
        path = VECTORS / f"{name}.tflite"
        flatbuffer = schema.ModelT.InitFromObj(schema.Model.GetRootAs(path.read_bytes(), 0))
        (graph,) = flatbuffer.subgraphs
        assert len(graph.operators) == 1, f"{name}: expected one operator"
        (self.op,) = graph.operators
        code = flatbuffer.operatorCodes[self.op.opcodeIndex]
        self.opcode = max(code.builtinCode, code.deprecatedBuiltinCode)
        self.options = self.op.builtinOptions
        self.interpreter = Interpreter(model_path=str(path),
                                       experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        self.interpreter.allocate_tensors()
        self.details = {d["index"]: d for d in self.interpreter.get_tensor_details()}
        self.inputs = [int(i) for i in self.op.inputs]
        (self.output,) = [int(i) for i in self.op.outputs]
        graph_inputs = {d["index"] for d in self.interpreter.get_input_details()}
        self.activations = [i for i in self.inputs if i in graph_inputs]

    def scale_zp(self, index):
        params = self.details[index]["quantization_parameters"]
        assert len(params["scales"]) == 1, f"{self.name}: tensor {index} is not per-tensor"
        return float(params["scales"][0]), int(params["zero_points"][0])

    def scales(self, index):
        return self.details[index]["quantization_parameters"]["scales"]

    def constant(self, index):
        return self.interpreter.get_tensor(index)

    @property
    def relu(self):
        activation = self.options.fusedActivationFunction
        assert activation in (schema.ActivationFunctionType.NONE,
                              schema.ActivationFunctionType.RELU), \
            f"{self.name}: fused activation {activation} is not modelled"
        return activation == schema.ActivationFunctionType.RELU

    def run(self, frames):
        for index, frame in zip(self.activations, frames):
            self.interpreter.set_tensor(index, frame)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output)


def golden_output(model, frames):
    """What ``sim.golden`` computes for ``model`` on ``frames`` (one per graph input)."""
    y_scale, y_zp = model.scale_zp(model.output)
    options = model.options
    if model.opcode in (CONV_2D, FULLY_CONNECTED):
        x_index, w_index, bias_index = model.inputs
        (x,) = frames
        x_scale, x_zp = model.scale_zp(x_index)
        w = model.constant(w_index)
        bias = model.constant(bias_index) if bias_index >= 0 else np.zeros(w.shape[0], np.int32)
        common = dict(x_scale=x_scale, x_zp=x_zp, w_scale=model.scales(w_index),
                      y_scale=y_scale, y_zp=y_zp, relu=model.relu)
        if model.opcode == FULLY_CONNECTED:
            return golden.fully_connected(x, w, bias, **common)
        assert (options.dilationHFactor, options.dilationWFactor) == (1, 1)
        _, kh, kw, _ = w.shape
        pad = padding(options.padding, x.shape[1], kh, options.strideH) + \
            padding(options.padding, x.shape[2], kw, options.strideW)
        return golden.conv2d(x, w, bias, stride=(options.strideH, options.strideW),
                             padding=pad, **common)
    if model.opcode == ADD:
        (a_scale, a_zp), (b_scale, b_zp) = (model.scale_zp(i) for i in model.inputs)
        a, b = (frames[model.activations.index(i)] for i in model.inputs)
        return golden.add(a, b, a_scale=a_scale, a_zp=a_zp, b_scale=b_scale, b_zp=b_zp,
                          y_scale=y_scale, y_zp=y_zp, relu=model.relu)
    if model.opcode == MAX_POOL_2D:
        (x,) = frames
        assert model.relu is False
        kernel = (options.filterHeight, options.filterWidth)
        stride = (options.strideH, options.strideW)
        pad = padding(options.padding, x.shape[1], kernel[0], stride[0]) + \
            padding(options.padding, x.shape[2], kernel[1], stride[1])
        return golden.max_pool2d(x, kernel=kernel, stride=stride, padding=pad)
    if model.opcode == MEAN:
        (x,) = frames
        x_index, axis_index = model.inputs
        assert sorted(model.constant(axis_index).tolist()) == [1, 2], f"{model.name}: axes"
        x_scale, x_zp = model.scale_zp(x_index)
        y = golden.global_avg_pool(x, x_scale=x_scale, x_zp=x_zp, y_scale=y_scale, y_zp=y_zp)
        return y[:, None, None, :] if options.keepDims else y
    raise AssertionError(f"{model.name}: operator {model.opcode} is not modelled")


def random_frames(model, rng, index):
    """Frame 0 is all -128, frame 1 all 127, the others uniform over int8."""
    frames = []
    for tensor in model.activations:
        shape = tuple(model.details[tensor]["shape"])
        if index < 2:
            frames.append(np.full(shape, (-128, 127)[index], np.int8))
        else:
            frames.append(rng.integers(-128, 128, size=shape).astype(np.int8))
    return frames


def mismatch_report(name, expected, got):
    wrong = np.argwhere(expected != got)
    lines = [f"{name}: {len(wrong)} of {expected.size} outputs differ"]
    lines += [f"  coordinate {tuple(int(i) for i in at)}: expected {int(expected[tuple(at)])}, "
              f"got {int(got[tuple(at)])}" for at in wrong[:10]]
    return "\n".join(lines)


@pytest.fixture
def seed():
    value = int(os.environ.get("SEED", np.random.SeedSequence().entropy % (1 << 32)))
    print(f"seed {value} (replay with SEED={value})")
    return value


def test_every_operator_has_vectors():
    opcodes = {Model(name).opcode for name in MODELS}
    assert opcodes == {CONV_2D, FULLY_CONNECTED, ADD, MAX_POOL_2D, MEAN}


@pytest.mark.parametrize("name", MODELS)
def test_golden_matches_litert(name, seed):
    model = Model(name)
    rng = np.random.default_rng(seed)
    compared = 0
    for index in range(FRAMES):
        frames = random_frames(model, rng, index)
        expected = model.run(frames)
        got = golden_output(model, frames)
        assert got.shape == expected.shape, f"{name}: shape {got.shape} != {expected.shape}"
        assert got.dtype == np.int8
        assert np.array_equal(got, expected), \
            f"seed {seed}, frame {index}:\n" + mismatch_report(name, expected, got)
        compared += expected.size
    assert compared >= FRAMES


def test_global_average_pool_is_mean_without_keep_dims():
    """What TF 2.21's converter emits for Keras' GlobalAveragePooling2D, as the docstring says."""
    for name in ("global_avg_pool", "global_avg_pool_7x7"):
        model = Model(name)
        assert model.opcode == MEAN and model.options.keepDims is False
        assert model.scale_zp(model.inputs[0]) != model.scale_zp(model.output)


def outputs_with_rounding(model, frames, rounding):
    """A conv or FC layer's output requantized with one integer rounding or with fp64."""
    (x,) = frames
    x_index, w_index, bias_index = model.inputs
    x_scale, x_zp = model.scale_zp(x_index)
    y_scale, y_zp = model.scale_zp(model.output)
    w = model.constant(w_index).astype(np.int64)
    if model.opcode == CONV_2D:
        pad = padding(model.options.padding, x.shape[1], w.shape[1], model.options.strideH) + \
            padding(model.options.padding, x.shape[2], w.shape[2], model.options.strideW)
        stride = model.options.strideH
        top, _, left, _ = pad
        padded = np.pad(x.astype(np.int64) - x_zp,
                        ((0, 0), (top, pad[1]), (left, pad[3]), (0, 0)))
        out = model.details[model.output]["shape"]
        acc = np.zeros(tuple(out), np.int64)
        for i in range(w.shape[1]):
            for j in range(w.shape[2]):
                window = padded[:, i:i + stride * (out[1] - 1) + 1:stride,
                                j:j + stride * (out[2] - 1) + 1:stride, :]
                acc += window @ w[:, i, j, :].T
    else:
        acc = (x.astype(np.int64) - x_zp) @ w.T
    scales = dict(x_scale=x_scale, w_scale=model.scales(w_index), y_scale=y_scale,
                  out_channels=w.shape[0])
    low, high = golden.activation_range(y_zp, relu=model.relu, bits=8)
    common = dict(bias=model.constant(bias_index), zero_point=y_zp, clamp_min=low,
                  clamp_max=high)
    if rounding == "fp64":
        significand, exponent = golden.fc_requant_params(**scales)
        return golden.requantize_fp64(golden.wrap_int32(acc), significand=significand,
                                      exponent=exponent, **common)
    multiplier, shift = golden.conv_requant_params(**scales)
    return golden.requantize(golden.wrap_int32(acc), multiplier=multiplier, shift=shift,
                             rounding=rounding, **common)


@pytest.mark.parametrize("name, right, wrong", [
    ("conv3x3_s2_ties", "double", ["single", "fp64"]),
    ("conv3x3_s1_ties_relu", "double", ["single", "fp64"]),
    ("fc_ties", "fp64", ["double", "single"]),
    ("fc_ties_relu", "fp64", ["double"]),     # single and fp64 differ only below zero
])
def test_ties_tell_roundings_apart(name, right, wrong):
    """The tie models fail any rounding but the kernel's own: the comparison has teeth."""
    model = Model(name)
    rng = np.random.default_rng(1)
    mismatches = dict.fromkeys(wrong, 0)
    for index in range(2, 12):
        frames = random_frames(model, rng, index)
        expected = model.run(frames)
        assert np.array_equal(outputs_with_rounding(model, frames, right), expected)
        for rounding in wrong:
            mismatches[rounding] += int((outputs_with_rounding(model, frames, rounding)
                                         != expected).sum())
    assert all(count > 0 for count in mismatches.values()), mismatches


def test_relu_ties_clamp_above_the_int8_minimum():
    """The edited ReLU models clamp at a zero point above -128, and outputs do reach it."""
    for name in ("conv3x3_s1_ties_relu", "fc_ties_relu", "add_ties_relu"):
        model = Model(name)
        _, y_zp = model.scale_zp(model.output)
        assert model.relu and y_zp > -128
        frames = random_frames(model, np.random.default_rng(2), 2)
        assert (model.run(frames) == y_zp).any(), name


def half_away(numerator, denominator):
    """``numerator / denominator`` rounded to the nearest integer, a tie away from zero."""
    magnitude = (2 * np.abs(numerator) + denominator) // (2 * denominator)
    return np.sign(numerator) * magnitude


def test_add_ties_round_away_from_zero():
    """ADD with scales 2**-4, 2**-5 and 2**-4 is ``a' + b'/2`` exactly: a tie goes away from zero."""
    model = Model("add_ties")
    (a_scale, a_zp), (b_scale, b_zp) = (model.scale_zp(i) for i in model.inputs)
    _, y_zp = model.scale_zp(model.output)
    assert (a_scale, b_scale) == (2.0 ** -4, 2.0 ** -5)
    frames = random_frames(model, np.random.default_rng(3), 2)
    a, b = (frames[model.activations.index(i)].astype(np.int64) for i in model.inputs)
    twice = 2 * (a - a_zp) + (b - b_zp)
    expected = np.clip(half_away(twice, 2) + y_zp, -128, 127)
    assert ((twice % 2 == 1) & (twice < 0) & (expected > -128)).any()     # negative ties occur
    assert np.array_equal(model.run(frames), expected)


def test_mean_rounds_twice():
    """MEAN of 16 values with equal input and output quantization: ``sum / 16``, rounded twice.

    The multiplier is 2**30 with shift -3: SaturatingRoundingDoublingHighMul halves the
    sum (a tie toward +infinity), RoundingDivideByPOT divides by 8 (a tie away from zero).
    So a sum of 7 gives 3.5 -> 4, then 0.5 -> 1, where 7/16 rounds to 0.
    """
    model = Model("global_avg_pool_ties")
    x_index, _ = model.inputs
    assert model.scale_zp(x_index) == model.scale_zp(model.output)
    _, zp = model.scale_zp(x_index)
    rng = np.random.default_rng(4)
    double_rounding_showed = False
    for index in range(2, 12):
        (x,) = random_frames(model, rng, index)
        sums = (x.astype(np.int64) - zp).sum(axis=(1, 2))
        halved = np.where(sums >= 0, (sums + 1) // 2, -((-sums) // 2))        # ties to +inf
        expected = np.clip(half_away(halved, 8) + zp, -128, 127)
        assert np.array_equal(model.run([x]), expected)
        double_rounding_showed |= bool((expected != np.clip(half_away(sums, 16) + zp,
                                                            -128, 127)).any())
    assert double_rounding_showed
