"""The core array through the host interface's three commands: load, write, run, read.

Each core of a 2x2 array gets its own scaled ResNet layer (:mod:`sim.workloads`),
compiled for one core; everything reaches the cores over the load network and comes back
over the activation network. Every output value must equal :mod:`sim.golden`'s, the run
must last exactly as long as the slowest core's predicted program, and no SRAM conflict
may occur.
"""


import pytest

from gen.compiler import compile_network
from hdl.chip import Chip, chip_params
from hdl.host import Command, command_layout, read_layout
from hdl.params import ChipParams
from sim.tb.runner import run_job, seed_from_env, simulator
from sim.workloads import LAYERS, build
from tests.integration.test_core import mismatches

#: The layer each core of the 2x2 array runs, with its precision.
ASSIGNMENT = {(0, 0): ("conv_3x3_s1", 8), (1, 0): ("maxpool_3x3_s2", 4),
              (0, 1): ("residual_add_relu", 2), (1, 1): ("fc", 8)}


def run_array(simulator, test_name, params, programs):
    """Run ``{(x, y): (compiled, input frame)}`` on a chip; returns (result, {(x, y, addr): word})."""
    core, noc = chip_params(params)
    commands, reads = command_layout(core, noc), read_layout(core, noc)

    def command(op, x, y, addr=0, data=0):
        return commands.const({"op": op, "x": x, "y": y, "addr": addr, "data": data}).as_bits()

    writes, read_commands = [], []
    for (x, y), (compiled, frame) in programs.items():
        for addr, data in compiled.load_words() + compiled.input_words(frame):
            writes.append(command(Command.WRITE, x, y, addr, data))
        for name in compiled.network.outputs:
            read_commands += [command(Command.READ, x, y, addr) for addr in compiled.output_addresses(name)]
    result = run_job(Chip(params), toplevel="chip", test_module="chip", test_name=test_name,
                     sim=simulator, job={
                         "writes": writes, "run": command(Command.RUN, 0, 0), "reads": read_commands,
                         "predicted_cycles": max(compiled.predicted_cycles
                                                 for compiled, _ in programs.values()),
                     })
    words = {}
    for raw in result["words"]:
        word = reads.from_bits(raw)
        words[(int(word.x), int(word.y), int(word.addr))] = int(word.data)
    return result, words


@pytest.mark.parametrize("index", range(1))
def test_layers_on_2x2(index):
    seed = seed_from_env() + index
    params = ChipParams(rows=2, columns=2)
    core, _ = chip_params(params)
    programs, expected = {}, {}
    for (x, y), (name, bits) in ASSIGNMENT.items():
        network, frame = build(LAYERS[name], bits, seed + x + 2 * y)
        programs[(x, y)] = (compile_network(network, core), frame)
        expected[(x, y)] = network.golden(frame)
    result, words = run_array(simulator("verilator"), f"chip-2x2-{index}", params, programs)
    errors = []
    for (x, y), (compiled, _) in programs.items():
        for name in compiled.network.outputs:
            got = compiled.decode(name, [words[(x, y, addr)] for addr in compiled.output_addresses(name)])
            errors += mismatches(f"core ({x}, {y}) {name}", expected[(x, y)][name], got)
    predicted = max(compiled.predicted_cycles for compiled, _ in programs.values())
    context = f"2x2 array (SEED={seed - index})"
    assert not errors, f"{context}: outputs differ from sim.golden:\n" + "\n".join(errors)
    assert result["conflict"] == 0, f"{context}: an SRAM conflict flag rose"
    assert result["cycles"] == predicted == result["counter"], \
        f"{context}: ran {result['cycles']} cycles (counter {result['counter']}), predicted {predicted}"
