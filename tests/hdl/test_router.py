"""The mesh router in Amaranth's simulator: XY decisions, fairness, wormhole, back-pressure.

Also the traffic harness that ``test_mesh`` reuses (:func:`run_traffic`, :func:`check_delivery`):
one testbench drives every source and sink of a network each cycle, records every flit
accepted and delivered, and a watchdog fails the run if no flit moves for
``WATCHDOG`` cycles.
"""

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pytest
from amaranth import Cat, Module, Shape, Value, unsigned
from amaranth.lib.wiring import In
from amaranth.sim import Simulator

from gen.verilog import to_verilog
from hdl.params import NocParams
from hdl.router import XY_INPUTS, MessageClass, Port, Router, flit_layout, xy_route, xy_tree_route
from sim.tb.mesh import tree_channels, xy_tree
from tests.helpers import CLOCK_PERIOD

PARAMS = NocParams(flit_width=32, buffer_depth=4, rows=3, columns=3)

#: Cycles without any flit moving (in, out or between routers) after which a run fails.
#: With a deadlock-free network, each cycle some stalled flit waits on one willing-or-not
#: party at the end of its dependency chain: a sink (ready with probability >= MIN_RATE)
#: or a source paused inside a packet (offers with probability >= MIN_RATE). If that
#: party is willing, a flit moves that cycle, so a live network stays still for
#: WATCHDOG cycles with probability at most (1 - MIN_RATE) ** WATCHDOG = 0.75 ** 200,
#: about 1e-25: a watchdog failure is a deadlock (or a lost flit), not bad luck.
WATCHDOG = 200
#: Smallest per-cycle probability of a sink being ready or an idle source offering a flit.
MIN_RATE = 0.25
#: Cycles run after the last expected flit, every sink ready, to catch extra flits.
SETTLE = 20


# --- The traffic harness, shared with test_mesh. ---

class FlitCodec:
    """Flits of ``params`` as Python integers, with a serial number in the payload."""

    def __init__(self, params):
        self.layout = flit_layout(params)
        self.fields = {name: (member.offset, member.width) for name, member in self.layout}
        self.payload_bits = params.flit_width

    def encode(self, *, x, y, last, serial, message_class=MessageClass.ACTIVATION, x_last=None,
               y_last=None):
        """A flit to the rectangle from ``(x, y)`` to ``(x_last, y_last)`` (by default the one
        node ``(x, y)``)."""
        values = {"x": x, "y": y, "x_last": x if x_last is None else x_last,
                  "y_last": y if y_last is None else y_last, "message_class": message_class.value,
                  "last": int(last), "payload": serial}
        raw = 0
        for name, value in values.items():
            offset, width = self.fields[name]
            assert 0 <= value < 1 << width, f"{name} = {value} does not fit {width} bits"
            raw |= value << offset
        return raw

    def decode(self, raw):
        return {name: raw >> offset & ((1 << width) - 1)
                for name, (offset, width) in self.fields.items()}


@dataclass
class Flit:
    serial: int
    raw: int
    source: object           # whatever key the test gives its sources
    destinations: frozenset  # the sink keys where it must arrive, once each
    packet: int              # packet number within its source
    index: int               # flit number within its packet
    last: bool
    not_before: int = 0      # the source offers it in this cycle at the earliest


