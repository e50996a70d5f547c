"""cocotb stress testbench of a mesh network-on-chip: every local port driven and checked each cycle.

One coroutine plays all ``rows x columns`` cores of a :class:`hdl.mesh.Mesh`: each cycle it
offers every sending node's next flit (the offered load is one flit per node per cycle: a
source always offers while it has flits left), sets every sink's ``ready`` (always, or
with random back-pressure), and after the rising edge's inputs have settled samples every
handshake. Inputs change on the falling edge; outputs are sampled in the ``ReadOnly``
phase of that same time step, so what is read is exactly what the next rising edge sees.
Only the signals that change are written, and a sink's payload is read only when it is
``valid``; the Python work per cycle is a few dozen signal accesses and list operations.

Traffic (:func:`make_traffic`)
------------------------------
Each source's flits are delivered the same number of times in all (a multicast flit counts
once per destination: the ``flits`` of a run are deliveries). A fraction
``multicast_fraction`` of a source's packets are single-flit multicasts to a random
rectangle (two columns and two rows drawn uniformly); the others are unicast packets of 1
to ``MAX_PACKET`` flits (uniformly drawn), each to a destination drawn from the pattern's
distribution (:func:`destination_matrix`):

``uniform``
    Every node, the sender itself included, with probability ``1 / nodes``.
``transpose``
    Node ``(x, y)`` sends to ``(y, x)``; the nodes on the diagonal stay idle (and receive
    nothing either). Square meshes only.
``hotspot``
    A fraction ``hotspot_fraction`` of the packets to node ``hotspot``, the rest uniformly
    to the other nodes, so the hotspot receives exactly that fraction.

A flit's payload is ``source << sequence_bits | sequence``, ``sequence`` counting the
source's flits from 0 in the low ``sequence_bits`` (what the payload leaves beside the
source's index). The checker (:class:`Checker`) looks every delivered flit up by
that pair and requires it unchanged (the whole flit, header included), at one of its
destinations, as the next flit of its (source, destination) pair (so each is delivered once
at each destination, and in order), and each sink's flits to form whole packets, never
interleaved. At the end every pair must have received all its flits, and a few more cycles
with every sink ready must deliver nothing more.

Throughput
----------
:func:`xy_bound` gives the theoretical bound for the pattern: the injection rate per
sending node at which the most loaded channel (a link, an injection port or an ejection
port) under XY routing (multicast flits loading every channel of their trees) would carry
one flit per cycle, all nodes injecting alike. Two figures compare with it, both in
injected flits per sending node per cycle (``delivered_per_injected`` relates them to the
deliveries):

``accepted``
    The mean over the sending nodes of the flits each had accepted while every one of
    them still had flits to offer (so the offered load is one flit per node per cycle
    throughout), after a warm-up that lets the network fill; ``accepted_min`` and
    ``accepted_max`` are the extremes over the nodes. At saturation the nodes are not held
    to one rate: a node whose flits avoid the busiest channel goes faster, so this mean
    may exceed the bound. Transpose on 4x4: the 12 senders form six groups whose routes
    share one link within the group and none across (three senders in rows 0 and 3, two
    and one in rows 1 and 2), so at most 6 flits a cycle, 0.5 per sender, pass at
    saturation, while alike rates are held to 1/3 by the groups of three.
``accepted_all``
    All injected flits over all cycles. Every node sends about as many flits, so the run
    lasts at least as long as the busiest channel needs for its share: this one is
    bounded by :func:`xy_bound` (up to the randomness of the destinations).

Parameters (``TB_PARAMS``): ``rows``, ``columns``, ``flit_width``, ``buffer_depth``,
``pattern``, ``flits`` (deliveries, at least, in all), ``back_pressure`` (bool), ``hotspot``
(``[x, y]``), ``hotspot_fraction``, ``multicast_fraction`` (0 if absent), ``result`` (a
JSON file for the figures), ``seed``.
"""

import json
import logging
import math
import time

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, ReadOnly

from hdl.params import NocParams
from hdl.router import MessageClass, Port, flit_layout, xy_tree_route
from sim.tb.common import reset
from sim.tb.runner import testbench_params

__all__ = ["PATTERNS", "MAX_PACKET", "MAX_STALL", "READY_RATES", "nodes", "destination_matrix",
           "xy_path", "xy_tree", "tree_channels", "xy_bound", "watchdog_cycles", "Traffic", "make_traffic",
           "Checker", "run_traffic", "summary"]

