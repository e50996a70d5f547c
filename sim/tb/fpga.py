"""cocotb testbench of the FPGA top level (``fpga.top.FpgaTop``: UART bridge and array).

The host driver's own code (:class:`fpga.host.interface.ArrayInterface` and
:mod:`fpga.host.protocol`) runs in a cocotb bridge thread and talks to the design through
a simulated UART on its ``rx`` and ``tx`` pins, bit by bit at the design's divisor. The
job file holds the array's parameters, the UART divisor, and the layer to run (a
:data:`sim.workloads.LAYERS` name, its precision and seed); the testbench compiles it,
loads it, tries every kind of bad frame and bad command (each must get its documented
error reply), writes the input, runs (and tries a WRITE while the run goes on), reads the
output and writes the result file: the outputs, the golden outputs, the error replies
and the run's cycle count, for the pytest side to check.
"""

import json
import logging

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge, Timer

from sim.tb.runner import testbench_params

try:
    from cocotb import bridge, resume
except ImportError:         # cocotb 2.1 exports them only inside a simulation
    from cocotb._bridge import bridge, resume

#: Clock period of the simulated design, in ns.
CLOCK_NS = 10
#: Bit times to wait for a reply byte before the transport gives up.
REPLY_TIMEOUT_BITS = 200_000


