"""The sequencer alone in Amaranth's simulator, against the timing and the streams hdl.isa documents.

The testbench stands in for the rest of the core: a program memory that serves the row
``program_addr`` of the encoded program (a whole instruction, or one word of it with
``CoreParams.narrow_program``) on ``program_data`` the cycle after ``program_en``, and a compute
path that reports each tile on ``tile_in`` (``drain - requantize_latency`` cycles after
the element with ``last`` was issued) and ``tile_out`` (``drain`` cycles after it). Cycle
``k`` is the one after the ``k``-th rising edge since the edge that samples ``start``.
The expected element addresses come from :func:`gen.compiler.element_addresses`, the
expected cycle counts from :mod:`sim.cycle` and :func:`sim.tb.core_control.token_timing`.
"""

from dataclasses import replace

import numpy as np
import pytest
from amaranth.sim import Simulator

from gen.compiler import element_addresses
from hdl.isa import (
    Instruction,
    Opcode,
    Stream,
    encode,
    fetch_cycles,
    program_row_width,
    program_row_words_log2,
)
from hdl.params import CoreParams, MacParams
from hdl.requantize import requantize_latency
from hdl.sequencer import Sequencer
from hdl.sram import BankedSram
from sim.cycle import drain_cycles, instruction_cycles, program_cycles, token_timing, write_cycles
from tests.helpers import CLOCK_PERIOD

PARAMS = CoreParams(activation_depth=64, weight_depth=64, settings_depth=8, program_depth=8)
WORD = PARAMS.word_bytes
#: Cycles a run may take beyond its prediction before the testbench gives up.
TIMEOUT_MARGIN = 50

MAC = Instruction(Opcode.MAC, reduce_levels=2, counts=(2, 3, 1, 2, 1, 1),
                  a=Stream(200, (8, -40, 0, 16)), b=Stream(512, (64, 128, 0, 384)),
                  o=Stream(1000, (0, 0, 0, 8)), s=Stream(1, (0, 0, 0, 1)))
ADD = Instruction(Opcode.ADD, reduce_levels=0, counts=(3, 2),
                  a=Stream(2, (2, 24)), b=Stream(41, (2, 24)), o=Stream(1500, (1, 10)),
                  s=Stream(3, (0, 1)))
PROGRAM = (MAC, Instruction(Opcode.SIGNAL, token=5), ADD, Instruction(Opcode.HALT))


def program_rows(instructions, params):
    """The program memory's rows: ``{row address: bits}`` for ``{index: instruction}``."""
    shift, width = program_row_words_log2(params), program_row_width(params)
    rows = {}
    for index, instruction in instructions.items():
        bits = encode(instruction, params)
        for word in range(1 << shift):
            rows[(index << shift) + word] = (bits >> (word * width)) & ((1 << width) - 1)
    return rows


def start_cycles(program, params=PARAMS):
    """The cycle each instruction's fetch begins in, when no ``WAIT`` waits."""
    cycles, total = [], 0
    for instruction in program:
        cycles.append(total)
        total += instruction_cycles(instruction, params)
    return cycles


def tile_elements(instruction):
    """Per element, whether it opens and whether it closes its tile, from the loop indices."""
    reduce = instruction.reduce_levels
    shape = tuple(reversed(instruction.counts))         # outermost first, as numpy iterates
    flags = []
    for outer_first in np.ndindex(shape):
        index = outer_first[::-1]
        flags.append((all(index[level] == 0 for level in range(reduce)),
                      all(index[level] == instruction.counts[level] - 1 for level in range(reduce))))
    return flags


