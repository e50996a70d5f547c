"""The core array: ``rows x columns`` cores on two meshes, behind the host interface."""

from amaranth import Cat, Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .core import Core
from .host import HostInterface, command_layout, read_layout
from .mesh import Mesh
from .network import NetworkInterface, network_payload_layout
from .params import ChipParams, CoreParams, NocParams
from .sequencer import CYCLE_COUNTER_WIDTH

__all__ = ["Chip", "chip_params"]


def chip_params(params, buffer_depth=4):
    """The :class:`CoreParams` and :class:`NocParams` of a chip with ``params``."""
    core = CoreParams(mac=params.mac)
    flit_width = network_payload_layout(core, params.rows, params.columns).size
    return core, NocParams(flit_width=flit_width, buffer_depth=buffer_depth, rows=params.rows,
                           columns=params.columns)


class Chip(wiring.Component):
    """NorthPole-style array: every core with a network interface on the load and the
    activation networks, and the host interface east of the mesh.

    Parameters
    ----------
    params : ChipParams

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

    def __init__(self, params):
        if not isinstance(params, ChipParams):
            raise TypeError(f"Chip params must be a ChipParams, not {params!r}")
        self._params = params
        self._core, self._noc = chip_params(params)
        self._host = HostInterface(self._core, self._noc)
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
        m.submodules.host = host = self._host
        m.submodules.load = load = Mesh(noc, host_ports=True)
        m.submodules.activation = activation = Mesh(noc, host_ports=True)
        wiring.connect(m, wiring.flipped(self.i_command), host.i_command)
        wiring.connect(m, host.o_data, wiring.flipped(self.o_data))
        wiring.connect(m, host.o_load, load.i_east_0)
        cores, interfaces = [], []
        for y in range(params.rows):
            wiring.connect(m, getattr(activation, f"o_east_{y}"),
                           getattr(host, f"i_response_{y}"))
            m.d.comb += [getattr(activation, f"i_east_{y}").valid.eq(0),
                         getattr(load, f"o_east_{y}").ready.eq(0)]
            if y:
                m.d.comb += getattr(load, f"i_east_{y}").valid.eq(0)
            for x in range(params.columns):
                core = m.submodules[f"core_{y}_{x}"] = Core(self._core)
                interface = m.submodules[f"network_{y}_{x}"] = NetworkInterface(self._core, noc)
                m.d.comb += [interface.x.eq(x), interface.y.eq(y)]
                wiring.connect(m, load.local_output(x, y), interface.i_load)
                wiring.connect(m, activation.local_output(x, y), interface.i_activation)
                wiring.connect(m, interface.o_activation, activation.local_input(x, y))
                wiring.connect(m, interface.host, core.host)
                wiring.connect(m, core.o_network, interface.i_core)
                m.d.comb += [load.local_input(x, y).valid.eq(0),
                             core.i_tokens.eq(interface.tokens),
                             core.start.eq(host.start),
                             host.consumed[y * params.columns + x].eq(interface.consumed)]
                cores.append(core)
                interfaces.append(interface)
        m.d.comb += [
            host.cores_done.eq(Cat(core.done for core in cores).all()),
            self.busy.eq(host.busy), self.done.eq(host.done), self.cycles.eq(host.cycles),
            self.conflict.eq(Cat(core.conflict for core in cores).any()),
            self.overrun.eq(Cat(interface.overrun for interface in interfaces).any()),
        ]
        return m
