"""The ResNets of :mod:`gen.resnet` at one precision and at NorthPole's mixed precisions.

Mixed (``bits=8, inside=4``): the stem reads the int8 frame and writes int4, every block
is int4, the global average pool reads int4 and writes int8, the classifier is int8; every
weight and zero point lies in the range of the precision its layer reads or writes. A
ResNet of the same structure scaled down (:func:`sim.catalogue.resnet_layers`) compiles
for a 2x2 array at those precisions and runs on the golden model. Replay with ``SEED=<seed>``.
"""

import numpy as np
import pytest

from gen.array import compile_array
from gen.network import Add, Conv2d, FullyConnected, GlobalAvgPool
from gen.resnet import from_catalogue, resnet
from hdl.isa import Opcode
from hdl.params import DEFAULT_CORE, Precision
from sim import catalogue
from sim.tb.runner import seed_from_env


def expected_bits(name, inside):
    """The precision each tensor has in the scheme: the pool's output and the classifier's
    at int8, the input too, every other at ``inside``."""
    return 8 if name in ("input", "avgpool", "fc") else inside


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_mixed_precisions(name):
    network = resnet(name, 8, inside=4)
    tensors = ["input", *(layer.name for layer in network.layers)]
    assert [network.tensor_precision(tensor).bits for tensor in tensors] == \
        [expected_bits(tensor, 4) for tensor in tensors]
    assert network.layers[0].name == "conv1" and network.layers[0].sources == ("input",)
    assert network.layers[-1].name == "fc" and network.layers[-1].sources == ("avgpool",)
    assert isinstance(network.layers[-2], GlobalAvgPool)
    for layer in network.layers:
        if isinstance(layer, Add):
            assert {network.tensor_precision(source).bits for source in layer.sources} == {4}


@pytest.mark.parametrize("name, inside", [("resnet18", 4), ("resnet50", 4), ("resnet18", 2)])
def test_parameters_in_their_layers_range(name, inside):
    """Weights and the input's zero point in the range the layer reads, the output's zero
    point in the range it writes; the int8 layers' weights use more than int4's range."""
    network = resnet(name, 8, inside=inside)
    specs = network.specs()
    assert specs["input"].zero_point in range(-128, 128)
    wide = []
    for layer in network.layers:
        source = network.tensor_precision(layer.sources[0])
        out = network.tensor_precision(layer.name)
        if isinstance(layer, (Conv2d, FullyConnected)):
            assert source.min <= layer.w.min() and layer.w.max() <= source.max, layer.name
            assert source.min <= specs[layer.source].zero_point <= source.max, layer.name
            if source.bits == 8:
                wide.append(layer.name)
                assert layer.w.min() < Precision.INT4.min and layer.w.max() > Precision.INT4.max
        assert out.min <= specs[layer.name].zero_point <= out.max, layer.name
    assert wide == ["conv1", "fc"]


def test_one_precision_by_default():
    """``inside=None`` is ``bits`` throughout, drawn as ``inside=bits`` draws it."""
    network, same = resnet("resnet18"), resnet("resnet18", 8, inside=8)
    assert {network.tensor_precision(layer.name).bits for layer in network.layers} == {8}
    for layer, twin in zip(network.layers, same.layers, strict=True):
        if isinstance(layer, Conv2d):
            assert np.array_equal(layer.w, twin.w) and np.array_equal(layer.bias, twin.bias)


def test_inside_wrong():
    with pytest.raises(ValueError, match=r"^inside must be one of 8, 4, 2 or None, not 3$"):
        resnet("resnet18", 8, inside=3)


def test_model_wrong():
    with pytest.raises(ValueError, match=r"^model 'resnet34' is not one of resnet18, resnet50$"):
        resnet("resnet34")


@pytest.mark.parametrize("block", ["basic", "bottleneck"])
def test_small_mixed_resnet_compiles_and_runs(block):
    """A two-stage ResNet of 16 x 16 x 3 frames at int8 edges, int4 inside: every core's
    buffers hold their tensors at the scheme's precisions, its compute instructions read
    and write at them, and the golden model's outputs lie in each tensor's range."""
    seed = seed_from_env()
    layers = catalogue.resnet_layers(block, (1, 1), input_shape=(16, 16, 3), widths=(8, 16), classes=10)
    network = from_catalogue(layers, 8, seed, inside=4)
    compiled = compile_array(network, DEFAULT_CORE, 2, 2)
    pairs = set()
    for core in compiled.cores.values():
        for name, buffer in core.buffers.items():
            assert buffer.precision.bits == expected_bits(name, 4), (name, f"SEED={seed}")
        pairs |= {(i.opcode, i.precision.bits, i.out_precision.bits)
                  for i in core.program if i.opcode.computes}
    assert pairs == {(Opcode.MAC, 8, 4), (Opcode.MAXPOOL, 4, 4), (Opcode.MAC, 4, 4), (Opcode.ADD, 4, 4),
                     (Opcode.AVGPOOL, 4, 8), (Opcode.MAC, 8, 8)}, f"SEED={seed}"
    frame = np.random.default_rng(seed).integers(-128, 128, (16, 16, 3))
    values = network.golden(frame)
    assert values["fc"].shape == (1, 1, 10)
    for name, value in values.items():
        precision = network.tensor_precision(name)
        assert precision.min <= value.min() and value.max() <= precision.max, (name, f"SEED={seed}")
