"""The UART bridge's framing protocol: one definition for the gateware and the host.

Every exchange is one request frame from the host and one reply frame from the bridge;
the host sends the next request only after the reply (stop and wait). All multi-byte
fields are little-endian.

Request::

    REQUEST_SYNC  op  body...  crc

Reply::

    REPLY_SYNC  status  op  body...  crc

``crc`` is the CRC-8/SMBUS (``CRC``: polynomial 0x07, initial value 0, no reflection, no
final XOR; ``amaranth.lib.crc``'s catalog) of every byte after the sync byte. The gateware
computes it with the same algorithm's :class:`~amaranth.lib.crc.Processor` (``CRC.create()``),
the host with its software model (:func:`crc8`), so the two agree by construction. Requests and their bodies:

========  ==============================  ===========================================
``op``    request body                    reply body (when ``status`` is ``OK``)
========  ==============================  ===========================================
INFO      none                            rows, columns, lanes, MAC columns, ``VERSION``
WRITE     x, y, addr (4), data (W)        none
READ      x, y, addr (4)                  data (W)
RUN       none                            none (the run has started)
STATUS    none                            flags (``FLAG_*``), cycles (4)
========  ==============================  ===========================================

``W`` is the core's word, ``lanes`` bytes; ``addr`` is a host word address of core
``(x, y)`` (``hdl.core``'s address map). An error reply has no body; its ``op`` echoes
the request's (``NO_OP`` when there was none):

- ``CHECKSUM``: the crc did not match;
- ``COMMAND``: unknown ``op``; the bridge drops bytes until the line has been idle for
  ``IDLE_BITS`` bit times, then replies once;
- ``ARGUMENT``: ``x``, ``y`` or ``addr`` out of range;
- ``BUSY``: WRITE, READ or RUN while a run is going on;
- ``FRAMING``: a byte with a bad stop bit, or a byte other than ``REQUEST_SYNC`` where a
  frame should start; dropped like ``COMMAND``;
- ``TIMEOUT``: the line went idle for ``IDLE_BITS`` bit times inside a frame.

A request that gets an error reply reaches no core: the array and everything loaded into
it stay as they were.
"""

import enum

from amaranth.lib.crc import catalog

from hdl.params import ChipParams

__all__ = ["REQUEST_SYNC", "REPLY_SYNC", "CRC", "VERSION", "IDLE_BITS", "ADDR_BYTES",
           "CYCLES_BYTES", "NO_OP", "Op", "Status", "Flag", "crc8", "Frames", "ProtocolError"]

REQUEST_SYNC = 0xA5
REPLY_SYNC = 0x5A
#: The frame check: CRC-8/SMBUS over bytes (an ``amaranth.lib.crc.Parameters``).
CRC = catalog.CRC8_SMBUS(data_width=8)
#: Protocol version the INFO reply carries.
VERSION = 1
#: Idle line time, in bit times, that ends a dropped or cut-short frame.
IDLE_BITS = 40
#: Bytes of an address field and of the cycle counter.
ADDR_BYTES = 4
CYCLES_BYTES = 4
#: ``op`` of an error reply to a frame that had none.
NO_OP = 0xFF


class Op(enum.IntEnum):
    INFO = 0x00
    WRITE = 0x01
    READ = 0x02
    RUN = 0x03
    STATUS = 0x04


class Status(enum.IntEnum):
    OK = 0x00
    CHECKSUM = 0x01
    COMMAND = 0x02
    ARGUMENT = 0x03
    BUSY = 0x04
    FRAMING = 0x05
    TIMEOUT = 0x06


class Flag(enum.IntFlag):
    """Bits of the STATUS reply's flags byte."""
    BUSY = 0x01
    DONE = 0x02
    CONFLICT = 0x04
    OVERRUN = 0x08


def crc8(data):
    """The frame check (``CRC``) of ``data`` (bytes), from ``amaranth.lib.crc``'s software model."""
    return CRC.compute(bytes(data))


class ProtocolError(Exception):
    """A reply that is malformed, or that reports an error (``status`` is set then)."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class Frames:
    """Frame sizes, encoders and decoders of the protocol for an array with ``params``.

    Parameters
    ----------
    params : ChipParams
    """

    def __init__(self, params):
        if not isinstance(params, ChipParams):
            raise TypeError(f"Frames params must be a ChipParams, not {params!r}")
        self.params = params
        self.word_bytes = params.core.word_bytes

    def request_body_bytes(self, op):
        """Bytes of the body of request ``op``."""
        return {Op.WRITE: 2 + ADDR_BYTES + self.word_bytes, Op.READ: 2 + ADDR_BYTES}.get(Op(op), 0)

    def reply_body_bytes(self, op):
        """Bytes of the body of an ``OK`` reply to ``op``."""
        return {Op.INFO: 5, Op.READ: self.word_bytes, Op.STATUS: 1 + CYCLES_BYTES}.get(Op(op), 0)

    @property
    def max_request_body(self):
        return max(self.request_body_bytes(op) for op in Op)

    @property
    def max_reply_body(self):
        return max(self.reply_body_bytes(op) for op in Op)

    @staticmethod
    def frame(sync, content):
        return bytes([sync, *content, crc8(content)])

    def request(self, op, x=0, y=0, addr=0, data=0):
        """The request frame of ``op`` (an :class:`Op`) with its arguments."""
        op = Op(op)
        body = b""
        if op in (Op.WRITE, Op.READ):
            body = bytes([x, y]) + addr.to_bytes(ADDR_BYTES, "little")
        if op == Op.WRITE:
            body += data.to_bytes(self.word_bytes, "little")
        return self.frame(REQUEST_SYNC, bytes([op]) + body)

    def reply(self, status, op, body=b""):
        """A reply frame (what the bridge sends; for models and tests)."""
        return self.frame(REPLY_SYNC, bytes([status, op]) + bytes(body))

    def reply_bytes(self, status, op):
        """Length of a whole reply frame with ``status`` to ``op``."""
        body = self.reply_body_bytes(op) if status == Status.OK and op in set(Op) else 0
        return 4 + body

    def parse_reply(self, frame, op):
        """The body of reply ``frame`` to request ``op``; :class:`ProtocolError` for a bad or
        error reply (with its ``status``)."""
        if len(frame) < 4 or frame[0] != REPLY_SYNC:
            raise ProtocolError(f"reply must start with {REPLY_SYNC:#04x}, not {bytes(frame)!r}")
        if crc8(frame[1:-1]) != frame[-1]:
            raise ProtocolError(f"reply checksum must be {crc8(frame[1:-1]):#04x}, not {frame[-1]:#04x}")
        status = frame[1]
        if status != Status.OK:
            name = Status(status).name if status in set(Status) else status
            raise ProtocolError(f"bridge answered {name} to {Op(op).name if op in set(Op) else op}",
                                status=status)
        if frame[2] != op:
            raise ProtocolError(f"reply op must be {op:#04x}, not {frame[2]:#04x}")
        return bytes(frame[3:-1])