@dataclass
class Traffic:
    """What a source offers: its flits in order, and each flit's record."""
    codec: FlitCodec
    flits: dict = field(default_factory=dict)      # serial -> Flit
    queues: dict = field(default_factory=dict)     # source -> [Flit]

    def add_packet(self, source, destination, coordinates, length,
                   message_class=MessageClass.ACTIVATION):
        """Queue a packet of ``length`` flits from ``source`` to sink ``destination`` at
        ``coordinates`` ``(x, y)``."""
        queue = self.queues.setdefault(source, [])
        packet = sum(flit.last for flit in queue)
        for index in range(length):
            serial = len(self.flits)
            x, y = coordinates
            raw = self.codec.encode(x=x, y=y, last=index == length - 1, serial=serial,
                                    message_class=message_class)
            flit = Flit(serial, raw, source, frozenset([destination]), packet, index,
                        index == length - 1)
            self.flits[serial] = flit
            queue.append(flit)

    def add_multicast(self, source, destinations, rectangle, not_before=0):
        """Queue a single-flit packet from ``source`` to the sinks ``destinations``, for the
        rectangle ``(x, x_last, y, y_last)`` (:func:`xy_tree_route`'s order), offered in cycle
        ``not_before`` at the earliest."""
        queue = self.queues.setdefault(source, [])
        serial = len(self.flits)
        x, x_last, y, y_last = rectangle
        raw = self.codec.encode(x=x, y=y, x_last=x_last, y_last=y_last, last=True, serial=serial)
        flit = Flit(serial, raw, source, frozenset(destinations), sum(flit.last for flit in queue),
                    0, True, not_before)
        self.flits[serial] = flit
        queue.append(flit)

    def deliveries(self):
        """Flits the sinks must receive in all (a multicast flit once per destination)."""
        return sum(len(flit.destinations) for flit in self.flits.values())


@dataclass
class Result:
    accepted: dict      # source -> [(cycle, Flit)]
    delivered: dict     # sink -> [(cycle, raw)]
    cycles: int         # cycles until the last expected flit was delivered

    def flits_delivered(self):
        return sum(len(flits) for flits in self.delivered.values())


def _rates(value, keys, rng):
    """Per-key probabilities: a float for all, a (low, high) range drawn per key, or a dict
    of them by key (1.0 for a key it leaves out)."""
    if isinstance(value, dict):
        return {key: _rates(value.get(key, 1.0), [key], rng)[key] for key in keys}
    if isinstance(value, tuple):
        return {key: float(rng.uniform(*value)) for key in keys}
    return {key: float(value) for key in keys}


def run_traffic(dut, sources, sinks, traffic, *, seed, inject=1.0, ready=1.0, never=()):
    """Run ``traffic`` through ``dut`` and return a :class:`Result`.

    ``sources`` and ``sinks`` map keys to the DUT's input and output streams. Each cycle
    an idle source offers its next flit (from its ``not_before`` cycle) with probability
    ``inject`` and each sink is ready with probability ``ready`` (a float, a ``(low,
    high)`` range drawn per source or sink, or a dict of them by key; all at least
    ``MIN_RATE``); an offered flit stays offered until taken. ``never`` lists one-bit
    signals that must never be 1. Fails (naming ``seed``) if nothing moves for
    ``WATCHDOG`` cycles, or if a sink's offered flit is withdrawn or changed before it is
    taken.
    """
    rng = np.random.default_rng(seed)
    inject_rate = _rates(inject, sources, rng)
    ready_rate = _rates(ready, sinks, rng)
    assert min([*inject_rate.values(), *ready_rate.values()]) >= MIN_RATE
    total = traffic.deliveries()
    accepted = {key: [] for key in sources}
    delivered = {key: [] for key in sinks}
    result = Result(accepted, delivered, 0)
    watched = [*(stream.ready for stream in sources.values()),
               *(stream.valid for stream in sinks.values()),
               *(Value.cast(stream.payload) for stream in sinks.values()),
               Cat(*never).any() if never else Value.cast(0)]

    async def testbench(ctx):
        positions = {key: 0 for key in sources}
        offering = {key: None for key in sources}
        readies = {key: False for key in sinks}
        held = {key: None for key in sinks}     # a flit offered but not taken must stay
        cycle = still = count = 0
        settle = None
        while settle is None or settle > 0:
            for key, stream in sources.items():
                queue = traffic.queues.get(key, [])
                if offering[key] is None and positions[key] < len(queue) \
                        and queue[positions[key]].not_before <= cycle and rng.random() < inject_rate[key]:
                    offering[key] = queue[positions[key]]
                    positions[key] += 1
                    ctx.set(stream.valid, 1)
                    ctx.set(Value.cast(stream.payload), offering[key].raw)
            for key, stream in sinks.items():
                want = settle is not None or bool(rng.random() < ready_rate[key])
                if want != readies[key]:
                    ctx.set(stream.ready, want)
                    readies[key] = want
            _, _, *values = await ctx.tick().sample(*watched)
            source_ready = values[:len(sources)]
            sink_valid = values[len(sources):len(sources) + len(sinks)]
            sink_payload = values[len(sources) + len(sinks):-1]
            assert not values[-1], f"seed {seed}: a signal that must stay 0 rose in cycle {cycle}"
            moved = False
            for (key, stream), taken in zip(sources.items(), source_ready):
                if offering[key] is not None and taken:
                    accepted[key].append((cycle, offering[key]))
                    offering[key] = None
                    ctx.set(stream.valid, 0)
                    moved = True
            for key, valid, payload in zip(sinks, sink_valid, sink_payload):
                assert held[key] is None or (valid and payload == held[key]), \
                    f"seed {seed}: {key} withdrew or changed an offered flit in cycle {cycle}"
                held[key] = payload if valid and not readies[key] else None
                if valid and readies[key]:
                    delivered[key].append((cycle, payload))
                    count += 1
                    moved = True
            still = 0 if moved else still + 1
            assert still < WATCHDOG, \
                f"seed {seed}: no flit moved for {WATCHDOG} cycles at cycle {cycle} " \
                f"({count} of {total} delivered)"
            cycle += 1
            if settle is not None:
                settle -= 1
            elif count >= total and all(positions[key] == len(traffic.queues.get(key, []))
                                        and offering[key] is None for key in sources):
                result.cycles = cycle
                settle = SETTLE

    simulator = Simulator(dut)
    simulator.add_clock(CLOCK_PERIOD)
    simulator.add_testbench(testbench)
    simulator.run()
    return result


