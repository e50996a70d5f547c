"""Precision per layer in the compiler: each instruction reads at its source's precision
and writes at its layer's, each buffer packs its tensor at the tensor's, and every range
is checked at the precision it lives in (the hardware runs: tests/integration/test_mixed_precision.py)."""

import dataclasses

import pytest

from gen.compiler import CompileError, compile_network
from gen.network import Add, Conv2d, Network
from hdl.isa import Opcode
from hdl.params import CoreParams, Precision
from sim.workloads import mixed_chain


def test_chain_compiles_to_mixed_instructions(seed=1):
    """Each instruction reads at its source's precision and writes at its layer's; each
    buffer packs its tensor at the tensor's precision."""
    network, _ = mixed_chain(seed)
    compiled = compile_network(network, CoreParams())
    computes = [i for i in compiled.program if i.opcode.computes]
    assert [(i.opcode, i.precision.bits, i.out_precision.bits) for i in computes] == [
        (Opcode.MAC, 8, 4), (Opcode.MAC, 4, 2), (Opcode.MAC, 2, 4), (Opcode.ADD, 4, 4),
        (Opcode.MAC, 4, 8), (Opcode.AVGPOOL, 4, 8), (Opcode.MAC, 8, 8)], f"seed {seed}"
    assert {name: buffer.precision.bits for name, buffer in compiled.buffers.items()} == {
        "input": 8, "conv1": 4, "conv2": 2, "conv3": 4, "add": 4, "conv4": 8, "pool": 8, "fc": 8}


def test_add_of_two_precisions_wrong(seed=1):
    network, _ = mixed_chain(seed)
    layers = list(network.layers[:3]) + [Add("add", ("conv3", "conv2"), 0.1, 0, bits=4)]
    with pytest.raises(ValueError, match=r"^add add reads conv3 at int4 and conv2 at int2; both "
                                         r"operands of an ADD must have one precision$"):
        Network(network.input, layers, 8)


def test_ranges_checked_at_each_layers_precision(seed=1):
    """Weights at the layer's input precision, the output zero point at its output's."""
    network, _ = mixed_chain(seed)
    conv1, conv2 = network.layers[:2]
    wide = conv2.w.copy()
    wide[0, 0, 0, 3] = 8                    # an int8 value in conv2's int4 weights
    bad = Network(network.input, [conv1, dataclasses.replace(conv2, w=wide)], 8)
    with pytest.raises(CompileError, match=r"^layer conv2: w\[0, 0, 0, 3\] = 8 lies outside int4 "
                                           r"\[-8, 7\]$"):
        compile_network(bad, CoreParams())
    out = Network(network.input, [dataclasses.replace(conv1, y_zp=9)], 8)
    with pytest.raises(CompileError, match=r"^layer conv1: y_zp = 9 lies outside int4 \[-8, 7\]$"):
        compile_network(out, CoreParams())
    assert network.tensor_precision("conv2") == Precision.INT2


def test_tensor_precision():
    network, _ = mixed_chain(1)
    assert [network.tensor_precision(name).bits for name in ("input", "conv1", "conv2", "fc")] == \
        [8, 4, 2, 8]
    assert network.precision == Precision.INT8
    with pytest.raises(ValueError, match=r"^tensor 'nope' is neither the input nor a layer of the network$"):
        network.tensor_precision("nope")


def test_layer_bits_wrong():
    with pytest.raises(ValueError, match=r"^layer conv bits must be one of 8, 4, 2 or None, not 3$"):
        Conv2d("conv", "input", [[[[1]]]], [0], 0.1, 0.1, 0, bits=3)