def simulate(program, *, pulses=(), start_again=(), limit=None, entry=0, downward=False, params=PARAMS):
    """Run ``program``; returns a record of what the sequencer did, cycle by cycle.

    ``pulses`` are ``(cycle, token)`` to pulse on ``i_tokens`` (cycle ``-1``: with
    ``start``; ``-2``: the cycle before, while idle); ``start_again`` are cycles to pulse
    ``start`` in while the program runs.
    """
    drains = drain_cycles(params)
    dut = Sequencer(params, mac_drain=drains["mac"], vector_drain=drains["vector"],
                    macadd_drain=drains["macadd"], send_drain=BankedSram.LATENCY,
                    entry=entry, downward=downward)
    step = -1 if downward else 1
    rows = program_rows({entry + step * index: instruction for index, instruction in enumerate(program)},
                        params)
    row_mask = (1 << program_row_words_log2(params)) - 1
    limit = limit or program_cycles(program, params) + TIMEOUT_MARGIN
    record = {"elements": [], "tokens": [], "busy": [], "done": [], "cycles": [],
              "settings": {}, "tiles_in": [], "writes": [], "write_cycles": [],
              "fetches": [], "a_reads": [], "sends": []}

    def tokens_at(cycle):
        return sum(1 << token for at, token in pulses if at == cycle)

    async def testbench(ctx):
        if tokens_at(-2):
            ctx.set(dut.i_tokens, tokens_at(-2))
            await ctx.tick()
        ctx.set(dut.start, 1)
        ctx.set(dut.i_tokens, tokens_at(-1))
        await ctx.tick()
        read, tile_in, tile_out = None, set(), set()
        for cycle in range(limit):
            # The inputs of this cycle: what the program memory and compute path return.
            if read is not None:
                ctx.set(dut.program_data, rows[read])
            ctx.set(dut.start, cycle in start_again)
            ctx.set(dut.i_tokens, tokens_at(cycle))
            ctx.set(dut.tile_in, cycle in tile_in)
            ctx.set(dut.tile_out, cycle in tile_out)
            # The outputs.
            read = ctx.get(dut.program_addr) if ctx.get(dut.program_en) else None
            if read is not None and not read & row_mask:       # an instruction's first row
                record["fetches"].append(cycle)
            if ctx.get(dut.a_read.en):
                record["a_reads"].append((cycle, ctx.get(dut.a_read.addr) * WORD
                                          + ctx.get(dut.a_read.offset)))
            if ctx.get(dut.send):
                record["sends"].append((cycle, ctx.get(dut.o_write.addr) * WORD
                                        + ctx.get(dut.o_write.offset)))
            if ctx.get(dut.element.valid):
                opcode = Opcode(ctx.get(dut.instruction.opcode))
                a, b = dut.a_read, dut.b_read
                record["elements"].append({
                    "cycle": cycle, "opcode": opcode,
                    "a": ctx.get(a.addr) * WORD + ctx.get(a.offset),
                    "b": ctx.get(b.addr) * WORD + ctx.get(b.offset),
                    "a_en": ctx.get(a.en), "b_en": ctx.get(b.en),
                    "first": ctx.get(dut.element.first), "last": ctx.get(dut.element.last)})
                if ctx.get(dut.element.last):
                    drain = drains["mac" if opcode == Opcode.MAC else "vector"]
                    tile_in.add(cycle + drain - requantize_latency(params.mac))
                    tile_out.add(cycle + drain)
            if cycle in tile_in:
                record["tiles_in"].append(cycle)
            if cycle in tile_out:
                record["writes"].append(ctx.get(dut.o_write.addr) * WORD + ctx.get(dut.o_write.offset))
                record["write_cycles"].append(cycle)
            record["settings"][cycle] = ctx.get(dut.settings_addr)
            if ctx.get(dut.o_tokens):
                record["tokens"].append((cycle, ctx.get(dut.o_tokens)))
            for name in ("busy", "done", "cycles"):
                record[name].append(ctx.get(getattr(dut, name)))
            if ctx.get(dut.done):
                break
            await ctx.tick()

    simulator = Simulator(dut)
    simulator.add_clock(CLOCK_PERIOD)
    simulator.add_testbench(testbench)
    simulator.run()
    return record


def done_cycle(record):
    """The first cycle ``done`` is high in, or ``None``."""
    return next((cycle for cycle, done in enumerate(record["done"]) if done), None)


#: A core that requantizes one column a cycle: tiles start at least 8 cycles apart.
SLICED = replace(PARAMS, mac=MacParams(requantize_columns=1))
#: A core that fetches each instruction a word a cycle.
NARROW = replace(PARAMS, narrow_program=True)
#: A core that fetches each instruction but the steps of streams a and b a word a cycle,
#: and reads those as its loops need them.
STEPS = replace(NARROW, program_steps=True)


@pytest.mark.parametrize("start_again, entry, downward, params",
                         [((), 0, False, PARAMS), ((4, 30), 0, False, PARAMS), ((), 4, False, PARAMS),
                          ((), 7, True, PARAMS), ((), 0, False, SLICED), ((), 0, False, NARROW),
                          ((), 7, True, NARROW), ((), 0, False, STEPS), ((), 7, True, STEPS),
                          ((), 0, False, replace(STEPS, mac=SLICED.mac))],
                         ids=["plain", "start-while-busy", "entry-4", "downward-from-7", "tiles-spaced",
                              "narrow-fetch", "narrow-fetch-downward", "program-steps",
                              "program-steps-downward", "program-steps-tiles-spaced"])