def check_delivery(traffic, result, *, seed):
    """Every flit delivered exactly once, unchanged, to each of its sinks; packets whole; in
    order per (source, sink)."""
    codec = traffic.codec
    seen = Counter()
    for sink, flits in result.delivered.items():
        open_packet = None         # the packet whose flits this sink is receiving
        latest = {}                # source -> serial of the last flit received from it
        for cycle, raw in flits:
            serial = codec.decode(raw)["payload"]
            assert serial in traffic.flits, f"seed {seed}: unknown flit {raw:#x} at {sink}"
            flit = traffic.flits[serial]
            seen[serial, sink] += 1
            where = f"seed {seed}: flit {serial} ({flit.source} -> {sorted(flit.destinations, key=repr)}, " \
                    f"packet {flit.packet} flit {flit.index}) at {sink} in cycle {cycle}"
            assert raw == flit.raw, f"{where}: changed to {raw:#x} from {flit.raw:#x}"
            assert sink in flit.destinations, f"{where}: wrong sink"
            if open_packet is None:
                assert flit.index == 0, f"{where}: starts no packet"
            else:
                assert (flit.source, flit.packet, flit.index) == \
                    (open_packet[0], open_packet[1], open_packet[2] + 1), \
                    f"{where}: interleaves packet {open_packet[1]} from {open_packet[0]}"
            open_packet = None if flit.last else (flit.source, flit.packet, flit.index)
            assert serial > latest.get(flit.source, -1), f"{where}: out of order"
            latest[flit.source] = serial
        assert open_packet is None, f"seed {seed}: a packet to {sink} stops half-way"
    duplicated = sorted(pair for pair, count in seen.items() if count > 1)
    expected = {(flit.serial, sink) for flit in traffic.flits.values() for sink in flit.destinations}
    lost = sorted(expected - set(seen), key=repr)
    assert not duplicated, f"seed {seed}: flits delivered twice (serial, sink): {duplicated[:10]}"
    assert not lost, f"seed {seed}: {len(lost)} flits lost (serial, sink): {lost[:10]}"
    assert len(expected) > 0 and sum(seen.values()) == len(expected) == traffic.deliveries()


# --- The router alone. ---

SIDES = {Port.NORTH: "north", Port.EAST: "east", Port.SOUTH: "south", Port.WEST: "west",
         Port.LOCAL: "local"}


def placed_router(x, y):
    """A router at node ``(x, y)`` of ``PARAMS``: the simulated design, and the router."""
    router = Router(PARAMS)
    m = Module()
    m.submodules.router = router
    m.d.comb += [router.x.eq(x), router.y.eq(y)]
    return m, router