logger = logging.getLogger(__name__)

PATTERNS = ("uniform", "transpose", "hotspot")
#: Longest packet, in flits (lengths are drawn uniformly from 1 to this).
MAX_PACKET = 4
#: With back-pressure: each sink is ready with a probability drawn per sink from this range...
READY_RATES = (0.25, 1.0)
#: ...but never stays not ready for more than this many cycles in a row (see watchdog_cycles).
MAX_STALL = 8
#: Cycles excluded from the throughput measurement while the empty network fills.
WARM_UP = 1000
#: Cycles run after the last flit arrived, every sink ready, to catch extra flits.
SETTLE = 50
#: The node beyond each side of a router: (column step, row step), and the side it arrives on.
_STEPS = {Port.NORTH: ((0, -1), Port.SOUTH), Port.EAST: ((1, 0), Port.WEST),
          Port.SOUTH: ((0, 1), Port.NORTH), Port.WEST: ((-1, 0), Port.EAST)}


def nodes(params):
    """``(x, y)`` of every node, in row-major order (the index of a node in every list here)."""
    return [(x, y) for y in range(params.rows) for x in range(params.columns)]


def destination_matrix(params, pattern, hotspot=(0, 0), hotspot_fraction=0.25):
    """``P[s, d]``: the probability that a packet of node ``s`` goes to node ``d``.

    A row of zeros is a node that sends nothing (the diagonal under ``transpose``).
    """
    count = params.nodes
    if pattern == "uniform":
        return np.full((count, count), 1 / count)
    if pattern == "transpose":
        if params.rows != params.columns:
            raise ValueError(f"transpose traffic needs a square mesh, not {params.rows}x{params.columns}")
        matrix = np.zeros((count, count))
        for index, (x, y) in enumerate(nodes(params)):
            if x != y:
                matrix[index, x * params.columns + y] = 1.0   # (x, y) -> column y, row x
        return matrix
    if pattern == "hotspot":
        if count < 2 or not 0 < hotspot_fraction < 1:
            raise ValueError(f"hotspot traffic needs two nodes and a fraction in (0, 1), not "
                             f"{count} and {hotspot_fraction!r}")
        hot = hotspot[1] * params.columns + hotspot[0]
        matrix = np.full((count, count), (1 - hotspot_fraction) / (count - 1))
        matrix[:, hot] = hotspot_fraction
        return matrix
    raise ValueError(f"pattern must be one of {', '.join(PATTERNS)}, not {pattern!r}")


def xy_path(source, destination):
    """The links ``((x, y), (x', y'))`` of the XY route: along the row first, then the column."""
    (x, y), links = source, []
    while (x, y) != destination:
        if x != destination[0]:
            step = (x + (1 if destination[0] > x else -1), y)
        else:
            step = (x, y + (1 if destination[1] > y else -1))
        links.append(((x, y), step))
        x, y = step
    return links


def xy_tree(params, source, rectangle):
    """The turns ``((x, y), arrived_on, output)`` of the XY tree (``hdl.router.xy_tree_route``)
    from ``source`` to ``rectangle`` ``(x, x_last, y, y_last)``: one per output a router
    passes the flit to. ``ValueError`` if the tree leaves the mesh."""
    turns, pending = [], [(source, Port.LOCAL)]
    while pending:
        (x, y), arrived_on = pending.pop()
        for output in xy_tree_route(x, y, arrived_on, *rectangle):
            turns.append(((x, y), arrived_on, output))
            if output != Port.LOCAL:
                (step_x, step_y), side = _STEPS[output]
                if not (0 <= x + step_x < params.columns and 0 <= y + step_y < params.rows):
                    raise ValueError(f"the tree from {source} to {rectangle} must stay in the mesh, "
                                     f"not leave it {output.name.lower()} of {(x, y)}")
                pending.append(((x + step_x, y + step_y), side))
    return turns


def tree_channels(turns):
    """The channels of a tree's turns: its links ``((x, y), (x', y'))`` and its ejections
    ``("ejection", (x, y))``."""
    def channel(node, output):
        if output == Port.LOCAL:
            return "ejection", node
        (step_x, step_y), _ = _STEPS[output]
        return node, (node[0] + step_x, node[1] + step_y)
    return [channel(node, output) for node, _, output in turns]


