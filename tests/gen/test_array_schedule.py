"""The array compiler's schedule: the ``DELAY`` s it emits take the cycles it counts.

The schedule holds an instruction back by emitting ``DELAY`` s (``gen.array._delays``) and
counts their cycles by :func:`sim.cycle.instruction_cycles`; the hardware runs of the
programs (``tests/integration/test_array.py``) check that count against the cores.
"""

import pytest

from gen.array import _delay_cycles, _delays
from hdl.isa import FETCH_CYCLES, Opcode
from hdl.params import COUNT_WIDTH, DEFAULT_CORE
from sim.cycle import instruction_cycles

#: The longest one ``DELAY`` lasts.
LONGEST = FETCH_CYCLES + (1 << COUNT_WIDTH)


@pytest.mark.parametrize("cycles", [0, FETCH_CYCLES + 1, FETCH_CYCLES + 2, 40, LONGEST - 1, LONGEST,
                                    LONGEST + 1, LONGEST + FETCH_CYCLES, LONGEST + FETCH_CYCLES + 1,
                                    2 * LONGEST, 2 * LONGEST + 1, 3 * LONGEST + 7])
def test_delays_take_the_cycles_asked(cycles):
    instructions = _delays(cycles)
    assert all(instruction.opcode == Opcode.DELAY for instruction in instructions)
    taken = [instruction_cycles(instruction, DEFAULT_CORE) for instruction in instructions]
    assert sum(taken) == cycles == _delay_cycles(cycles, DEFAULT_CORE), f"DELAYs of {taken} cycles"
    assert len(instructions) == -(-cycles // LONGEST)
