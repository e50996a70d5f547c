"""The mesh router: five ports, XY routing with multicast trees, round-robin arbitration, wormhole switching.

Coordinates and ports
---------------------
Node ``(x, y)`` sits in column ``x`` and row ``y`` of a ``rows`` x ``columns`` mesh; row 0
is the north edge and column 0 the west edge. A router has five ports, each an input
``i_<port>`` and an output ``o_<port>``: ``north`` (towards ``y - 1``), ``east``
(``x + 1``), ``south`` (``y + 1``), ``west`` (``x - 1``) and ``local`` (the core). So
``i_west`` receives the flits that the west neighbour sends east, and ``o_east`` feeds
the east neighbour's ``i_west``.

Flits and packets
-----------------
A packet is one or more flits (see :func:`flit_layout`); its last flit has ``last`` set.
Every flit carries the header, but a router reads the destination of a packet's head
flit only (the flit after a ``last``, or the first after reset): the body flits follow
the head's path. The destination is a rectangle: the packet goes to every node with
``x <= column <= x_last`` and ``y <= row <= y_last``. A unicast packet names one node
(``x_last = x``, ``y_last = y``); a multicast packet names more and must be a single
flit (``last`` set).

Routing
-------
Dimension-order (XY) trees (:func:`xy_tree_route`): a head flit travels along its
source's row, east and west as far as the rectangle's columns reach; in every column of
the rectangle it branches off north and south along the column as far as the
rectangle's rows reach, and leaves on ``o_local`` at every node of the rectangle. Which
outputs a head flit takes at node ``(cx, cy)`` depends on the input it arrived on:
``EAST`` if it arrived on ``local`` or ``west`` and ``x_last > cx``; ``WEST`` if it
arrived on ``local`` or ``east`` and ``x < cx``; and only where ``x <= cx <= x_last``:
``SOUTH`` if ``y_last > cy`` and it did not arrive on ``south``, ``NORTH`` if
``y < cy`` and it did not arrive on ``north``, ``LOCAL`` if ``y <= cy <= y_last``. For
a unicast this is plain XY routing (:func:`xy_route`): along the row to the
destination column, then along the column, then out on ``o_local``. Every node of the
rectangle is reached exactly once, over the tree's links, each used at most once, and
the path from a source to one node of the rectangle is the XY path between them,
whatever the rest of the rectangle. A flit turns at most once, from X to Y, and never
makes a U-turn; each output is wired only to the inputs the trees can send to it
(:data:`XY_INPUTS`). A destination outside the mesh is the sender's error: such a
packet would wait at the mesh edge for ever, holding the ports on its path. So is a
rectangle with ``x_last < x`` or ``y_last < y``: it names no node, and a router whose
route set for it is empty (at the latest where the row or column walk ends inside the
mesh) discards the packet. A multicast of several flits is also the sender's error: the router
replicates it like a single flit, each branch holding its output until the last flit,
and that can deadlock (see below).

Replication, arbitration and switching
--------------------------------------
The head flit of an input requests every output of its route set that has not taken it
yet. Each output has a round-robin arbiter over the inputs that request it. The winner
keeps the output (wormhole switching) until its flit with ``last`` passes, so the flits
of two packets never interleave on a link; then the arbiter's priority moves to the
input after the winner. An input that requests an output therefore waits for at most
one packet from each of the output's other inputs (at most four): no input starves, and
no branch of a multicast either. A granted flit stays on the output, unchanged, until
the receiver takes it (``valid`` never falls before ``ready``). Replication is per
output and asynchronous: when an output passes a multicast flit, that branch is marked
done, and the input stops requesting it; the flit leaves the input buffer, and the
marks are cleared, in the cycle its last branch takes it. When every branch is free,
all take it in the same cycle. Every flit is stored in an input buffer of
``buffer_depth`` flits and leaves it exactly once, after each output of its route set
has passed it exactly once; a full buffer deasserts the input's ``ready``. Nothing is
dropped or duplicated. Each input is one FIFO that a flit leaves only after all its
branches, and the path from a source to a destination is fixed (the XY path), so the
flits from one source reach one destination in the order it sent them.

Latency and throughput
----------------------
A flit accepted on an input in cycle ``t`` is offered on its outputs in cycle ``t + 1``
when they are idle (``LATENCY`` = 1 cycle per router, on every branch of a multicast).
Each output passes one flit per cycle, and all five can do so in the same cycle; an
input's ``ready`` depends on its buffer's fill level only, so a link between two routers
carries a flit every cycle (``buffer_depth`` >= 2) and ``ready`` never passes
combinationally through a router.

Deadlock freedom
----------------
Within one network, XY routing is deadlock-free (Dally and Seitz): channels are used in
a fixed order (X channels before Y channels, in one direction per dimension, then
ejection), so the channel dependency graph has no cycle, and wormhole switching does
not add one, as a packet only ever waits for channels later in that order. This holds
as long as every local output eventually takes its flits.

Multicast trees keep this. A tree's branches follow the same order: a flit arriving on
an X channel continues on the next X channel in its direction, or turns into a Y
channel or the ejection port; one arriving on a Y channel continues on the next Y
channel in its direction or ejects. So the branches of a flit only wait on channels
later in the XY order than the one it arrived on, and the channel dependency graph
stays acyclic. Because a multicast is a single flit, it holds an output only while that
output's receiver has not taken it, never while it waits for another of its branches:
no output is held across cycles on behalf of another output. A branch blocked
downstream keeps the flit in its input buffer, and so delays the flits behind it, but
it waits on channels later in the order, which drain; it never deadlocks. A multi-flit
multicast would break this: its head, once past one branch, holds that output until
its last flit passes, while waiting for another branch; two such packets, each holding
a branch the other needs, would wait for ever. Hence multicasts are single flits.

The condition that every local output eventually takes its flits is where message classes
meet: a core may be unable to take an
activation until its weights or program have arrived (or unable to take a weight load
while it is blocked sending activations). If the classes shared buffers, flits of a
blocked class could fill the buffers that the flits unblocking it need: a protocol
(message-dependent) deadlock that no routing function prevents. So message classes
that could block one another travel on **separate physical networks**: the array
instantiates one :class:`hdl.mesh.Mesh` per class (activations between neighbours,
activation redistribution, weight loads, program loads), each with its own buffers and
links. Nothing a class does can then hold a resource of another. Separate networks,
rather than virtual channels, keep the router single-class (no per-class buffers,
virtual-channel allocation or per-class credit) at the cost of wires, which are the
cheap resource on chip. The header's ``message_class`` lets a receiver check that a
flit came in on the network of its class; routers do not read it.
"""

