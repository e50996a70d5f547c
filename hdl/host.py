"""The host interface: the whole array as an active memory with three commands.

A host (or a bus or UART bridge in front of it) sends a stream of commands:

``WRITE x y addr data``
    Write a word at host word address ``addr`` of core ``(x, y)`` (see ``hdl.core`` for the
    address map): loading weights, settings and programs before a run, and writing the
    input frame.
``READ x y addr``
    Read a word; it comes back on ``o_data`` with its core and address. Reading the
    output frame.
``RUN``
    Start every core in the same cycle, once every earlier write has landed; ``done``
    rises when every core has halted, and ``cycles`` then holds the run's length (from
    the cycle after the start to the last core's ``HALT``).

Writes and read requests travel on the load network, entering the mesh at the east edge
of row 0 (:func:`load_entry`); responses come back on the activation network, leaving at
the east edge of the core's row.

Rate and latency of a load
--------------------------
A ``WRITE`` is one flit carrying its core, its address and one word: no address or
header words precede the data. The interface takes a command every cycle
(``WRITE_INTERVAL``) while the load network is ready, and its flit enters the router at
:func:`load_entry` in the cycle the command is taken. The host is the load network's only
source and the cores are idle while it loads (no activation flit competes for a core's
host port), so the path never stalls: every link and router passes a flit a cycle
(``hdl.router``) and a core's network interface takes a write in the cycle its router
offers it and applies it a cycle later (``hdl.network``). A write taken in cycle ``t`` is
written into core ``(x, y)`` in cycle ``t + load_latency(columns, (x, y))``, and ``RUN`` is taken
``RUN_LATENCY`` cycles after the last write has landed (the outstanding count is a
register). Loading ``n`` words thus takes ``n`` cycles plus the latency to the core of the
last ones (see ``sim.cycle.host_write_cycles``).
"""

import enum

from amaranth import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .mesh import Mesh
from .network import Kind, NetworkInterface, network_payload_layout
from .params import CoreParams, NocParams
from .router import MessageClass, flit_layout
from .sequencer import CYCLE_COUNTER_WIDTH

__all__ = ["Command", "command_layout", "read_layout", "load_entry", "load_latency", "HostInterface"]


class Command(enum.IntEnum):
    WRITE = 0
    READ = 1
    RUN = 2


def command_layout(core_params, noc_params):
    """One host command: ``op`` (:class:`Command`), core ``x``, ``y``, ``addr``, ``data``."""
    payload = network_payload_layout(core_params, noc_params.rows, noc_params.columns)
    return data.StructLayout({"op": unsigned(2), "x": payload.members["x"], "y": payload.members["y"],
                              "addr": payload.members["addr"], "data": payload.members["data"]})


def read_layout(core_params, noc_params):
    """One word read: its core ``x``, ``y``, its ``addr`` and the ``data``."""
    payload = network_payload_layout(core_params, noc_params.rows, noc_params.columns)
    return data.StructLayout({name: payload.members[name] for name in ("x", "y", "addr", "data")})


def load_entry(columns):
    """The router ``(x, y)`` whose east input takes the host's load flits in an array of
    ``columns`` columns: the east end of row 0."""
    return (columns - 1, 0)


def load_latency(columns, place):
    """Cycles from the host interface's taking a load command for core ``place`` ``(x, y)``
    to the core's write or read of its word, through an idle load network of an array of
    ``columns`` columns: the routers from :func:`load_entry` to the core
    (``Mesh.latency``) and the core's network interface (``LOAD_LATENCY``)."""
    return Mesh.latency(load_entry(columns), place) + NetworkInterface.LOAD_LATENCY


