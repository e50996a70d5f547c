"""One core: banked SRAMs, settings table, program memory, sequencer and compute path.

Address map
-----------
The host (later, the network-on-chip) reaches every memory of the core through one
word-wide port. Its word address (words of ``lanes`` bytes) splits into a 2-bit
:class:`Region` in the top bits and an offset within the region:

============  =========================================================================
region        offset
============  =========================================================================
ACTIVATIONS   word of the activation SRAM: word ``w`` in bank ``w % activation_banks``
              (read and write; the input and output frames and every intermediate
              activation live here, HWC with each pixel's channels packed in whole words)
WEIGHTS       word of the weight SRAM: word ``w`` in bank ``w % columns``; a weight tile
              is ``columns`` consecutive words (column ``j`` in word ``j``) (write only)
SETTINGS      ``entry * 2**ceil(log2(entry words)) + word``: one word of a settings entry
              (biases, multipliers, shifts of ``columns`` channels, see
              :func:`~hdl.datapath.settings_entry_layout`) (write only)
PROGRAM       ``instruction * 2**ceil(log2(instruction words)) + word``: one word of an
              instruction (:mod:`hdl.isa`) (write only)
============  =========================================================================

With ``CoreParams.narrow_program`` the program memory's rows are these words, at these
offsets: a row is one word, and an instruction is read a word a cycle.

Reads return data the cycle after ``en`` (activation region only). The host accesses the
memories only while the core is idle; other cores' activation words (``SEND``) come in
through the same port at any time, computing or not. The schedule keeps the accesses of
one cycle in distinct banks (the compute path's reads, and its write-back apart from an
arriving word), and ``conflict`` reports any violation.
"""

import enum
import functools
import operator

from amaranth import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .datapath import Datapath, settings_entry_layout
from .isa import (
    DEST_X_WIDTH,
    DEST_Y_WIDTH,
    Opcode,
    message_entry,
    place_words_log2,
    program_address_width,
    program_row_width,
    program_row_words_log2,
)
from .params import LANE_WIDTH, CoreParams, ceil_log2
from .sequencer import CYCLE_COUNTER_WIDTH, Sequencer
from .sram import BankedSram, SramPort

__all__ = ["Core", "Region", "host_address_width", "region_offset_width", "entry_words_log2",
           "host_signature", "message_signature"]


def _without_bit(value, bit):
    """``value`` with bit ``bit`` taken out, the bits above it shifted down."""
    return Cat(value[:bit], value[bit + 1:])


class Region(enum.IntEnum):
    ACTIVATIONS = 0
    WEIGHTS = 1
    SETTINGS = 2
    PROGRAM = 3


def entry_words_log2(params):
    """``log2`` of the address space one settings entry and one instruction occupy, in words."""
    return (ceil_log2(params.settings_entry_words), place_words_log2(params))


def region_offset_width(params):
    """Width of the word offset within a region of the host address map."""
    settings_words, program_words = entry_words_log2(params)
    return max(params.activation_sram.addr_width, params.weight_sram.addr_width,
               params.settings_width + settings_words, params.program_width + program_words)


def host_address_width(params):
    """Width of a host word address: the region offset and 2 region bits."""
    return region_offset_width(params) + 2


def host_signature(params):
    """The host port, from the host's side: a word-wide memory port with read latency 1."""
    word = LANE_WIDTH * params.word_bytes
    return wiring.Signature({
        "en": Out(1),
        "write": Out(1),
        "addr": Out(host_address_width(params)),
        "data": Out(word),
        "read_data": In(word),
    })


def message_signature(params):
    """A core's messages to the array, from the core's side, one a cycle at most.

    ``payload.token`` set: token ``data`` for every core of the rectangle of columns
    ``dest_x`` to ``dest_x_last`` and rows ``dest_y`` to ``dest_y_last`` (a ``SIGNAL``);
    clear: write word ``data`` at host word address ``addr`` of those cores (a ``SEND``).
    There is no ``ready``: the compiled schedule keeps the network free for every message
    (``hdl.network`` reports one refused).
    """
    return wiring.Signature({
        "valid": Out(1),
        "payload": Out(data.StructLayout({
            "token": unsigned(1),
            "dest_x": unsigned(DEST_X_WIDTH),
            "dest_y": unsigned(DEST_Y_WIDTH),
            "dest_x_last": unsigned(DEST_X_WIDTH),
            "dest_y_last": unsigned(DEST_Y_WIDTH),
            "addr": unsigned(host_address_width(params)),
            "data": unsigned(LANE_WIDTH * params.word_bytes),
        })),
    })


