"""The host side of the UART bridge: the array's commands as method calls.

:class:`ArrayInterface` speaks :mod:`fpga.host.protocol` over any byte transport with
``write(data)`` and ``read(count)`` (a ``serial.Serial`` from pyserial, or a simulated
UART in the cocotb tests), one request and one reply at a time. On top of the four
commands it loads a compiled image, one core's (:class:`gen.compiler.Compiled`) or a whole
array's (:class:`gen.array.ArrayCompiled`), writes input frames, runs and reads the output
tensors back.
"""

import logging
import time

from .protocol import CYCLES_BYTES, REPLY_SYNC, Flag, Frames, Op, ProtocolError

__all__ = ["ArrayInterface", "Info", "RunStatus"]


class Info(tuple):
    """``(rows, columns, lanes, mac_columns, version)`` from INFO."""


class RunStatus:
    """The STATUS reply: ``flags`` (:class:`~fpga.host.protocol.Flag`) and ``cycles``."""

    def __init__(self, flags, cycles):
        self.flags, self.cycles = Flag(flags), cycles

    def __repr__(self):
        return f"RunStatus(flags={self.flags!r}, cycles={self.cycles})"


class ArrayInterface:
    """The array behind a UART bridge.

    Parameters
    ----------
    transport
        Has ``write(bytes)`` and ``read(count) -> bytes`` (which may return fewer bytes on a
        timeout).
    params : ChipParams
        The array's parameters (checked against INFO by :meth:`check`).
    """

    def __init__(self, transport, params):
        self._transport = transport
        self.frames = Frames(params)
        self.params = params
        self._log = logging.getLogger(__name__)

    def _read_reply(self, op):
        head = self._transport.read(3)
        if len(head) < 3:
            raise ProtocolError(f"no reply to {Op(op).name} (got {bytes(head)!r})")
        if head[0] != REPLY_SYNC:
            raise ProtocolError(f"reply must start with {REPLY_SYNC:#04x}, not {bytes(head)!r}")
        length = self.frames.reply_bytes(head[1], op) - 3
        rest = self._transport.read(length)
        if len(rest) < length:
            raise ProtocolError(f"reply to {Op(op).name} cut short: {bytes(head + rest)!r}")
        return bytes(head) + bytes(rest)

    def exchange(self, frame, op):
        """Send a request ``frame`` for ``op`` and return the body of the reply;
        :class:`~fpga.host.protocol.ProtocolError` for an error reply."""
        self._transport.write(frame)
        return self.frames.parse_reply(self._read_reply(op), op)

    def info(self):
        return Info(self.exchange(self.frames.request(Op.INFO), Op.INFO))

    def check(self):
        """Raise :class:`ProtocolError` unless the bridge's array has ``params``' shape."""
        rows, columns, lanes, mac_columns, version = self.info()
        want = (self.params.rows, self.params.columns, self.params.core.mac.lanes,
                self.params.core.mac.columns)
        if (rows, columns, lanes, mac_columns) != want:
            raise ProtocolError(f"the bridge's array is {rows}x{columns} cores of {lanes}x{mac_columns} "
                                f"MACs, not {want[0]}x{want[1]} of {want[2]}x{want[3]}")
        return version

    def write(self, x, y, addr, value):
        self.exchange(self.frames.request(Op.WRITE, x, y, addr, value), Op.WRITE)

    def read(self, x, y, addr):
        return int.from_bytes(self.exchange(self.frames.request(Op.READ, x, y, addr), Op.READ), "little")

    def run(self):
        self.exchange(self.frames.request(Op.RUN), Op.RUN)

    def status(self):
        body = self.exchange(self.frames.request(Op.STATUS), Op.STATUS)
        return RunStatus(body[0], int.from_bytes(body[1:1 + CYCLES_BYTES], "little"))

    def wait(self, timeout=10.0, poll=0.0):
        """Poll STATUS until the run is done; its :class:`RunStatus`."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status()
            if Flag.DONE in status.flags and Flag.BUSY not in status.flags:
                return status
            if time.monotonic() > deadline:
                raise ProtocolError(f"run not done after {timeout} s: {status!r}")
            if poll:
                time.sleep(poll)

    def write_words(self, x, y, words):
        """Write ``(addr, value)`` pairs to core ``(x, y)``, logging progress."""
        self.write_all((x, y, addr, value) for addr, value in words)

    def write_all(self, writes):
        """Write ``(x, y, addr, value)`` words, each to its core, logging progress."""
        writes = list(writes)
        for number, (x, y, addr, value) in enumerate(writes):
            self.write(x, y, addr, value)
            if number % 1024 == 1023:
                self._log.info("%d of %d words written", number + 1, len(writes))

    def load(self, compiled):
        """Load every core of ``compiled`` (a :class:`gen.array.ArrayCompiled`): its
        :meth:`~gen.array.ArrayCompiled.load_writes`, once before the first run."""
        self.write_all(compiled.load_writes())

    def run_frames(self, compiled, frames, timeout=10.0):
        """Run the loaded ``compiled`` (a :class:`gen.array.ArrayCompiled`) on each (H, W, C)
        frame of ``frames`` in turn: write its input, run, wait and read every output tensor.

        The bridge takes no WRITE during a run, so each frame is written after the run
        before has finished, even where ``compiled.input_delay`` would let a host write it
        while that run computes; a run's cycles do not depend on when its input was written.

        Yields per frame ``({name: (H, W, C) values}, status)``: the output tensors decoded
        as :meth:`~gen.array.ArrayCompiled.decode` does, and the run's :class:`RunStatus`.
        """
        reads = {name: compiled.output_reads(name) for name in compiled.network.outputs}
        for frame in frames:
            self.write_all(compiled.input_writes(frame))
            self.run()
            status = self.wait(timeout)
            yield {name: compiled.decode(name, [self.read(*read) for read in words])
                   for name, words in reads.items()}, status

    def run_compiled(self, compiled, frame, x=0, y=0, timeout=10.0):
        """Load ``compiled`` (a :class:`gen.compiler.Compiled`) into core ``(x, y)``, write
        ``frame``, run, and read every output tensor back.

        Returns ``(outputs, status)``: ``{name: array}`` decoded as :meth:`Compiled.decode`
        does, and the final :class:`RunStatus`.
        """
        self.write_words(x, y, compiled.load_words())
        self.write_words(x, y, compiled.input_words(frame))
        self.run()
        status = self.wait(timeout)
        outputs = {}
        for name in compiled.network.outputs:
            words = [self.read(x, y, addr) for addr in compiled.output_addresses(name)]
            outputs[name] = compiled.decode(name, words)
        return outputs, status

