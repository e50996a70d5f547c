"""A core's network interface: load and read its memories over the networks-on-chip.

Two physical meshes reach every core (``hdl.mesh``): the **load network** carries the
host's writes and read requests to the core's memories; the **activation network**
carries read responses back to the host interface (east of the mesh, at column
``columns`` of the core's row) and, between cores, the messages of ``SEND`` and
``SIGNAL`` (activation writes and tokens). The interface never lets the activation
network wait on the load network (it refuses an activation flit only in a cycle it
applies a load flit, which waits on nothing), so a request waiting for its response
cannot close a cycle.

A core's message enters the activation network in the cycle the core offers it (the
word of a ``SEND`` in the cycle after its read, the token of a ``SIGNAL`` in its
execution cycle), crosses ``hops + 1`` routers at ``Router.LATENCY`` each, is taken by
the destination's interface in the cycle its router offers it, and is written or pulses
``tokens`` ``NetworkInterface.DELIVERY_LATENCY`` (1) cycle later, from a register that
keeps the router's arbitration off the core's SRAM and token counters: a message offered
in cycle ``t`` takes effect in cycle ``t + hops + 2`` when no other flit competes for its
path (which the compiler of ``gen.array`` guarantees and checks).
"""

import enum

from amaranth import Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .core import host_address_width, host_signature, message_signature
from .params import LANE_WIDTH, CoreParams, NocParams
from .router import MessageClass, flit_layout

__all__ = ["Kind", "network_payload_layout", "NetworkInterface"]


class Kind(enum.IntEnum):
    """What a flit asks of the core it reaches, or brings to the host."""
    WRITE = 0       #: write ``data`` at host word address ``addr`` of the core
    READ = 1        #: read the word at ``addr`` and send it to the host interface
    RESPONSE = 2    #: the word read at ``addr`` of core (``x``, ``y``)
    TOKEN = 3       #: pulse token ``data`` on the core's ``i_tokens``


def network_payload_layout(core_params, rows, columns):
    """The payload of one flit: a kind, a core's host word address, a word, the source core."""
    return data.StructLayout({
        "kind": unsigned(2),
        "addr": unsigned(host_address_width(core_params)),
        "data": unsigned(LANE_WIDTH * core_params.word_bytes),
        "x": unsigned(max(1, (columns - 1).bit_length())),
        "y": unsigned(max(1, (rows - 1).bit_length())),
    })