def router_ports(router):
    sources = {port: getattr(router, f"i_{name}") for port, name in SIDES.items()}
    sinks = {port: getattr(router, f"o_{name}") for port, name in SIDES.items()}
    return sources, sinks


def expected_output(x, y, destination_x, destination_y):
    """XY routing, written out independently of hdl.router."""
    if destination_x != x:
        return Port.EAST if destination_x > x else Port.WEST
    if destination_y != y:
        return Port.SOUTH if destination_y > y else Port.NORTH
    return Port.LOCAL


def reachable(params, x, y, port):
    """Destinations a flit can have when it arrives on ``port`` of router (x, y) under XY."""
    nodes = [(dx, dy) for dy in range(params.rows) for dx in range(params.columns)]
    rule = {
        Port.LOCAL: lambda dx, dy: True,
        Port.WEST: lambda dx, dy: x > 0 and dx >= x,       # came from x - 1, going east
        Port.EAST: lambda dx, dy: x < params.columns - 1 and dx <= x,
        Port.NORTH: lambda dx, dy: y > 0 and dx == x and dy >= y,
        Port.SOUTH: lambda dx, dy: y < params.rows - 1 and dx == x and dy <= y,
    }[port]
    return [node for node in nodes if rule(*node)]


def random_router_traffic(rng, params, x, y, packets, lengths, inputs=tuple(Port)):
    traffic = Traffic(FlitCodec(params))
    for _ in range(packets):
        port = inputs[int(rng.integers(len(inputs)))]
        destinations = reachable(params, x, y, port)
        destination = destinations[int(rng.integers(len(destinations)))]
        traffic.add_packet(port, expected_output(x, y, *destination), destination,
                           int(rng.integers(lengths[0], lengths[1] + 1)))
    return traffic


@pytest.mark.parametrize("x, y", [(1, 1), (0, 0), (2, 1)])
def test_xy_routes_every_input_to_its_output(x, y, seed=11):
    dut, router = placed_router(x, y)
    traffic = Traffic(FlitCodec(PARAMS))
    turns = set()
    for port in Port:
        for destination in reachable(PARAMS, x, y, port):
            output = expected_output(x, y, *destination)
            turns.add((port, output))
            for _ in range(2):
                traffic.add_packet(port, output, destination, 1)
    result = run_traffic(dut, *router_ports(router), traffic, seed=seed,
                         inject=(0.5, 1.0), ready=(0.5, 1.0))
    check_delivery(traffic, result, seed=seed)
    assert all(output in XY_INPUTS and port in XY_INPUTS[output] for port, output in turns)
    if (x, y) == (1, 1):     # the centre sees every turn XY routing makes: 17
        assert turns == {(port, output) for output, ports in XY_INPUTS.items() for port in ports}


def test_latency_and_full_throughput(seed=12):
    dut, router = placed_router(1, 1)
    traffic = Traffic(FlitCodec(PARAMS))
    traffic.add_packet(Port.WEST, Port.EAST, (2, 1), 1)          # alone first...
    crossing = {Port.NORTH: (Port.SOUTH, (1, 2)), Port.SOUTH: (Port.NORTH, (1, 0)),
                Port.EAST: (Port.WEST, (0, 1)), Port.WEST: (Port.EAST, (2, 1)),
                Port.LOCAL: (Port.LOCAL, (1, 1))}
    length = 24
    for port, (output, destination) in crossing.items():         # ...then five at once
        traffic.add_packet(port, output, destination, length)
    result = run_traffic(dut, *router_ports(router), traffic, seed=seed)
    check_delivery(traffic, result, seed=seed)
    (start, _), = result.accepted[Port.WEST][:1]
    first_out, _ = result.delivered[Port.EAST][0]
    assert first_out - start == Router.LATENCY
    for output, flits in result.delivered.items():
        cycles = [cycle for cycle, _ in flits[-length:]]
        assert cycles == list(range(cycles[0], cycles[0] + length)), \
            f"{output}: not one flit per cycle: {cycles}"
    print(f"\nrouter: latency {first_out - start} cycle, 5 outputs x {length} flits in "
          f"{result.cycles - start} cycles")


