"""Pipeline helpers in Amaranth's simulator: a delay through a memory against its definition."""

import numpy as np
import pytest
from amaranth import Module, Signal
from amaranth.sim import Simulator

from hdl.pipeline import delay_memory


@pytest.mark.parametrize("cycles", [2, 3, 7, 8])
def test_delay_memory_is_the_value_cycles_later(cycles, seed=5, length=40):
    """Random values in, each out exactly ``cycles`` cycles later, from reset on (0 before)."""
    rng = np.random.default_rng(seed + cycles)
    values = [int(value) for value in rng.integers(0, 1 << 12, length)]
    m = Module()
    value = Signal(12)
    delayed = delay_memory(m, value, cycles, "delayed")
    seen = []

    async def testbench(ctx):
        for current in values:
            ctx.set(value, current)
            seen.append(ctx.get(delayed))
            await ctx.tick()

    simulator = Simulator(m)
    simulator.add_clock(1e-6)
    simulator.add_testbench(testbench)
    simulator.run()
    expected = [0] * cycles + values[:length - cycles]
    mismatches = [(cycle, want, got) for cycle, (want, got) in enumerate(zip(expected, seen)) if want != got]
    assert not mismatches, f"cycles={cycles} (SEED={seed}): (cycle, expected, got) {mismatches[:5]}"


def test_delay_memory_needs_two_cycles():
    with pytest.raises(ValueError, match=r"^delay_memory needs at least 2 cycles, not 1$"):
        delay_memory(Module(), Signal(4), 1, "delayed")
