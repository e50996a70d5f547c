"""The core array: ``rows x columns`` tiles on two meshes, behind the host interface.

Every node is one :class:`~hdl.tile.Tile` (a core, its network interface and its router
on each network), elaborated once and instantiated at every node by module name, so the
array's Verilog holds one tile module whatever the array's size (see
``gen.verilog.chip_verilog``, which writes both).
"""

from types import SimpleNamespace

from amaranth import Cat, ClockSignal, Instance, Module, ResetSignal, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .host import HostInterface, command_layout, read_layout
from .mesh import mesh_streams, tie_off
from .network import network_payload_layout
from .params import ChipParams, NocParams
from .router import Port, flit_layout
from .sequencer import CYCLE_COUNTER_WIDTH
from .tile import NETWORKS, link_name, tile_signature

__all__ = ["Chip", "chip_params"]


def chip_params(params):
    """The :class:`CoreParams` and :class:`NocParams` of a chip with ``params`` (a :class:`ChipParams`):
    its cores', and its networks' (flits as wide as the network payload)."""
    flit_width = network_payload_layout(params.core, params.rows, params.columns).size
    return params.core, NocParams(flit_width=flit_width, buffer_depth=params.buffer_depth, rows=params.rows,
                                  columns=params.columns)


def _instance(module, signature, tile):
    """An instance of ``module`` whose ports, named as Amaranth names a component's, are ``tile``'s."""
    ports = [("i" if member.flow == In else "o", "__".join(map(str, path)), Value.cast(value))
             for path, member, value in signature.flatten(tile)]
    return Instance(module, ("i", "clk", ClockSignal()), ("i", "rst", ResetSignal()), *ports)


class Chip(wiring.Component):
    """NorthPole-style array: a tile at every node of the load and the activation
    networks, and the host interface east of the mesh.

    The host interface sends its load flits into the load network at the east edge of row
    0 and takes the responses from the activation network's east edge of every row; the
    other edge ports are tied off.

    Parameters
    ----------
    params : ChipParams
    tile : str
        Name of the module instantiated at every node: the Verilog of
        :class:`~hdl.tile.Tile` with the chip's :func:`chip_params`, which must come with
        the chip's own.

    Attributes
    ----------
    i_command, o_data : the host interface's command and read streams (see ``hdl.host``)
    busy, done : Out(1)
    cycles : Out(32)
        The last run's length: the longest core's.
    conflict : Out(1)
        Some core's SRAM conflict flag.
    overrun : Out(1)
        Some core's message was refused by the network (a schedule error).
    """

    def __init__(self, params, tile="np_tile"):
        if not isinstance(params, ChipParams):
            raise TypeError(f"Chip params must be a ChipParams, not {params!r}")
        if not isinstance(tile, str):
            raise TypeError(f"Chip tile must be a module name, not {tile!r}")
        if not tile.isidentifier():
            raise ValueError(f"Chip tile must be a Verilog identifier, not {tile!r}")
        self._params, self._tile = params, tile
        self._core, self._noc = chip_params(params)
        super().__init__({
            "i_command": In(stream.Signature(command_layout(self._core, self._noc))),
            "o_data": Out(stream.Signature(read_layout(self._core, self._noc))),
            "busy": Out(1),
            "done": Out(1),
            "cycles": Out(CYCLE_COUNTER_WIDTH),
            "conflict": Out(1),
            "overrun": Out(1),
        })

    @property
    def params(self):
        return self._params

    def elaborate(self, platform):
        m = Module()
        params, noc = self._params, self._noc
        m.submodules.host = host = HostInterface(self._core, noc)
        wiring.connect(m, wiring.flipped(self.i_command), host.i_command)
        wiring.connect(m, host.o_data, wiring.flipped(self.o_data))

        # The tile's own ports; its links are the streams it shares with its neighbours.
        signature = tile_signature(self._core, noc)
        own = wiring.Signature({name: member for name, member in signature.members.items()
                                if not member.is_signature})
        tiles = [[own.create(path=(f"tile_{y}_{x}",)) for x in range(params.columns)]
                 for y in range(params.rows)]
        flit_bits = flit_layout(noc).size

        def edge(network):
            def east(x, y, side):     # the host interface, east of the mesh
                if side != Port.EAST:
                    return None, None
                if network == "load":
                    return (host.o_load if y == 0 else None), None
                return None, getattr(host, f"i_response_{y}")
            return east

        for network in NETWORKS:
            def create(x, y, flow, side, network=network):
                # Plain signals: the tile's ports are flat vectors, and a struct-shaped
                # signal per link would only add its fields' names to the netlist.
                name = f"tile_{y}_{x}__{link_name(flow, network, side)}"
                return SimpleNamespace(payload=Signal(flit_bits, name=f"{name}__payload"),
                                       valid=Signal(name=f"{name}__valid"),
                                       ready=Signal(name=f"{name}__ready"))
            streams = mesh_streams(noc, create, edge(network))
            tie_off(m, noc, streams, edge(network))
            for (x, y, flow, side), link in streams.items():
                setattr(tiles[y][x], link_name(flow, network, side), link)

        for y, row in enumerate(tiles):
            for x, tile in enumerate(row):
                m.submodules[f"tile_{y}_{x}"] = _instance(self._tile, signature, tile)
                m.d.comb += [tile.x.eq(x), tile.y.eq(y), tile.start.eq(host.start),
                             host.consumed[y * params.columns + x].eq(tile.consumed)]

        every = [tile for row in tiles for tile in row]
        m.d.comb += [
            host.cores_done.eq(Cat(tile.done for tile in every).all()),
            self.busy.eq(host.busy), self.done.eq(host.done), self.cycles.eq(host.cycles),
            self.conflict.eq(Cat(tile.conflict for tile in every).any()),
            self.overrun.eq(Cat(tile.overrun for tile in every).any()),
        ]
        return m