from amaranth import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .params import NocParams

__all__ = ["Port", "MessageClass", "XY_INPUTS", "flit_layout", "xy_tree_route", "xy_route", "Router"]


class Port(enum.Enum, shape=3):
    """The five ports of a router (the value is the port's index)."""
    NORTH = 0   #: towards row ``y - 1``
    EAST = 1    #: towards column ``x + 1``
    SOUTH = 2   #: towards row ``y + 1``
    WEST = 3    #: towards column ``x - 1``
    LOCAL = 4   #: the core at this node


class MessageClass(enum.Enum, shape=2):
    """What a packet carries; each class travels on its own physical network."""
    ACTIVATION = 0  #: activations (halo exchange between neighbours, redistribution)
    WEIGHT = 1      #: weight and settings loads
    PROGRAM = 2     #: program loads


#: For each output, the inputs that XY trees (unicast or multicast) can send to it, in
#: arbitration order.
XY_INPUTS = {
    Port.NORTH: (Port.EAST, Port.SOUTH, Port.WEST, Port.LOCAL),
    Port.EAST: (Port.WEST, Port.LOCAL),
    Port.SOUTH: (Port.NORTH, Port.EAST, Port.WEST, Port.LOCAL),
    Port.WEST: (Port.EAST, Port.LOCAL),
    Port.LOCAL: (Port.NORTH, Port.EAST, Port.SOUTH, Port.WEST, Port.LOCAL),
}


