"""A 4x4 mesh's Verilog under stress: uniform, transpose and hotspot traffic with multicast, at saturation.

Every node offers a flit every cycle (an offered load of one flit per node per cycle: at the
XY bound for uniform traffic on a 4x4 mesh, beyond it for transpose and hotspot), unicast
packets of 1 to 4 flits to the pattern's destinations, and ``MULTICAST_FRACTION`` of the
packets single-flit multicasts to a random rectangle; at least 100,000 flits delivered per
pattern (a multicast flit counts once per destination), with every sink always ready and,
in a second variant, with random back-pressure at every sink. The testbench
(``sim/tb/mesh.py``) checks every flit delivered exactly once, unchanged, at each of its
nodes, in order per (source, destination) pair, with packets never interleaved, and fails
if no flit enters or leaves the mesh for longer than a live mesh can stay still
(``watchdog_cycles``).

The accepted throughput per node is printed (and logged) against the XY bound for the
pattern, and, with every sink always ready, must reach ``THROUGHPUT_FLOORS`` of that bound
(simulated cycles are deterministic, so this is a functional check: a router that passed
fewer flits a cycle than it could, such as one output at a time, fails it). The runs share
one Verilator build; the smoke cases (a few thousand flits, one of them mixed with
multicast) run on both simulators. Replay a failure with ``SEED=<seed>``.
"""


import numpy as np
import pytest

from hdl.params import NocParams
from sim.tb.mesh import (
    PATTERNS,
    Checker,
    destination_matrix,
    make_traffic,
    watchdog_cycles,
    xy_bound,
)
from sim.tb.mesh_runner import HOTSPOT, HOTSPOT_FRACTION, MULTICAST_FRACTION, PARAMS, run, run_mesh
from sim.tb.runner import simulator
from tests.hdl.test_mesh import xy_throughput_bound

STRESS_FLITS = 100_000
SMOKE_FLITS = 3_000

#: The least fraction of the XY bound (:func:`xy_bound`) the flits injected over a whole run
#: (``accepted_all``) must reach per pattern, every sink always ready. Measured on 4x4 with
#: 100,000 flits, unicast and with 10% multicast: uniform 0.53 and 0.61 of the bound (the
#: bound counts channel loads only; wormhole packets blocked behind one another's heads
#: leave links idle, as in any input-queued network), transpose 0.99 to 1.0 (a single
#: busiest link per group, kept busy), hotspot 0.86 (its ejection port); the smoke runs
#: of 3,000 flits lose a little more to filling and draining. With random back-pressure
#: the bound would depend on each sink's drawn ready rate, so those runs are not held to it.
THROUGHPUT_FLOORS = {"uniform": 0.5, "transpose": 0.9, "hotspot": 0.75}


def assert_throughput(figures):
    floor = THROUGHPUT_FLOORS[figures["pattern"]] * figures["bound"]
    assert figures["accepted_all"] >= floor, (
        f"seed {figures['seed']} (replay with SEED={figures['seed']}): {figures['pattern']} accepted "
        f"{figures['accepted_all']:.3f} flits/node/cycle, below {THROUGHPUT_FLOORS[figures['pattern']]} "
        f"of the XY bound {figures['bound']:.3f}")


@pytest.mark.parametrize("pattern", PATTERNS)
def test_stress(pattern):
    assert_throughput(run(simulator("verilator"), pattern, STRESS_FLITS, back_pressure=False,
                          multicast_fraction=MULTICAST_FRACTION))


@pytest.mark.parametrize("pattern", PATTERNS)
def test_stress_back_pressure(pattern):
    run(simulator("verilator"), pattern, STRESS_FLITS, back_pressure=True,
        multicast_fraction=MULTICAST_FRACTION)


@pytest.mark.smoke
@pytest.mark.parametrize("pattern, back_pressure, multicast_fraction", [
    ("uniform", True, MULTICAST_FRACTION), ("transpose", False, 0.0), ("hotspot", False, 0.0)])