def _count(bits):
    """How many of ``bits`` are set, as a balanced tree of adders ``log2(len(bits))`` deep,
    each as wide as its count: a chain (``sum``) would hold an adder as wide as every bit
    before it, ``len(bits)**2 / 2`` bits in all."""
    level = list(bits)
    while len(level) > 1:
        level = [a + b for a, b in zip(level[0::2], level[1::2])] + level[len(level) // 2 * 2:]
    return level[0] if level else 0


class HostInterface(wiring.Component):
    """Commands in, flits out on the load network; responses in, words out; run control.

    ``RUN`` waits (``i_command.ready`` low) until every load flit sent has been taken by
    its core (``consumed`` pulses from the network interfaces) and no run is going on.

    Parameters
    ----------
    core_params : CoreParams
    noc_params : NocParams

    Attributes
    ----------
    i_command : In(stream.Signature(command_layout(...)))
    o_data : Out(stream.Signature(read_layout(...)))
    o_load : Out(stream.Signature(flit_layout(noc_params)))
        Into the load network at the east edge of row 0.
    i_response_<y> : In(stream.Signature(flit_layout(noc_params)))
        From the activation network's east edge of row ``y``.
    consumed : In(rows * columns)
        One pulse per load flit a core took.
    start : Out(1)
        To every core.
    cores_done : In(1)
        Every core has halted.
    busy, done : Out(1)
    cycles : Out(32)
    WRITE_INTERVAL : int
        Cycles between two ``WRITE`` s taken while the load network is ready: 1.
    RUN_LATENCY : int
        Cycles from the last load flit's being taken by its core to the cycle ``RUN`` can
        be taken: 1.
    """

    WRITE_INTERVAL = 1
    RUN_LATENCY = 1

    def __init__(self, core_params, noc_params):
        if not isinstance(core_params, CoreParams):
            raise TypeError(f"core_params must be a CoreParams, not {core_params!r}")
        if not isinstance(noc_params, NocParams):
            raise TypeError(f"noc_params must be a NocParams, not {noc_params!r}")
        self._core, self._noc = core_params, noc_params
        flits = stream.Signature(flit_layout(noc_params))
        members = {
            "i_command": In(stream.Signature(command_layout(core_params, noc_params))),
            "o_data": Out(stream.Signature(read_layout(core_params, noc_params))),
            "o_load": Out(flits),
        }
        for y in range(noc_params.rows):
            members[f"i_response_{y}"] = In(flits)
        members.update({
            "consumed": In(noc_params.nodes),
            "start": Out(1),
            "cores_done": In(1),
            "busy": Out(1),
            "done": Out(1),
            "cycles": Out(CYCLE_COUNTER_WIDTH),
        })
        super().__init__(members)

    def _commands(self, m, outstanding):
        command = self.i_command.payload
        payload = data.View(network_payload_layout(self._core, self._noc.rows, self._noc.columns),
                            self.o_load.payload.payload)
        is_access = command.op != Command.RUN
        m.d.comb += [
            self.o_load.valid.eq(self.i_command.valid & is_access),
            self.o_load.payload.x.eq(command.x),
            self.o_load.payload.y.eq(command.y),
            self.o_load.payload.x_last.eq(command.x),       # a unicast: the rectangle is one core
            self.o_load.payload.y_last.eq(command.y),
            self.o_load.payload.message_class.eq(MessageClass.WEIGHT),
            self.o_load.payload.last.eq(1),
            payload.kind.eq(Mux(command.op == Command.READ, Kind.READ, Kind.WRITE)),
            payload.addr.eq(command.addr),
            payload.data.eq(command.data),
        ]
        can_run = (outstanding == 0) & ~self.busy
        m.d.comb += self.i_command.ready.eq(is_access & self.o_load.ready | ~is_access & can_run)
        sent = self.o_load.valid & self.o_load.ready
        taken = _count(self.consumed)
        m.d.sync += outstanding.eq(outstanding + sent - taken)
        with m.If(self.i_command.valid & self.i_command.ready & ~is_access):
            m.d.comb += self.start.eq(1)
            m.d.sync += [self.busy.eq(1), self.done.eq(0), self.cycles.eq(0)]
        with m.If(self.busy):
            with m.If(self.cores_done):
                m.d.sync += [self.busy.eq(0), self.done.eq(1)]
            with m.Else():
                m.d.sync += self.cycles.eq(self.cycles + 1)

    def _responses(self, m):
        """Round-robin over the rows' response streams onto ``o_data``."""
        rows = self._noc.rows
        pointer = Signal(range(rows))
        layout = network_payload_layout(self._core, self._noc.rows, self._noc.columns)
        responses = [getattr(self, f"i_response_{y}") for y in range(rows)]
        chosen = Signal(range(rows))
        valid = Cat(response.valid for response in responses)
        # The first valid row at or after the pointer.
        for offset in reversed(range(rows)):
            for y in range(rows):
                with m.If((pointer == y) & valid[(y + offset) % rows]):
                    m.d.comb += chosen.eq((y + offset) % rows)
        for y, response in enumerate(responses):
            with m.If(chosen == y):
                word = data.View(layout, response.payload.payload)
                m.d.comb += [
                    self.o_data.valid.eq(response.valid),
                    self.o_data.payload.x.eq(word.x), self.o_data.payload.y.eq(word.y),
                    self.o_data.payload.addr.eq(word.addr), self.o_data.payload.data.eq(word.data),
                    response.ready.eq(self.o_data.ready),
                ]
        with m.If(self.o_data.valid & self.o_data.ready):
            m.d.sync += pointer.eq(Mux(chosen == rows - 1, 0, chosen + 1))

    def elaborate(self, platform):
        m = Module()
        outstanding = Signal(range(1 << 16))
        self._commands(m, outstanding)
        self._responses(m)
        return m