@pytest.mark.parametrize("lengths", [(1, 1), (1, 5)])
@pytest.mark.parametrize("seed", [21, 22])
def test_round_robin_is_fair(lengths, seed):
    """All five inputs send to o_local without pause: between two packets of one input,
    at most one packet of each other input passes (a grant within five rounds)."""
    rng = np.random.default_rng(seed)
    dut, router = placed_router(1, 1)
    traffic = Traffic(FlitCodec(PARAMS))
    packets = 30
    for port in Port:
        for _ in range(packets):
            traffic.add_packet(port, Port.LOCAL, (1, 1), int(rng.integers(lengths[0], lengths[1] + 1)))
    result = run_traffic(dut, *router_ports(router), traffic, seed=seed,
                         ready=1.0 if lengths == (1, 1) else (0.5, 1.0))
    check_delivery(traffic, result, seed=seed)
    flits = [(cycle, traffic.flits[traffic.codec.decode(raw)["payload"]])
             for cycle, raw in result.delivered[Port.LOCAL]]
    heads = [(cycle, flit.source) for cycle, flit in flits if flit.index == 0]
    worst_packets = worst_cycles = 0
    previous = {}
    for position, (cycle, source) in enumerate(heads):
        if source in previous:
            between = [other for _, other in heads[previous[source][0] + 1:position]]
            assert len(between) == len(set(between)) <= len(Port) - 1, \
                f"seed {seed}: {source} waited for {between}"
            worst_packets = max(worst_packets, len(between))
            worst_cycles = max(worst_cycles, cycle - previous[source][1])
        previous[source] = (position, cycle)
    assert len(heads) == packets * len(Port) and worst_packets == len(Port) - 1
    print(f"\nround robin, lengths {lengths}: at most {worst_packets} other packets and "
          f"{worst_cycles} cycles between two grants of one input")


@pytest.mark.parametrize("seed", [31, 32, 33])
def test_wormhole_packets_never_interleave(seed):
    rng = np.random.default_rng(seed)
    dut, router = placed_router(1, 1)
    traffic = Traffic(FlitCodec(PARAMS))
    for _ in range(25):
        for port in (Port.WEST, Port.NORTH):
            traffic.add_packet(port, Port.SOUTH, (1, 2), int(rng.integers(2, 7)))
    result = run_traffic(dut, *router_ports(router), traffic, seed=seed,
                         inject=(MIN_RATE, 1.0), ready=(MIN_RATE, 1.0))
    check_delivery(traffic, result, seed=seed)
    order = [traffic.flits[traffic.codec.decode(raw)["payload"]].source
             for _, raw in result.delivered[Port.SOUTH]]
    switches = sum(a != b for a, b in zip(order, order[1:]))
    assert switches >= 10, f"seed {seed}: the two inputs hardly contended ({switches} switches)"


@pytest.mark.parametrize("seed", [41, 42, 43])
def test_back_pressure_loses_and_duplicates_nothing(seed):
    rng = np.random.default_rng(seed)
    dut, router = placed_router(1, 1)
    traffic = random_router_traffic(rng, PARAMS, 1, 1, packets=150, lengths=(1, 4))
    result = run_traffic(dut, *router_ports(router), traffic, seed=seed,
                         inject=(MIN_RATE, 1.0), ready=(MIN_RATE, 1.0))
    check_delivery(traffic, result, seed=seed)
    print(f"\nrouter, random back-pressure: {len(traffic.flits)} flits in {result.cycles} cycles")


# --- Multicast: the XY trees, then one router replicating. ---

def rectangles(params):
    """Every rectangle ``(x, x_last, y, y_last)`` of nodes inside the mesh."""
    return [(x, x_last, y, y_last) for x in range(params.columns) for x_last in range(x, params.columns)
            for y in range(params.rows) for y_last in range(y, params.rows)]


def follow_tree(params, source, rectangle):
    """Walk the tree of ``xy_tree_route`` from ``source``: ``(nodes delivered to, links used)``,
    each a list with repeats kept; fails on a step out of the mesh or an unwired turn."""
    turns = xy_tree(params, source, rectangle)
    for node, arrived_on, output in turns:
        assert arrived_on in XY_INPUTS[output], f"{arrived_on} -> {output} at {node} is not wired"
    channels = tree_channels(turns)
    return ([node for kind, node in channels if kind == "ejection"],
            [channel for channel in channels if channel[0] != "ejection"])


