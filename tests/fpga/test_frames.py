"""The bridge's frame check in gateware against the host's: :class:`FrameReceiver` and
:class:`ReplySender` alone in Amaranth's simulator, their CRC-8/SMBUS (``amaranth.lib.crc``'s
``Processor``) checked against the host's frames (the same algorithm's software model)."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from fpga.boards import BOARDS
from fpga.host.gateware import FrameReceiver, ReplySender
from fpga.host.protocol import CRC, Frames, Op, Status, crc8

PARAMS = BOARDS["ulx3s"].default_params()
FRAMES = Frames(PARAMS)
#: Cycles between received bytes (a UART byte takes many more; one is enough here).
GAP = 3
TIMEOUT = 50


def test_crc_is_the_catalog_algorithm():
    """The host's check is CRC-8/SMBUS: its catalog check value, and the bitwise definition
    (polynomial 0x07, initial value 0, no reflection, no final XOR) on random bytes."""
    assert CRC.compute(b"123456789") == crc8(b"123456789") == 0xF4
    rng = np.random.default_rng(18)
    for _ in range(20):
        message = bytes(rng.integers(0, 256, size=int(rng.integers(0, 40)), dtype=np.uint8))
        value = 0
        for byte in message:
            value ^= byte
            for _ in range(8):
                value = ((value << 1) ^ 0x07 if value & 0x80 else value << 1) & 0xFF
        assert crc8(message) == value, message.hex()


def receive(frame):
    """The ``(status, op, body bytes)`` the receiver makes of ``frame``."""
    dut = FrameReceiver(PARAMS, timeout=TIMEOUT)
    result = []

    async def testbench(ctx):
        ctx.set(dut.o_request.ready, 0)
        for byte in frame:
            ctx.set(dut.i_data.payload, {"data": byte, "error": 0})
            ctx.set(dut.i_data.valid, 1)
            await ctx.tick()
            ctx.set(dut.i_data.valid, 0)
            await ctx.tick().repeat(GAP)
        for _ in range(TIMEOUT * 2):
            if ctx.get(dut.o_request.valid):
                request = ctx.get(dut.o_request.payload)
                body = int(request.body)
                result.append((request.status, request.op,
                               body.to_bytes(FRAMES.max_request_body, "little")))
                return
            await ctx.tick()

    simulator = Simulator(dut)
    simulator.add_clock(1e-6)
    simulator.add_testbench(testbench)
    simulator.run()
    assert result, "no request came out"
    status, op, body = result[0]
    return Status(int(status)), int(op), body


@pytest.mark.parametrize("op", [Op.INFO, Op.WRITE, Op.READ])
def test_receiver_accepts_host_frames(op):
    frame = FRAMES.request(op, 1, 0, 0x123, 0x0BADF00D)
    status, received_op, body = receive(frame)
    assert (status, received_op) == (Status.OK, op)
    length = FRAMES.request_body_bytes(op)
    assert body[:length] == frame[2:-1]


@pytest.mark.parametrize("flip", [0x01, 0x80])
def test_receiver_refuses_bad_check(flip):
    frame = bytearray(FRAMES.request(Op.READ, 0, 0, 0x45))
    frame[-1] ^= flip
    assert receive(bytes(frame))[:2] == (Status.CHECKSUM, Op.READ)


def send(status, op, body):
    """The bytes the reply sender puts out for a reply."""
    dut = ReplySender(PARAMS)
    sent = []

    async def testbench(ctx):
        ctx.set(dut.i_reply.payload, {"status": status, "op": op, "length": len(body),
                                      "body": int.from_bytes(body, "little")})
        ctx.set(dut.i_reply.valid, 1)
        ctx.set(dut.o_data.ready, 1)
        for _ in range(10 * (4 + len(body))):
            _, _, valid, payload, taken = await ctx.tick().sample(dut.o_data.valid, dut.o_data.payload,
                                                                  dut.i_reply.ready)
            if valid:
                sent.append(payload)
            if taken:       # with the last byte: the reply holds until then
                assert len(sent) == 4 + len(body), f"reply taken after {len(sent)} bytes"
                return

    simulator = Simulator(dut)
    simulator.add_clock(1e-6)
    simulator.add_testbench(testbench)
    simulator.run()
    return bytes(sent)


@pytest.mark.parametrize("status, op, body", [
    (Status.OK, Op.READ, bytes([0x12, 0x34, 0x56, 0x78])),
    (Status.OK, Op.STATUS, bytes([0x02, 0xFF, 0x00, 0x10, 0x00])),
    (Status.CHECKSUM, Op.WRITE, b""),
])
def test_sender_matches_host_frames(status, op, body):
    assert send(status, op, body) == FRAMES.reply(status, op, body)
