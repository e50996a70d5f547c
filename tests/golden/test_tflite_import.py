"""Imported ``.tflite`` models compute what LiteRT's reference kernels compute, byte for byte.

``gen.tflite`` reads a model with the ``tflite`` package's flatbuffer schema; here LiteRT
(``BUILTIN_REF``) runs the same file, and the imported network's :meth:`Network.golden`
must give every output byte LiteRT gives: on the digits ResNet of ``models/`` (the first
``DIGITS_FRAMES`` held-out test images; ``DIGITS_FRAMES=all`` for all of them) and on the
small models of ``tests/vectors/import/`` (made by ``make_import_vectors.py``; random
frames, seeded, ``SEED`` to replay), one of them edited to pad each side unevenly. The
models the importer refuses are refused with their one line, matched in full, and so are
malformed files: edited ones, and random corruptions of the digits model (seeded,
``SEED`` to replay, ``FUZZ_TRIALS`` of them).
"""

import copy
import os
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from gen.array import compile_array
from gen.compiler import CompileError
from gen.network import Add, Conv2d, FullyConnected, GlobalAvgPool
from gen.tflite import MalformedModelError, ModelImportError, describe, import_tflite, main, same_padding
from hdl.params import PRESETS

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
VECTORS = ROOT / "tests" / "vectors" / "import"
DIGITS = MODELS / "digits_resnet.tflite"
#: Held-out digits compared in the regression (the whole split with DIGITS_FRAMES=all).
DIGITS_FRAMES = os.environ.get("DIGITS_FRAMES", "60")
FRAMES = 24
ACCEPTED = ["stem_pool", "pad_conv_pool", "reshape_fc", "average_pool", "float_edges",
            "relu6_conv", "relu6_fc"]


class LiteRT:
    """A ``.tflite`` model on LiteRT's reference kernels, one frame at a time."""

    def __init__(self, path):
        self.interpreter = Interpreter(model_path=str(path),
                                       experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
        self.interpreter.allocate_tensors()
        (self.input,) = self.interpreter.get_input_details()
        self.outputs = self.interpreter.get_output_details()

    def run(self, frame):
        self.interpreter.set_tensor(self.input["index"], frame)
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(detail["index"]) for detail in self.outputs]


@pytest.fixture
def seed():
    value = int(os.environ.get("SEED", np.random.SeedSequence().entropy % (1 << 32)))
    print(f"seed {value} (replay with SEED={value})")
    return value


def mismatch_report(expected, got):
    wrong = np.argwhere(expected != got)
    return (f"{len(wrong)} of {expected.size} outputs differ; first at "
            f"{tuple(int(i) for i in wrong[0])}: expected {int(expected[tuple(wrong[0])])}, "
            f"got {int(got[tuple(wrong[0])])}")


# The digits ResNet ---------------------------------------------------------------------

def test_digits_model_matches_litert():
    imported = import_tflite(DIGITS)
    litert = LiteRT(DIGITS)
    images = np.load(MODELS / "digits_test_images.npy")
    labels = np.load(MODELS / "digits_test_labels.npy")
    count = len(images) if DIGITS_FRAMES == "all" else int(DIGITS_FRAMES)
    assert images.dtype == np.int8 and images.shape[1:] == (8, 8, 1) and count <= len(images)
    correct = 0
    for index in range(count):
        (expected,) = litert.run(images[index][None])
        (got,) = imported.run(images[index][None])
        assert got.shape == expected.shape == (1, 10) and got.dtype == np.int8
        assert np.array_equal(got, expected), f"test image {index}: " + mismatch_report(expected, got)
        correct += int(got.argmax() == labels[index])
    # A sanity check of the committed data: the model reads the digits it was trained on.
    assert correct / count > 0.9, f"{correct} of {count} test images classified correctly"


