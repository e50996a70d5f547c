"""Gateware of the UART host bridge: request frames in, the array's host commands out.

:class:`Bridge` puts a :class:`~fpga.host.uart.UARTReceiver`, a :class:`FrameReceiver`,
an :class:`Executor`, a :class:`ReplySender` and a
:class:`~fpga.host.uart.UARTTransmitter` in front of the host interface of
:class:`hdl.chip.Chip` (``i_command``/``o_data``, ``busy``, ``done``, ``cycles``). The
framing protocol is :mod:`fpga.host.protocol`'s. A command reaches the array only from a
whole request whose checksum and arguments are good, while no run is going on; any other
request gets an error reply and changes nothing.
"""

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.chip import chip_params
from hdl.host import Command, command_layout, read_layout
from hdl.params import ChipParams
from hdl.sequencer import CYCLE_COUNTER_WIDTH

from .protocol import (
    ADDR_BYTES,
    CRC,
    IDLE_BITS,
    NO_OP,
    REPLY_SYNC,
    REQUEST_SYNC,
    VERSION,
    Flag,
    Frames,
    Op,
    Status,
)
from .uart import DATA_BITS, RX_LAYOUT, UARTReceiver, UARTTransmitter, check_divisor

__all__ = ["request_layout", "reply_layout", "FrameReceiver", "Executor", "ReplySender",
           "Bridge"]

BYTE = DATA_BITS


def _check_params(params):
    if not isinstance(params, ChipParams):
        raise TypeError(f"bridge params must be a ChipParams, not {params!r}")
    return Frames(params)


def request_layout(frames):
    """A received request: its reception ``status`` (:class:`Status`), ``op`` and ``body``
    (byte ``i`` of the body at bits ``8 i``; the bytes past a shorter body are the last
    longer one's)."""
    return data.StructLayout({"status": BYTE, "op": BYTE, "body": BYTE * frames.max_request_body})


def reply_layout(frames):
    """A reply to send: ``status``, ``op``, body ``length`` in bytes and the ``body``
    (byte ``i`` at bits ``8 i``)."""
    return data.StructLayout({"status": BYTE, "op": BYTE, "length": range(frames.max_reply_body + 1),
                              "body": BYTE * frames.max_reply_body})


