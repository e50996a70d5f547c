"""One core runs scaled ResNet layers and blocks from its own memory, bit-exact and cycle-exact.

Each case (:mod:`sim.workloads`) is compiled for the core, loaded through the host port,
run, and read back; every output value is compared with :mod:`sim.golden`, the simulated
cycles with the compiler's prediction, and the SRAM conflict flag must stay clear. Replay
a failure with ``SEED=<seed>`` (printed in the failure message).

The core runs on Verilator unless ``SIM`` says otherwise: Icarus simulates the whole core
at under a hundred cycles a second, Verilator (one build shared by every case) at tens of
thousands. The smoke cases run on both.
"""

import numpy as np
import pytest

from sim.tb.core_runner import run_on_core
from sim.tb.runner import seed_from_env, simulator
from sim.workloads import BLOCKS, LAYERS, build

PRECISIONS = (8, 4, 2)
#: Mismatches listed in a failure message.
SHOWN_MISMATCHES = 12


def mismatches(name, expected, got):
    """Lines naming the layer, the (y, x, channel) coordinate, the expected and the got value."""
    wrong = np.argwhere(expected != got)
    lines = [f"{name}[{', '.join(map(str, index))}]: expected {int(expected[tuple(index)])}, "
             f"got {int(got[tuple(index)])}" for index in wrong[:SHOWN_MISMATCHES]]
    if len(wrong) > SHOWN_MISMATCHES:
        lines.append(f"... {len(wrong) - SHOWN_MISMATCHES} more of {expected.size}")
    return lines


def check_run(simulator, workload, bits, seed=None):
    seed = seed_from_env() if seed is None else seed
    network, x = build(workload, bits, seed)
    test_name = f"core-{workload.name}-int{bits}-{simulator}"
    compiled, result, decoded = run_on_core(simulator, test_name, network, x)
    expected = network.golden(x)
    errors = []
    for name in network.outputs:
        errors += mismatches(name, expected[name], decoded[name])
    context = f"{workload.name} int{bits} (SEED={seed})"
    assert not errors, f"{context}: outputs differ from sim.golden:\n" + "\n".join(errors)
    assert result["conflict"] == 0, f"{context}: the SRAM conflict flag rose"
    assert result["cycles"] == compiled.predicted_cycles, \
        f"{context}: ran {result['cycles']} cycles, the compiler predicted {compiled.predicted_cycles}"
    assert result["counter"] == result["cycles"], \
        f"{context}: the core's cycle counter says {result['counter']}, the testbench counted " \
        f"{result['cycles']}"


@pytest.mark.parametrize("bits", PRECISIONS)
@pytest.mark.parametrize("name", LAYERS)
def test_layer(name, bits):
    check_run(simulator("verilator"), LAYERS[name], bits)


@pytest.mark.parametrize("bits", PRECISIONS)
@pytest.mark.parametrize("name", BLOCKS)
def test_block(name, bits):
    check_run(simulator("verilator"), BLOCKS[name], bits)


@pytest.mark.smoke
@pytest.mark.parametrize("name, bits", [("fc", 8), ("global_avgpool", 4), ("conv_1x1_reduce", 2),
                                        ("residual_add_relu", 8)])
def test_core_smoke(simulator, name, bits):
    check_run(simulator, LAYERS[name], bits)
