"""A mesh network-on-chip: ``rows`` x ``columns`` routers wired to their neighbours.

One mesh is one physical network carrying one message class; the array has one per
class (see ``hdl.router`` for why that keeps the network free of deadlock).
:func:`link_mesh` wires any grid of nodes with router-like sides (the array's tiles, see
``hdl.chip``); :class:`Mesh` is a mesh of bare routers whose cores see only the local
ports (the network's tests and benchmark).
"""

from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .params import NocParams
from .router import Port, Router, flit_layout

__all__ = ["link_mesh", "mesh_streams", "tie_off", "Mesh"]

#: The side facing each side: a router's ``o_east`` feeds its east neighbour's ``i_west``.
_OPPOSITE = {Port.NORTH: Port.SOUTH, Port.EAST: Port.WEST, Port.SOUTH: Port.NORTH,
             Port.WEST: Port.EAST}
#: Column and row steps to the neighbour on each side.
_STEP = {Port.NORTH: (0, -1), Port.EAST: (1, 0), Port.SOUTH: (0, 1), Port.WEST: (-1, 0)}


def _side(port):
    return port.name.lower()


def _neighbour(params, x, y, side):
    """The node ``(x, y)`` beyond ``side`` of node ``(x, y)``, or ``None`` at the mesh's edge."""
    step_x, step_y = _STEP[side]
    x, y = x + step_x, y + step_y
    return (x, y) if 0 <= x < params.columns and 0 <= y < params.rows else None


def _no_edge(x, y, side):
    return None, None


def link_mesh(m, params, port, edge=_no_edge):
    """Link ``params.rows`` x ``params.columns`` nodes to their neighbours in ``m``.

    ``port(x, y, flow, side)`` is node ``(x, y)``'s input (``flow`` ``"i"``) or output
    (``"o"``) stream on ``side`` (a :class:`~hdl.router.Port` other than ``LOCAL``): node
    ``(x, y)``'s ``o`` on ``EAST`` feeds node ``(x + 1, y)``'s ``i`` on ``WEST``, and so on.
    On a side facing out of the mesh, ``edge(x, y, side)`` gives ``(inward, outward)``:
    an interface whose stream feeds the node's input there, and one the node's output
    feeds (flipped as ``wiring.connect`` needs them), or ``None`` to tie the input off
    (never ``valid``) and the output (never ``ready``).
    """
    for y in range(params.rows):
        for x in range(params.columns):
            for side in _STEP:
                neighbour = _neighbour(params, x, y, side)
                if neighbour is not None:   # each link once, from its sender's side
                    wiring.connect(m, port(x, y, "o", side), port(*neighbour, "i", _OPPOSITE[side]))
                    continue
                inward, outward = edge(x, y, side)
                if inward is None:
                    m.d.comb += [port(x, y, "i", side).valid.eq(0), port(x, y, "i", side).payload.eq(0)]
                else:
                    wiring.connect(m, inward, port(x, y, "i", side))
                if outward is None:
                    m.d.comb += port(x, y, "o", side).ready.eq(0)
                else:
                    wiring.connect(m, port(x, y, "o", side), outward)


def mesh_streams(params, create, edge=_no_edge):
    """The stream each port of ``params.rows`` x ``params.columns`` nodes binds to: one per
    link, shared by its two ends, so that nodes instantiated by module name need no
    connection between them (``hdl.chip``).

    Returns ``{(x, y, flow, side): stream}`` (``flow`` and ``side`` as for
    :func:`link_mesh`): node ``(x, y)``'s ``o`` on ``EAST`` and node ``(x + 1, y)``'s ``i``
    on ``WEST`` are one stream, ``create(x, y, flow, side)``, named after the sender's
    port. On a side facing out of the mesh, ``edge(x, y, side)`` gives ``(inward,
    outward)`` as for :func:`link_mesh`: the node's input there is ``inward`` itself, its
    output ``outward`` itself, or, for ``None``, a stream of its own, which
    :func:`tie_off` ties off.
    """
    streams = {}
    for y in range(params.rows):
        for x in range(params.columns):
            for side in _STEP:
                neighbour = _neighbour(params, x, y, side)
                if neighbour is not None:
                    streams[x, y, "o", side] = streams[(*neighbour, "i", _OPPOSITE[side])] = \
                        create(x, y, "o", side)
                    continue
                inward, outward = edge(x, y, side)
                streams[x, y, "i", side] = create(x, y, "i", side) if inward is None else inward
                streams[x, y, "o", side] = create(x, y, "o", side) if outward is None else outward
    return streams


