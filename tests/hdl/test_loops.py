"""The loop nest and the address generator in Amaranth's simulator, against Python enumerations.

The model of a loop nest is ``itertools.product`` over its levels, outermost first: the
carry of an element is the outermost level that changes on the way to the next element
(``LOOP_LEVELS`` for the last one), so no part of the model restates the hardware's
"innermost level not at its limit" rule.
"""

import itertools

import numpy as np
import pytest
from amaranth.sim import Simulator

from hdl.isa import MAX_REDUCE_LEVELS, steps
from hdl.loops import AddressGenerator, LoopNest
from hdl.params import COUNT_WIDTH, LOOP_LEVELS, MIN_COUNT_WIDTH
from tests.helpers import CLOCK_PERIOD

#: Largest nest the random cases draw, in elements (the simulator runs two periods of it).
MAX_ELEMENTS = 150


def run(dut, testbench):
    simulator = Simulator(dut)
    simulator.add_clock(CLOCK_PERIOD)

    async def bench(ctx):
        await testbench(ctx)
    simulator.add_testbench(bench)
    simulator.run()


def elements(counts, first_level):
    """The index tuples (level 0 first) a nest visits, in order; levels below ``first_level`` stay 0."""
    ranges = [range(counts[level]) if level >= first_level else range(1)
              for level in reversed(range(LOOP_LEVELS))]
    return [tuple(reversed(outer_first)) for outer_first in itertools.product(*ranges)]


def carries(indices):
    """Per element, the outermost level that changes towards the next element; ``LOOP_LEVELS`` last."""
    result = []
    for current, following in zip(indices, indices[1:]):
        changed = [level for level in range(LOOP_LEVELS) if current[level] != following[level]]
        result.append(max(changed))
    return result + [LOOP_LEVELS]


def tile_flags(index, counts, first_level, reduce_levels):
    """``(first, last)``: the element opens or closes its tile (levels ``< reduce_levels``)."""
    tile = range(reduce_levels)
    first = all(index[level] == 0 for level in tile)
    last = all(level < first_level or index[level] == counts[level] - 1 for level in tile)
    return first, last


def random_counts(rng, max_elements=MAX_ELEMENTS):
    """Six loop counts, many of them 1, whose product is at most ``max_elements``."""
    while True:
        counts = tuple(int(count) for count in rng.choice([1, 1, 2, 3, 4], LOOP_LEVELS))
        if np.prod(counts) <= max_elements:
            return counts


def check_nest(counts, first_level, reduce_levels, operations, context, count_width=COUNT_WIDTH):
    """Drive ``operations`` (``(clear, advance)`` per cycle) and check the outputs every cycle."""
    dut = LoopNest(count_width)
    indices = elements(counts, first_level)
    carry_of = carries(indices)
    checked = []

    async def testbench(ctx):
        ctx.set(dut.limits, [count - 1 for count in counts])
        ctx.set(dut.first_level, first_level)
        ctx.set(dut.reduce_levels, reduce_levels)
        ctx.set(dut.clear, 1)
        await ctx.tick()
        position = 0
        for cycle, (clear, advance) in enumerate(operations):
            ctx.set(dut.clear, clear)
            ctx.set(dut.advance, advance)
            expected = (carry_of[position],
                        *tile_flags(indices[position], counts, first_level, reduce_levels))
            got = (ctx.get(dut.carry), ctx.get(dut.first), ctx.get(dut.last))
            assert got == expected, \
                f"{context}: cycle {cycle}, element {position} {indices[position]}: " \
                f"(carry, first, last) = {got}, expected {expected}"
            checked.append(position)
            if clear:
                position = 0
            elif advance:
                position = (position + 1) % len(indices)
            await ctx.tick()

    run(dut, testbench)
    assert len(checked) == len(operations) > 0, f"{context}: the testbench stopped early"
    return checked


@pytest.mark.parametrize("seed", range(8))
def test_nest_random(seed):
    rng = np.random.default_rng(seed)
    counts = random_counts(rng)
    first_level = int(rng.integers(0, LOOP_LEVELS + 1))
    reduce_levels = int(rng.integers(0, LOOP_LEVELS + 1))
    total = len(elements(counts, first_level))
    # Random clears and idle cycles, until every element was reached and the nest wrapped twice.
    operations, position, reached, wraps = [], 0, {0}, 0
    while len(reached) < total or wraps < 2:
        clear, advance = int(rng.random() < 0.02), int(rng.random() < 0.7)
        operations.append((clear, advance))
        if clear:
            position = 0
        elif advance:
            position = (position + 1) % total
            wraps += position == 0
        reached.add(position)
    context = f"seed {seed}, counts {counts}, first_level {first_level}, reduce_levels {reduce_levels}"
    visited = check_nest(counts, first_level, reduce_levels, operations, context)
    assert set(visited) == set(range(total)), f"{context}: some elements were never reached"


@pytest.mark.parametrize("counts, first_level, reduce_levels", [
    ((1,) * LOOP_LEVELS, 0, 3),                  # one element: first, last and carry LOOP_LEVELS
    ((3, 2, 1, 1, 2, 1), 0, 2),                  # a MAC-like nest, count-1 levels inside
    ((3, 2, 4, 1, 1, 2), 2, 2),                  # the same nest over tiles only (o and s streams)
    ((2, 2, 2, 2, 2, 2), LOOP_LEVELS, 0),         # no level counts: every element is the last
    ((1, 1, 1, 1, 1, 3), 0, MAX_REDUCE_LEVELS),    # only the outermost level counts
])
def test_nest_cases(counts, first_level, reduce_levels):
    total = len(elements(counts, first_level))
    check_nest(counts, first_level, reduce_levels, [(0, 1)] * (2 * total + 2),
               f"counts {counts}, first_level {first_level}, reduce_levels {reduce_levels}")


