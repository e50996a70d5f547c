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

from gen.network import ConvAdd, MaxPool2d, Network, fuse_adds
from hdl.params import CoreParams, MacParams
from sim.tb.core_runner import run_on_core
from sim.tb.runner import seed_from_env, simulator
from sim.workloads import BLOCKS, LAYERS, ParameterMaker, build

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


def check_run(simulator, workload, bits, *, kind):
    """Run ``workload``; ``kind`` names the test function, so that no two running tests share
    a job file (each draws its own seed)."""
    seed = seed_from_env()
    network, x = build(workload, bits, seed)
    check_network(simulator, f"core-{kind}-{workload.name}-int{bits}-{simulator}", network, x,
                  f"{workload.name} int{bits} (SEED={seed})")


def check_network(simulator, test_name, network, x, context):
    compiled, result, decoded = run_on_core(simulator, test_name, network, x)
    assert_exact_run(context, network, network.golden(x), decoded, result, compiled.predicted_cycles,
                     counter="core")


def assert_exact_run(context, network, expected, got, result, predicted, *, counter):
    """Every output of ``network`` in ``got`` equals ``expected``, the conflict flag stayed
    clear and the run lasted ``predicted`` cycles by the testbench and by the ``counter``
    (``"core"`` or ``"chip"``)."""
    errors = [line for name in network.outputs for line in mismatches(name, expected[name], got[name])]
    assert not errors, f"{context}: outputs differ from sim.golden:\n" + "\n".join(errors)
    assert result["conflict"] == 0, f"{context}: the SRAM conflict flag rose"
    assert result["cycles"] == predicted, \
        f"{context}: ran {result['cycles']} cycles, the compiler predicted {predicted}"
    assert result["counter"] == result["cycles"], \
        f"{context}: the {counter}'s cycle counter says {result['counter']}, the testbench counted " \
        f"{result['cycles']}"


@pytest.mark.parametrize("bits", PRECISIONS)
@pytest.mark.parametrize("name", LAYERS)
def test_layer(name, bits):
    check_run(simulator("verilator"), LAYERS[name], bits, kind="layer")


@pytest.mark.parametrize("bits", PRECISIONS)
@pytest.mark.parametrize("name", BLOCKS)
def test_block(name, bits):
    check_run(simulator("verilator"), BLOCKS[name], bits, kind="block")


@pytest.mark.parametrize("bits", PRECISIONS)
@pytest.mark.parametrize("name", BLOCKS)
def test_fused_block(name, bits):
    """The block with its residual add fused into the conv before it (``MACADD``), against
    the golden model of the block as written."""
    seed = seed_from_env()
    network, x = build(BLOCKS[name], bits, seed)
    fused = fuse_adds(network)
    assert any(isinstance(layer, ConvAdd) for layer in fused.layers), f"{name}: nothing fused"
    compiled, result, decoded = run_on_core(simulator("verilator"), f"core-fused-{name}-int{bits}", fused, x)
    assert_exact_run(f"{name} fused int{bits} (SEED={seed})", fused, network.golden(x), decoded, result,
                     compiled.predicted_cycles, counter="core")


