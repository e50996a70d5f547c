"""cocotb testbench of one core: load, write the input frame, run, read the output frames.

The job file (``job`` in the testbench parameters) holds the compiler's output as host
writes and reads: ``load`` and ``input`` are ``[host word address, value]`` pairs,
``outputs`` maps each output tensor to the word addresses to read. The testbench drives
the host port one access a cycle (inputs change on the falling edge), pulses ``start``,
counts the cycles until ``done`` itself, and writes to the result file the words read, its
own cycle count, the core's ``cycles`` counter and the ``conflict`` flag. The comparison
with the golden model happens in pytest (:func:`tests.integration.test_core`), where the
words are decoded per layer and coordinate.
"""

import json
import logging

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from sim.tb.common import reset
from sim.tb.runner import testbench_params

logger = logging.getLogger(__name__)

#: Cycles to wait for ``done`` beyond the compiler's prediction before the run is declared hung.
TIMEOUT_MARGIN = 1000


async def host_write(dut, writes):
    """Write ``[address, value]`` pairs through the host port, one a cycle (on falling edges)."""
    dut.host__write.value = 1
    for address, value in writes:
        dut.host__en.value = 1
        dut.host__addr.value = address
        dut.host__data.value = value
        await FallingEdge(dut.clk)
    dut.host__en.value = 0
    dut.host__write.value = 0


async def host_read(dut, addresses):
    """Read the words at ``addresses`` through the host port, one a cycle.

    An address applied before a rising edge has its word on ``read_data`` after that edge
    (read latency 1), where the following falling edge samples it.
    """
    words = []
    dut.host__write.value = 0
    dut.host__en.value = 1
    for address in addresses:
        dut.host__addr.value = address
        await FallingEdge(dut.clk)
        words.append(int(dut.host__read_data.value))
    dut.host__en.value = 0
    return words


async def run(dut, predicted):
    """Pulse ``start``; return the cycles from the cycle after ``start`` to ``done``."""
    dut.start.value = 1
    await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.start.value = 0
    cycles = 0
    while True:
        await RisingEdge(dut.clk)
        cycles += 1
        await ReadOnly()
        if int(dut.done.value):
            await FallingEdge(dut.clk)
            return cycles
        if cycles > predicted + TIMEOUT_MARGIN:
            raise AssertionError(f"no done after {cycles} cycles; the compiler predicted {predicted}")


@cocotb.test()
async def run_program(dut):
    params = testbench_params()
    with open(params["job"]) as file:
        job = json.load(file)
    await reset(dut)
    for name in ("host__en", "host__write", "start", "i_tokens"):
        getattr(dut, name).value = 0
    await host_write(dut, job["load"])
    await host_write(dut, job["input"])
    cycles = await run(dut, job["predicted_cycles"])
    logger.info("ran %d cycles (predicted %d)", cycles, job["predicted_cycles"])
    outputs = {name: await host_read(dut, addresses) for name, addresses in job["outputs"].items()}
    result = {"cycles": cycles, "counter": int(dut.cycles.value), "conflict": int(dut.conflict.value),
              "outputs": outputs}
    with open(params["result"], "w") as file:
        json.dump(result, file)