class NetworkInterface(wiring.Component):
    """Between core ``(x, y)``'s host port and its two routers.

    Load network: a flit taken is registered and applied through the core's host port the
    cycle after (``LOAD_LATENCY``) unless a delivery or a read holds the port; the register
    takes the next flit in the cycle it applies one, so writes pass at a word a cycle. A
    ``WRITE`` flit writes its word; a ``READ`` flit reads, and the word leaves on
    ``o_activation`` as a ``RESPONSE`` flit for the host interface (column ``columns``, row
    ``y``) the cycle after. A load flit is applied only when the response register is free,
    so one read takes two cycles and the next is applied a cycle later
    (``READ_INTERVAL``). ``consumed`` pulses for every load flit applied. Activation
    network: always ready unless a load flit is applied that cycle; a flit taken is
    registered and, the cycle after (``DELIVERY_LATENCY``), a ``TOKEN`` flit pulses
    ``tokens`` and a ``WRITE`` flit writes (no load flit is applied in that cycle). The
    core's messages (``i_core``) leave on ``o_activation`` in the cycle they are offered,
    ahead of a waiting response (the host reads only while the cores are idle); one the
    network refuses sets ``overrun``.

    Parameters
    ----------
    core_params : CoreParams
    noc_params : NocParams
        ``flit_width`` must equal the payload layout's width.

    Attributes
    ----------
    x : In(noc_params.x_width), y : In(noc_params.y_width)
        The core's column and row (ports, so that one module serves every node).
    i_load : In(stream.Signature(flit_layout(noc_params)))
    i_activation : In(stream.Signature(flit_layout(noc_params)))
    o_activation : Out(stream.Signature(flit_layout(noc_params)))
    i_core : In(message_signature(core_params))
        The core's ``o_network``.
    host : Out(host_signature(core_params))
        To the core's ``host`` port.
    tokens : Out(core_params.tokens)
    consumed : Out(1)
    overrun : Out(1)
        Sticky: the network was not ready for a message of the core (a schedule error).
    DELIVERY_LATENCY : int
        Cycles from an activation flit's being taken to its write or token pulse: 1.
    LOAD_LATENCY : int
        Cycles from a load flit's being taken to its write or read through the host port,
        when nothing else holds the port: 1.
    READ_INTERVAL : int
        Cycles from one ``READ`` applied to the next at the earliest: it is applied, the
        word is read into the response register, and the register leaves: 3.
    """

    DELIVERY_LATENCY = 1
    LOAD_LATENCY = 1
    READ_INTERVAL = 3

    def __init__(self, core_params, noc_params):
        if not isinstance(core_params, CoreParams):
            raise TypeError(f"core_params must be a CoreParams, not {core_params!r}")
        if not isinstance(noc_params, NocParams):
            raise TypeError(f"noc_params must be a NocParams, not {noc_params!r}")
        self._layout = network_payload_layout(core_params, noc_params.rows, noc_params.columns)
        if noc_params.flit_width != self._layout.size:
            raise ValueError(f"NoC flit_width must be the payload's {self._layout.size} bits, "
                             f"not {noc_params.flit_width!r}")
        self._noc = noc_params
        self._tokens = core_params.tokens
        flits = stream.Signature(flit_layout(noc_params))
        super().__init__({
            "x": In(noc_params.x_width),
            "y": In(noc_params.y_width),
            "i_load": In(flits),
            "i_activation": In(flits),
            "o_activation": Out(flits),
            "i_core": In(message_signature(core_params)),
            "host": Out(host_signature(core_params)),
            "tokens": Out(core_params.tokens),
            "consumed": Out(1),
            "overrun": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        load = data.View(self._layout, self.i_load.payload.payload)
        activation = data.View(self._layout, self.i_activation.payload.payload)
        reading, full = Signal(), Signal()
        read_addr = Signal(self._layout.members["addr"])
        response = Signal(flit_layout(self._noc))
        response_word = data.View(self._layout, response.payload)

        # A load flit taken is registered and applied through the host port in the first
        # cycle no delivery uses it (``LOAD_LATENCY``): the router's arbitration reaches only
        # the register, never the core's SRAM. An activation flit taken is registered and
        # takes effect the cycle after; none is taken in a cycle a load flit is applied.
        held, held_valid = Signal(self._layout), Signal()
        delivering = Signal()
        delivered = Signal(self._layout)
        applies = held_valid & ~reading & ~full & ~delivering
        load_takes = self.i_load.valid & self.i_load.ready
        m.d.comb += [
            self.i_load.ready.eq(~held_valid | applies),
            self.consumed.eq(applies),
            self.i_activation.ready.eq(~applies),
        ]
        with m.If(load_takes):
            m.d.sync += [held.eq(load), held_valid.eq(1)]
        with m.Elif(applies):
            m.d.sync += held_valid.eq(0)
        activation_takes = self.i_activation.valid & ~applies
        m.d.sync += delivering.eq(activation_takes)
        with m.If(activation_takes):
            m.d.sync += delivered.eq(activation)
        with m.If(applies):
            m.d.comb += [self.host.en.eq(1), self.host.write.eq(held.kind == Kind.WRITE),
                         self.host.addr.eq(held.addr), self.host.data.eq(held.data)]
            with m.If(held.kind == Kind.READ):
                m.d.sync += [reading.eq(1), read_addr.eq(held.addr)]
        with m.If(delivering):
            with m.If(delivered.kind == Kind.TOKEN):
                token = delivered.data[:(self._tokens - 1).bit_length()]
                m.d.comb += self.tokens.eq(Const(1, self._tokens) << token)
            with m.Elif(delivered.kind == Kind.WRITE):
                m.d.comb += [self.host.en.eq(1), self.host.write.eq(1),
                             self.host.addr.eq(delivered.addr), self.host.data.eq(delivered.data)]

        # The read word returns a cycle later and waits in the response register.
        with m.If(reading):
            m.d.sync += [
                reading.eq(0), full.eq(1),
                response_word.kind.eq(Kind.RESPONSE), response_word.addr.eq(read_addr),
                response_word.data.eq(self.host.read_data),
                response_word.x.eq(self.x), response_word.y.eq(self.y),
                response.x.eq(self._noc.columns), response.y.eq(self.y),
                response.x_last.eq(self._noc.columns), response.y_last.eq(self.y),
                response.message_class.eq(MessageClass.ACTIVATION),
                response.last.eq(1),
            ]

        # The core's messages go first; a response waits for a cycle without one.
        message = self.i_core.payload
        out = data.View(self._layout, self.o_activation.payload.payload)
        with m.If(self.i_core.valid):
            m.d.comb += [
                self.o_activation.valid.eq(1),
                self.o_activation.payload.x.eq(message.dest_x),
                self.o_activation.payload.y.eq(message.dest_y),
                self.o_activation.payload.x_last.eq(message.dest_x_last),
                self.o_activation.payload.y_last.eq(message.dest_y_last),
                self.o_activation.payload.message_class.eq(MessageClass.ACTIVATION),
                self.o_activation.payload.last.eq(1),
                out.kind.eq(Mux(message.token, Kind.TOKEN, Kind.WRITE)),
                out.addr.eq(message.addr), out.data.eq(message.data),
                out.x.eq(self.x), out.y.eq(self.y),
            ]
            with m.If(~self.o_activation.ready):
                m.d.sync += self.overrun.eq(1)
        with m.Else():
            m.d.comb += [self.o_activation.valid.eq(full), self.o_activation.payload.eq(response)]
            with m.If(full & self.o_activation.ready):
                m.d.sync += full.eq(0)
        return m