class FrameReceiver(wiring.Component):
    """Bytes from the UART receiver in, checked requests out.

    A request leaves on ``o_request`` in the cycle after its checksum byte (``status``
    ``OK`` or ``CHECKSUM``), or once the line has been idle for ``timeout`` cycles after
    a dropped frame (``FRAMING``, ``COMMAND``) or inside one (``TIMEOUT``), and holds
    until ``ready``: bytes that arrive meanwhile are dropped. Each body byte is written in
    its place, so that a field is at the same bits in every request that has it.

    Parameters
    ----------
    params : ChipParams
    timeout : int
        Idle cycles that end a frame, at least 1.

    Attributes
    ----------
    i_data : In(stream.Signature({"data": 8, "error": 1}, always_ready=True))
    o_request : Out(stream.Signature(request_layout(...)))
    """

    def __init__(self, params, timeout):
        self._frames = _check_params(params)
        if not isinstance(timeout, int) or timeout < 1:
            raise ValueError(f"FrameReceiver timeout must be a positive integer, not {timeout!r}")
        self._timeout = timeout
        super().__init__({
            "i_data": In(stream.Signature(RX_LAYOUT, always_ready=True)),
            "o_request": Out(stream.Signature(request_layout(self._frames))),
        })

    def elaborate(self, platform):
        m = Module()
        frames, request = self._frames, self.o_request.payload
        byte, error = self.i_data.payload.data, self.i_data.payload.error
        arrived = self.i_data.valid
        idle = Signal(range(self._timeout + 1))
        index = Signal(range(frames.max_request_body))      # of the next body byte
        final = Signal(range(frames.max_request_body))      # the index of the op's last one
        m.submodules.crc = crc = CRC.create()
        m.d.comb += crc.data.eq(byte)
        m.d.sync += idle.eq(Mux(arrived, 0, Mux(idle == self._timeout, idle, idle + 1)))
        quiet = ~arrived & (idle == self._timeout - 1)
        lengths = {op: frames.request_body_bytes(op) for op in Op}
        with m.Switch(request.op):
            for op, length in lengths.items():
                if length:
                    with m.Case(op):
                        m.d.comb += final.eq(length - 1)

        def drop(status):
            m.d.sync += request.status.eq(status)
            m.next = "DROP"

        def cut_short():        # the line is already quiet: answer at once
            m.d.sync += request.status.eq(Status.TIMEOUT)
            m.next = "EMIT"

        with m.FSM():
            with m.State("IDLE"):
                m.d.sync += request.op.eq(NO_OP)
                m.d.comb += crc.start.eq(1)
                with m.If(arrived):
                    with m.If(error | (byte != REQUEST_SYNC)):
                        drop(Status.FRAMING)
                    with m.Else():
                        m.next = "OP"
            with m.State("OP"):
                with m.If(arrived):
                    m.d.sync += [request.op.eq(byte), index.eq(0)]
                    m.d.comb += crc.valid.eq(1)
                    with m.If(error):
                        drop(Status.FRAMING)
                    with m.Switch(byte):
                        for op, length in lengths.items():
                            with m.Case(op):
                                m.next = "BODY" if length else "CRC"
                        with m.Default():
                            drop(Status.COMMAND)
                with m.Elif(quiet):
                    cut_short()
            with m.State("BODY"):
                with m.If(arrived):
                    m.d.sync += [request.body.word_select(index, BYTE).eq(byte), index.eq(index + 1)]
                    m.d.comb += crc.valid.eq(1)
                    with m.If(error):
                        drop(Status.FRAMING)
                    with m.Elif(index == final):
                        m.next = "CRC"
                with m.Elif(quiet):
                    cut_short()
            with m.State("CRC"):
                with m.If(arrived):
                    m.d.sync += request.status.eq(Mux(error, Status.FRAMING,
                                                      Mux(byte == crc.crc, Status.OK, Status.CHECKSUM)))
                    m.next = "EMIT"
                with m.Elif(quiet):
                    cut_short()
            with m.State("DROP"):
                with m.If(quiet):
                    m.next = "EMIT"
            with m.State("EMIT"):
                m.d.comb += self.o_request.valid.eq(1)
                with m.If(self.o_request.ready):
                    m.next = "IDLE"
        return m