def random_network(rng):
    """A conv of random kernel, stride and padding, a max-pool and a 1x1 conv, at a random
    precision, on a random odd or even size and channel counts that fill no word or tile."""
    maker = ParameterMaker(rng, int(rng.choice(PRECISIONS)))
    x = maker.spec((int(rng.integers(5, 11)), int(rng.integers(5, 11)), int(rng.integers(1, 21))))
    kernel = tuple(int(k) for k in rng.choice([1, 2, 3, 5], 2))
    stride = tuple(int(s) for s in rng.integers(1, 4, 2))
    padding = tuple(int(rng.integers(0, kernel[i // 2])) for i in range(4))
    conv = maker.conv2d("conv", "input", x, int(rng.integers(1, 21)), kernel, stride, padding,
                        bool(rng.integers(2)))
    y = Network(x, [conv]).specs()["conv"]
    pool_kernel = tuple(int(min(k, s)) for k, s in zip(rng.integers(1, 4, 2), y.shape[:2]))
    pool = MaxPool2d("pool", "conv", pool_kernel, tuple(int(s) for s in rng.integers(1, 3, 2)),
                     tuple(int(rng.integers(0, pool_kernel[i // 2])) for i in range(4)))
    z = Network(x, [conv, pool]).specs()["pool"]
    last = maker.conv2d("last", "pool", z, int(rng.integers(1, 21)), (1, 1), (1, 1), (0, 0, 0, 0),
                        False)
    network = Network(x, [conv, pool, last], maker.precision.bits, outputs=("conv", "pool", "last"))
    return network, maker.values(x.shape)


@pytest.mark.parametrize("index", range(6))
def test_random_network(index):
    seed = seed_from_env() + index
    network, x = random_network(np.random.default_rng(seed))
    conv, pool, _ = network.layers
    context = (f"int{network.bits} input {network.input.shape}, conv {conv.w.shape} stride "
               f"{conv.stride} padding {conv.padding}, pool {pool.kernel} stride {pool.stride} "
               f"padding {pool.padding} (SEED={seed - index})")
    check_network(simulator("verilator"), f"core-random-{index}", network, x, context)


#: The FPGA-lean options on the default core's shape: the requantizers' multiplies over two
#: stages, without the operand register; the requantizers and the ADD rescaling one column
#: a cycle (tiles 8 cycles apart) with the program memory split between the two sequencers;
#: a core of the compute sequencer and one requantizer only (no message sequencer, no fused
#: add), one column a cycle; and that core with two cycles a column on half the
#: multipliers, scales below one (no left shift, one barrel shifter for both roundings),
#: no operand register, the MAX/SUM operands delayed in a memory, the a and b steps read
#: from the program memory, 8-bit loop counts and 4 tokens.
LEAN = {"split-multiply-narrow-program": CoreParams(MacParams(multiply_stages=2, operand_register=False),
                                                    narrow_program=True),
        "one-column-split-narrow-program": CoreParams(MacParams(requantize_columns=1), program_split=True,
                                                      narrow_program=True),
        "one-sequencer-unfused": CoreParams(MacParams(requantize_columns=1, multiply_stages=2),
                                            narrow_program=True, message_sequencer=False, fused_add=False),
        "two-cycle-rescale-below-one": CoreParams(MacParams(requantize_columns=1, multiply_stages=2,
                                                            rescale_cycles=2, scales_below_one=True,
                                                            operand_register=False, delay_memory=True),
                                                  narrow_program=True, program_steps=True,
                                                  message_sequencer=False, fused_add=False, count_width=8,
                                                  tokens=4)}
#: The lean cores that run ``MACADD``.
FUSING = [name for name, params in LEAN.items() if params.fused_add]


@pytest.mark.parametrize("lean", LEAN)
@pytest.mark.parametrize("name, bits", [("conv_3x3_s2", 8), ("global_avgpool", 4), ("residual_add_relu", 2),
                                        ("maxpool_3x3_s2", 8), ("basic_block", 4)])
def test_lean_core(name, bits, lean):
    """Every layer kind (MAC, MAX, SUM, ADD) bit-exact on each lean core, in the cycles
    the compiler predicts from the hardware's latencies (longer drains; tiles of fewer
    elements than ``tile_interval`` spaced out)."""
    seed = seed_from_env()
    workload = {**LAYERS, **BLOCKS}[name]
    network, x = build(workload, bits, seed)
    compiled, result, decoded = run_on_core(simulator("verilator"), f"core-{lean}-{name}-int{bits}", network,
                                            x, LEAN[lean])
    assert_exact_run(f"{lean} {name} int{bits} (SEED={seed})", network, network.golden(x), decoded, result,
                     compiled.predicted_cycles, counter="core")


@pytest.mark.parametrize("lean", FUSING)
@pytest.mark.parametrize("bits", [8, 2])
def test_lean_fused_block(bits, lean):
    """``MACADD`` on each lean core: its residual read leads by the longer requantizer."""
    seed = seed_from_env()
    network, x = build(BLOCKS["basic_block"], bits, seed)
    fused = fuse_adds(network)
    assert any(isinstance(layer, ConvAdd) for layer in fused.layers), "basic_block: nothing fused"
    compiled, result, decoded = run_on_core(simulator("verilator"), f"core-{lean}-fused-int{bits}", fused, x,
                                            LEAN[lean])
    assert_exact_run(f"{lean} basic_block fused int{bits} (SEED={seed})", fused, network.golden(x), decoded,
                     result, compiled.predicted_cycles, counter="core")


#: A core of 2 columns (``MIN_MAC_COLUMNS``): 4 lanes x 2 columns, 8 KB of activations in two
#: banks, 16 KB of weights.
TWO_COLUMNS = CoreParams(MacParams(4, 2), activation_banks=2, activation_depth=1024, weight_depth=2048)


@pytest.mark.parametrize("name, bits", [("conv_3x3_s2", 8), ("fc", 8), ("global_avgpool", 4),
                                        ("residual_add_relu", 4), ("basic_block", 8)])
def test_two_column_core(name, bits):
    """A tile of 2 channels: every layer kind bit-exact at int8 and int4 in the predicted
    cycles (int2 is refused when encoded: ``tests/hdl/test_isa.py``)."""
    seed = seed_from_env()
    network, x = build({**LAYERS, **BLOCKS}[name], bits, seed)
    compiled, result, decoded = run_on_core(simulator("verilator"), f"core-two-columns-{name}-int{bits}",
                                            network, x, TWO_COLUMNS)
    assert_exact_run(f"two columns {name} int{bits} (SEED={seed})", network, network.golden(x), decoded,
                     result, compiled.predicted_cycles, counter="core")


def test_two_column_core_fused_block():
    seed = seed_from_env()
    network, x = build(BLOCKS["basic_block"], 8, seed)
    fused = fuse_adds(network)
    compiled, result, decoded = run_on_core(simulator("verilator"), "core-two-columns-fused", fused, x,
                                            TWO_COLUMNS)
    assert_exact_run(f"two columns basic_block fused int8 (SEED={seed})", fused, network.golden(x), decoded,
                     result, compiled.predicted_cycles, counter="core")


@pytest.mark.smoke
@pytest.mark.parametrize("name, bits", [("fc", 8), ("global_avgpool", 4), ("conv_1x1_reduce", 2),
                                        ("residual_add_relu", 8)])
def test_core_smoke(simulator, name, bits):
    check_run(simulator, LAYERS[name], bits, kind="smoke")