def test_digits_model_is_a_resnet():
    """The architecture ``models/train_digits.py`` builds, as the importer sees it."""
    network = import_tflite(DIGITS).network
    layers = network.layers
    specs = network.specs()
    convs = [layer for layer in layers if isinstance(layer, Conv2d)]
    adds = [layer for layer in layers if isinstance(layer, Add)]
    assert len(convs) == 1 + 2 + 3 + 3 and len(adds) == 3     # stem, three blocks
    projections = [c for c in convs if c.w.shape[1:3] == (1, 1) and c.stride == (2, 2)]
    assert len(projections) == 2
    # The explicit PAD of stage 2 is folded: a VALID 3x3 stride-2 conv padded by one all round.
    assert any(c.stride == (2, 2) and c.w.shape[1] == 3 and c.padding == (1, 1, 1, 1) for c in convs)
    # Stage 3's SAME 3x3 stride-2 conv on 4x4 pads only after (TFLite's odd pixel).
    assert any(c.stride == (2, 2) and c.w.shape[1] == 3 and c.padding == (0, 1, 0, 1) for c in convs)
    assert [specs[a.name].shape for a in adds] == [(8, 8, 8), (4, 4, 16), (2, 2, 32)]
    assert isinstance(layers[-2], GlobalAvgPool) and isinstance(layers[-1], FullyConnected)
    assert layers[-1].requantization == "fp64"
    assert any(not np.isscalar(c.w_scale) for c in convs)           # per-channel scales


def test_digits_needs_the_fp64_fully_connected():
    """With TFLite's integer-only requantization some test images' logits differ from LiteRT."""
    import dataclasses

    from gen.network import Network
    imported = import_tflite(DIGITS)
    network = imported.network
    layers = [dataclasses.replace(layer, requantization="integer")
              if isinstance(layer, FullyConnected) else layer for layer in network.layers]
    integer = Network(network.input, layers, network.bits, network.outputs)
    litert = LiteRT(DIGITS)
    images = np.load(MODELS / "digits_test_images.npy")
    differ = 0
    for image in images:
        (expected,) = litert.run(image[None])
        got = integer.golden(image)[network.outputs[0]].reshape(expected.shape)
        differ += int(not np.array_equal(got, expected))
    assert differ > 0


# Small models --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ACCEPTED)
def test_import_matches_litert(name, seed):
    assert_matches_litert(VECTORS / f"{name}.tflite", name, seed)


def assert_matches_litert(path, name, seed):
    """The model at ``path`` imported and on LiteRT: every output byte of ``FRAMES`` random
    frames equal. Returns the imported model."""
    imported = import_tflite(path)
    litert = LiteRT(path)
    rng = np.random.default_rng(seed)
    shape = tuple(litert.input["shape"])
    for index in range(FRAMES):
        if litert.input["dtype"] == np.float32:
            x = (rng.normal(size=shape) * 3.0).astype(np.float32)
            frame = imported.quantize_input(x)
        else:
            x = frame = rng.integers(-128, 128, size=shape).astype(np.int8)
        expected = litert.run(x)
        got = imported.run(frame)
        assert len(got) == len(expected)
        for output, (e, g) in enumerate(zip(expected, got)):
            if imported.outputs[output][3]:
                g = imported.dequantize_output(g, output)
            assert g.shape == e.shape and g.dtype == e.dtype
            assert np.array_equal(g, e), f"{name}, seed {seed}, frame {index}: " \
                                         + mismatch_report(e, g)
    return imported


def asymmetric_pads(schema, model, graph):
    """``pad_conv_pool``'s two PADs (one paddings tensor, one all round) padded unevenly,
    each side its own amount, each axis still by two in all (so no shape changes): the
    max-pool's input by top 2, bottom 0, left 0, right 2; the conv's by top 0, bottom 2,
    left 1, right 1, from a paddings tensor of its own."""
    pads = [op for op in graph.operators
            if model.operatorCodes[op.opcodeIndex].builtinCode == schema.BuiltinOperator.PAD]
    assert len(pads) == 2 and pads[0].inputs[1] == pads[1].inputs[1]
    shared = graph.tensors[pads[0].inputs[1]]
    assert shared.type == schema.TensorType.INT32
    model.buffers[shared.buffer].data = np.array([0, 0, 2, 0, 0, 2, 0, 0], np.int32).view(np.uint8)
    own = copy.deepcopy(shared)
    own.buffer, own.name = len(model.buffers), b"conv_paddings"
    model.buffers.append(schema.BufferT())
    model.buffers[-1].data = np.array([0, 0, 0, 2, 1, 1, 0, 0], np.int32).view(np.uint8)
    graph.tensors.append(own)
    pads[1].inputs = np.array([pads[1].inputs[0], len(graph.tensors) - 1], np.int32)


