"""The core's deterministic control sequencer: fetch, loop nests, address streams, tokens."""

from amaranth import Array, Cat, Const, Module, Mux, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .isa import (
    PROGRAM_STEP_STREAMS,
    Opcode,
    fetch_words,
    instruction_layout,
    program_address_width,
    program_row_width,
    program_row_words_log2,
    steps_row,
    stream_address_width,
)
from .loops import AddressGenerator, LoopNest
from .params import LOOP_LEVELS, CoreParams
from .pipeline import delay

__all__ = ["Sequencer", "CYCLE_COUNTER_WIDTH"]

#: Width of the run cycle counter.
CYCLE_COUNTER_WIDTH = 32


def _read_signature(params):
    word_bits = (params.word_bytes - 1).bit_length()
    return wiring.Signature({
        "en": Out(1),
        "addr": Out(params.address_width - word_bits),
        "offset": Out(word_bits),
    })


class Sequencer(wiring.Component):
    """Runs a program from the program memory: no branches, no stalls, no data-dependent timing.

    From ``start`` it fetches instruction ``entry``, ``entry + 1``, ... (or ``entry - 1``,
    ... going ``downward``) and executes each to completion (see
    :mod:`hdl.isa` for the instructions and their timing) until ``HALT``, from program bank
    ``r mod 2`` in its ``r``-th run since reset when the core has two
    (``CoreParams.program_banks``: ``entry`` and the instructions after it are then indices
    within the bank, and the bank is the program address's top bit). A compute
    instruction drives one element a cycle (a tile's first waits until ``tile_interval``
    cycles after the tile before began, ``MacParams.requantize_columns``): the addresses of
    operands ``a`` and ``b`` and ``element`` (valid, first, last of tile). Its tiles come
    back through the compute path, which reports each one twice: ``tile_in`` when it enters
    the requantize unit (``settings_addr`` is the entry of the tile entering next, for a
    settings memory with one cycle of read latency, which then keeps each tile's entry on its
    port for the tile's ``tile_interval`` cycles: the stream ``s`` advances as the tile's last
    slice enters, or with tiles 2 or more cycles apart a cycle before, and ``settings_addr``
    is then a register) and
    ``tile_out`` when it is written (``o_write`` then holds its address and the stream
    advances). A ``MACADD`` also reads each tile's residual word at stream ``r`` when the
    compute path asks (``residual``: ``r_read`` then holds the address, and the stream
    advances). After the last element it waits ``drain`` cycles, so the last result has
    been written before the next instruction is fetched. A ``SEND`` reads operand ``a``
    likewise but sends nothing to the compute path: ``send`` rises ``send_drain`` cycles
    after each element's read (when its word arrives) and ``o_write`` then holds the
    destination address. A ``DELAY`` issues its elements with no read.

    Parameters
    ----------
    params : CoreParams
    mac_drain, vector_drain, macadd_drain : int
        Cycles from the last element to the write of the last result, through the MAC
        array, the vector unit, or the MAC array and the fused add (``MACADD``).
    send_drain : int
        Cycles from a ``SEND`` element's read to its word's arrival (the SRAM's latency).
    entry : int
        The instruction every run starts at (0 for the core's compute sequencer,
        :func:`hdl.isa.message_entry` for its message sequencer).
    downward : bool
        Fetch ``entry``, ``entry - 1``, ... instead of ``entry``, ``entry + 1``, ...: the
        message program runs down from the top of the program memory while the compute
        program runs up from 0, so the two share it in any proportion.

    Attributes
    ----------
    start : In(1)
        Start the program at instruction ``entry`` (ignored while running).
    busy : Out(1)
    done : Out(1)
        Set by ``HALT``, cleared by ``start``.
    cycles : Out(32)
        Cycles the last run took, from the cycle after ``start`` to ``HALT`` (counting while busy).
    program_en : Out(1), program_addr : Out(hdl.isa.program_address_width(params))
        Program-memory read: the instruction's index (the bank's in its top bit, with two
        banks) above the row within the instruction (``CoreParams.narrow_program``); its
        data on ``program_data`` the next cycle. A fetch reads rows 0 to
        ``hdl.isa.fetch_words(params) - 1`` on consecutive cycles, and each row's data is
        kept in ``instruction`` until the last arrives, in the decode's cycle. With
        ``CoreParams.program_steps`` a fetch stops before the steps of streams a and b
        (``hdl.isa.steps_row``), and each cycle of the instruction's elements reads the row
        of the steps of their carry.
    program_data : In(hdl.isa.program_row_width(params))
        The row read; its low ``instruction_layout(params).size`` bits are an instruction
        when a row holds a whole one.
    instruction : Out(instruction_layout(params))
        The instruction being executed, held until the next one is decoded.
    a_read, b_read : Out(Signature(en, addr, offset))
        Word address and byte offset of operands a and b.
    element : Out(Signature(valid, first, last))
        The element whose operands are being read.
    settings_addr : Out(settings_width)
    tile_in, tile_out : In(1)
    residual : In(1)
        ``MACADD``: read the next residual tile now.
    r_read : Out(Signature(en, addr, offset))
        Word address and byte offset of that residual tile (``en`` is ``residual``).
    o_write : Out(Signature(addr, offset))
    send : Out(1)
        A ``SEND``'s word is on the SRAM's read data; its destination is on ``o_write``.
    i_tokens : In(params.tokens)
        Token pulses from the array, counted per token (``params.token_count_width`` bits) from the
        next cycle on until a ``WAIT`` consumes them or the next ``start`` (a pulse in the
        cycle of ``start`` counts for the new run). The array's schedule never leaves more
        pulses of one token outstanding than the count holds.
    o_tokens : Out(params.tokens)
        One-cycle pulses of ``SIGNAL``.
    """

    def __init__(self, params, *, mac_drain, vector_drain, macadd_drain, send_drain, entry=0,
                 downward=False):
        if not isinstance(params, CoreParams):
            raise TypeError(f"Sequencer params must be a CoreParams, not {params!r}")
        if not isinstance(entry, int) or not 0 <= entry < params.bank_instructions:
            raise ValueError(f"entry must be an instruction index in [0, {params.bank_instructions - 1}], "
                             f"not {entry!r}")
        self._entry, self._downward = entry, bool(downward)
        for name, value in (("mac_drain", mac_drain), ("vector_drain", vector_drain),
                            ("macadd_drain", macadd_drain), ("send_drain", send_drain)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        self._params = params
        self._drains = {"mac": mac_drain, "vector": vector_drain, "macadd": macadd_drain,
                        "send": send_drain}
        word_bits = (params.word_bytes - 1).bit_length()
        super().__init__({
            "start": In(1),
            "busy": Out(1),
            "done": Out(1),
            "cycles": Out(CYCLE_COUNTER_WIDTH),
            "program_en": Out(1),
            "program_addr": Out(program_address_width(params)),
            "program_data": In(program_row_width(params)),
            "instruction": Out(instruction_layout(params)),
            "a_read": Out(_read_signature(params)),
            "b_read": Out(_read_signature(params)),
            "element": Out(wiring.Signature({"valid": Out(1), "first": Out(1), "last": Out(1)})),
            "settings_addr": Out(params.settings_width),
            "tile_in": In(1),
            "tile_out": In(1),
            "residual": In(1),
            "r_read": Out(_read_signature(params)),
            "o_write": Out(wiring.Signature({"addr": Out(params.address_width - word_bits),
                                             "offset": Out(word_bits)})),
            "send": Out(1),
            "i_tokens": In(params.tokens),
            "o_tokens": Out(params.tokens),
        })

    def _fetched(self):
        """The instruction the decode's cycle sees: the rows fetched before it, kept in
        ``instruction``, below the last, on ``program_data`` (and with
        ``CoreParams.program_steps`` zeros for the steps, which are not fetched)."""
        layout = instruction_layout(self._params)
        earlier = (fetch_words(self._params) - 1) * len(self.program_data)
        rows = Cat(self.instruction.as_value()[:earlier], self.program_data)
        return layout(Cat(rows, Const(0, max(0, layout.size - len(rows))))[:layout.size])

    def _program_step(self, name):
        """Stream ``name``'s step in the row on ``program_data`` (``CoreParams.program_steps``)."""
        layout = instruction_layout(self._params)
        steps = layout[name].shape["steps"]
        offset = (layout[name].offset + steps.offset + steps.shape[0].offset) % len(self.program_data)
        width = Shape.cast(steps.shape[0].shape).width
        return self.program_data[offset:offset + width].as_signed()

    def _streams(self, m, decode, fetched):
        """Loop nests and address generators, loaded from the ``fetched`` instruction at
        ``decode``; with ``CoreParams.program_steps`` the steps of ``PROGRAM_STEP_STREAMS``
        from ``program_data``, a cycle after the row of the elements' carry is read."""
        params = self._params
        current = self.instruction
        # The residual stream r is MACADD's, where the core has it (CoreParams.fused_add).
        residual = ("r",) if params.fused_add else ()
        nests = {}
        for name in ("elements", "o", "s", *residual):
            nest = m.submodules[f"{name}_nest"] = LoopNest(params.count_width)
            for level in range(LOOP_LEVELS):
                m.d.comb += nest.limits[level].eq(current.counts[level])
            m.d.comb += [
                nest.first_level.eq(0 if name == "elements" else current.reduce_levels),
                nest.reduce_levels.eq(current.reduce_levels),
                nest.clear.eq(decode),
            ]
            nests[name] = nest
        generators = {}
        for name, nest in (("a", nests["elements"]), ("b", nests["elements"]), ("o", nests["o"]),
                           ("s", nests["s"]), *((name, nests[name]) for name in residual)):
            late = params.program_steps and name in PROGRAM_STEP_STREAMS
            generator = m.submodules[f"{name}_address"] = AddressGenerator(stream_address_width(params, name),
                                                                           late_step=late)
            m.d.comb += [
                generator.base.eq(fetched[name].base),
                generator.load.eq(decode),
                generator.advance.eq(nest.advance),
            ]
            if late:
                m.d.comb += generator.step.eq(self._program_step(name))
            else:
                m.d.comb += generator.carry.eq(nest.carry)
                for level in range(LOOP_LEVELS):
                    m.d.comb += generator.steps[level].eq(current[name].steps[level])
            generators[name] = generator
        return nests, generators

    def _tile_wait(self, m, starts_tile):
        """Whether a tile's first element, ready to issue when ``starts_tile``, waits: a tile
        starts at least ``tile_interval`` cycles after the one before
        (``MacParams.requantize_columns``). An instruction's first tile never waits: the
        drain before it is longer."""
        interval = self._params.mac.tile_interval
        if interval == 1:
            return Const(0)
        since = Signal(range(interval + 1), init=interval)     # cycles since the last tile began
        wait = starts_tile & (since < interval)
        with m.If(starts_tile & ~wait):
            m.d.sync += since.eq(1)
        with m.Elif(since < interval):
            m.d.sync += since.eq(since + 1)
        return wait

    def elaborate(self, platform):
        m = Module()
        params = self._params
        word_bits = (params.word_bytes - 1).bit_length()
        decode = Signal()
        fetched = self._fetched()
        nests, generators = self._streams(m, decode, fetched)
        elements = nests["elements"]
        interval = params.mac.tile_interval
        registered = int(interval > 1)
        opcode = self.instruction.opcode

        # A SEND's word arrives send_drain cycles after its read.
        issue_send = Signal()
        sending = Signal(self._drains["send"])
        m.d.sync += sending.eq(Cat(issue_send, sending))
        m.d.comb += self.send.eq(sending[-1])

        m.d.comb += [
            # A tile's settings entry stays on the memory's read port until its last slice
            # has entered the requantizer; with tiles 2 or more cycles apart, the stream
            # advances a cycle sooner and the memory reads its registered address.
            nests["s"].advance.eq(delay(m, self.tile_in, interval - 1 - registered, "settings_advance",
                                        reset_less=False)),
            nests["o"].advance.eq(self.tile_out | self.send),
            self.settings_addr.eq(generators["s"].addr if registered else generators["s"].next),
            self.o_write.addr.eq(generators["o"].addr[word_bits:]),
            self.o_write.offset.eq(generators["o"].addr[:word_bits]),
        ]
        if "r" in nests:
            m.d.comb += [nests["r"].advance.eq(self.residual), self.r_read.en.eq(self.residual)]
        for name in (name for name in ("a", "b", "r") if name in generators):
            read = getattr(self, f"{name}_read")
            m.d.comb += [read.addr.eq(generators[name].addr[word_bits:]),
                         read.offset.eq(generators[name].addr[:word_bits])]

        pc = Signal(range(params.bank_instructions))
        # The row of the instruction being read, and the rows a fetch reads.
        words, row_bits = fetch_words(params), len(self.program_data)
        row = Signal(program_row_words_log2(params))
        # The bank of this run: flips as each run ends.
        bank = Signal(params.program_banks.bit_length() - 1)
        drain = Signal(range(max(self._drains.values()) + 1))
        # Pulses of each token not yet consumed; a WAIT takes counts[0] of them at once.
        pending = Array(Signal(params.token_count_width, name=f"pending_{token}")
                        for token in range(params.tokens))
        wanted = self.instruction.counts[0] + 1
        consume = Signal()
        # A WAIT consumes from one token: its count after the wanted pulses, computed once
        # rather than beside every counter.
        waited = self.instruction.token
        left = Signal(params.token_count_width)
        m.d.comb += left.eq(pending[waited] + self.i_tokens.bit_select(waited, 1) - wanted)
        for token, count in enumerate(pending):
            with m.If(consume & (waited == token)):
                m.d.sync += count.eq(left)
            with m.Else():
                m.d.sync += count.eq(count + self.i_tokens[token])
        with m.If(self.busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)

        issuing = Signal()      # in the ISSUE state
        # The instruction being executed: with CoreParams.program_steps, each cycle of its
        # elements reads the row of the steps of their carry, for the address generators of
        # PROGRAM_STEP_STREAMS in the cycle after.
        executing = Signal.like(pc)
        if params.program_steps:
            with m.If(issuing):
                m.d.comb += [self.program_en.eq(1),
                             self.program_addr.eq(Cat((steps_row(params) + elements.carry)[:len(row)],
                                                      executing, bank))]

        pauses, send = opcode == Opcode.DELAY, opcode == Opcode.SEND
        issue = ~self._tile_wait(m, issuing & ~pauses & ~send & elements.first)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [pc.eq(self._entry), self.busy.eq(1), self.done.eq(0), self.cycles.eq(0)]
                    # No token outlives a run.
                    m.d.sync += [count.eq(self.i_tokens[token]) for token, count in enumerate(pending)]
                    m.next = "FETCH"
            with m.State("FETCH"):
                m.d.comb += [self.program_en.eq(1), self.program_addr.eq(Cat(row, pc, bank))]
                if words > 1:
                    # Each row's data arrives the cycle after its read; the last in the decode's.
                    with m.If(row != 0):
                        arrived = (row - 1)[:len(row)]
                        m.d.sync += self.instruction.as_value().word_select(arrived, row_bits).eq(
                            self.program_data)
                    m.d.sync += row.eq(row + 1)
                    with m.If(row == words - 1):
                        m.d.sync += row.eq(0)
                        m.next = "DECODE"
                else:
                    m.next = "DECODE"
            with m.State("DECODE"):
                m.d.comb += decode.eq(1)
                next_pc = pc - 1 if self._downward else pc + 1
                m.d.sync += [self.instruction.eq(fetched), pc.eq(next_pc)]
                if params.program_steps:
                    m.d.sync += executing.eq(pc)
                with m.Switch(fetched.opcode):
                    with m.Case(Opcode.HALT):
                        m.d.sync += [self.busy.eq(0), self.done.eq(1), bank.eq(~bank)]
                        m.next = "IDLE"
                    with m.Case(Opcode.SIGNAL):
                        m.next = "SIGNAL"
                    with m.Case(Opcode.WAIT):
                        m.next = "WAIT"
                    with m.Default():
                        m.next = "ISSUE"
            with m.State("ISSUE"):
                m.d.comb += [
                    issuing.eq(1),
                    self.element.valid.eq(~pauses & ~send & issue),
                    issue_send.eq(send),
                    self.element.first.eq(elements.first),
                    self.element.last.eq(elements.last),
                    self.a_read.en.eq(~pauses & issue),
                    self.b_read.en.eq(((opcode == Opcode.MAC) | (opcode == Opcode.MACADD)
                                       | (opcode == Opcode.ADD)) & issue),
                    elements.advance.eq(issue),
                ]
                with m.If(issue & (elements.carry == LOOP_LEVELS)):
                    m.d.sync += drain.eq(Mux(opcode == Opcode.MAC, self._drains["mac"],
                                         Mux(opcode == Opcode.MACADD, self._drains["macadd"],
                                         Mux(opcode == Opcode.SEND, self._drains["send"],
                                             self._drains["vector"]))) - 1)
                    m.next = "DRAIN"
                    with m.If(pauses):
                        m.next = "FETCH"
            with m.State("DRAIN"):
                m.d.sync += drain.eq(drain - 1)
                with m.If(drain == 0):
                    m.next = "FETCH"
            with m.State("SIGNAL"):
                m.d.comb += self.o_tokens.eq(Const(1, params.tokens) << self.instruction.token)
                m.next = "FETCH"
            with m.State("WAIT"):
                with m.If(pending[self.instruction.token] >= wanted):
                    m.d.comb += consume.eq(1)
                    m.next = "FETCH"
        return m
