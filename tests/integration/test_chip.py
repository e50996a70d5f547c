"""The core array through the host interface's three commands: load, write, run, read.

Each core of a 2x2 array, and the lone core of a 1x1 array (whose tile has no routers,
``hdl.tile``), gets its own scaled ResNet layer (:mod:`sim.workloads`),
compiled for one core; everything reaches the cores over the load network and comes back
over the activation network. Every output value must equal :mod:`sim.golden`'s, the run
must last exactly as long as the slowest core's predicted program, and no SRAM conflict
may occur. The writes and ``RUN`` must take exactly the cycles of the host port's model
(``sim.cycle.host_write_cycles``), the reads no more than its bound and no less than
the read interval for each word of the most read core.
"""

from collections import Counter

import pytest

from gen.compiler import compile_network
from hdl.network import NetworkInterface
from hdl.params import ChipParams
from sim.cycle import host_read_cycles, host_write_cycles
from sim.tb.array_runner import run_commands
from sim.tb.runner import seed_from_env, simulator
from sim.workloads import LAYERS, build
from tests.integration.test_core import mismatches

#: The layer each core runs, with its precision (the 1x1 array's core, (0, 0)'s).
ASSIGNMENT = {(0, 0): ("conv_3x3_s1", 8), (1, 0): ("maxpool_3x3_s2", 4),
              (0, 1): ("residual_add_relu", 2), (1, 1): ("fc", 8)}


@pytest.mark.parametrize("rows, columns", [(2, 2), (1, 1)])
def test_layers(rows, columns):
    seed = seed_from_env()
    params = ChipParams(rows=rows, columns=columns)
    programs, expected = {}, {}
    for (x, y), (name, bits) in ASSIGNMENT.items():
        if x >= columns or y >= rows:
            continue
        network, frame = build(LAYERS[name], bits, seed + x + 2 * y)
        programs[(x, y)] = (compile_network(network, params.core), frame)
        expected[(x, y)] = network.golden(frame)
    writes = [(x, y, addr, data) for (x, y), (compiled, frame) in programs.items()
              for addr, data in compiled.load_words() + compiled.input_words(frame)]
    reads = [(x, y, addr) for (x, y), (compiled, _) in programs.items()
             for name in compiled.network.outputs for addr in compiled.output_addresses(name)]
    predicted = max(compiled.predicted_cycles for compiled, _ in programs.values())
    result, words = run_commands(params, writes, reads, predicted, sim=simulator("verilator"),
                                 test_name=f"chip-{rows}x{columns}-layers")
    errors = []
    for (x, y), (compiled, _) in programs.items():
        for name in compiled.network.outputs:
            got = compiled.decode(name, [words[(x, y, addr)] for addr in compiled.output_addresses(name)])
            errors += mismatches(f"core ({x}, {y}) {name}", expected[(x, y)][name], got)
    context = f"{rows}x{columns} array (SEED={seed})"
    assert not errors, f"{context}: outputs differ from sim.golden:\n" + "\n".join(errors)
    assert result["conflict"] == 0, f"{context}: an SRAM conflict flag rose"
    assert result["cycles"] == predicted == result["counter"], \
        f"{context}: ran {result['cycles']} cycles (counter {result['counter']}), predicted {predicted}"
    loading = result["load_cycles"] + result["write_cycles"]
    modelled = host_write_cycles([(x, y) for x, y, _, _ in writes], params.columns)
    assert loading == modelled, \
        f"{context}: {len(writes)} writes and RUN took {loading} cycles, modelled {modelled}"
    bound = host_read_cycles([(x, y) for x, y, _ in reads], params.columns)
    slowest = max(Counter((x, y) for x, y, _ in reads).values()) * NetworkInterface.READ_INTERVAL
    assert slowest <= result["read_cycles"] <= bound, \
        f"{context}: {len(reads)} reads took {result['read_cycles']} cycles, modelled at most {bound}"
