"""A core's network interface: load and read its memories over the networks-on-chip.

Two physical meshes reach every core (``hdl.mesh``): the **load network** carries the
host's writes and read requests to the core's memories; the **activation network**
carries read responses back to the host interface (east of the mesh, at column
``columns`` of the core's row) and, between cores, tokens and activation writes. The
interface never lets the activation network wait on the load network (it always takes
activation flits), so a request waiting for its response cannot close a cycle.
"""

import enum

from amaranth import Const, Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .core import host_address_width, host_signature
from .params import LANE_WIDTH, TOKENS, CoreParams, NocParams
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

    Load network: a ``WRITE`` flit writes its word through the core's host port in the
    cycle it is taken; a ``READ`` flit reads, and the word leaves on ``o_response`` as a
    ``RESPONSE`` flit for the host interface (column ``columns``, row ``y``) the cycle
    after. A read is taken only when the response register is free, so one read takes two
    cycles. ``consumed`` pulses for every load flit taken. Activation network: always
    ready unless a load flit uses the host port that cycle; a ``TOKEN`` flit pulses
    ``tokens``, a ``WRITE`` flit writes.

    Parameters
    ----------
    core_params : CoreParams
    noc_params : NocParams
        ``flit_width`` must equal the payload layout's width.
    x, y : int
        The core's column and row.

    Attributes
    ----------
    i_load : In(stream.Signature(flit_layout(noc_params)))
    i_activation : In(stream.Signature(flit_layout(noc_params)))
    o_response : Out(stream.Signature(flit_layout(noc_params)))
    host : Out(host_signature(core_params))
        To the core's ``host`` port.
    tokens : Out(TOKENS)
    consumed : Out(1)
    """

    def __init__(self, core_params, noc_params, x, y):
        if not isinstance(core_params, CoreParams):
            raise TypeError(f"core_params must be a CoreParams, not {core_params!r}")
        if not isinstance(noc_params, NocParams):
            raise TypeError(f"noc_params must be a NocParams, not {noc_params!r}")
        self._layout = network_payload_layout(core_params, noc_params.rows, noc_params.columns)
        if noc_params.flit_width != self._layout.size:
            raise ValueError(f"NoC flit_width must be the payload's {self._layout.size} bits, "
                             f"not {noc_params.flit_width!r}")
        self._noc, self._x, self._y = noc_params, x, y
        flits = stream.Signature(flit_layout(noc_params))
        super().__init__({
            "i_load": In(flits),
            "i_activation": In(flits),
            "o_response": Out(flits),
            "host": Out(host_signature(core_params)),
            "tokens": Out(TOKENS),
            "consumed": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        load = data.View(self._layout, self.i_load.payload.payload)
        activation = data.View(self._layout, self.i_activation.payload.payload)
        reading, full = Signal(), Signal()
        read_addr = Signal.like(load.addr)
        response = data.View(self._layout, self.o_response.payload.payload)

        load_takes = self.i_load.valid & ~reading & ~full
        m.d.comb += [
            self.i_load.ready.eq(~reading & ~full),
            self.consumed.eq(load_takes),
            self.i_activation.ready.eq(~load_takes),
        ]
        with m.If(load_takes):
            m.d.comb += [self.host.en.eq(1), self.host.write.eq(load.kind == Kind.WRITE),
                         self.host.addr.eq(load.addr), self.host.data.eq(load.data)]
            with m.If(load.kind == Kind.READ):
                m.d.sync += [reading.eq(1), read_addr.eq(load.addr)]
        with m.Elif(self.i_activation.valid):
            with m.If(activation.kind == Kind.TOKEN):
                m.d.comb += self.tokens.eq(Const(1, TOKENS) << activation.data[:(TOKENS - 1).bit_length()])
            with m.Elif(activation.kind == Kind.WRITE):
                m.d.comb += [self.host.en.eq(1), self.host.write.eq(1),
                             self.host.addr.eq(activation.addr), self.host.data.eq(activation.data)]

        # The read word returns a cycle later and waits in the response register.
        with m.If(reading):
            m.d.sync += [
                reading.eq(0), full.eq(1),
                response.kind.eq(Kind.RESPONSE), response.addr.eq(read_addr),
                response.data.eq(self.host.read_data), response.x.eq(self._x), response.y.eq(self._y),
                self.o_response.payload.x.eq(self._noc.columns), self.o_response.payload.y.eq(self._y),
                self.o_response.payload.message_class.eq(MessageClass.ACTIVATION),
                self.o_response.payload.last.eq(1),
            ]
        with m.If(self.o_response.valid & self.o_response.ready):
            m.d.sync += full.eq(0)
        m.d.comb += self.o_response.valid.eq(full)
        return m