@pytest.mark.parametrize("rows, columns", [(4, 4), (3, 5)])
def test_xy_tree_reaches_its_rectangle_once(rows, columns):
    """From every source to every rectangle: each node of the rectangle reached exactly once,
    no other node, each link used at most once, every turn a wired one; a unicast's tree
    is the XY route, and every branch to one node follows the XY path to it."""
    params = NocParams(rows=rows, columns=columns)
    everywhere = [(x, y) for y in range(rows) for x in range(columns)]
    trees = 0
    for source in everywhere:
        for rectangle in rectangles(params):
            x, x_last, y, y_last = rectangle
            delivered, links = follow_tree(params, source, rectangle)
            inside = sorted((cx, cy) for cx, cy in everywhere if x <= cx <= x_last and y <= cy <= y_last)
            assert sorted(delivered) == inside, f"{source} to {rectangle}: reached {sorted(delivered)}"
            assert len(links) == len(set(links)), f"{source} to {rectangle}: a link used twice"
            for node in inside:           # the path to each node is the unicast path
                _, path = follow_tree(params, source, (node[0], node[0], node[1], node[1]))
                assert set(path) <= set(links)
            trees += 1
    for (x, y) in everywhere:
        for destination in everywhere:
            assert xy_tree_route(x, y, Port.LOCAL, destination[0], destination[0], destination[1],
                                 destination[1]) == {expected_output(x, y, *destination)}
            assert xy_route(x, y, *destination) == expected_output(x, y, *destination)
    assert trees == rows * columns * len(rectangles(params))


def test_xy_tree_route_cases():
    """Hand-worked: at (1, 1) of a 3x3 mesh, to the whole mesh, by arrival side; an empty rectangle."""
    whole = (0, 2, 0, 2)
    assert xy_tree_route(1, 1, Port.LOCAL, *whole) == set(Port)
    assert xy_tree_route(1, 1, Port.WEST, *whole) == {Port.EAST, Port.NORTH, Port.SOUTH, Port.LOCAL}
    assert xy_tree_route(1, 1, Port.EAST, *whole) == {Port.WEST, Port.NORTH, Port.SOUTH, Port.LOCAL}
    assert xy_tree_route(1, 1, Port.NORTH, *whole) == {Port.SOUTH, Port.LOCAL}
    assert xy_tree_route(1, 1, Port.SOUTH, *whole) == {Port.NORTH, Port.LOCAL}
    assert xy_tree_route(1, 1, Port.WEST, 2, 2, 0, 2) == {Port.EAST}     # column 2 only: pass on
    assert xy_tree_route(1, 1, Port.LOCAL, 1, 0, 1, 1) == set()        # x_last < x: no node


def test_xy_tree_route_wrong():
    with pytest.raises(TypeError, match=r"^xy_tree_route arrived_on must be a Port, not 4$"):
        xy_tree_route(1, 1, 4, 0, 2, 0, 2)


@pytest.mark.parametrize("port", list(Port))
def test_multicast_takes_every_branch_in_one_cycle(port, seed=51):
    """From each input of the centre router, one multicast flit to each rectangle that can
    arrive there, one at a time on an idle router: offered on every output of its route set
    ``LATENCY`` after its acceptance, once each, and nowhere else."""
    dut, router = placed_router(1, 1)
    traffic = Traffic(FlitCodec(PARAMS))
    spacing = 4
    for number, rectangle in enumerate(rectangles(PARAMS)):
        outputs = xy_tree_route(1, 1, port, *rectangle)
        if outputs:
            traffic.add_multicast(port, outputs, rectangle, not_before=spacing * number)
    result = run_traffic(dut, *router_ports(router), traffic, seed=seed)
    check_delivery(traffic, result, seed=seed)
    accepted = {flit.serial: cycle for cycle, flit in result.accepted[port]}
    branches = Counter()
    for output, flits in result.delivered.items():
        for cycle, raw in flits:
            serial = traffic.codec.decode(raw)["payload"]
            assert cycle - accepted[serial] == Router.LATENCY, \
                f"flit {serial} from {port} on {output} after {cycle - accepted[serial]} cycles"
            branches[len(traffic.flits[serial].destinations)] += 1
    assert max(branches) == {Port.LOCAL: 5, Port.WEST: 4, Port.EAST: 4}.get(port, 2)


