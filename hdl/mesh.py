"""A mesh network-on-chip: ``rows`` x ``columns`` routers wired to their neighbours.

One :class:`Mesh` is one physical network carrying one message class; the array
instantiates one per class (see ``hdl.router`` for why that keeps the network free of
deadlock). Each node's core sees only the local ports.
"""

from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .params import NocParams
from .router import Port, Router, flit_layout

__all__ = ["Mesh"]

#: The side facing each side: a router's ``o_east`` feeds its east neighbour's ``i_west``.
_OPPOSITE = {Port.NORTH: Port.SOUTH, Port.EAST: Port.WEST, Port.SOUTH: Port.NORTH,
             Port.WEST: Port.EAST}
#: Column and row steps to the neighbour on each side.
_STEP = {Port.NORTH: (0, -1), Port.EAST: (1, 0), Port.SOUTH: (0, 1), Port.WEST: (-1, 0)}


def _side(port):
    return port.name.lower()


class Mesh(wiring.Component):
    """``params.rows`` x ``params.columns`` :class:`~hdl.router.Router` s in a 2-D mesh.

    Router ``(x, y)`` (column ``x``, row ``y``; row 0 north, column 0 west) is linked to
    its four neighbours, each link a pair of streams. A flit entering at node ``(x, y)``
    for ``(destination_x, destination_y)`` leaves on that node's local output after
    ``latency((x, y), (destination_x, destination_y))`` cycles if the network is idle: one
    cycle per router on its XY path. Each local output passes a flit per cycle.

    At the mesh's edge, a router's outward input is tied off (never ``valid``) and its
    outward output is never ``ready``. XY routing never requests an outward output for a
    destination inside the mesh (it sends a flit east only while ``destination_x > x``,
    and ``x`` is already the last column at the east edge; likewise for the other sides),
    so nothing waits there. A destination outside the mesh is not checked: its packet
    would wait at the edge for ever, holding its path. The tests check that every edge
    output stays idle under random traffic.

    With ``host_ports``, the east edge is open instead: row ``y``'s last router takes flits
    from ``i_east_<y>`` and sends on ``o_east_<y>`` the flits addressed to column
    ``columns`` (the host interface, east of the mesh) of row ``y``. XY routing sends a
    flit from there west along its row first, so every node is reachable from any row.

    Parameters
    ----------
    params : NocParams
    host_ports : bool

    Attributes
    ----------
    i_local_<y>_<x> : In(stream.Signature(flit_layout(params)))
        Flits the core at column ``x``, row ``y`` sends into the network, for each node
        in row-major order.
    o_local_<y>_<x> : Out(stream.Signature(flit_layout(params)))
        Flits the network delivers to that core.
    i_east_<y>, o_east_<y> : In/Out(stream.Signature(flit_layout(params)))
        With ``host_ports``: the east edge of row ``y``.
    routers : list of list of Router
        ``routers[y][x]``.
    """

    def __init__(self, params, *, host_ports=False):
        if not isinstance(params, NocParams):
            raise TypeError(f"Mesh params must be a NocParams, not {params!r}")
        self._params = params
        self._host_ports = bool(host_ports)
        flits = stream.Signature(flit_layout(params))
        members = {}
        for y in range(params.rows):
            for x in range(params.columns):
                members[f"i_local_{y}_{x}"] = In(flits)
        for y in range(params.rows):
            for x in range(params.columns):
                members[f"o_local_{y}_{x}"] = Out(flits)
        if host_ports:
            for y in range(params.rows):
                members[f"i_east_{y}"] = In(flits)
                members[f"o_east_{y}"] = Out(flits)
        super().__init__(members)
        self.routers = [[Router(params, x, y) for x in range(params.columns)]
                        for y in range(params.rows)]

    @property
    def params(self):
        return self._params

    def local_input(self, x, y):
        """The stream by which node ``(x, y)`` sends: ``i_local_<y>_<x>``."""
        return getattr(self, f"i_local_{y}_{x}")

    def local_output(self, x, y):
        """The stream by which node ``(x, y)`` receives: ``o_local_<y>_<x>``."""
        return getattr(self, f"o_local_{y}_{x}")

    @staticmethod
    def latency(source, destination):
        """Cycles from a flit's acceptance at ``source`` ``(x, y)`` to its offer at
        ``destination`` through an idle network: ``Router.LATENCY`` per router passed."""
        hops = abs(destination[0] - source[0]) + abs(destination[1] - source[1])
        return Router.LATENCY * (hops + 1)

    def neighbour(self, x, y, port):
        """The router beyond side ``port`` of router ``(x, y)``, or ``None`` at the edge."""
        step_x, step_y = _STEP[port]
        x, y = x + step_x, y + step_y
        if 0 <= x < self._params.columns and 0 <= y < self._params.rows:
            return self.routers[y][x]
        return None

    def edge_ports(self):
        """``(router, port)`` for every side of a router that faces out of the mesh."""
        return [(self.routers[y][x], port)
                for y in range(self._params.rows) for x in range(self._params.columns)
                for port in _STEP if self.neighbour(x, y, port) is None]

    def elaborate(self, platform):
        m = Module()
        for y, row in enumerate(self.routers):
            for x, router in enumerate(row):
                m.submodules[f"router_{y}_{x}"] = router
                wiring.connect(m, wiring.flipped(self.local_input(x, y)), router.i_local)
                wiring.connect(m, router.o_local, wiring.flipped(self.local_output(x, y)))
                for port in _STEP:
                    neighbour = self.neighbour(x, y, port)
                    if neighbour is not None:   # each link once, from its sender's side
                        wiring.connect(m, getattr(router, f"o_{_side(port)}"),
                                       getattr(neighbour, f"i_{_side(_OPPOSITE[port])}"))
        for router, port in self.edge_ports():
            if self._host_ports and port == Port.EAST:
                y = next(y for y, row in enumerate(self.routers) if router in row)
                wiring.connect(m, wiring.flipped(getattr(self, f"i_east_{y}")), router.i_east)
                wiring.connect(m, router.o_east, wiring.flipped(getattr(self, f"o_east_{y}")))
                continue
            inward, outward = getattr(router, f"i_{_side(port)}"), getattr(router, f"o_{_side(port)}")
            m.d.comb += [inward.valid.eq(0), inward.payload.eq(0), outward.ready.eq(0)]
        return m