def test_program(start_again, entry, downward, params):
    record = simulate(PROGRAM, start_again=start_again, entry=entry, downward=downward, params=params)
    predicted = program_cycles(PROGRAM, params)
    starts = start_cycles(PROGRAM, params)

    # Run length: busy from the cycle after start to HALT, done the cycle after, counter equal.
    assert done_cycle(record) == predicted, f"done in cycle {done_cycle(record)}, predicted {predicted}"
    assert sum(record["busy"]) == predicted
    assert record["busy"][:predicted] == [1] * predicted and record["busy"][predicted] == 0
    assert record["cycles"][predicted] == predicted

    # Elements: one a cycle from each compute instruction's decode on, in loop order, each
    # tile tile_interval cycles after the one before at the earliest.
    expected = []
    for start, instruction in zip(starts, PROGRAM):
        if not instruction.opcode.computes:
            continue
        flags = tile_elements(instruction)
        tile = instruction.elements // instruction.tiles
        period = max(tile, params.mac.tile_interval)
        for index, (a, b, (first, last)) in enumerate(zip(element_addresses(instruction, "a"),
                                                          element_addresses(instruction, "b"),
                                                          flags)):
            cycle = start + fetch_cycles(params) + index // tile * period + index % tile
            expected.append({"cycle": cycle, "opcode": instruction.opcode,
                             "a": int(a), "b": int(b), "a_en": 1, "b_en": 1,
                             "first": int(first), "last": int(last)})
    assert len(expected) == MAC.elements + ADD.elements == 18
    assert record["elements"] == expected

    # Per tile: the settings entry one cycle before the tile enters, the write address as it leaves.
    settings, writes = [], []
    for instruction in PROGRAM:
        if instruction.opcode.computes:
            last = [last for _, last in tile_elements(instruction)]
            settings += [int(s) for s, end in zip(element_addresses(instruction, "s"), last) if end]
            writes += [int(o) for o, end in zip(element_addresses(instruction, "o"), last) if end]
    assert len(writes) == MAC.tiles + ADD.tiles == 8
    assert [record["settings"][cycle - 1] for cycle in record["tiles_in"]] == settings
    assert record["writes"] == writes
    assert record["write_cycles"] == [start + int(cycle) for start, instruction in zip(starts, PROGRAM)
                                      if instruction.opcode.computes
                                      for cycle in write_cycles(instruction, params)]

    # SIGNAL 5: bit 5 for exactly one cycle, the cycle after the SIGNAL's fetch.
    assert record["tokens"] == [(starts[1] + fetch_cycles(params), 1 << 5)]


SEND = Instruction(Opcode.SEND, counts=(3, 2), a=Stream(16, (8, 40)), o=Stream(800, (24, 8)),
                   dest_x=1)
#: DELAYs before, between and after the SENDs, and a compute instruction after a DELAY.
DELAY_SEND_PROGRAM = (Instruction(Opcode.DELAY, counts=(4,)), SEND, Instruction(Opcode.DELAY, counts=(1,)),
                      SEND, ADD, Instruction(Opcode.DELAY, counts=(3,)), Instruction(Opcode.HALT))


@pytest.mark.parametrize("params", [PARAMS, NARROW, STEPS], ids=["wide", "narrow", "program-steps"])
def test_delay_and_send(params):
    """``DELAY`` reads nothing and fetches the next instruction ``instruction_cycles`` after
    its own; ``SEND`` reads operand ``a`` one word a cycle from its decode on and raises
    ``send`` with each word's destination ``BankedSram.LATENCY`` cycles after its read."""
    program = DELAY_SEND_PROGRAM
    record = simulate(program, params=params)
    starts = start_cycles(program, params)
    predicted = program_cycles(program, params)
    assert record["fetches"] == starts, f"fetches in {record['fetches']}, predicted {starts}"
    assert done_cycle(record) == predicted, f"done in cycle {done_cycle(record)}, predicted {predicted}"
    assert record["cycles"][predicted] == predicted

    reads, sends = [], []
    for start, instruction in zip(starts, program):
        first = start + fetch_cycles(params)
        if instruction.opcode == Opcode.SEND:
            reads += [(first + index, int(a)) for index, a in enumerate(element_addresses(instruction, "a"))]
            sends += [(first + index + BankedSram.LATENCY, int(o))
                      for index, o in enumerate(element_addresses(instruction, "o"))]
        elif instruction.opcode.computes:
            reads += [(first + index, int(a)) for index, a in enumerate(element_addresses(instruction, "a"))]
    assert len(sends) == 2 * SEND.elements == 12
    assert record["a_reads"] == reads
    assert record["sends"] == sends
    # Neither SEND nor DELAY issues an element to the compute path: only the ADD's are.
    assert [element["cycle"] for element in record["elements"]] == \
        [starts[4] + fetch_cycles(params) + index for index in range(ADD.elements)]
    assert record["writes"] == [int(o) for o in element_addresses(ADD, "o")]


