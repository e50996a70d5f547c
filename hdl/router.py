"""The mesh router: five ports, XY routing, round-robin arbitration, wormhole switching.

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
the head's path.

Routing
-------
Dimension-order (XY): a head flit travels along its row to the destination column
first, then along the column to the destination row, then leaves on ``o_local``. So a
flit turns at most once, from X to Y, and never makes a U-turn; each output is wired
only to the inputs XY routing can send to it (:data:`XY_INPUTS`). A destination outside
the mesh is the sender's error: such a packet would wait at the mesh edge for ever,
holding the ports on its path.

Arbitration and switching
-------------------------
Each output has a round-robin arbiter over the inputs whose head flit requests it. The
winner keeps the output (wormhole switching) until its flit with ``last`` passes, so the
flits of two packets never interleave on a link; then the arbiter's priority moves to
the input after the winner. An input that requests an output therefore waits for at
most one packet from each of the output's other inputs (at most four): no input
starves. A granted flit stays on the output, unchanged, until the receiver takes it
(``valid`` never falls before ``ready``). Every flit is stored in an input buffer of
``buffer_depth`` flits and leaves it exactly once, when the output's handshake
completes; a full buffer deasserts the input's ``ready``. Nothing is dropped or
duplicated.

Latency and throughput
----------------------
A flit accepted on an input in cycle ``t`` is offered on its output in cycle ``t + 1``
when that output is idle (``LATENCY`` = 1 cycle per router). Each output passes one flit
per cycle, and all five can do so in the same cycle; an input's ``ready`` depends on its
buffer's fill level only, so a link between two routers carries a flit every cycle
(``buffer_depth`` >= 2) and ``ready`` never passes combinationally through a router.

Deadlock freedom
----------------
Within one network, XY routing is deadlock-free (Dally and Seitz): channels are used in
a fixed order (X channels before Y channels, in one direction per dimension, then
ejection), so the channel dependency graph has no cycle, and wormhole switching does
not add one, as a packet only ever waits for channels later in that order. This holds
as long as every local output eventually takes its flits.

That last condition is where message classes meet: a core may be unable to take an
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

__all__ = ["Port", "MessageClass", "XY_INPUTS", "flit_layout", "xy_route", "Router"]


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


#: For each output, the inputs that XY routing can send to it, in arbitration order.
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
    ``x``                     ``params.x_width``            destination column
    ``y``                     ``params.y_width``            destination row
    ``message_class``         2 (:class:`MessageClass`)     what the packet carries
    ``last``                  1                             the packet's last flit
    ``payload``               ``params.flit_width``         data
    ========================  ============================  =================================
    """
    if not isinstance(params, NocParams):
        raise TypeError(f"flit_layout params must be a NocParams, not {params!r}")
    return data.StructLayout({
        "x": unsigned(params.x_width),
        "y": unsigned(params.y_width),
        "message_class": MessageClass,
        "last": unsigned(1),
        "payload": unsigned(params.flit_width),
    })


def xy_route(x, y, destination_x, destination_y):
    """The output a head flit for ``(destination_x, destination_y)`` takes at node ``(x, y)``.

    Works on Python integers (returns a :class:`Port`) and on Amaranth values (returns a
    value of shape :class:`Port`): X first, then Y, then local.
    """
    choices = ((destination_x > x, Port.EAST), (destination_x < x, Port.WEST),
               (destination_y > y, Port.SOUTH), (destination_y < y, Port.NORTH))
    if all(isinstance(value, int) for value in (x, y, destination_x, destination_y)):
        return next((port for taken, port in choices if taken), Port.LOCAL)
    route = Port.LOCAL.value
    for taken, port in reversed(choices):
        route = Mux(taken, port.value, route)
    return Port(route)


class _Input:
    """One buffered input: its head flit, whether there is one, where it goes, its read strobe."""

    def __init__(self, head, valid, route, read):
        self.head, self.valid, self.route, self.read = head, valid, route, read


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
    """Five-port wormhole mesh router with XY routing and round-robin output arbitration.

    See the module documentation for coordinates, routing, arbitration, latency and
    deadlock freedom. Each input buffers ``params.buffer_depth`` flits; each output
    passes one flit per cycle.

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
        """The buffer of one input and the route of its head flit (held for body flits)."""
        name = port.name.lower()
        layout = flit_layout(self._params)
        fifo = m.submodules[f"fifo_{name}"] = SyncFIFO(width=layout.size,
                                                        depth=self._params.buffer_depth)
        flits = getattr(self, f"i_{name}")
        m.d.comb += [fifo.w_data.eq(flits.payload), fifo.w_en.eq(flits.valid),
                     flits.ready.eq(fifo.w_rdy)]
        head = data.View(layout, fifo.r_data)
        at_head = Signal(init=1, name=f"{name}_at_head")    # the next flit starts a packet
        held = Signal(Port, name=f"{name}_held_route")
        route = Signal(Port, name=f"{name}_route")
        read = Signal(name=f"{name}_read")
        m.d.comb += [route.eq(Mux(at_head, xy_route(self.x, self.y, head.x, head.y), held)),
                     fifo.r_en.eq(read)]
        with m.If(read & fifo.r_rdy):
            m.d.sync += [at_head.eq(head.last), held.eq(route)]
        return _Input(head, fifo.r_rdy, route, read)

    def _output(self, m, port, inputs):
        """Arbiter and multiplexer of one output; returns each input's read condition."""
        name = port.name.lower()
        sources = XY_INPUTS[port]
        count = len(sources)
        flits = getattr(self, f"o_{name}")
        requests = Cat(inputs[source].valid & (inputs[source].route == port) for source in sources)
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
        return {source: flits.valid & flits.ready & (grant == index)
                for index, source in enumerate(sources)}

    def elaborate(self, platform):
        m = Module()
        inputs = {port: self._input(m, port) for port in Port}
        reads = {port: [] for port in Port}
        for port in Port:
            for source, read in self._output(m, port, inputs).items():
                reads[source].append(read)
        for port in Port:
            m.d.comb += inputs[port].read.eq(Cat(*reads[port]).any())
        return m
