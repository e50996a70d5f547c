"""The array compiler's multicast: XY trees, reader rectangles, and what multicast saves.

The trees are checked against brute force on whole meshes (every source, every
rectangle); the compiled programs against their own bookkeeping (every pulse sent is
waited for, per core and token) and against the same network compiled with one message
per reader. The hardware runs of multicast programs are in
``tests/integration/test_array.py``. Replay with ``SEED=<seed>``.
"""

import itertools
from collections import Counter

import numpy as np
import pytest

from gen.array import WHOLE_ROWS, Split, _rectangles, compile_array, xy_tree
from gen.network import Network
from hdl.isa import Opcode
from hdl.params import DEFAULT_CORE
from hdl.router import Port
from sim.tb.runner import seed_from_env
from sim.workloads import WORKLOADS, ParameterMaker, build


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


def _two_convs(second_kernel, second_stride):
    """A 16 x 8 x 16 input, a 3x3 conv ``a`` and a conv ``b`` of ``second_kernel`` and
    ``second_stride`` (padded to keep the size at stride 1) reading it, 32 channels (four
    words of the default core), at int8."""
    maker = ParameterMaker(np.random.default_rng(seed_from_env()), 8)
    x = maker.spec((16, 8, 16))
    a = maker.conv2d("a", "input", x, 16, (3, 3), (1, 1), (1, 1, 1, 1), True)
    pad = second_kernel // 2
    b = maker.conv2d("b", "a", Network(x, [a]).specs()["a"], 32, (second_kernel,) * 2, (second_stride,) * 2,
                     (pad,) * 4, False)
    return Network(x, [a, b], 8)


def test_reader_of_nearly_every_row_holds_the_whole_tensor():
    """A stride-2 1x1 conv split by channels reads rows 0 to 14 of its 16-row source on every
    core (15 of 16, at least ``WHOLE_ROWS``): each core holds all 16, so each owner of a
    band of ``a`` multicasts it to one address on every reader. A 3x3 conv split by rows
    reads its band and a row on either side: it holds those only."""
    network = _two_convs(1, 2)
    compiled = compile_array(network, DEFAULT_CORE, 2, 2, splits={"a": Split.ROWS, "b": Split.CHANNELS})
    for place, core in compiled.cores.items():
        buffer = core.buffers["a"]
        assert (buffer.first_row, buffer.height) == (0, 16), place
    assert WHOLE_ROWS * 16 <= 15
    network = _two_convs(3, 1)
    compiled = compile_array(network, DEFAULT_CORE, 2, 2, splits={"a": Split.ROWS, "b": Split.ROWS})
    assert max(core.buffers["a"].height for core in compiled.cores.values()) <= 6