def test_halt_alone():
    record = simulate((Instruction(Opcode.HALT),))
    assert done_cycle(record) == fetch_cycles(PARAMS) == program_cycles((Instruction(Opcode.HALT),), PARAMS)
    assert record["elements"] == [] and record["tokens"] == []


@pytest.mark.parametrize("entry, downward", [(0, False), (3, True)], ids=["compute", "message"])
def test_program_banks_alternate(entry, downward):
    """With two program banks, run ``r`` since reset fetches from bank ``r mod 2``: the
    same indices, the bank in the address's top bit."""
    params = CoreParams(activation_depth=64, weight_depth=64, settings_depth=8, program_depth=8,
                        program_banks=2)
    drains = drain_cycles(params)
    dut = Sequencer(params, mac_drain=drains["mac"], vector_drain=drains["vector"],
                    macadd_drain=drains["macadd"], send_drain=BankedSram.LATENCY,
                    entry=entry, downward=downward)
    step = -1 if downward else 1
    # Each bank: a SIGNAL of a token of its own, then HALT.
    instructions = {}
    for bank, token in ((0, 1), (1, 6)):
        program = (Instruction(Opcode.SIGNAL, token=token), Instruction(Opcode.HALT))
        for index, instruction in enumerate(program):
            instructions[4 * bank + entry + step * index] = instruction
    rows = program_rows(instructions, params)
    runs = []

    async def testbench(ctx):
        for _ in range(3):
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            fetched, tokens, read = [], 0, None
            while True:
                if read is not None:
                    ctx.set(dut.program_data, rows[read])
                read = ctx.get(dut.program_addr) if ctx.get(dut.program_en) else None
                if read is not None:
                    fetched.append(read)
                tokens |= ctx.get(dut.o_tokens)
                if ctx.get(dut.done):
                    break
                await ctx.tick()
            runs.append((fetched, tokens))
            await ctx.tick()

    simulator = Simulator(dut)
    simulator.add_clock(CLOCK_PERIOD)
    simulator.add_testbench(testbench)
    simulator.run()
    bank = [[4 * bank + entry + step * index for index in range(2)] for bank in (0, 1)]
    assert runs == [(bank[0], 1 << 1), (bank[1], 1 << 6), (bank[0], 1 << 1)]


WAIT_PROGRAM = (Instruction(Opcode.WAIT, token=2), Instruction(Opcode.HALT))
#: SIGNAL first, so that a token can arrive while the core runs and before it waits.
LATE_WAIT_PROGRAM = (Instruction(Opcode.SIGNAL, token=0), Instruction(Opcode.WAIT, token=2),
                     Instruction(Opcode.HALT))


@pytest.mark.parametrize("params", [PARAMS, NARROW], ids=["wide", "narrow"])
@pytest.mark.parametrize("program", [WAIT_PROGRAM, LATE_WAIT_PROGRAM], ids=["wait", "signal-wait"])
@pytest.mark.parametrize("pulse", [-1, 0, 1, 2, 3, 4, 5, 6, 7, 12, 40, 60])
def test_wait(program, pulse, params):
    """``WAIT`` takes ``fetch_cycles + 1`` cycles and one more for each cycle its token is late."""
    record = simulate(program, pulses=[(pulse, 2)], limit=150, params=params)
    wait_start = start_cycles(program, params)[-2]
    remembered = pulse + 1
    waited = max(0, remembered - (wait_start + fetch_cycles(params)))
    predicted = program_cycles(program, params) + waited
    assert token_timing(program, params, [(pulse, 2)])[1] == predicted
    assert done_cycle(record) == predicted, \
        f"token 2 pulsed in cycle {pulse}: done in cycle {done_cycle(record)}, predicted {predicted}"
    assert record["cycles"][predicted] == predicted