def flit_layout(params):
    """Layout of one flit: the header, in the low bits, then the payload.

    ========================  ============================  =================================
    field                     width                         meaning
    ========================  ============================  =================================
    ``x``                     ``params.x_width``            destination rectangle's first column
    ``y``                     ``params.y_width``            destination rectangle's first row
    ``x_last``                ``params.x_width``            its last column (``x`` for a unicast)
    ``y_last``                ``params.y_width``            its last row (``y`` for a unicast)
    ``message_class``         2 (:class:`MessageClass`)     what the packet carries
    ``last``                  1                             the packet's last flit
    ``payload``               ``params.flit_width``         data
    ========================  ============================  =================================

    The packet goes to every node with ``x <= column <= x_last`` and ``y <= row <=
    y_last``; a packet to more than one node must be a single flit.
    """
    if not isinstance(params, NocParams):
        raise TypeError(f"flit_layout params must be a NocParams, not {params!r}")
    return data.StructLayout({
        "x": unsigned(params.x_width),
        "y": unsigned(params.y_width),
        "x_last": unsigned(params.x_width),
        "y_last": unsigned(params.y_width),
        "message_class": MessageClass,
        "last": unsigned(1),
        "payload": unsigned(params.flit_width),
    })


def _branches(x, y, arrived_on, x_first, x_last, y_first, y_last):
    """Whether a head flit takes each output: a Python bool or a 1-bit Amaranth value per
    :class:`Port` (``arrived_on`` is a Python :class:`Port` in both cases)."""
    in_column = (x_first <= x) & (x <= x_last)
    return {
        Port.NORTH: in_column & (y_first < y) if arrived_on != Port.NORTH else False,
        Port.EAST: x_last > x if arrived_on in (Port.LOCAL, Port.WEST) else False,
        Port.SOUTH: in_column & (y_last > y) if arrived_on != Port.SOUTH else False,
        Port.WEST: x_first < x if arrived_on in (Port.LOCAL, Port.EAST) else False,
        Port.LOCAL: in_column & (y_first <= y) & (y <= y_last),
    }


def xy_tree_route(x, y, arrived_on, x_first, x_last, y_first, y_last):
    """The outputs a head flit takes at node ``(x, y)``: a ``frozenset`` of :class:`Port`.

    ``arrived_on`` is the input :class:`Port` it came in on; the flit's destination is the
    rectangle of columns ``x_first`` to ``x_last`` and rows ``y_first`` to ``y_last``
    (all Python integers). See the module documentation for the rule; for a unicast
    (``x_first == x_last``, ``y_first == y_last``) it is one port, :func:`xy_route`'s; it
    never holds ``LOCAL`` for an empty rectangle (``x_last < x_first`` or ``y_last <
    y_first``). A router discards a flit whose set is empty. Raises ``TypeError`` unless
    ``arrived_on`` is a :class:`Port`.
    """
    if not isinstance(arrived_on, Port):
        raise TypeError(f"xy_tree_route arrived_on must be a Port, not {arrived_on!r}")
    branches = _branches(x, y, arrived_on, x_first, x_last, y_first, y_last)
    return frozenset(port for port, taken in branches.items() if taken)


def xy_route(x, y, destination_x, destination_y):
    """The output a head flit for ``(destination_x, destination_y)`` takes at node ``(x, y)``:
    X first, then Y, then local (Python integers in, a :class:`Port` out)."""
    route, = xy_tree_route(x, y, Port.LOCAL, destination_x, destination_x, destination_y,
                           destination_y)
    return route


class _Input:
    """One buffered input: its head flit, the outputs it requests (a bit per :class:`Port`),
    and the outputs taking it this cycle (driven by the outputs)."""

    def __init__(self, head, requests, taken):
        self.head, self.requests, self.taken = head, requests, taken


def _round_robin(m, requests, pointer, name):
    """Index of the first set bit of ``requests`` at or after ``pointer``, cyclically (0 if none)."""
    count = len(requests)
    pick = Signal(range(count), name=f"{name}_pick")
    with m.Switch(pointer):
        for start in range(count):
            with m.Case(start):
                order = [(start + offset) % count for offset in range(count)]
                for index in reversed(order):      # the last assignment wins: order[0] first
                    with m.If(requests[index]):
                        m.d.comb += pick.eq(index)
    return pick