def test_asymmetric_pad_matches_litert(seed, tmp_path):
    """Each side of a PAD folds into its own side of the layer's padding: top and bottom
    into the rows, left and right into the columns."""
    path = tmp_path / "pad_conv_pool_asymmetric.tflite"
    path.write_bytes(edited(VECTORS / "pad_conv_pool.tflite", asymmetric_pads))
    imported = assert_matches_litert(path, "pad_conv_pool asymmetric", seed)
    paddings = [layer.padding for layer in imported.network.layers if hasattr(layer, "padding")]
    assert paddings == [(1, 1, 1, 1), (2, 0, 0, 2), (0, 2, 1, 1)]


def test_relu6_clamps_inside_int8(seed):
    """The edited ReLU6 models clamp at the quantized 6.0, -40, and outputs reach it."""
    for name in ("relu6_conv", "relu6_fc"):
        imported = import_tflite(VECTORS / f"{name}.tflite")
        litert = LiteRT(VECTORS / f"{name}.tflite")
        layer = imported.network.layers[-1]
        assert layer.relu6 and (layer.y_scale, layer.y_zp) == (np.float32(0.1), -100)
        rng = np.random.default_rng(seed)
        top = max(int(litert.run(rng.integers(-128, 128, size=tuple(litert.input["shape"]))
                                 .astype(np.int8))[0].max()) for _ in range(FRAMES))
        assert top == -100 + 60, f"{name}: largest output {top}"


def test_quantize_input_rounds_half_away_from_zero():
    imported = import_tflite(VECTORS / "float_edges.tflite")
    scale, zero_point = imported.input_quantization
    halves = np.array([0.5, -0.5, 1.5, -1.5, 2.25, -1000.0, 1000.0], np.float32) * np.float32(scale)
    assert imported.quantize_input(halves).tolist() == [
        zero_point + 1, zero_point - 1, zero_point + 2, zero_point - 2, zero_point + 2, -128, 127]


@pytest.mark.parametrize("size, kernel, stride, expected", [
    (8, 3, 1, (1, 1)), (8, 3, 2, (0, 1)), (9, 3, 2, (1, 1)), (15, 7, 2, (3, 3)),
    (16, 7, 2, (2, 3)), (8, 1, 2, (0, 0)), (7, 1, 2, (0, 0)), (4, 3, 2, (0, 1)),
])
def test_same_padding(size, kernel, stride, expected):
    """TensorFlow's SAME: ceil(size / stride) outputs, the odd pixel after (hand-computed)."""
    assert same_padding(size, kernel, stride) == expected


# Refusals ------------------------------------------------------------------------------

SUPPORTED = ("ADD, AVERAGE_POOL_2D, CONV_2D, DEQUANTIZE, FULLY_CONNECTED, MAX_POOL_2D, MEAN, "
             "PAD, QUANTIZE, RESHAPE")


@pytest.mark.parametrize("name, message", [
    ("softmax_inside", rf"^node 2 SOFTMAX \(tensor '[^']+/Softmax'\): operator not supported; "
                       rf"supported: {SUPPORTED}$"),
    ("depthwise", rf"^node 0 DEPTHWISE_CONV_2D \(tensor '[^']+'\): operator not supported; "
                  rf"supported: {SUPPORTED}$"),
    ("float_model", r"^node 0 CONV_2D \(tensor '[^']+'\): activation data type FLOAT32 is not "
                    r"supported; supported: INT8 activations and weights, INT32 biases$"),
    ("pad_pool_no_relu", r"^node 2 MAX_POOL_2D \(tensor '[^']+/Pad'\): a PAD before it fills "
                         r"with the zero point, which can win over conv_2d_0's values; "
                         r"supported: PAD before a max-pool only after a fused ReLU$"),
])
def test_refused(name, message):
    with pytest.raises(ModelImportError, match=message):
        import_tflite(VECTORS / f"{name}.tflite")


