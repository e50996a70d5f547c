"""The array compiler's multicast: XY trees, reader rectangles, and what multicast saves.

The trees are checked against brute force on whole meshes (every source, every
rectangle); the compiled programs against their own bookkeeping (every pulse sent is
waited for, per core and token) and against the same network compiled with one message
per reader. The hardware runs of multicast programs are in
``tests/integration/test_array.py``. Replay with ``SEED=<seed>``.
"""

import itertools
from collections import Counter

import pytest

from gen.array import _rectangles, compile_array, xy_tree
from hdl.isa import Opcode
from hdl.params import DEFAULT_CORE
from hdl.router import Port
from sim.tb.runner import seed_from_env
from sim.workloads import WORKLOADS, build


def rectangles_of(rows, columns):
    for y0, y1 in itertools.combinations_with_replacement(range(rows), 2):
        for x0, x1 in itertools.combinations_with_replacement(range(columns), 2):
            yield (x0, y0), (x1, y1)


@pytest.mark.parametrize("rows, columns", [(4, 4), (3, 5), (1, 6)])
def test_tree_reaches_each_core_of_the_rectangle_once_by_a_shortest_path(rows, columns):
    for source in itertools.product(range(columns), range(rows)):
        for rectangle in rectangles_of(rows, columns):
            (x0, y0), (x1, y1) = rectangle
            outputs, reached = xy_tree(source, rectangle)
            cells = {(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)}
            context = f"from {source} to {rectangle}"
            assert set(reached) == cells, context
            assert {router for router, port in outputs if port == Port.LOCAL} == cells, context
            for (x, y), routers in reached.items():
                assert routers == abs(x - source[0]) + abs(y - source[1]) + 1, context
            # A tree: every router but the source is entered by exactly one link.
            routers = {router for router, _ in outputs}
            links = [port for _, port in outputs if port != Port.LOCAL]
            assert len(links) == len(routers) - 1, context
            assert all(0 <= x < columns and 0 <= y < rows for x, y in routers), context


def test_unicast_tree_is_the_xy_path():
    outputs, reached = xy_tree((3, 0), ((1, 2), (1, 2)))
    assert sorted(outputs.items(), key=lambda item: item[1]) == [
        (((3, 0), Port.WEST), 0), (((2, 0), Port.WEST), 1), (((1, 0), Port.SOUTH), 2),
        (((1, 1), Port.SOUTH), 3), (((1, 2), Port.LOCAL), 4)]
    assert reached == {(1, 2): 5}


@pytest.mark.parametrize("places", [
    [(0, 0)],
    [(x, y) for x in range(4) for y in range(4)],
    [(0, 0), (1, 0), (3, 0), (0, 1), (1, 1), (2, 2)],
    [(x, y) for x in range(4) for y in range(4) if (x + y) % 2],
])
def test_rectangles_cover_the_places_once(places):
    rectangles = _rectangles(places)
    covered = Counter((x, y) for (x0, y0), (x1, y1) in rectangles
                      for x in range(x0, x1 + 1) for y in range(y0, y1 + 1))
    assert set(covered) == set(places) and set(covered.values()) == {1}
    assert len(_rectangles([(x, y) for x in range(4) for y in range(4)])) == 1


def pulses_sent_and_taken(compiled):
    sent, taken = Counter(), Counter()
    for place, core in compiled.cores.items():
        for instruction in core.program + core.messages:
            if instruction.opcode == Opcode.SIGNAL:
                for destination in instruction.destinations:
                    sent[destination, instruction.token] += 1
            elif instruction.opcode == Opcode.WAIT:
                taken[place, instruction.token] += instruction.counts[0]
    return sent, taken


def test_channel_split_input_is_multicast():
    seed = seed_from_env()
    network, _ = build(WORKLOADS["basic_block_s2"], 8, seed, shape=(16, 16, 16))
    splits = {"conv1": "channels"}
    multicast = compile_array(network, DEFAULT_CORE, 4, 4, splits)
    unicast = compile_array(network, DEFAULT_CORE, 4, 4, splits, multicast=False)
    context = f"SEED={seed}"
    rectangles = [instruction for core in multicast.cores.values() for instruction in core.messages
                  if instruction.opcode == Opcode.SEND and len(instruction.destinations) > 1]
    assert rectangles, context
    assert not [instruction for core in unicast.cores.values() for instruction in core.messages
                if instruction.opcode == Opcode.SEND and len(instruction.destinations) > 1], context
    assert multicast.network_words < unicast.network_words, context
    # The same words reach the same readers either way.
    delivered = Counter()
    for compiled in (multicast, unicast):
        delivered[compiled is multicast] = sum(
            instruction.elements * len(instruction.destinations) for core in compiled.cores.values()
            for instruction in core.messages if instruction.opcode == Opcode.SEND)
    assert delivered[True] == delivered[False], context
    for compiled in (multicast, unicast):
        sent, taken = pulses_sent_and_taken(compiled)
        assert sent == taken and sent, context


def test_hardware_cases_exercise_multicast():
    """The array cases run on the chip's Verilog (``tests/integration/test_array.py``)
    include multicasts to rectangles of two and of four or more cores, on 2x2 and on 4x4,
    so the chip runs them bit- and cycle-exact."""
    from tests.integration.test_array import CASES_2X2, CASES_4X4

    seed = seed_from_env()
    largest = {}
    for side, cases in ((2, CASES_2X2), (4, CASES_4X4)):
        for name, bits, shape, width, splits in cases:
            network, _ = build(WORKLOADS[name], bits, seed, shape=shape, width=width)
            compiled = compile_array(network, DEFAULT_CORE, side, side, splits)
            sizes = [len(instruction.destinations) for core in compiled.cores.values()
                     for instruction in core.messages if instruction.opcode == Opcode.SEND]
            largest[side] = max(largest.get(side, 0), *sizes, 0)
    assert largest[2] >= 2 and largest[4] >= 4, f"SEED={seed}: largest rectangles {largest}"


def test_cores_send_while_they_compute():
    """In the 4x4 bottleneck case run on the hardware, cores issue ``SEND`` words from
    their message sequencer while their compute sequencer computes."""
    seed = seed_from_env()
    network, _ = build(WORKLOADS["bottleneck_block"], 8, seed, shape=(16, 16, 16))
    compiled = compile_array(network, DEFAULT_CORE, 4, 4, {"conv3": "channels"})
    assert sum(compiled.sending_while_computing.values()) > 0, f"SEED={seed}"
    assert set(compiled.sending_while_computing) == set(compiled.cores)