class Executor(wiring.Component):
    """Requests in, host commands to the array and replies out.

    Answers a request's errors, ``INFO`` and ``STATUS`` at once; sends ``WRITE``, ``READ``
    and ``RUN`` to the array (when the arguments are in range and no run is going on),
    waits for ``READ``'s word, then replies. It takes the request (``ready``) when its reply
    is taken: the command's fields and the reply's ``op`` are the request's own, held until
    then.

    Parameters
    ----------
    params : ChipParams

    Attributes
    ----------
    i_request : In(stream.Signature(request_layout(...)))
    o_reply : Out(stream.Signature(reply_layout(...)))
    o_command : Out(stream.Signature(command_layout(...)))
    i_data : In(stream.Signature(read_layout(...)))
    busy, done, conflict, overrun : In(1)
    cycles : In(32)
    """

    def __init__(self, params):
        self._frames = _check_params(params)
        self._params = params
        core, noc = chip_params(params)
        self._commands = command_layout(core, noc)
        super().__init__({
            "i_request": In(stream.Signature(request_layout(self._frames))),
            "o_reply": Out(stream.Signature(reply_layout(self._frames))),
            "o_command": Out(stream.Signature(self._commands)),
            "i_data": In(stream.Signature(read_layout(core, noc))),
            "busy": In(1), "done": In(1), "conflict": In(1), "overrun": In(1),
            "cycles": In(CYCLE_COUNTER_WIDTH),
        })

    def _fields(self, request):
        """``x``, ``y``, ``addr``, ``data`` of a WRITE or READ body, and whether they are in range."""
        fields = request.body
        x, y = fields[:BYTE], fields[BYTE:2 * BYTE]
        addr = fields[2 * BYTE:(2 + ADDR_BYTES) * BYTE]
        data_ = fields[(2 + ADDR_BYTES) * BYTE:(2 + ADDR_BYTES + self._frames.word_bytes) * BYTE]
        addr_width = self._commands.members["addr"].width
        valid = (x < self._params.columns) & (y < self._params.rows) & (addr >> addr_width == 0)
        return x, y, addr, data_, valid

    def elaborate(self, platform):
        m = Module()
        request, reply, command = self.i_request.payload, self.o_reply.payload, self.o_command.payload
        x, y, addr, data_, valid = self._fields(request)
        params = self._params
        info = Cat(Const(params.rows, BYTE), Const(params.columns, BYTE), Const(params.core.mac.lanes, BYTE),
                   Const(params.core.mac.columns, BYTE), Const(VERSION, BYTE))
        flags = Cat(self.busy, self.done, self.conflict, self.overrun)
        assert [1 << i for i in range(4)] == [Flag.BUSY, Flag.DONE, Flag.CONFLICT, Flag.OVERRUN]
        frames = self._frames

        m.d.comb += [command.x.eq(x), command.y.eq(y), command.addr.eq(addr), command.data.eq(data_),
                     command.op.eq(Mux(request.op == Op.WRITE, Command.WRITE,
                                       Mux(request.op == Op.READ, Command.READ, Command.RUN)))]

        m.d.comb += reply.op.eq(request.op)

        def answer(status, length=0, body=0):
            m.d.sync += [reply.status.eq(status), reply.length.eq(length), reply.body.eq(body)]
            m.next = "REPLY"

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.i_request.valid):
                    with m.If(request.status != Status.OK):
                        answer(request.status)
                    with m.Elif(request.op == Op.INFO):
                        answer(Status.OK, frames.reply_body_bytes(Op.INFO), info)
                    with m.Elif(request.op == Op.STATUS):
                        answer(Status.OK, frames.reply_body_bytes(Op.STATUS),
                               Cat(flags, Const(0, BYTE - 4), self.cycles))
                    with m.Elif(self.busy):
                        answer(Status.BUSY)
                    with m.Elif((request.op != Op.RUN) & ~valid):
                        answer(Status.ARGUMENT)
                    with m.Else():
                        m.next = "ISSUE"
            with m.State("ISSUE"):
                m.d.comb += self.o_command.valid.eq(1)
                with m.If(self.o_command.ready):
                    with m.If(command.op == Command.READ):
                        m.next = "READ"
                    with m.Else():
                        answer(Status.OK)
            with m.State("READ"):
                m.d.comb += self.i_data.ready.eq(1)
                with m.If(self.i_data.valid):
                    answer(Status.OK, frames.reply_body_bytes(Op.READ), self.i_data.payload.data)
            with m.State("REPLY"):
                m.d.comb += [self.o_reply.valid.eq(1), self.i_request.ready.eq(self.o_reply.ready)]
                with m.If(self.o_reply.ready):
                    m.next = "IDLE"
        return m


