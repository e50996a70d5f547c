"""One node of the array: a core, its network interface and its router on each network.

The array (``hdl.chip``) elaborates one :class:`Tile` and instantiates its module at
every node, so the generated Verilog grows with the array's wiring, not with copies of
the core; a tile's coordinates are therefore ports, held constant by the array.
"""

from amaranth import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .core import Core
from .network import Kind, NetworkInterface, network_payload_layout
from .params import CoreParams, NocParams
from .router import Port, Router, flit_layout

__all__ = ["NETWORKS", "SIDES", "tile_signature", "link_name", "Tile"]

#: The tile's two networks: the load network and the activation network (see ``hdl.network``).
NETWORKS = ("load", "activation")
#: The sides of a tile that face its neighbours, in :class:`~hdl.router.Port` order.
SIDES = (Port.NORTH, Port.EAST, Port.SOUTH, Port.WEST)


def link_name(flow, network, side):
    """The tile's port of ``network`` on ``side`` (a :class:`~hdl.router.Port`), such as
    ``i_load_north`` for ``flow`` ``"i"`` and ``o_activation_west`` for ``"o"``."""
    return f"{flow}_{network}_{side.name.lower()}"


def tile_signature(core_params, noc_params):
    """The signature of a :class:`Tile` with these parameters (see its ``Attributes``)."""
    if not isinstance(core_params, CoreParams):
        raise TypeError(f"Tile core_params must be a CoreParams, not {core_params!r}")
    if not isinstance(noc_params, NocParams):
        raise TypeError(f"Tile noc_params must be a NocParams, not {noc_params!r}")
    flits = stream.Signature(flit_layout(noc_params))
    members = {"x": In(noc_params.x_width), "y": In(noc_params.y_width)}
    for network in NETWORKS:
        for side in SIDES:
            members[link_name("i", network, side)] = In(flits)
            members[link_name("o", network, side)] = Out(flits)
    members.update({
        "start": In(1),
        "done": Out(1),
        "conflict": Out(1),
        "overrun": Out(1),
        "consumed": Out(1),
    })
    return wiring.Signature(members)


class Tile(wiring.Component):
    """Core ``(x, y)``, its :class:`~hdl.network.NetworkInterface`, and its
    :class:`~hdl.router.Router` on the load network and on the activation network.

    The routers' local ports meet the network interface inside the tile; their four other
    sides are the tile's links to its neighbours (``o_load_east`` feeds the east
    neighbour's ``i_load_west``). The tile adds no cycle: a flit crosses it in its
    router's ``LATENCY``, and the interface's timing is ``hdl.network``'s.

    The lone tile of a 1x1 array has no routers: its only neighbour is the host interface,
    east of it, so every load flit is for its core and every flit its core offers, a read's
    response, is for the host. A load flit passes one register, a flit a cycle, in place of
    the router's ``LATENCY`` (the writes' timing, ``sim.cycle.host_write_cycles``, is a
    routed tile's; ``ready`` passes through the register combinationally); a response goes
    straight to the host interface (a cycle sooner than through a router, within the reads'
    bound, ``sim.cycle.host_read_cycles``). A message of the core (``SEND``, ``SIGNAL``) has
    no core to go to: the tile refuses it, and the interface's ``overrun`` rises.

    Parameters
    ----------
    core_params : CoreParams
    noc_params : NocParams
        ``flit_width`` must be the network payload's width (see ``hdl.chip.chip_params``).

    Attributes
    ----------
    x : In(noc_params.x_width), y : In(noc_params.y_width)
        The tile's column and row, held constant.
    i_<network>_<side> : In(stream.Signature(flit_layout(noc_params)))
        For ``network`` in ``load``, ``activation`` and ``side`` in ``north``, ``east``,
        ``south``, ``west``: flits from the neighbour on that side.
    o_<network>_<side> : Out(stream.Signature(flit_layout(noc_params)))
        Flits to the neighbour on that side.
    start : In(1)
        To the core: start the program.
    done : Out(1)
        The core has halted.
    conflict : Out(1)
        The core's sticky SRAM conflict flag.
    overrun : Out(1)
        The interface's sticky flag: the network refused a message of the core.
    consumed : Out(1)
        One pulse per load flit the core took.
    """

    def __init__(self, core_params, noc_params):
        signature = tile_signature(core_params, noc_params)
        self._core, self._noc = core_params, noc_params
        super().__init__(signature)

    def _lone(self, m, interface):
        """The lone tile's two paths: the host's load flits from ``i_load_east`` to the
        interface through a register, and its responses from the interface to
        ``o_activation_east``; every other side idle."""
        used = {("i", "load", Port.EAST), ("o", "activation", Port.EAST)}
        for network in NETWORKS:
            for side in SIDES:
                if ("i", network, side) not in used:
                    m.d.comb += getattr(self, link_name("i", network, side)).ready.eq(0)
                if ("o", network, side) not in used:
                    m.d.comb += getattr(self, link_name("o", network, side)).valid.eq(0)
        m.d.comb += interface.i_activation.valid.eq(0)
        offered, responses = interface.o_activation, self.o_activation_east
        layout = network_payload_layout(self._core, self._noc.rows, self._noc.columns)
        word = data.View(layout, offered.payload.payload)
        response = word.kind == Kind.RESPONSE
        m.d.comb += [responses.payload.eq(offered.payload), responses.valid.eq(offered.valid & response),
                     offered.ready.eq(responses.ready & response)]
        loads, valid = self.i_load_east, Signal(name="load_valid")
        payload = Signal.like(loads.payload, name="load")
        m.d.comb += [interface.i_load.valid.eq(valid), interface.i_load.payload.eq(payload),
                     loads.ready.eq(~valid | interface.i_load.ready)]
        with m.If(loads.ready):
            m.d.sync += [valid.eq(loads.valid), payload.eq(loads.payload)]

    def _routed(self, m, interface):
        """The tile's router on each network: local ports to the interface, sides to the links."""
        routers = {network: Router(self._noc) for network in NETWORKS}
        for network, router in routers.items():
            m.submodules[f"{network}_router"] = router
            m.d.comb += [router.x.eq(self.x), router.y.eq(self.y)]
            for side in SIDES:
                name = side.name.lower()
                wiring.connect(m, wiring.flipped(getattr(self, link_name("i", network, side))),
                               getattr(router, f"i_{name}"))
                wiring.connect(m, getattr(router, f"o_{name}"),
                               wiring.flipped(getattr(self, link_name("o", network, side))))
        load, activation = routers["load"], routers["activation"]
        wiring.connect(m, load.o_local, interface.i_load)
        wiring.connect(m, activation.o_local, interface.i_activation)
        wiring.connect(m, interface.o_activation, activation.i_local)
        m.d.comb += load.i_local.valid.eq(0)    # a core sends nothing on the load network

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = Core(self._core)
        m.submodules.network = interface = NetworkInterface(self._core, self._noc)
        m.d.comb += [interface.x.eq(self.x), interface.y.eq(self.y)]
        wiring.connect(m, interface.host, core.host)
        wiring.connect(m, core.o_network, interface.i_core)
        m.d.comb += [
            core.i_tokens.eq(interface.tokens),
            core.start.eq(self.start),
            self.done.eq(core.done),
            self.conflict.eq(core.conflict),
            self.overrun.eq(interface.overrun),
            self.consumed.eq(interface.consumed),
        ]
        if self._noc.rows == self._noc.columns == 1:
            self._lone(m, interface)
        else:
            self._routed(m, interface)
        return m