def tie_off(m, params, streams, edge=_no_edge):
    """In ``m``, tie off the edge streams of :func:`mesh_streams` (``streams``, with the
    same ``edge``) that face nothing: an input is never ``valid``, an output never ``ready``."""
    for y in range(params.rows):
        for x in range(params.columns):
            for side in _STEP:
                if _neighbour(params, x, y, side) is not None:
                    continue
                inward, outward = edge(x, y, side)
                if inward is None:
                    m.d.comb += [streams[x, y, "i", side].valid.eq(0), streams[x, y, "i", side].payload.eq(0)]
                if outward is None:
                    m.d.comb += streams[x, y, "o", side].ready.eq(0)


class Mesh(wiring.Component):
    """``params.rows`` x ``params.columns`` :class:`~hdl.router.Router` s in a 2-D mesh.

    Router ``(x, y)`` (column ``x``, row ``y``; row 0 north, column 0 west) is linked to
    its four neighbours, each link a pair of streams. A flit entering at node ``(x, y)``
    for ``(destination_x, destination_y)`` leaves on that node's local output after
    ``latency((x, y), (destination_x, destination_y))`` cycles if the network is idle: one
    cycle per router on its XY path. A multicast flit reaches each node of its rectangle
    along that same path, with the same latency. Each local output passes a flit per cycle.

    At the mesh's edge, a router's outward input is tied off (never ``valid``) and its
    outward output is never ``ready``. XY routing never requests an outward output for a
    destination (or a rectangle) inside the mesh (it sends a flit east only while
    ``x_last > x``, and ``x`` is already the last column at the east edge; likewise for
    the other sides), so nothing waits there. A destination outside the mesh is not checked: its packet
    would wait at the edge for ever, holding its path. The tests check that every edge
    output stays idle under random traffic.

    Parameters
    ----------
    params : NocParams

    Attributes
    ----------
    i_local_<y>_<x> : In(stream.Signature(flit_layout(params)))
        Flits the core at column ``x``, row ``y`` sends into the network, for each node
        in row-major order.
    o_local_<y>_<x> : Out(stream.Signature(flit_layout(params)))
        Flits the network delivers to that core.
    routers : list of list of Router
        ``routers[y][x]``.
    """

    def __init__(self, params):
        if not isinstance(params, NocParams):
            raise TypeError(f"Mesh params must be a NocParams, not {params!r}")
        self._params = params
        flits = stream.Signature(flit_layout(params))
        members = {}
        for y in range(params.rows):
            for x in range(params.columns):
                members[f"i_local_{y}_{x}"] = In(flits)
        for y in range(params.rows):
            for x in range(params.columns):
                members[f"o_local_{y}_{x}"] = Out(flits)
        super().__init__(members)
        self.routers = [[Router(params) for _ in range(params.columns)] for _ in range(params.rows)]

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
        neighbour = _neighbour(self._params, x, y, port)
        return None if neighbour is None else self.routers[neighbour[1]][neighbour[0]]

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
                m.d.comb += [router.x.eq(x), router.y.eq(y)]
                wiring.connect(m, wiring.flipped(self.local_input(x, y)), router.i_local)
                wiring.connect(m, router.o_local, wiring.flipped(self.local_output(x, y)))

        link_mesh(m, self._params,
                  lambda x, y, flow, side: getattr(self.routers[y][x], f"{flow}_{_side(side)}"))
        return m