@pytest.mark.parametrize("count_width", [COUNT_WIDTH, MIN_COUNT_WIDTH])
def test_nest_full_count(count_width):
    """A level at the largest count, ``2**count_width``, wraps only after all of them."""
    counts = (1 << count_width, 2, 1, 1, 1, 1)
    check_nest(counts, 0, 1, [(0, 1)] * (2 * 2 * counts[0] + 1), f"counts {counts}", count_width)


def test_clear_wins_over_advance():
    counts = (2, 3, 1, 1, 1, 1)
    # Five advances (to element 5, the last), then clear and advance together, then advances.
    operations = [(0, 1)] * 5 + [(1, 1)] + [(0, 1)] * 3 + [(1, 0)] + [(0, 0)] * 2
    visited = check_nest(counts, 0, 1, operations, f"counts {counts}")
    assert visited == [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 0, 0]


def wrap_step(step, width):
    """``step`` as the signed ``width + 1``-bit value equal to it modulo ``2**width``."""
    return (step + (1 << width)) % (1 << (width + 1)) - (1 << width)


@pytest.mark.parametrize("late_step", [False, True], ids=["steps", "late-step"])
@pytest.mark.parametrize("seed", range(6))
def test_address_generator_random(seed, late_step):
    """Every level's steps and the carry, or (``late_step``) the carry's step a cycle later
    (noise after a cycle that did not advance)."""
    rng = np.random.default_rng(seed)
    width = int(rng.integers(4, 13))
    dut = AddressGenerator(width, late_step=late_step)
    checked = []

    def new_run():
        counts = random_counts(rng, 60)
        first_level = int(rng.integers(0, 3))
        strides = tuple(int(s) for s in rng.integers(-(1 << width), (1 << width) + 1, LOOP_LEVELS))
        base = int(rng.integers(0, 1 << width))
        levels = range(first_level, LOOP_LEVELS)
        encoded = [wrap_step(step, width) for step in steps(strides, counts, levels)]
        indices = elements(counts, first_level)
        addresses = [(base + sum(stride * index for stride, index in zip(strides, element)))
                     % (1 << width) for element in indices]
        return base, encoded, carries(indices), addresses, (counts, first_level, strides, base)

    async def testbench(ctx):
        base, encoded, carry_of, addresses, described = new_run()
        load, position, address = True, 0, None
        for cycle in range(800):
            context = f"seed {seed}, width {width}, cycle {cycle}, run {described}"
            advance = not load and rng.random() < 0.7
            ctx.set(dut.load, load)
            ctx.set(dut.advance, advance)
            ctx.set(dut.base, base if load else int(rng.integers(0, 1 << width)))
            # An idle cycle's carry is noise: it must not move the address.
            carry = carry_of[position] if advance else int(rng.integers(0, LOOP_LEVELS))
            if not late_step:
                ctx.set(dut.steps, encoded)
                ctx.set(dut.carry, carry)
            if load:
                following = addresses[0]
            elif advance:
                following = addresses[position + 1]
            else:
                following = address
            if not late_step:
                assert ctx.get(dut.next) == following, \
                    f"{context}: next {ctx.get(dut.next)}, expected {following}"
            if address is not None:
                assert ctx.get(dut.addr) == address, \
                    f"{context}: addr {ctx.get(dut.addr)}, expected {address}"
            await ctx.tick()
            if late_step:
                ctx.set(dut.step, encoded[carry] if advance else int(rng.integers(-(1 << width), 1 << width)))
            assert ctx.get(dut.addr) == following, \
                f"{context}: addr after the edge {ctx.get(dut.addr)}, expected {following}"
            checked.append(following)
            address = following
            position = 0 if load else position + advance
            load = False
            if position == len(addresses) - 1:
                # The last element: its carry is LOOP_LEVELS; the next run starts with a load.
                base, encoded, carry_of, addresses, described = new_run()
                load, position = True, 0

    run(dut, testbench)
    assert len(checked) == 800, f"seed {seed}: the testbench stopped after {len(checked)} cycles"


def test_address_generator_wraps():
    """``base + step`` past ``2**width`` wraps, and a negative step below 0 wraps back."""
    width = 6
    dut = AddressGenerator(width)
    counts = (4, 1, 1, 1, 1, 1)
    expected = [60, 7, 18, 29]          # (60 + 11 * i) % 64

    async def testbench(ctx):
        ctx.set(dut.base, 60)
        ctx.set(dut.steps, [11, 0, 0, 0, 0, 0])
        ctx.set(dut.load, 1)
        await ctx.tick()
        ctx.set(dut.load, 0)
        got = [ctx.get(dut.addr)]
        for carry in carries(elements(counts, 0))[:-1]:
            ctx.set(dut.advance, 1)
            ctx.set(dut.carry, carry)
            await ctx.tick()
            got.append(ctx.get(dut.addr))
        assert got == expected
        ctx.set(dut.steps, [-40, 0, 0, 0, 0, 0])
        await ctx.tick()
        assert ctx.get(dut.addr) == (29 - 40) % 64

    run(dut, testbench)


@pytest.mark.parametrize("width", [0, -3, 2.0, "8"])
def test_address_generator_width_wrong(width):
    with pytest.raises(ValueError, match=rf"^address width must be a positive integer, not {width!r}$"):
        AddressGenerator(width)
