"""cocotb testbench of the core array through the host interface's three commands only.

The job file (``job`` in the testbench parameters) holds ``load``, the encoded ``WRITE``
commands that load every core before the first run; ``frames``, per frame the ``writes``
of its input and the ``reads`` of its output (encoded ``WRITE`` and ``READ`` commands);
``run``, the encoded ``RUN`` command; ``predicted_cycles``; and ``progress``, whether to
draw a progress bar on standard error. The testbench sends the load once, then per frame
its writes, ``RUN``, times the cycles until ``done`` rises, sends the reads and collects every
word on ``o_data`` (raw payloads). The result file holds ``load_cycles``, the cycles the
load's writes took, and ``frames``: per frame the words, its cycle count, the chip's
``cycles``, ``conflict`` and ``overrun``, ``write_cycles`` (from its first write to the
cycle ``RUN`` was taken, that cycle included) and ``read_cycles`` (from its first ``READ``
to the cycle its last word came, both included).
"""

import json
import sys

import cocotb
from cocotb.triggers import ClockCycles, FallingEdge, First, ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

from sim.tb.common import CLOCK_PERIOD_NS, reset
from sim.tb.runner import testbench_params

#: Cycles to wait beyond the prediction (and the reads) before declaring the array hung.
TIMEOUT_MARGIN = 2000
#: Characters of the progress bar.
BAR_WIDTH = 40


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


def cycles_since(begin):
    """Whole clock cycles from sim time ``begin`` (ns) to now, both on falling edges."""
    elapsed = round(get_sim_time("ns") - begin)
    if elapsed % CLOCK_PERIOD_NS:
        raise AssertionError(f"{elapsed} ns is not a whole number of clock cycles")
    return elapsed // CLOCK_PERIOD_NS


async def run_frame(dut, frame, run, predicted_cycles):
    """Write one frame's input, run, read its output; return the frame's result."""
    begin = get_sim_time("ns")
    await send(dut, frame["writes"])
    await send(dut, [run])
    write_cycles = cycles_since(begin)
    # From the falling edge after RUN was taken: the rising edges before the one that
    # raises ``done`` are the run's cycles. Timed by the simulator, not counted edge by edge
    # in Python, so that a long run costs no Python per cycle.
    begin = get_sim_time("ns")
    limit = predicted_cycles + TIMEOUT_MARGIN
    timeout = ClockCycles(dut.clk, limit)
    if await First(RisingEdge(dut.done), timeout) is timeout:
        raise AssertionError(f"no done after {limit} cycles; predicted {predicted_cycles}")
    elapsed = round(get_sim_time("ns") - begin) - CLOCK_PERIOD_NS // 2
    if elapsed % CLOCK_PERIOD_NS:
        raise AssertionError(f"done rose {elapsed} ns after the run began, off the clock's rising edges")
    cycles = elapsed // CLOCK_PERIOD_NS
    await FallingEdge(dut.clk)
    words = []
    begin = get_sim_time("ns")
    collector = cocotb.start_soon(collect(dut, words, len(frame["reads"])))
    await send(dut, frame["reads"])
    await collector
    await FallingEdge(dut.clk)            # leave the collector's read-only phase before driving
    return {"cycles": cycles, "counter": int(dut.cycles.value), "conflict": int(dut.conflict.value),
            "overrun": int(dut.overrun.value), "words": words, "write_cycles": write_cycles,
            "read_cycles": cycles_since(begin)}


def draw_progress(done, total):
    filled = BAR_WIDTH * done // total
    sys.__stderr__.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} frames")
    if done == total:
        sys.__stderr__.write("\n")
    sys.__stderr__.flush()


@cocotb.test()
async def run_array(dut):
    params = testbench_params()
    with open(params["job"]) as file:
        job = json.load(file)
    await reset(dut)
    dut.i_command__valid.value = 0
    dut.o_data__ready.value = 1
    begin = get_sim_time("ns")
    await send(dut, job["load"])
    load_cycles = cycles_since(begin)
    results = []
    for frame in job["frames"]:
        results.append(await run_frame(dut, frame, job["run"], job["predicted_cycles"]))
        if job["progress"]:
            draw_progress(len(results), len(job["frames"]))
    with open(params["result"], "w") as file:
        json.dump({"load_cycles": load_cycles, "frames": results}, file)
