"""cocotb testbench of the core array through the host interface's three commands only.

The job file (``job`` in the testbench parameters) holds ``writes``, the encoded
``WRITE`` commands that load every core and write the input frames; ``run``, the encoded
``RUN`` command; ``reads``, the encoded ``READ`` commands of the output frames; and
``predicted_cycles``. The testbench sends the writes, then ``RUN``, counts the cycles
until ``done``, sends the reads and collects every word on ``o_data`` (raw payloads). The
result file holds the words, its cycle count, the chip's ``cycles``, ``conflict`` and
``overrun``.
"""

import json

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from sim.tb.common import reset
from sim.tb.runner import testbench_params

#: Cycles to wait beyond the prediction (and the reads) before declaring the array hung.
TIMEOUT_MARGIN = 2000


async def send(dut, commands):
    """Send encoded commands on ``i_command``, one per accepted handshake."""
    for command in commands:
        dut.i_command__valid.value = 1
        dut.i_command__payload.value = command
        while True:
            await ReadOnly()
            accepted = int(dut.i_command__ready.value)
            await RisingEdge(dut.clk)
            await FallingEdge(dut.clk)
            if accepted:
                break
    dut.i_command__valid.value = 0


async def collect(dut, words, expected):
    """Take every ``o_data`` word (always ready) until ``expected`` have come."""
    while len(words) < expected:
        await FallingEdge(dut.clk)
        await ReadOnly()
        if int(dut.o_data__valid.value):
            words.append(int(dut.o_data__payload.value))


@cocotb.test()
async def run_array(dut):
    params = testbench_params()
    with open(params["job"]) as file:
        job = json.load(file)
    await reset(dut)
    dut.i_command__valid.value = 0
    dut.o_data__ready.value = 1
    await send(dut, job["writes"])
    await send(dut, [job["run"]])
    cycles = 0
    while True:
        await RisingEdge(dut.clk)
        await ReadOnly()
        if int(dut.done.value):
            break
        cycles += 1
        if cycles > job["predicted_cycles"] + TIMEOUT_MARGIN:
            raise AssertionError(f"no done after {cycles} cycles; predicted {job['predicted_cycles']}")
    await FallingEdge(dut.clk)
    words = []
    collector = cocotb.start_soon(collect(dut, words, len(job["reads"])))
    await send(dut, job["reads"])
    await collector
    result = {"cycles": cycles, "counter": int(dut.cycles.value), "conflict": int(dut.conflict.value),
              "overrun": int(dut.overrun.value), "words": words}
    with open(params["result"], "w") as file:
        json.dump(result, file)
