"""Precision per layer on the hardware: an int8 -> int4 -> int2 -> int4 -> int8 chain
(:func:`sim.workloads.mixed_chain`: convs across every pairing, an int4 ADD, an int4 ->
int8 global average pool, an int8 fully-connected layer) on one core and spread over a
2x2 and a 4x4 array. Every layer is an output: every word of every tensor must equal
:mod:`sim.golden`'s, and the run must last exactly the compiler's predicted cycles.
Replay a failure with ``SEED=<seed>``.
"""

import pytest

from gen.array import Split
from sim.tb.runner import seed_from_env, simulator
from sim.workloads import mixed_chain
from tests.integration.test_array import check_network_on_array
from tests.integration.test_core import check_network


def describe(network, seed):
    chain = ", ".join(f"{layer.name} int{network.tensor_precision(layer.sources[0]).bits}->"
                      f"int{network.tensor_precision(layer.name).bits}" for layer in network.layers)
    return f"mixed chain ({chain}; SEED={seed})"


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