def test_stress_smoke(simulator, pattern, back_pressure, multicast_fraction):
    figures = run(simulator, pattern, SMOKE_FLITS, back_pressure, multicast_fraction)
    if not back_pressure:
        assert_throughput(figures)


def test_xy_bounds():
    """The channel-load bound against the closed forms: uniform on a k x k mesh min(1, 4/k)
    (and the independent computation of test_mesh); transpose 1/3 on 4x4 (row 0's three
    senders all cross the link into (0, 0)); hotspot 1 / (fraction x nodes) (its ejection)."""
    for k in (2, 4, 6, 8):
        params = NocParams(rows=k, columns=k)
        bound, _ = xy_bound(params, destination_matrix(params, "uniform"))
        assert bound == pytest.approx(min(1, 4 / k))
        assert bound == pytest.approx(xy_throughput_bound(params))
    transpose = destination_matrix(PARAMS, "transpose")
    assert transpose[1, 4] == 1 and transpose[14, 11] == 1     # (1, 0) -> (0, 1), (2, 3) -> (3, 2)
    assert not transpose[5].any() and transpose.sum() == 12    # (1, 1) idle: the diagonal stays idle
    bound, channel = xy_bound(PARAMS, transpose)
    assert bound == pytest.approx(1 / 3)
    bound, channel = xy_bound(PARAMS, destination_matrix(PARAMS, "hotspot", HOTSPOT, HOTSPOT_FRACTION))
    assert bound == pytest.approx(1 / (HOTSPOT_FRACTION * PARAMS.nodes)) and channel == ("ejection", HOTSPOT)


def test_xy_bound_with_multicast():
    """By hand on a 1x2 line, every packet a multicast: the rectangles are column 0, column 1
    (a quarter each) and both (a half); node 0's ejection takes 3/4 of node 0's flits and
    3/4 of node 1's, so 1.5 flits a cycle at full injection: the bound is 2/3."""
    line = NocParams(rows=1, columns=2)
    bound, channel = xy_bound(line, destination_matrix(line, "uniform"), multicast_fraction=1.0)
    assert bound == pytest.approx(2 / 3) and channel[0] == "ejection"
    unicast, _ = xy_bound(PARAMS, destination_matrix(PARAMS, "uniform"))
    mixed, _ = xy_bound(PARAMS, destination_matrix(PARAMS, "uniform"), MULTICAST_FRACTION)
    assert mixed < unicast


def test_watchdog_bound():
    """64 buffered inputs of 4 flits, 6 hops at most for a unicast and 15 (a tree spanning
    the 16 nodes) for a multicast, on a 4x4 mesh."""
    assert watchdog_cycles(PARAMS, 0) == (64 * 4 * 6 + 1) * 2
    assert watchdog_cycles(PARAMS, 8, multicast=True) == (64 * 4 * 15 + 1) * 10


def test_watchdog_fires():
    """A sink that never takes a flit stalls the mesh; the cocotb test passes only if the
    watchdog stops the run with its message."""
    run_mesh(simulator("verilator"), "mesh-watchdog", "watchdog_fires", flits=SMOKE_FLITS)


# --- The checker itself: a correct delivery passes, each kind of wrong one is caught. ---

def in_order(traffic):
    """A correct delivery: each source's flits in turn, each at each of its nodes, ``(sink, raw)``."""
    return [(sink, traffic.raw[source][n])
            for source in traffic.senders for n in range(len(traffic.raw[source]))
            for sink in traffic.destinations[source][n]]


def a_multicast_delivery(traffic, deliveries):
    """The index in ``deliveries`` of a multicast flit's delivery followed by another flit of
    the same (source, destination) pair."""
    shift, bits = traffic.payload_offset, traffic.sequence_bits
    for index, (sink, raw) in enumerate(deliveries):
        source, n = raw >> shift >> bits, raw >> shift & ((1 << bits) - 1)
        if len(traffic.destinations[source][n]) > 1 \
                and traffic.rank[source][n][sink] < traffic.pair_flits[source * PARAMS.nodes + sink] - 1:
            return index
    raise AssertionError("no multicast flit in the traffic")