class Core(wiring.Component):
    """A NorthPole-style core: memory intertwined with compute under a compiled schedule.

    Two sequencers run from ``start``, each its own program from the one program memory
    (through a read port each): the **compute sequencer** from instruction 0 upward,
    driving the compute path, and the **message sequencer** from
    :func:`hdl.isa.message_entry` downward, whose
    ``SEND`` s read the activation SRAM through a read channel of their own, so that a core
    sends one layer's output while it computes the next. Both take every token pulse
    (each counts and consumes its own); the compiler gives them disjoint tokens. Either
    may offer a message (``SEND`` word or ``SIGNAL`` token) to ``o_network``, never both
    in one cycle. The run ends when both have halted (``done``). A core without
    ``CoreParams.message_sequencer`` has the compute sequencer alone (and no ``send`` read
    channel); one without ``CoreParams.fused_add`` no ``residual`` read channel.

    The host loads the memories through ``host`` (see the module's address map), pulses
    ``start``, and waits for ``done``; ``cycles`` then holds the run's length (the longer
    of the two programs), exactly as :mod:`sim.cycle` predicts it. ``conflict`` is sticky:
    some cycle sent two reads on one read channel or two writes on one write channel to
    one SRAM bank, or both sequencers offered a message. The words from the host port
    (the host's and the network's) take the activation SRAM's second write channel when
    the core has one (``CoreParams.activation_write_ports``), the write-back the first.

    Parameters
    ----------
    params : CoreParams

    Attributes
    ----------
    host : In(host_signature(params))
    start : In(1)
    busy, done : Out(1)
    cycles : Out(32)
    conflict : Out(1)
    i_tokens : In(params.tokens)
    o_tokens : Out(params.tokens)
    o_network : Out(message_signature(params))
        ``SEND`` words and ``SIGNAL`` tokens for other cores.
    """

    def __init__(self, params):
        if not isinstance(params, CoreParams):
            raise TypeError(f"Core params must be a CoreParams, not {params!r}")
        self._params = params
        super().__init__({
            "host": In(host_signature(params)),
            "start": In(1),
            "busy": Out(1),
            "done": Out(1),
            "cycles": Out(CYCLE_COUNTER_WIDTH),
            "conflict": Out(1),
            "i_tokens": In(params.tokens),
            "o_tokens": Out(params.tokens),
            "o_network": Out(message_signature(params)),
        })

    @property
    def params(self):
        return self._params

    def _host(self, m, activations, weights, settings_write, program_write):
        """Decode the host port's region and offset onto the memories."""
        params = self._params
        host = self.host
        offset_width = region_offset_width(params)
        region, offset = host.addr[offset_width:], host.addr[:offset_width]
        write = host.en & host.write
        settings_words, program_words = entry_words_log2(params)
        program_words -= program_row_words_log2(params)     # a word a row: the offset is the row
        m.d.comb += [
            activations.host_read.en.eq(host.en & ~host.write & (region == Region.ACTIVATIONS)),
            activations.host_read.addr.eq(offset),
            host.read_data.eq(activations.host_read.data),
        ]
        for sram, region_id in ((activations, Region.ACTIVATIONS), (weights, Region.WEIGHTS)):
            m.d.comb += [
                sram.host_write.en.eq(write & (region == region_id)),
                sram.host_write.addr.eq(offset),
                sram.host_write.data.eq(host.data),
                sram.host_write.mask.eq(-1),
            ]
        for port, region_id, words in ((settings_write, Region.SETTINGS, settings_words),
                                       (program_write, Region.PROGRAM, program_words)):
            word = offset[:words] if words else 0
            m.d.comb += [
                port.addr.eq(offset[words:]),
                port.data.eq(host.data.replicate(len(port.en))),
                port.en.eq((write & (region == region_id)) << word),
            ]

    def _program_memory(self, m):
        """The program memory: ``(compute read port, message read port, host write port)``, the
        message read port ``None`` without a ``CoreParams.message_sequencer``.

        One memory with two read ports, or with ``CoreParams.program_split`` two of half the
        depth, one read port each: the lower half of each bank's instructions (the compute
        program's) and the upper half (the message program's). The write port then goes to
        the half its instruction index selects, and each read port sees its half's
        instructions at their indices within the bank. A row is an instruction, or with
        ``CoreParams.narrow_program`` one of its words (:func:`program_row_width`).
        """
        params = self._params
        shape = unsigned(program_row_width(params))
        word = LANE_WIDTH * params.word_bytes
        depth = params.program_depth << program_row_words_log2(params)
        if not params.program_split:
            m.submodules.program = program = Memory(shape=shape, depth=depth, init=[])
            message_read = program.read_port(transparent_for=()) if params.message_sequencer else None
            return (program.read_port(transparent_for=()), message_read, program.write_port(granularity=word))
        # The address bit that picks the half: the top bit of the instruction index within the bank.
        half = program_row_words_log2(params) + ceil_log2(params.bank_instructions) - 1
        addr_width = program_address_width(params)
        write = Signal(data.StructLayout({"addr": addr_width, "data": shape, "en": shape.width // word}))
        reads = []
        for name, upper in (("compute", 0), ("message", 1)):
            memory = Memory(shape=shape, depth=depth // 2, init=[])
            m.submodules[f"{name}_program"] = memory
            read = Signal(data.StructLayout({"en": 1, "addr": addr_width, "data": shape}),
                          name=f"{name}_program_read")
            port = memory.read_port(transparent_for=())
            m.d.comb += [port.en.eq(read.en), port.addr.eq(_without_bit(read.addr, half)),
                         read.data.eq(port.data)]
            port = memory.write_port(granularity=word)
            m.d.comb += [port.addr.eq(_without_bit(write.addr, half)), port.data.eq(write.data),
                         port.en.eq(Mux(write.addr[half] == upper, write.en, 0))]
            reads.append(read)
        return (*reads, write)

    def elaborate(self, platform):
        m = Module()
        params = self._params
        word = LANE_WIDTH * params.word_bytes
        m.submodules.datapath = datapath = Datapath(params)
        drains = {"mac_drain": datapath.MAC_LATENCY, "vector_drain": datapath.VECTOR_LATENCY,
                  "macadd_drain": datapath.MACADD_LATENCY, "send_drain": BankedSram.LATENCY}
        m.submodules.sequencer = sequencer = Sequencer(params, **drains)
        # The activation SRAM's read channels beyond the first: the message sequencer's
        # SENDs, MACADD's residuals, where the core has them.
        channels = iter(range(1, 3))
        ports = [SramPort("a", "read"), SramPort("b", "read"), SramPort("host_read", "read"),
                 SramPort("o", "write"),
                 SramPort("host_write", "write", channel=params.activation_write_ports - 1)]
        if params.message_sequencer:
            m.submodules.messenger = messenger = Sequencer(params, **drains, entry=message_entry(params),
                                                           downward=True)
            ports.append(SramPort("send", "read", channel=next(channels)))
        if params.fused_add:
            ports.append(SramPort("residual", "read", channel=next(channels)))
        m.submodules.activations = activations = BankedSram(params.activation_sram, ports)
        m.submodules.weights = weights = BankedSram(params.weight_sram, [
            SramPort("tile", "read", span=params.mac.columns), SramPort("host_write", "write")],
            single_port=params.single_port_weights)
        m.submodules.settings = settings = Memory(
            shape=unsigned(word * params.settings_entry_words), depth=params.settings_depth, init=[])
        program_read, message_read, program_write = self._program_memory(m)
        settings_read = settings.read_port(transparent_for=())
        self._host(m, activations, weights, settings.write_port(granularity=word), program_write)

        # Each sequencer with the word its SENDs read: the message sequencer's through a read
        # channel of its own, the compute sequencer's on operand a's.
        senders = [(sequencer, activations.a.data)]
        if params.message_sequencer:
            senders.insert(0, (messenger, activations.send.data))
            m.d.comb += [
                message_read.en.eq(messenger.program_en),
                message_read.addr.eq(messenger.program_addr),
                messenger.program_data.eq(message_read.data),
                activations.send.en.eq(messenger.a_read.en),
                activations.send.addr.eq(messenger.a_read.addr),
            ]
        sequencers = [source for source, _ in senders]
        longest = sequencers[0].cycles
        for each in sequencers[1:]:
            longest = Mux(each.cycles > longest, each.cycles, longest)
        m.d.comb += [
            self.busy.eq(Cat(each.busy for each in sequencers).any()),
            self.done.eq(Cat(each.done for each in sequencers).all()),
            self.cycles.eq(longest),
            self.o_tokens.eq(functools.reduce(operator.or_, (each.o_tokens for each in sequencers))),
        ]
        for each in sequencers:
            m.d.comb += [each.start.eq(self.start), each.i_tokens.eq(self.i_tokens)]
        if params.fused_add:
            # MACADD's residual tiles, through a read channel of their own.
            m.d.comb += [
                sequencer.residual.eq(datapath.residual_read),
                activations.residual.en.eq(sequencer.r_read.en),
                activations.residual.addr.eq(sequencer.r_read.addr),
                datapath.r_offset.eq(sequencer.r_read.offset),
                datapath.r_word.eq(activations.residual.data),
            ]

        collided = Signal()     # both sequencers offered a message in one cycle
        opcode = sequencer.instruction.opcode
        multiplies = (opcode == Opcode.MAC) | (opcode == Opcode.MACADD)
        m.d.comb += [
            self.conflict.eq(activations.conflict | weights.conflict | collided),
            # Program and settings memories.
            program_read.en.eq(sequencer.program_en),
            program_read.addr.eq(sequencer.program_addr),
            sequencer.program_data.eq(program_read.data),
            settings_read.addr.eq(sequencer.settings_addr),
            datapath.settings.eq(settings_read.data[:settings_entry_layout(params.mac.columns).size]),
            # Operand reads: a from the activations; b from the weights (MAC, MACADD) or
            # activations (ADD).
            activations.a.en.eq(sequencer.a_read.en),
            activations.a.addr.eq(sequencer.a_read.addr),
            activations.b.en.eq(sequencer.b_read.en & ~multiplies),
            activations.b.addr.eq(sequencer.b_read.addr),
            weights.tile.en.eq(sequencer.b_read.en & multiplies),
            weights.tile.addr.eq(sequencer.b_read.addr),
            datapath.instruction.eq(sequencer.instruction),
            datapath.element.valid.eq(sequencer.element.valid),
            datapath.element.first.eq(sequencer.element.first),
            datapath.element.last.eq(sequencer.element.last),
            datapath.a_offset.eq(sequencer.a_read.offset),
            datapath.b_offset.eq(sequencer.b_read.offset),
            datapath.a_word.eq(activations.a.data),
            datapath.b_word.eq(activations.b.data),
            datapath.weights.eq(weights.tile.data),
            # Write-back.
            sequencer.tile_in.eq(datapath.tile_in),
            sequencer.tile_out.eq(datapath.o_write.en),
            datapath.o_offset.eq(sequencer.o_write.offset),
            activations.o.en.eq(datapath.o_write.en),
            activations.o.addr.eq(sequencer.o_write.addr),
            activations.o.data.eq(datapath.o_write.data),
            activations.o.mask.eq(datapath.o_write.mask),
        ]
        # Messages: a SEND's word as it arrives from the SRAM, a SIGNAL's token; from the
        # message sequencer, or from the compute sequencer, never both in one cycle.
        offers = []
        for source, word in senders:
            signal = source.o_tokens.any()
            offers.append((source.send | signal, signal, source, word))
        if len(offers) > 1:
            with m.If(offers[0][0] & offers[1][0]):
                m.d.sync += collided.eq(1)
        message = self.o_network.payload
        for index, (valid, signal, source, word) in enumerate(offers):
            with (m.If if index == 0 else m.Elif)(valid):
                m.d.comb += [
                    self.o_network.valid.eq(1),
                    message.token.eq(signal),
                    message.dest_x.eq(source.instruction.dest_x),
                    message.dest_y.eq(source.instruction.dest_y),
                    message.dest_x_last.eq(source.instruction.dest_x_last),
                    message.dest_y_last.eq(source.instruction.dest_y_last),
                    message.addr.eq(source.o_write.addr),   # region ACTIVATIONS is 0
                    message.data.eq(Mux(signal, source.instruction.token, word)),
                ]
        return m