def test_not_a_model_wrong():
    with pytest.raises(ModelImportError,
                       match=r"^not a TFLite flatbuffer: the file identifier is not 'TFL3'$"):
        import_tflite(b"\0" * 64)


def test_model_type_wrong():
    with pytest.raises(TypeError, match=r"^model must be a path or bytes, not 3$"):
        import_tflite(3)


def test_cli(capsys):
    assert main([str(DIGITS)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == describe(import_tflite(DIGITS))
    assert out[0].startswith("input (8, 8, 1)") and "fully_connected_14" in out[-2]
    assert main([str(VECTORS / "depthwise.tflite")]) == 1
    assert capsys.readouterr().err.startswith("error: node 0 DEPTHWISE_CONV_2D")


# Refusals of edited models -------------------------------------------------------------

def edited(path, change):
    """``path``'s model with ``change(model, graph)`` applied, as bytes (LiteRT's schema module)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(Path(path).read_bytes(), 0))
    change(schema, model, model.subgraphs[0])
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def tanh(schema, model, graph):
    graph.operators[1].builtinOptions.fusedActivationFunction = schema.ActivationFunctionType.TANH


def dilation(schema, model, graph):
    graph.operators[1].builtinOptions.dilationHFactor = 2


def weight_zero_point(schema, model, graph):
    weights = graph.tensors[graph.operators[1].inputs[1]]
    weights.quantization.zeroPoint = np.ones_like(weights.quantization.zeroPoint)


def batch(schema, model, graph):
    graph.tensors[graph.inputs[0]].shape = np.array([2, 8, 8, 1], np.int32)


def int16_activation(schema, model, graph):
    graph.tensors[graph.operators[1].outputs[0]].type = schema.TensorType.INT16


def broadcast_add(schema, model, graph):
    add = graph.operators[3]
    add.inputs = np.array([add.inputs[0], graph.operators[4].outputs[0]], np.int32)


def tensor_index(schema, model, graph):
    graph.operators[1].inputs = np.array([graph.operators[1].inputs[0], 999], np.int32)


def opcode_index(schema, model, graph):
    graph.operators[1].opcodeIndex = 77


def buffer_index(schema, model, graph):
    graph.tensors[graph.operators[1].inputs[1]].buffer = 5000


def buffer_size(schema, model, graph):
    weights = graph.tensors[graph.operators[1].inputs[1]]
    model.buffers[weights.buffer].data = model.buffers[weights.buffer].data[:-3]


def zero_points(schema, model, graph):
    weights = graph.tensors[graph.operators[1].inputs[1]]
    weights.quantization.zeroPoint = weights.quantization.zeroPoint[:1]


def options_type(schema, model, graph):
    graph.operators[1].builtinOptionsType = schema.BuiltinOptions.AddOptions


def negative_scale(schema, model, graph):
    graph.tensors[graph.operators[1].outputs[0]].quantization.scale = np.array([-0.5], np.float32)


MALFORMED = (tensor_index, opcode_index, buffer_index, buffer_size, zero_points, options_type)


@pytest.mark.parametrize("change, message", [
    (tanh, r"^node 1 CONV_2D \(tensor '[^']+'\): fused activation TANH is not supported; "
           r"supported: NONE, RELU, RELU6$"),
    (dilation, r"^node 1 CONV_2D \(tensor '[^']+'\): dilation \(2, 1\) is not supported; "
               r"supported: dilation \(1, 1\)$"),
    (weight_zero_point, r"^node 1 CONV_2D \(tensor '[^']+'\): weights have a non-zero zero point; "
                        r"supported: symmetric weights$"),
    (batch, r"^input tensor '[^']+' has shape \[2, 8, 8, 1\]; supported: 4-D NHWC of batch 1$"),
    (int16_activation, r"^node 1 CONV_2D \(tensor '[^']+'\): activation data type INT16 is not "
                       r"supported; supported: INT8 activations and weights, INT32 biases$"),
    (broadcast_add, r"^node 3 ADD \(tensor '[^']+'\): adds shapes \[1, 8, 8, 8\] and "
                    r"\[1, 4, 4, 16\]; supported: two tensors of one shape \(no broadcast\)$"),
    (negative_scale, r"^node 1 CONV_2D \(tensor '[^']+'\): activation scale -0.5; supported: "
                     r"finite positive scales$"),
    # Malformed: MalformedModelError, a ModelImportError.
    (tensor_index, r"^operator 1's input names tensor 999; the graph has tensors 0 to \d+ "
                   r"\(and -1, none\)$"),
    (opcode_index, r"^operator 1 has opcode index 77; the model has \d+ operator codes$"),
    (buffer_index, r"^tensor '[^']+' reads buffer 5000; the model has \d+ buffers$"),
    (buffer_size, r"^tensor '[^']+' of shape \[8, 3, 3, 8\] and type INT8 needs 576 bytes; its "
                  r"buffer holds 573$"),
    (zero_points, r"^tensor '[^']+' has 8 scales and 1 zero points; a quantized tensor has one "
                  r"zero point a scale$"),
    (options_type, r"^operator 1 CONV_2D carries builtin options of type 11; its options are of "
                   r"type 1 \(Conv2DOptions\)$"),
], ids=lambda value: getattr(value, "__name__", ""))
def test_edited_digits_refused(change, message):
    malformed = change in MALFORMED
    with pytest.raises(MalformedModelError if malformed else ModelImportError, match=message) as caught:
        import_tflite(edited(DIGITS, change))
    assert isinstance(caught.value, MalformedModelError) == malformed


# Malformed files -----------------------------------------------------------------------

def test_truncated_wrong(tmp_path):
    path = tmp_path / "truncated.tflite"
    path.write_bytes(DIGITS.read_bytes()[:1000])
    with pytest.raises(MalformedModelError, match=rf"^{path}: not a TFLite flatbuffer: .* lies "
                                                  rf"outside the file's 1000 bytes$"):
        import_tflite(path)
    assert main([str(path)]) == 1


def test_unreadable_wrong(tmp_path, capsys):
    for path, reason in [(tmp_path / "missing.tflite", "No such file or directory"),
                         (tmp_path, "Is a directory")]:
        assert main([str(path)]) == 1
        assert capsys.readouterr().err == f"error: MODEL {str(path)!r} cannot be read ({reason})\n"


@pytest.mark.parametrize("size", [0, 7])
def test_short_file_wrong(tmp_path, size):
    path = tmp_path / "short.tflite"
    path.write_bytes(bytes(size))
    with pytest.raises(MalformedModelError, match=rf"^{path}: not a TFLite flatbuffer: the file's "
                                                  rf"{size} bytes are too few for a root offset "
                                                  rf"and an identifier$"):
        import_tflite(path)


def corrupted(data, rng):
    """``data`` with three random bytes replaced, or (one time in five) cut short."""
    data = bytearray(data)
    if rng.integers(5) == 0:
        return bytes(data[:rng.integers(len(data))])
    for _ in range(3):
        data[rng.integers(len(data))] = rng.integers(256)
    return bytes(data)


#: Corruptions of the digits model tried per run (FUZZ_TRIALS to try more).
FUZZ_TRIALS = int(os.environ.get("FUZZ_TRIALS", "200"))


def test_corrupted_digits_refused_or_compiled(seed):
    """A corrupted model is refused by the importer in one line, or imports and then compiles
    or is refused by the compiler: never another exception."""
    rng = np.random.default_rng(seed)
    data = DIGITS.read_bytes()
    outcomes = {"refused": 0, "compiled": 0, "refused by the compiler": 0}
    for trial in range(FUZZ_TRIALS):
        model = corrupted(data, rng)
        try:
            imported = import_tflite(model)
        except ModelImportError as error:
            assert "\n" not in str(error), f"trial {trial}: {error}"
            outcomes["refused"] += 1
            continue
        try:
            compile_array(imported.network, PRESETS["default"], 1, 1)
            outcomes["compiled"] += 1
        except (CompileError, ValueError) as error:
            assert "\n" not in str(error), f"trial {trial}: {error}"
            outcomes["refused by the compiler"] += 1
    print(outcomes)
    assert outcomes["refused"] and outcomes["compiled"]