def two_long_packets(traffic, sink):
    """``(source, sequence)`` of the first flits of two sources' first packets to ``sink``,
    each of several flits."""
    found = [(source, n) for source in traffic.senders for n in range(len(traffic.raw[source]))
             if traffic.destinations[source][n] == (sink,) and traffic.rank[source][n][sink] == 0
             and not traffic.last[source][n]]
    assert len(found) >= 2
    return found[:2]


def mutate(traffic, deliveries, mutation):
    deliveries = list(deliveries)
    if mutation == "duplicated":
        deliveries.insert(10, deliveries[9])
    elif mutation == "lost":
        del deliveries[9]
    elif mutation == "lost at the end":
        del deliveries[-1]
    elif mutation == "reordered":
        sink = deliveries[0][0]
        same = [index for index, (other, _) in enumerate(deliveries) if other == sink]
        deliveries[same[0]], deliveries[same[1]] = deliveries[same[1]], deliveries[same[0]]
    elif mutation == "changed":
        sink, raw = deliveries[5]
        deliveries[5] = (sink, raw ^ 1)            # a destination bit, in the header
    elif mutation == "no such flit":
        sink, raw = deliveries[5]
        deliveries[5] = (sink, raw ^ 1 << (traffic.payload_offset + traffic.sequence_bits - 1))
    elif mutation == "wrong node":
        sink, raw = deliveries[5]
        shift, bits = traffic.payload_offset, traffic.sequence_bits
        destinations = traffic.destinations[raw >> shift >> bits][raw >> shift & ((1 << bits) - 1)]
        deliveries[5] = (next(node for node in range(PARAMS.nodes) if node not in destinations), raw)
    elif mutation == "multicast missing at one node":
        del deliveries[a_multicast_delivery(traffic, deliveries)]
    elif mutation == "multicast duplicated at one node":
        index = a_multicast_delivery(traffic, deliveries)
        deliveries.insert(index + 1, deliveries[index])
    elif mutation == "interleaved":
        sink = 3
        (first, a), (second, b) = two_long_packets(traffic, sink)
        deliveries = [(sink, traffic.raw[first][a]), (sink, traffic.raw[second][b])]
    return deliveries


@pytest.mark.parametrize("mutation, message", [
    (None, None),
    ("duplicated", r"duplicated, lost or reordered"),
    ("lost", r"duplicated, lost or reordered"),
    ("lost at the end", r"flits never delivered"),
    ("reordered", r"duplicated, lost or reordered"),
    ("changed", r"changed from"),
    ("no such flit", r"no such flit"),
    ("wrong node", r"belongs at node"),
    ("interleaved", r"interleaves the packet open from node"),
    ("multicast missing at one node", r"duplicated, lost or reordered"),
    ("multicast duplicated at one node", r"duplicated, lost or reordered"),
])
def test_checker_catches(mutation, message, seed=7):
    """On uniform traffic with ``MULTICAST_FRACTION`` of the packets multicast."""
    traffic = make_traffic(PARAMS, "uniform", 2_000, np.random.default_rng(seed),
                           multicast_fraction=MULTICAST_FRACTION)
    checker = Checker(traffic, PARAMS.nodes, seed)

    def deliver():
        for cycle, (sink, raw) in enumerate(mutate(traffic, in_order(traffic), mutation)):
            checker.receive(sink, raw, cycle)
        checker.finish()

    if mutation is None:
        deliver()
        assert checker.delivered == traffic.deliveries >= 2_000 and traffic.deliveries > traffic.total
    else:
        with pytest.raises(AssertionError, match=rf"^seed {seed}\b.*{message}"):
            deliver()