class ReplySender(wiring.Component):
    """A reply in, its frame out byte by byte: ``REPLY_SYNC``, status, op, body, CRC-8.

    The reply is taken (``ready``) with its frame's last byte: its source holds it until
    then, and the bytes are picked from it in turn.

    Parameters
    ----------
    params : ChipParams

    Attributes
    ----------
    i_reply : In(stream.Signature(reply_layout(...)))
    o_data : Out(stream.Signature(8))
    """

    def __init__(self, params):
        self._frames = _check_params(params)
        super().__init__({
            "i_reply": In(stream.Signature(reply_layout(self._frames))),
            "o_data": Out(stream.Signature(BYTE)),
        })

    def elaborate(self, platform):
        m = Module()
        reply = self.i_reply.payload
        # sync, status, op, body: the bytes before the crc, the index'th sent next.
        frame = Cat(Const(REPLY_SYNC, BYTE), reply.status, reply.op, reply.body)
        index = Signal(range(3 + self._frames.max_reply_body))
        byte = frame.word_select(index, BYTE)
        m.submodules.crc = crc = CRC.create()
        m.d.comb += crc.data.eq(byte)
        sent = self.o_data.valid & self.o_data.ready
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += crc.start.eq(1)
                with m.If(self.i_reply.valid):
                    m.next = "FRAME"
            with m.State("FRAME"):
                m.d.comb += [self.o_data.valid.eq(1), self.o_data.payload.eq(byte)]
                with m.If(sent):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index != 0):      # the crc covers every byte after the sync
                        m.d.comb += crc.valid.eq(1)
                    with m.If(index == 2 + reply.length):
                        m.d.sync += index.eq(0)
                        m.next = "CRC"
            with m.State("CRC"):
                m.d.comb += [self.o_data.valid.eq(1), self.o_data.payload.eq(crc.crc),
                             self.i_reply.ready.eq(self.o_data.ready)]
                with m.If(sent):
                    m.next = "IDLE"
        return m


class Bridge(wiring.Component):
    """The UART host bridge: the ``rx``/``tx`` lines on one side, the array's host
    interface on the other (see the module's docstring and :mod:`fpga.host.protocol`).

    Parameters
    ----------
    params : ChipParams
    divisor : int
        Clock cycles per UART bit, at least 4 (``clock / baud``).

    Attributes
    ----------
    rx : In(1)
        Synchronised to the clock.
    tx : Out(1)
    o_command : Out(stream.Signature(command_layout(...)))
    i_data : In(stream.Signature(read_layout(...)))
    busy, done, conflict, overrun : In(1)
    cycles : In(32)
    """

    def __init__(self, params, divisor):
        _check_params(params)
        check_divisor(divisor)
        self._params, self._divisor = params, divisor
        core, noc = chip_params(params)
        super().__init__({
            "rx": In(1, init=1), "tx": Out(1, init=1),
            "o_command": Out(stream.Signature(command_layout(core, noc))),
            "i_data": In(stream.Signature(read_layout(core, noc))),
            "busy": In(1), "done": In(1), "conflict": In(1), "overrun": In(1),
            "cycles": In(CYCLE_COUNTER_WIDTH),
        })

    def elaborate(self, platform):
        m = Module()
        params, divisor = self._params, self._divisor
        m.submodules.receiver = receiver = UARTReceiver(divisor)
        m.submodules.frames = frames = FrameReceiver(params, timeout=IDLE_BITS * divisor)
        m.submodules.executor = executor = Executor(params)
        m.submodules.replies = replies = ReplySender(params)
        m.submodules.transmitter = transmitter = UARTTransmitter(divisor)
        m.d.comb += [receiver.rx.eq(self.rx), self.tx.eq(transmitter.tx)]
        wiring.connect(m, receiver.o_data, frames.i_data)
        wiring.connect(m, frames.o_request, executor.i_request)
        wiring.connect(m, executor.o_reply, replies.i_reply)
        wiring.connect(m, replies.o_data, transmitter.i_data)
        wiring.connect(m, executor.o_command, wiring.flipped(self.o_command))
        wiring.connect(m, wiring.flipped(self.i_data), executor.i_data)
        for name in ("busy", "done", "conflict", "overrun", "cycles"):
            m.d.comb += getattr(executor, name).eq(getattr(self, name))
        return m
