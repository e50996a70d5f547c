"""The array compiler's schedule: the ``DELAY`` s it emits take the cycles it counts, and the
message programs it gives cores that can run them.

The schedule holds an instruction back by emitting ``DELAY`` s (``gen.array._delays``) and
counts their cycles by :func:`sim.cycle.instruction_cycles`; the hardware runs of the
programs (``tests/integration/test_array.py``) check that count against the cores.
"""

import dataclasses

import pytest

from gen.array import _delay_cycles, _delays, compile_array
from gen.compiler import CompileError
from hdl.isa import Opcode, encode, fetch_cycles
from hdl.params import COUNT_WIDTH, DEFAULT_CORE
from sim.cycle import instruction_cycles
from sim.workloads import WORKLOADS, build

#: A core that fetches each instruction a word a cycle, so a ``DELAY``'s fetch is longer.
NARROW = dataclasses.replace(DEFAULT_CORE, narrow_program=True)
#: A core whose loops count to 16, so that long delays take several ``DELAY`` s.
SHORT_COUNTS = dataclasses.replace(DEFAULT_CORE, count_width=4)


def _cycles_asked(fetch, count_width=COUNT_WIDTH):
    """Lengths around the edges of one ``DELAY`` (the shortest, ``fetch + 1``, and the
    longest, ``fetch + 2**count_width``) on a core that fetches in ``fetch`` cycles."""
    longest = fetch + (1 << count_width)
    return [0, fetch + 1, fetch + 2, 40, longest - 1, longest, longest + 1, longest + fetch,
            longest + fetch + 1, 2 * longest, 2 * longest + 1, 3 * longest + 7]


@pytest.mark.parametrize("params", [DEFAULT_CORE, NARROW, SHORT_COUNTS],
                         ids=["wide", "narrow", "short-counts"])
@pytest.mark.parametrize("index", range(len(_cycles_asked(2))))
def test_delays_take_the_cycles_asked(params, index):
    fetch = fetch_cycles(params)
    cycles = _cycles_asked(fetch, params.count_width)[index]
    instructions = _delays(cycles, params)
    assert all(instruction.opcode == Opcode.DELAY for instruction in instructions)
    for instruction in instructions:
        encode(instruction, params)
    taken = [instruction_cycles(instruction, params) for instruction in instructions]
    assert sum(taken) == cycles == _delay_cycles(cycles, params), f"DELAYs of {taken} cycles"
    assert len(instructions) == -(-cycles // (fetch + (1 << params.count_width)))


def test_messages_refused_without_a_message_sequencer():
    """A 2x2 array moves tensors between its cores with a message program each: cores without
    a message sequencer (``CoreParams.message_sequencer``) refuse it, naming the core."""
    network, _ = build(WORKLOADS["basic_block"], 8, 0)
    assert compile_array(network, DEFAULT_CORE, 2, 2).cores
    lean = dataclasses.replace(DEFAULT_CORE, message_sequencer=False)
    with pytest.raises(CompileError, match=r"^core \(\d+, \d+\): the core has no message sequencer "
                                           r"\(CoreParams.message_sequencer\), and its message program needs "
                                           r"\d+ instructions, not only HALT$"):
        compile_array(network, lean, 2, 2)