def _rectangle_probabilities(params):
    """Each rectangle ``(x, x_last, y, y_last)`` and its probability under :class:`Traffic`'s
    draw (two columns and two rows, each uniform, sorted)."""
    def spans(size):
        return [((low, high), (1 if low == high else 2) / size ** 2)
                for low in range(size) for high in range(low, size)]
    return [((x, x_last, y, y_last), p * q) for (x, x_last), p in spans(params.columns)
            for (y, y_last), q in spans(params.rows)]


def xy_bound(params, matrix, multicast_fraction=0.0):
    """Largest sustainable injection rate per sending node under XY routing: ``(rate, channel)``.

    With every sending node injecting ``r`` flits per cycle, split over destinations by
    ``matrix``, a channel carries ``r`` times the sum of the probabilities of the
    (source, destination) pairs whose route uses it; no channel passes more than one flit a
    cycle, so ``r <= 1 / max load``. The channels are the links, each node's injection port
    (load 1 for a sender: the injection limit) and each ejection port. With
    ``multicast_fraction`` of the packets multicast (single flits, against a mean of
    ``(MAX_PACKET + 1) / 2`` for a unicast packet), that share of the injected flits loads
    every channel of its XY tree, averaged over :class:`Traffic`'s random rectangles.
    """
    everywhere = nodes(params)
    unicast_flits = (1 - multicast_fraction) * (MAX_PACKET + 1) / 2
    unicast_share = unicast_flits / (unicast_flits + multicast_fraction)
    trees = {source: [(tree_channels(xy_tree(params, source, rectangle)), probability)
                      for rectangle, probability in _rectangle_probabilities(params)]
             for source in everywhere} if multicast_fraction else {}
    load = {}
    for source, row in zip(everywhere, matrix):
        if not row.any():
            continue
        load["injection", source] = 1.0
        for destination, probability in zip(everywhere, row):
            if probability:
                for link in [*xy_path(source, destination), ("ejection", destination)]:
                    load[link] = load.get(link, 0.0) + unicast_share * float(probability)
        for channels, probability in trees.get(source, []):
            for channel in channels:
                load[channel] = load.get(channel, 0.0) + (1 - unicast_share) * probability
    channel = max(load, key=load.get)
    return 1 / load[channel], channel


def watchdog_cycles(params, max_stall, multicast=False):
    """Cycles without a flit entering or leaving the mesh after which the run has failed.

    Suppose no flit enters or leaves for a while. Every flit inside waits on a chain of
    others (for its output, held by a packet whose next flit is behind, or for space in
    the next buffer), and XY routing, multicast trees included, keeps these chains free of
    cycles (see ``hdl.router``), so each chain ends at a flit that moves, at a sink, or at
    a source. A source always offers while it has flits, and a sink is never not ready for
    more than ``max_stall`` cycles in a row; so while the routers' state stands still (it
    latches when an output is first granted, and when a branch of a multicast passes its
    flit, which is a move), a flit moves within ``max_stall + 2`` cycles. Moves inside the
    mesh are link hops, at most ``diameter`` per unicast flit and at most ``nodes - 1``
    (the links of a tree) per multicast flit (``multicast``), of at most ``buffers x
    buffer_depth`` flits. Hence a live mesh stays still at its ports for fewer than
    ``(flits x hops + 1) x (max_stall + 2)`` cycles, whatever the packet lengths and
    arbitration (which bound how long one flit waits, not how long nothing moves); a
    longer stillness is a deadlock or a lost flit.
    """
    links = params.rows * (params.columns - 1) + params.columns * (params.rows - 1)
    buffers = 2 * links + params.nodes          # router inputs with a sender: links both ways, local
    hops = params.nodes - 1 if multicast else params.rows - 1 + params.columns - 1
    return (buffers * params.buffer_depth * hops + 1) * (max_stall + 2)


