"""Precision per layer on the hardware: an int8 -> int4 -> int2 -> int4 -> int8 chain
(:func:`sim.workloads.mixed_chain`: convs across every pairing, an int4 ADD, an int4 ->
int8 global average pool, an int8 fully-connected layer) on one core and spread over a
2x2 and a 4x4 array. Every layer is an output: every word of every tensor must equal
:mod:`sim.golden`'s, and the run must last exactly the compiler's predicted cycles.
Replay a failure with ``SEED=<seed>``.
"""

import dataclasses

import pytest

from gen.array import Split
from gen.compiler import CompileError, compile_network
from gen.network import Add, Network
from hdl.isa import Opcode
from hdl.params import CoreParams, Precision
from sim.tb.runner import seed_from_env, simulator
from sim.workloads import mixed_chain
from tests.integration.test_array import check_network_on_array
from tests.integration.test_core import check_network


def describe(network, seed):
    chain = ", ".join(f"{layer.name} int{network.tensor_precision(layer.sources[0]).bits}->"
                      f"int{network.tensor_precision(layer.name).bits}" for layer in network.layers)
    return f"mixed chain ({chain}; SEED={seed})"


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


def test_chain_on_core():
    seed = seed_from_env()
    network, x = mixed_chain(seed)
    check_network(simulator("verilator"), "core-mixed-chain", network, x, describe(network, seed))


@pytest.mark.parametrize("rows, columns, shape, splits", [
    (2, 2, (8, 8, 16), {}),
    (2, 2, (8, 8, 32), {"conv2": Split.CHANNELS, "add": Split.CHANNELS, "pool": Split.CHANNELS}),
    (4, 4, (16, 16, 32), {"conv3": Split.GRID, "add": Split.GRID}),
], ids=["2x2", "2x2-by-channels", "4x4-grid"])
def test_chain_on_array(rows, columns, shape, splits):
    seed = seed_from_env()
    network, x = mixed_chain(seed, shape, width=shape[2])
    check_network_on_array(rows, columns, network, x, splits, sim=simulator("verilator"),
                           test_name=f"array-{rows}x{columns}-mixed-chain-{len(splits)}",
                           context=describe(network, seed), seed=seed)