@pytest.mark.parametrize("seed", [52, 53])
def test_multicast_branch_back_pressure(seed):
    """The centre router's local input sends 40 multicasts to the whole mesh while its north
    output is ready a quarter of the time: every flit leaves once on each output, the first
    on the other outputs after ``LATENCY``, and no output ever waits for a slower one to
    pass a flit it could take (each flit leaves a ready output no later than the slow one)."""
    dut, router = placed_router(1, 1)
    traffic = Traffic(FlitCodec(PARAMS))
    for _ in range(40):
        traffic.add_multicast(Port.LOCAL, set(Port), (0, 2, 0, 2))
    result = run_traffic(dut, *router_ports(router), traffic, seed=seed, ready={Port.NORTH: MIN_RATE})
    check_delivery(traffic, result, seed=seed)
    start = result.accepted[Port.LOCAL][0][0]
    arrival = {output: {traffic.codec.decode(raw)["payload"]: cycle for cycle, raw in flits}
               for output, flits in result.delivered.items()}
    for output in Port:
        if output != Port.NORTH:
            assert arrival[output][0] - start == Router.LATENCY
            assert all(arrival[output][serial] <= arrival[Port.NORTH][serial] for serial in traffic.flits)
    assert result.cycles - start > 2 * len(traffic.flits), f"seed {seed}: the slow output never slowed"


# --- Arguments, layout, Verilog. ---

@pytest.mark.parametrize("kwargs, error, message", [
    ({"flit_width": 0}, ValueError, r"^NoC flit_width must be at least 1, not 0$"),
    ({"flit_width": 8.0}, TypeError, r"^NoC flit_width must be an integer, not 8\.0$"),
    ({"buffer_depth": 1}, ValueError, r"^NoC buffer_depth must be at least 2, not 1$"),
    ({"buffer_depth": True}, TypeError, r"^NoC buffer_depth must be an integer, not True$"),
    ({"rows": 0}, ValueError, r"^NoC rows must be between 1 and 32, not 0$"),
    ({"columns": 33}, ValueError, r"^NoC columns must be between 1 and 32, not 33$"),
    ({"rows": "4"}, TypeError, r"^NoC rows must be an integer, not '4'$"),
])
def test_noc_params_wrong(kwargs, error, message):
    with pytest.raises(error, match=message):
        NocParams(**kwargs)


@pytest.mark.parametrize("rows, columns, x_width, y_width", [(1, 1, 1, 1), (3, 4, 3, 2),
                                                             (16, 5, 3, 4), (32, 32, 6, 5)])
def test_noc_params_derived(rows, columns, x_width, y_width):
    params = NocParams(rows=rows, columns=columns)
    assert (params.x_width, params.y_width, params.nodes) == (x_width, y_width, rows * columns)


def test_flit_layout():
    layout = flit_layout(NocParams(flit_width=32, rows=4, columns=8))
    assert [(name, member.offset, member.width) for name, member in layout] == \
        [("x", 0, 4), ("y", 4, 2), ("x_last", 6, 4), ("y_last", 10, 2), ("message_class", 12, 2),
         ("last", 14, 1), ("payload", 15, 32)]
    with pytest.raises(TypeError, match=r"^flit_layout params must be a NocParams, not 4$"):
        flit_layout(4)


def test_router_wrong():
    with pytest.raises(TypeError, match=r"^Router params must be a NocParams, not 4$"):
        Router(4)


def test_router_coordinates_are_ports():
    router = Router(PARAMS)
    members = router.signature.members
    assert (members["x"].flow, Shape.cast(members["x"].shape)) == (In, unsigned(PARAMS.x_width))
    assert (members["y"].flow, Shape.cast(members["y"].shape)) == (In, unsigned(PARAMS.y_width))


def test_router_verilog_is_deterministic():
    assert to_verilog(Router(PARAMS), "top") == to_verilog(Router(PARAMS), "top")