class Router(wiring.Component):
    """Five-port wormhole mesh router with XY routing, XY-tree multicast and round-robin
    output arbitration.

    See the module documentation for coordinates, routing, replication, arbitration,
    latency and deadlock freedom. Each input buffers ``params.buffer_depth`` flits; each
    output passes one flit per cycle; a multicast flit leaves its input buffer once every
    output of its route set has passed it.

    Parameters
    ----------
    params : NocParams

    Attributes
    ----------
    x : In(params.x_width), y : In(params.y_width)
        This router's column (``0 <= x < params.columns``) and row (``0 <= y <
        params.rows``): ports, so that one module serves every node; held constant.
    i_north, i_east, i_south, i_west, i_local : In(stream.Signature(flit_layout(params)))
        Flits arriving from the neighbour on that side, or from the core.
    o_north, o_east, o_south, o_west, o_local : Out(stream.Signature(flit_layout(params)))
        Flits leaving towards the neighbour on that side, or to the core.
    LATENCY : int
        Cycles from a flit's acceptance on an input to its offer on an idle output: 1.
    """

    LATENCY = 1

    def __init__(self, params):
        if not isinstance(params, NocParams):
            raise TypeError(f"Router params must be a NocParams, not {params!r}")
        self._params = params
        flits = stream.Signature(flit_layout(params))
        members = {"x": In(params.x_width), "y": In(params.y_width)}
        members.update({f"i_{port.name.lower()}": In(flits) for port in Port})
        members.update({f"o_{port.name.lower()}": Out(flits) for port in Port})
        super().__init__(members)

    @property
    def params(self):
        return self._params

    def _input(self, m, port):
        """The buffer of one input, the route set of its head flit (held for body flits) and
        the branches that have taken it; it leaves the buffer when all have."""
        name = port.name.lower()
        layout = flit_layout(self._params)
        fifo = m.submodules[f"fifo_{name}"] = SyncFIFO(width=layout.size,
                                                        depth=self._params.buffer_depth)
        flits = getattr(self, f"i_{name}")
        m.d.comb += [fifo.w_data.eq(flits.payload), fifo.w_en.eq(flits.valid),
                     flits.ready.eq(fifo.w_rdy)]
        head = data.View(layout, fifo.r_data)
        at_head = Signal(init=1, name=f"{name}_at_head")    # the next flit starts a packet
        held = Signal(len(Port), name=f"{name}_held_route")
        route = Signal(len(Port), name=f"{name}_route")
        sent = Signal(len(Port), name=f"{name}_sent")       # branches that took the head flit
        taken = Signal(len(Port), name=f"{name}_taken")     # branches taking it now
        requests = Signal(len(Port), name=f"{name}_requests")
        branches = _branches(self.x, self.y, port, head.x, head.x_last, head.y, head.y_last)
        m.d.comb += [route.eq(Mux(at_head, Cat(branches[output] for output in Port), held)),
                     requests.eq(Mux(fifo.r_rdy, route & ~sent, 0)),
                     fifo.r_en.eq((route & ~(sent | taken)) == 0)]
        with m.If(fifo.r_en & fifo.r_rdy):
            m.d.sync += [at_head.eq(head.last), held.eq(route), sent.eq(0)]
        with m.Else():
            m.d.sync += sent.eq(sent | taken)
        return _Input(head, requests, taken)

    def _output(self, m, port, inputs):
        """Arbiter and multiplexer of one output; drives each input's ``taken`` bit for it."""
        name = port.name.lower()
        sources = XY_INPUTS[port]
        count = len(sources)
        flits = getattr(self, f"o_{name}")
        requests = Cat(inputs[source].requests[port.value] for source in sources)
        busy = Signal(name=f"{name}_busy")       # a packet holds the output
        owner = Signal(range(count), name=f"{name}_owner")
        pointer = Signal(range(count), name=f"{name}_pointer")
        grant = Signal(range(count), name=f"{name}_grant")
        m.d.comb += [grant.eq(Mux(busy, owner, _round_robin(m, requests, pointer, name))),
                     flits.valid.eq(requests.bit_select(grant, 1))]
        with m.Switch(grant):
            for index, source in enumerate(sources):
                with m.Case(index):
                    m.d.comb += flits.payload.eq(inputs[source].head)
        with m.If(flits.valid):
            with m.If(flits.ready & flits.payload.last):
                m.d.sync += [busy.eq(0), pointer.eq(Mux(grant == count - 1, 0, grant + 1))]
            with m.Else():                          # a packet started, or its flit waits
                m.d.sync += [busy.eq(1), owner.eq(grant)]
        for index, source in enumerate(sources):
            m.d.comb += inputs[source].taken[port.value].eq(flits.valid & flits.ready & (grant == index))

    def elaborate(self, platform):
        m = Module()
        inputs = {port: self._input(m, port) for port in Port}
        for port in Port:
            self._output(m, port, inputs)
        return m