class Traffic:
    """Every source's flits, as the Python values the testbench's loop needs.

    Each source's packets are drawn in turn until its deliveries (a multicast flit counts
    once per destination) reach ``ceil(flits / senders)``: a packet is, with probability
    ``multicast_fraction``, a single-flit multicast to a rectangle whose corner columns
    and rows are drawn uniformly, and otherwise a unicast packet of 1 to ``MAX_PACKET``
    flits to a destination drawn from ``matrix`` (the last one cut to end on the count).

    Attributes
    ----------
    raw : list of list of int
        ``raw[s][n]``: the ``n``-th flit of node ``s``, as the port's integer.
    destinations : list of list of tuple of int
        The nodes it goes to: one for a unicast flit, its rectangle's for a multicast.
    head, last : list of list of bool
        Whether it starts or ends its packet.
    rank : list of list of dict
        ``rank[s][n][d]``: its position among the flits from ``s`` to its destination ``d``.
    pair_flits : list of int
        ``pair_flits[s * nodes + d]``: flits from ``s`` to ``d``.
    senders : list of int
        The nodes with flits to send.
    total, deliveries : int
        Flits the sources inject, and flits the sinks receive (multicasts once per destination).
    """

    def __init__(self, params, matrix, flits, rng, multicast_fraction=0.0):
        if not 0 <= multicast_fraction <= 1:
            raise ValueError(f"multicast_fraction must be between 0 and 1, not {multicast_fraction!r}")
        self._layout = flit_layout(params)
        self._offset = {name: member.offset for name, member in self._layout}
        self._params = params
        count = params.nodes
        self.senders = [index for index in range(count) if matrix[index].any()]
        per_source = math.ceil(flits / len(self.senders))
        self.sequence_bits = params.flit_width - max(1, (count - 1).bit_length())
        if per_source > 1 << self.sequence_bits:
            raise ValueError(f"{per_source} flits per source from {count} nodes do not fit a "
                             f"{params.flit_width}-bit payload")
        self.raw, self.destinations, self.head, self.last, self.rank = ([[] for _ in range(count)]
                                                                        for _ in range(5))
        self.pair_flits = [0] * (count * count)
        for source in self.senders:
            self._source(source, matrix[source], per_source, multicast_fraction, rng)
        self.total = sum(len(flits) for flits in self.raw)
        self.deliveries = sum(self.pair_flits)
        self.payload_offset = self._offset["payload"]

    def _source(self, source, row, per_source, multicast_fraction, rng):
        """Draw one source's packets (at most ``per_source``: each delivers at least a flit)."""
        params, offset = self._params, self._offset
        lengths = rng.integers(1, MAX_PACKET + 1, size=per_source)
        targets = rng.choice(params.nodes, size=per_source, p=row)
        columns = np.stack([targets % params.columns] * 2, axis=1)
        rows = np.stack([targets // params.columns] * 2, axis=1)
        multicast = np.zeros(per_source, dtype=bool)
        if multicast_fraction:
            multicast = rng.random(per_source) < multicast_fraction
            columns[multicast] = np.sort(rng.integers(params.columns, size=(int(multicast.sum()), 2)), axis=1)
            rows[multicast] = np.sort(rng.integers(params.rows, size=(int(multicast.sum()), 2)), axis=1)
            lengths[multicast] = 1
        area = (columns[:, 1] - columns[:, 0] + 1) * (rows[:, 1] - rows[:, 0] + 1)
        ends = np.cumsum(np.where(multicast, area, lengths))
        packets = int(np.searchsorted(ends, per_source)) + 1
        lengths, columns, rows = lengths[:packets], columns[:packets], rows[:packets]
        if not multicast[packets - 1]:
            lengths[-1] -= ends[packets - 1] - per_source      # the last packet ends on the count
        flits = int(lengths.sum())
        sequence = np.arange(flits, dtype=np.int64)
        last = np.zeros(flits, dtype=bool)
        last[np.cumsum(lengths) - 1] = True
        header = [np.repeat(values, lengths).astype(np.int64)
                  for values in (columns[:, 0], rows[:, 0], columns[:, 1], rows[:, 1])]
        raw = (header[0] << offset["x"]) | (header[1] << offset["y"]) \
            | (header[2] << offset["x_last"]) | (header[3] << offset["y_last"]) \
            | (MessageClass.ACTIVATION.value << offset["message_class"]) \
            | (last.astype(np.int64) << offset["last"]) \
            | (((source << self.sequence_bits) | sequence) << offset["payload"])
        self.raw[source] = [int(value) for value in raw.tolist()]
        self.head[source], self.last[source] = np.roll(last, 1).tolist(), last.tolist()
        received = self.pair_flits[source * params.nodes:(source + 1) * params.nodes]
        for (x, x_last), (y, y_last), length in zip(columns.tolist(), rows.tolist(), lengths.tolist()):
            destinations = tuple(row * params.columns + column for row in range(y, y_last + 1)
                                 for column in range(x, x_last + 1))
            for _ in range(length):
                self.destinations[source].append(destinations)
                self.rank[source].append({node: received[node] for node in destinations})
                for node in destinations:
                    received[node] += 1
        self.pair_flits[source * params.nodes:(source + 1) * params.nodes] = received


def make_traffic(params, pattern, flits, rng, *, hotspot=(0, 0), hotspot_fraction=0.25,
                 multicast_fraction=0.0):
    """At least ``flits`` deliveries in all, the same number to each sending node's
    destinations (see :class:`Traffic`)."""
    return Traffic(params, destination_matrix(params, pattern, hotspot, hotspot_fraction), flits, rng,
                   multicast_fraction)


class Checker:
    """Checks each delivered flit as it arrives: the right one, once, in order, packets whole.

    ``receive(sink, raw, cycle)`` raises ``AssertionError`` (naming the seed) at the first
    wrong flit; :meth:`finish` checks that every pair received all its flits.
    """

    def __init__(self, traffic, nodes_count, seed):
        self.traffic, self.count, self.seed = traffic, nodes_count, seed
        self.received = [0] * (nodes_count * nodes_count)     # per (source, destination)
        self.open = [None] * nodes_count          # per sink: (source, sequence) of an open packet
        self.delivered = 0
        shift, bits = traffic.payload_offset, traffic.sequence_bits
        mask = (1 << bits) - 1
        self._decode = lambda raw: ((raw >> shift) >> bits, (raw >> shift) & mask)

    def _fail(self, sink, raw, cycle, what):
        raise AssertionError(f"seed {self.seed} (replay with SEED={self.seed}): flit {raw:#x} at "
                             f"node {sink} in cycle {cycle}: {what}")

    def receive(self, sink, raw, cycle):
        traffic = self.traffic
        source, sequence = self._decode(raw)
        if source >= self.count or sequence >= len(traffic.raw[source]):
            self._fail(sink, raw, cycle, f"no such flit (source {source}, sequence {sequence})")
        if raw != traffic.raw[source][sequence]:
            self._fail(sink, raw, cycle, f"changed from {traffic.raw[source][sequence]:#x}")
        rank = traffic.rank[source][sequence].get(sink)
        if rank is None:
            self._fail(sink, raw, cycle, f"belongs at nodes {list(traffic.destinations[source][sequence])}")
        pair = source * self.count + sink
        if rank != self.received[pair]:
            self._fail(sink, raw, cycle, f"flit {rank} from node {source}, "
                                         f"expected flit {self.received[pair]} of that pair "
                                         f"(duplicated, lost or reordered)")
        self.received[pair] += 1
        open_packet = self.open[sink]
        if open_packet is None:
            if not traffic.head[source][sequence]:
                self._fail(sink, raw, cycle, "starts no packet")
        elif open_packet != (source, sequence - 1):
            self._fail(sink, raw, cycle, f"interleaves the packet open from node {open_packet[0]} "
                                         f"(its flit {open_packet[1]} came last)")
        self.open[sink] = None if traffic.last[source][sequence] else (source, sequence)
        self.delivered += 1

    def finish(self):
        missing = [(pair // self.count, pair % self.count, want - got)
                   for pair, (want, got) in enumerate(zip(self.traffic.pair_flits, self.received))
                   if want != got]
        assert not missing, f"seed {self.seed} (replay with SEED={self.seed}): flits never " \
                            f"delivered, (source, destination, count): {missing[:10]}"
        assert all(packet is None for packet in self.open), \
            f"seed {self.seed} (replay with SEED={self.seed}): a packet stops half-way at nodes " \
            f"{[sink for sink, packet in enumerate(self.open) if packet is not None]}"
        assert self.delivered == self.traffic.deliveries > 0


class _Ports:
    """The handles of every local port, in node order."""

    def __init__(self, dut, params):
        names = [f"{y}_{x}" for x, y in nodes(params)]
        self.source_valid = [getattr(dut, f"i_local_{name}__valid") for name in names]
        self.source_payload = [getattr(dut, f"i_local_{name}__payload") for name in names]
        self.source_ready = [getattr(dut, f"i_local_{name}__ready") for name in names]
        self.sink_valid = [getattr(dut, f"o_local_{name}__valid") for name in names]
        self.sink_payload = [getattr(dut, f"o_local_{name}__payload") for name in names]
        self.sink_ready = [getattr(dut, f"o_local_{name}__ready") for name in names]


async def run_traffic(dut, params, traffic, *, seed, back_pressure, rng, stuck=()):
    """Drive ``traffic`` through the mesh until every flit is delivered; return the figures.

    ``stuck`` lists sinks that are never ready (to see the watchdog fire).
    """
    ports = _Ports(dut, params)
    count = params.nodes
    checker = Checker(traffic, count, seed)
    limit = watchdog_cycles(params, MAX_STALL if back_pressure else 0,
                            multicast=traffic.deliveries > traffic.total)
    ready_rates = rng.uniform(*READY_RATES, size=count) if back_pressure else np.ones(count)
    for valid in ports.source_valid:
        valid.value = 0
    ready = [sink not in stuck for sink in range(count)]
    for sink, handle in enumerate(ports.sink_ready):
        handle.value = int(ready[sink])
    await reset(dut)

    position = [0] * count                      # next flit to offer, per source
    offering = list(traffic.senders)            # sources offering a flit this cycle
    for source in offering:
        ports.source_payload[source].value = traffic.raw[source][0]
        ports.source_valid[source].value = 1
    stall = [0] * count                         # cycles each sink has been not ready
    held = [None] * count                       # a flit a sink was offered but did not take
    falling, read_only = FallingEdge(dut.clk), ReadOnly()
    chunk = []
    cycle = still = 0
    warm = first_done = None        # flits accepted per source by WARM_UP, and when a source ran out
    longest_still = 0
    longest_wait = 0
    last_accept = [0] * count
    settle = None
    started = time.perf_counter()
    while settle is None or settle > 0:
        if back_pressure and settle is None:
            if not chunk:
                chunk = (rng.random((1024, count)) < ready_rates).tolist()
            draw = chunk.pop()
            for sink in range(count):
                want = (draw[sink] or stall[sink] >= MAX_STALL) and sink not in stuck
                stall[sink] = 0 if want else stall[sink] + 1
                if want != ready[sink]:
                    ports.sink_ready[sink].value = int(want)
                    ready[sink] = want
        elif settle == SETTLE:
            for sink in range(count):
                if not ready[sink]:
                    ports.sink_ready[sink].value = 1
                    ready[sink] = True
        await read_only

        moved = False
        taken = [source for source in offering if ports.source_ready[source].value]
        for sink in range(count):
            if ports.sink_valid[sink].value:
                raw = int(ports.sink_payload[sink].value)
                if held[sink] is not None and raw != held[sink]:
                    raise AssertionError(f"seed {seed} (replay with SEED={seed}): node {sink} "
                                         f"changed its offered flit "
                                         f"{held[sink]:#x} to {raw:#x} in cycle {cycle}")
                if ready[sink]:
                    checker.receive(sink, raw, cycle)
                    held[sink] = None
                    moved = True
                else:
                    held[sink] = raw
            elif held[sink] is not None:
                raise AssertionError(f"seed {seed} (replay with SEED={seed}): node {sink} "
                                     f"withdrew its offered flit "
                                     f"{held[sink]:#x} in cycle {cycle}")
        await falling

        if taken:
            moved = True
            for source in taken:
                longest_wait = max(longest_wait, cycle - last_accept[source])
                last_accept[source] = cycle
                position[source] += 1
                if position[source] < len(traffic.raw[source]):
                    ports.source_payload[source].value = traffic.raw[source][position[source]]
                else:
                    ports.source_valid[source].value = 0
                    offering.remove(source)
                    if first_done is None:
                        first_done = (cycle + 1, list(position))
        cycle += 1
        if cycle == WARM_UP:
            warm = list(position)
        still = 0 if moved else still + 1
        if settle is None:
            longest_still = max(longest_still, still)
        if still >= limit:
            left = [len(traffic.raw[node]) - position[node] for node in range(count)]
            raise AssertionError(
                f"seed {seed} (replay with SEED={seed}): no flit entered or left the mesh for "
                f"{limit} cycles, up to cycle {cycle}: deadlock or lost flit ({checker.delivered} "
                f"of {traffic.deliveries} delivered; flits left to send per node {left})")
        if settle is not None:
            settle -= 1
        elif not offering and checker.delivered == traffic.deliveries:
            settle = SETTLE
            end = cycle
    seconds = time.perf_counter() - started
    checker.finish()

    window_end, at_end = first_done
    if warm is not None and window_end > 2 * WARM_UP:
        window, at_start = window_end - WARM_UP, warm
    else:                                       # a short run: measure from the start
        window, at_start = window_end, [0] * count
    rates = [(at_end[source] - at_start[source]) / window for source in traffic.senders]
    return {"flits": traffic.deliveries, "injected": traffic.total,
            "delivered_per_injected": traffic.deliveries / traffic.total, "cycles": end,
            "senders": len(traffic.senders),
            "window_cycles": window, "accepted": sum(rates) / len(rates),
            "accepted_min": min(rates), "accepted_max": max(rates),
            "accepted_all": traffic.total / (len(traffic.senders) * end),
            "longest_source_wait": longest_wait, "longest_still": longest_still, "watchdog": limit,
            "seconds": seconds, "cycles_per_second": (cycle + 1) / seconds}


def summary(figures):
    """One line of a run's figures (as :func:`run_traffic` and :func:`stress` give them)."""
    return (f"{figures['pattern']}{' with random back-pressure' if figures['back_pressure'] else ''}: "
            f"{figures['multicast_fraction']:.0%} of the packets multicast; {figures['flits']} flits "
            f"delivered (a multicast once per destination) from {figures['injected']} injected "
            f"({figures['delivered_per_injected']:.2f} per injected flit) in {figures['cycles']} "
            f"cycles; accepted flits/node/cycle "
            f"(per sending node, {figures['senders']}; offered 1.0): {figures['accepted']:.3f} "
            f"(nodes {figures['accepted_min']:.3f} to {figures['accepted_max']:.3f}) over "
            f"{figures['window_cycles']} cycles while all offered, {figures['accepted_all']:.3f} over "
            f"the run; XY bound {figures['bound']:.3f} (busiest channel {figures['busiest_channel']}); "
            f"longest wait of a source {figures['longest_source_wait']} cycles, longest stillness "
            f"{figures['longest_still']} cycles (watchdog {figures['watchdog']}); seed {figures['seed']}; "
            f"{figures['cycles_per_second']:.0f} cycles/s, {figures['seconds']:.1f} s")


@cocotb.test()
async def stress(dut):
    """One pattern at an offered load of one flit per node per cycle; figures to ``result``."""
    options = testbench_params()
    params = NocParams(flit_width=options["flit_width"], buffer_depth=options["buffer_depth"],
                       rows=options["rows"], columns=options["columns"])
    seed, pattern = options["seed"], options["pattern"]
    hotspot, fraction = tuple(options.get("hotspot", (0, 0))), options.get("hotspot_fraction", 0.25)
    rng = np.random.default_rng(seed)
    matrix = destination_matrix(params, pattern, hotspot, fraction)
    multicast_fraction = options.get("multicast_fraction", 0.0)
    traffic = Traffic(params, matrix, options["flits"], rng, multicast_fraction)
    bound, channel = xy_bound(params, matrix, multicast_fraction)
    logger.info("%s traffic, %.0f%% of the packets multicast, %d flits from %d nodes (%d deliveries), "
                "back-pressure %s, seed %d (replay with SEED=%d)", pattern, 100 * multicast_fraction,
                traffic.total, len(traffic.senders), traffic.deliveries, options["back_pressure"], seed,
                seed)
    figures = await run_traffic(dut, params, traffic, seed=seed, back_pressure=options["back_pressure"],
                                rng=rng)
    figures.update(pattern=pattern, back_pressure=options["back_pressure"], seed=seed, bound=bound,
                   busiest_channel=str(channel), multicast_fraction=multicast_fraction)
    logger.info(summary(figures))
    if "result" in options:
        with open(options["result"], "w") as file:
            json.dump(figures, file)


@cocotb.test()
async def watchdog_fires(dut):
    """Uniform traffic into a mesh whose node 5 never takes a flit: the watchdog must stop it."""
    options = testbench_params()
    params = NocParams(flit_width=options["flit_width"], buffer_depth=options["buffer_depth"],
                       rows=options["rows"], columns=options["columns"])
    seed = options["seed"]
    rng = np.random.default_rng(seed)
    traffic = make_traffic(params, "uniform", options["flits"], rng)
    try:
        await run_traffic(dut, params, traffic, seed=seed, back_pressure=False, rng=rng, stuck=(5,))
    except AssertionError as error:
        assert "no flit entered or left the mesh" in str(error), error
        logger.info("the watchdog fired: %s", error)
        return
    raise AssertionError(f"seed {seed} (replay with SEED={seed}): every flit arrived although "
                         f"node 5 never took one")
