"""Fusing a conv into the residual add that reads it: same outputs, byte for byte."""

import dataclasses

import numpy as np
import pytest

from gen.network import ConvAdd, Network, fuse_adds
from sim.tb.runner import seed_from_env
from sim.workloads import BLOCKS, build


@pytest.mark.parametrize("bits", (8, 4, 2))
@pytest.mark.parametrize("name", BLOCKS)
def test_fused_block_equals_unfused(name, bits):
    seed = seed_from_env()
    network, x = build(BLOCKS[name], bits, seed)
    fused = fuse_adds(network)
    kinds = [type(layer).__name__ for layer in fused.layers]
    assert kinds.count("ConvAdd") == 1 and "Add" not in kinds, f"SEED={seed}: {kinds}"
    expected, got = network.golden(x)["add"], fused.golden(x)["add"]
    assert np.array_equal(expected, got), f"SEED={seed}: {name} int{bits} differs when fused"
    assert expected.std() > 0, f"SEED={seed}: the output is flat"


def test_conv_read_twice_is_not_fused():
    network, _ = build(BLOCKS["basic_block"], 8, seed_from_env())
    network = Network(network.input, network.layers, network.bits, outputs=("conv2", "add"))
    assert fuse_adds(network).layers == network.layers


def test_fused_precisions_wrong():
    network, _ = build(BLOCKS["basic_block"], 8, seed_from_env())
    conv, add = network.layers[-2], network.layers[-1]
    layer = ConvAdd(dataclasses.replace(conv, bits=4), add)
    with pytest.raises(ValueError, match=r"^fused add add needs its conv's output, residual and result at "
                                         r"one precision, not conv int4, residual int8, result int8$"):
        Network(network.input, [*network.layers[:-2], layer], network.bits)