class SimulatedUart:
    """The host's end of the UART: bytes onto ``rx``, bytes decoded from ``tx``."""

    def __init__(self, dut, divisor):
        self.dut, self.bit_ns = dut, divisor * CLOCK_NS
        self.received = []
        self._arrived = cocotb.triggers.Event()
        dut.rx.value = 1

    async def send_byte(self, byte, stop_bit=1):
        for bit in [0, *((byte >> i) & 1 for i in range(8)), stop_bit]:
            self.dut.rx.value = bit
            await Timer(self.bit_ns, unit="ns")
        self.dut.rx.value = 1

    async def send(self, data, stop_bit=1):
        for byte in data:
            await self.send_byte(byte, stop_bit)

    async def idle(self, bits):
        await Timer(bits * self.bit_ns, unit="ns")

    async def monitor(self):
        """Decode every byte the design sends on ``tx``."""
        while True:
            await FallingEdge(self.dut.tx)
            await Timer(self.bit_ns * 3 // 2, unit="ns")
            byte = 0
            for i in range(8):
                byte |= int(self.dut.tx.value) << i
                await Timer(self.bit_ns, unit="ns")
            assert int(self.dut.tx.value) == 1, "the bridge sent a byte with a bad stop bit"
            self.received.append(byte)
            self._arrived.set()

    async def receive(self, count):
        """The next ``count`` bytes from the design (fewer if it stays silent too long)."""
        waited = 0
        while len(self.received) < count and waited < REPLY_TIMEOUT_BITS:
            self._arrived.clear()
            await cocotb.triggers.First(self._arrived.wait(), Timer(64 * self.bit_ns, unit="ns"))
            waited += 64
        data, self.received[:count] = bytes(self.received[:count]), []
        return data


class Transport:
    """``write``/``read`` as pyserial's, for :class:`ArrayInterface` in a bridge thread."""

    def __init__(self, uart):
        self._write, self._read = resume(uart.send), resume(uart.receive)

    def write(self, data):
        self._write(bytes(data))

    def read(self, count):
        return self._read(count)


async def raw_exchange(uart, frames, data, op, *, stop_bit=1, pause_bits=0):
    """Send ``data`` as it is, wait ``pause_bits`` of idle line, and return the reply's
    status and op (``None`` if there was no reply)."""
    await uart.send(data, stop_bit=stop_bit)
    if pause_bits:
        await uart.idle(pause_bits)
    head = await uart.receive(3)
    if len(head) < 3:
        return None
    rest = await uart.receive(frames.reply_bytes(head[1], op) - 3)
    return {"status": head[1], "op": head[2], "frame": list(head + rest)}


async def bad_requests(uart, frames, params, weight_addr):
    """Every kind of bad frame and command; the error replies, by case."""
    from fpga.host.protocol import IDLE_BITS, REQUEST_SYNC, Op
    write = frames.request(Op.WRITE, 0, 0, weight_addr, (1 << 8 * frames.word_bytes) - 1)
    cases = {
        # A WRITE of all ones over a loaded weight word, checksum off by one.
        "checksum": (write[:-1] + bytes([write[-1] ^ 1]), Op.WRITE, {}),
        "command": (bytes([REQUEST_SYNC, 0x7E, 1, 2, 3]), 0x7E, {}),
        "sync": (bytes([0x00, 0x13]), Op.INFO, {}),
        "stop_bit": (bytes([REQUEST_SYNC]), Op.WRITE, {"stop_bit": 0}),
        "timeout": (write[:5], Op.WRITE, {"pause_bits": IDLE_BITS + 20}),
        "x_range": (frames.request(Op.WRITE, params.columns, 0, weight_addr, 0), Op.WRITE, {}),
        "y_range": (frames.request(Op.READ, 0, params.rows, 0), Op.READ, {}),
        "addr_range": (frames.request(Op.WRITE, 0, 0, 1 << 31, 0), Op.WRITE, {}),
    }
    replies = {}
    for name, (data, op, options) in cases.items():
        replies[name] = await raw_exchange(uart, frames, data, op, **options)
        # Nothing more may come: one reply per bad request.
        await uart.idle(IDLE_BITS + 20)
        if replies[name] is not None:
            replies[name]["extra"] = list(uart.received)
        uart.received.clear()
    return replies


async def start_top(dut, divisor):
    """Start the clock, reset the design with its ``rx`` line idle, and return the host's
    end of the UART at ``divisor`` clock cycles a bit, its monitor running."""
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
    dut.rst.value = 1
    dut.rx.value = 1
    for _ in range(4):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    uart = SimulatedUart(dut, divisor)
    cocotb.start_soon(uart.monitor())
    await uart.idle(4)
    return uart


@cocotb.test()
async def host_driver(dut):
    from fpga.host.interface import ArrayInterface
    from fpga.host.protocol import Frames, Op
    from fpga.params import chip_params_from_dict
    from gen.compiler import compile_network
    from sim.workloads import LAYERS, build

    log = logging.getLogger("fpga")
    tb = testbench_params()
    with open(tb["job"]) as file:
        job = json.load(file)
    params = chip_params_from_dict(job["params"])
    log.info("layer %s int%d, seed %d", job["layer"], job["bits"], job["seed"])
    network, frame = build(LAYERS[job["layer"]], job["bits"], job["seed"])
    compiled = compile_network(network, params.core)
    expected = network.golden(frame)

    uart = await start_top(dut, job["divisor"])
    frames = Frames(params)
    interface = ArrayInterface(Transport(uart), params)

    @bridge
    def load():
        interface.check()
        interface.write_words(0, 0, compiled.load_words())

    @bridge
    def start():
        interface.write_words(0, 0, compiled.input_words(frame))
        interface.run()

    @bridge
    def finish():
        status = interface.wait(timeout=1e9)
        outputs = {}
        for name in compiled.network.outputs:
            words = [interface.read(0, 0, addr) for addr in compiled.output_addresses(name)]
            outputs[name] = compiled.decode(name, words)
        return outputs, status

    await load()
    weight_addr = compiled.load_words()[0][0]
    replies = await bad_requests(uart, frames, params, weight_addr)
    await start()
    busy = await raw_exchange(uart, frames, frames.request(Op.WRITE, 0, 0, weight_addr, 0), Op.WRITE)
    replies["busy"] = busy
    outputs, status = await finish()
    result = {
        "replies": replies,
        "cycles": status.cycles, "flags": int(status.flags), "predicted_cycles": compiled.predicted_cycles,
        "outputs": {name: np.asarray(value).tolist() for name, value in outputs.items()},
        "expected": {name: np.asarray(value).tolist() for name, value in expected.items()},
    }
    with open(tb["result"], "w") as file:
        json.dump(result, file)
