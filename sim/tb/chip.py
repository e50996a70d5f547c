"""cocotb testbench of the core array through the host interface's three commands only.

The job file (``job`` in the testbench parameters) holds ``load``, the encoded ``WRITE``
commands that load every core before the first run; ``frames``, per frame the ``writes``
of its input and the ``reads`` of its output (encoded ``WRITE`` and ``READ`` commands);
``run``, the encoded ``RUN`` command; ``predicted_cycles``; ``input_delay``, ``None`` or
the cycles to wait after a ``RUN`` before writing the next frame
(:attr:`gen.array.ArrayCompiled.input_delay`); and ``progress``, whether to draw a
progress bar on standard error. The testbench sends the load once, then per frame its
writes, ``RUN``, times the cycles until ``done`` rises, sends the reads and collects every
word on ``o_data`` (raw payloads); with an ``input_delay``, a frame's writes (but the
first's) are sent while the run before it computes instead, that many cycles after its
``RUN`` was taken, one a cycle. The result file holds ``load_cycles``, the cycles the
load's writes took, and ``frames``: per frame the words, its cycle count, the chip's
``cycles``, ``conflict`` and ``overrun``, ``write_cycles`` (from its first write to the
cycle its ``RUN`` was taken, that cycle included, the run before and its reads included
when the writes overlap it), ``read_cycles`` (from its first ``READ`` to the cycle
its last word came, both included) and ``period`` (from the cycle the run before was
taken to the cycle its own ``RUN`` was; ``None`` for the first).
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


async def timed_run(dut, predicted_cycles):
    """From the falling edge after ``RUN`` was taken, the run's cycles: the rising edges
    before the one that raises ``done``. Timed by the simulator, not counted edge by edge
    in Python, so that a long run costs no Python per cycle."""
    begin = get_sim_time("ns")
    limit = predicted_cycles + TIMEOUT_MARGIN
    timeout = ClockCycles(dut.clk, limit)
    if await First(RisingEdge(dut.done), timeout) is timeout:
        raise AssertionError(f"no done after {limit} cycles; predicted {predicted_cycles}")
    elapsed = round(get_sim_time("ns") - begin) - CLOCK_PERIOD_NS // 2
    if elapsed % CLOCK_PERIOD_NS:
        raise AssertionError(f"done rose {elapsed} ns after the run began, off the clock's rising edges")
    return elapsed // CLOCK_PERIOD_NS


async def write(dut, writes, delay=0):
    """After ``delay`` cycles, send ``writes``; return the sim time (ns) the first was sent at."""
    if delay:
        await ClockCycles(dut.clk, delay, rising=False)
    begin = get_sim_time("ns")
    await send(dut, writes)
    return begin


async def run_frame(dut, frame, run, predicted_cycles, written, following=None, delay=None):
    """Run the frame whose input was written from sim time ``written`` (ns) on, and read its
    output; with ``following``, write that frame's input while the run computes, ``delay``
    cycles after ``RUN`` was taken. Returns the frame's result, the sim time of the falling
    edge after its ``RUN`` was taken, and that the ``following`` frame's writes began at."""
    await send(dut, [run])
    taken, write_cycles = get_sim_time("ns"), cycles_since(written)
    timer = cocotb.start_soon(timed_run(dut, predicted_cycles))
    following_written = None if following is None else await write(dut, following["writes"], delay)
    cycles = await timer
    await FallingEdge(dut.clk)
    words = []
    begin = get_sim_time("ns")
    collector = cocotb.start_soon(collect(dut, words, len(frame["reads"])))
    await send(dut, frame["reads"])
    await collector
    await FallingEdge(dut.clk)            # leave the collector's read-only phase before driving
    return ({"cycles": cycles, "counter": int(dut.cycles.value), "conflict": int(dut.conflict.value),
             "overrun": int(dut.overrun.value), "words": words, "write_cycles": write_cycles,
             "read_cycles": cycles_since(begin)}, taken, following_written)


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
    results, taken, frames, delay = [], None, job["frames"], job["input_delay"]
    written = None
    for number, frame in enumerate(frames):
        if written is None:
            written = await write(dut, frame["writes"])
        following = frames[number + 1] if delay is not None and number + 1 < len(frames) else None
        result, run_taken, written = await run_frame(dut, frame, job["run"], job["predicted_cycles"],
                                                     written, following, delay)
        result["period"] = None if taken is None else round(run_taken - taken) // CLOCK_PERIOD_NS
        taken = run_taken
        results.append(result)
        if job["progress"]:
            draw_progress(len(results), len(frames))
    with open(params["result"], "w") as file:
        json.dump({"load_cycles": load_cycles, "frames": results}, file)
