"""cocotb testbench of one core's control: token pulses in and out, cycle by cycle.

The job file (``job`` in the testbench parameters) holds ``load``, the ``[host word
address, value]`` pairs that load the program (as :meth:`gen.compiler.Compiled.load_words`
gives them), ``pulses``, ``[cycle, tokens]`` pairs to drive on ``i_tokens`` for one cycle
each, and ``limit``, the cycles after which the run is declared hung. Cycle ``k`` of a run
is the one after the ``k``-th rising edge since the edge that samples ``start``, the cycle
in which the core's ``cycles`` counter reads ``k`` (cycle 0 fetches instruction 0); a
pulse at cycle ``-1`` is driven together with ``start``. The result file holds every
cycle with a non-zero ``o_tokens`` and its value, the cycle ``done`` rose in, the core's
``cycles`` counter and ``conflict`` flag. :func:`sim.cycle.token_timing` predicts the cycles from
the timing :mod:`hdl.isa` documents, with the same numbering.
"""

import json
import logging

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from sim.tb.common import reset
from sim.tb.core import host_write
from sim.tb.runner import testbench_params

logger = logging.getLogger(__name__)


@cocotb.test()
async def run_tokens(dut):
    params = testbench_params()
    with open(params["job"]) as file:
        job = json.load(file)
    pulses = {cycle: tokens for cycle, tokens in job["pulses"]}
    await reset(dut)
    for name in ("host__en", "host__write", "start", "i_tokens"):
        getattr(dut, name).value = 0
    await host_write(dut, job["load"])

    dut.start.value = 1
    dut.i_tokens.value = pulses.get(-1, 0)
    await RisingEdge(dut.clk)
    signals, cycle = [], 0
    while True:
        await ReadOnly()
        tokens = int(dut.o_tokens.value)
        if tokens:
            signals.append([cycle, tokens])
        if int(dut.done.value):
            break
        if cycle > job["limit"]:
            raise AssertionError(f"no done after {cycle} cycles")
        await FallingEdge(dut.clk)
        dut.start.value = 0
        dut.i_tokens.value = pulses.get(cycle, 0)
        await RisingEdge(dut.clk)
        cycle += 1
    logger.info("done in cycle %d; o_tokens pulses %s", cycle, signals)
    await FallingEdge(dut.clk)
    result = {"signals": signals, "done": cycle, "counter": int(dut.cycles.value),
              "conflict": int(dut.conflict.value)}
    with open(params["result"], "w") as file:
        json.dump(result, file)