def test_wait_ignores_other_tokens():
    pulses = [(1, 1), (3, 3), (9, 2)]
    record = simulate(WAIT_PROGRAM, pulses=pulses, limit=60)
    assert done_cycle(record) == token_timing(WAIT_PROGRAM, PARAMS, pulses)[1] \
        == 9 + 1 + 1 + fetch_cycles(PARAMS)


@pytest.mark.parametrize("pulses, hangs", [
    ([(-1, 2)], True),               # one token, two WAITs: the first consumes it
    ([(-1, 2), (1, 2)], False),      # two pulses before the first WAIT consumed: one for each
    ([(-1, 2), (2, 2)], False),      # a pulse in the cycle the first WAIT consumes survives
    ([(-1, 2), (14, 2)], False),     # the second WAIT waits for a later pulse
])
def test_wait_consumes(pulses, hangs):
    program = (Instruction(Opcode.WAIT, token=2), Instruction(Opcode.WAIT, token=2),
               Instruction(Opcode.HALT))
    signals, predicted = token_timing(program, PARAMS, pulses)
    assert (predicted is None) == hangs
    record = simulate(program, pulses=pulses, limit=60)
    assert done_cycle(record) == predicted, f"pulses {pulses}: done in cycle {done_cycle(record)}"


@pytest.mark.parametrize("pulses, done", [
    ([(1, 2), (5, 2), (9, 2)], 9 + 1 + 1 + fetch_cycles(PARAMS)),     # the third pulse ends it
    ([(9, 2), (1, 2), (5, 2), (3, 1)], 9 + 1 + 1 + fetch_cycles(PARAMS)),
    ([(-1, 2), (0, 2), (1, 2), (20, 2)], 2 * fetch_cycles(PARAMS) + 1),   # three already there
    ([(1, 2), (5, 2), (9, 1)], None),                          # two of token 2 only: it hangs
])
def test_wait_counts(pulses, done):
    """``WAIT`` with ``counts[0]`` = 3 waits for the third pulse of its token."""
    program = (Instruction(Opcode.WAIT, token=2, counts=(3,)), Instruction(Opcode.HALT))
    assert token_timing(program, PARAMS, pulses)[1] == done
    record = simulate(program, pulses=pulses, limit=60)
    assert done_cycle(record) == done, f"pulses {pulses}: done in cycle {done_cycle(record)}, expected {done}"


def test_start_forgets_earlier_tokens():
    # A token pulsed while the core is idle belongs to no run: the WAIT must not see it.
    record = simulate(WAIT_PROGRAM, pulses=[(-2, 2)], limit=60)
    assert done_cycle(record) is None


@pytest.mark.parametrize("kwargs, error, message", [
    ({"params": None, "mac_drain": 1, "vector_drain": 1, "macadd_drain": 1, "send_drain": 1}, TypeError,
     r"^Sequencer params must be a CoreParams, not None$"),
    ({"params": PARAMS, "mac_drain": 0, "vector_drain": 1, "macadd_drain": 1, "send_drain": 1}, ValueError,
     r"^mac_drain must be a positive integer, not 0$"),
    ({"params": PARAMS, "mac_drain": 3, "vector_drain": 2.5, "macadd_drain": 1,
      "send_drain": 1}, ValueError,
     r"^vector_drain must be a positive integer, not 2\.5$"),
    ({"params": PARAMS, "mac_drain": 3, "vector_drain": 2, "macadd_drain": 0, "send_drain": 1}, ValueError,
     r"^macadd_drain must be a positive integer, not 0$"),
    ({"params": PARAMS, "mac_drain": 3, "vector_drain": 2, "macadd_drain": 1, "send_drain": 0}, ValueError,
     r"^send_drain must be a positive integer, not 0$"),
    ({"params": PARAMS, "mac_drain": 3, "vector_drain": 2, "macadd_drain": 1, "send_drain": 1,
      "entry": 8}, ValueError,
     r"^entry must be an instruction index in \[0, 7\], not 8$"),
])
def test_sequencer_wrong(kwargs, error, message):
    with pytest.raises(error, match=message):
        Sequencer(kwargs.pop("params"), **kwargs)
